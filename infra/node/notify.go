package node

import (
	"context"
	"sync"

	"github.com/tierlink/tierlink/infra/adapters"
	"github.com/tierlink/tierlink/infra/webhook"
	"github.com/tierlink/tierlink/notification"
	"github.com/tierlink/tierlink/projections"
)

// GroupNotify is the consumer group that turns a district's log into notifications.
const GroupNotify = "notifications"

// notify runs a district's notifications while this node decides for it (it holds
// the matcher's lease): it follows the log into the outbox and delivers from there,
// until ctx ends. A node without a webhook key delivers nothing.
func (n *Node) notify(ctx context.Context, p string) {
	if len(n.cfg.WebhookKey) == 0 {
		return
	}
	outbox, err := n.deliveries.Outbox(p)
	if err != nil {
		n.log.Error("notifications not started", "partition", p, "err", err)
		return
	}
	state, err := notification.NewState(notification.Config{Partition: p, Zone: projections.Zone})
	if err != nil {
		n.log.Error("notifications not started", "partition", p, "err", err)
		return
	}
	cfg := n.cfg.Delivery
	cfg.Outbox, cfg.Partition = outbox, p
	cfg.AllowPrivate = cfg.AllowPrivate || n.cfg.WebhookAllowHTTP
	cfg.Logger, cfg.Recorder = n.log, n.metrics.Webhook()
	key := n.cfg.WebhookKey
	cfg.Secret = func(s notification.Subscription) (string, error) {
		return webhook.SubscriptionSecret(key, s.ID, s.Salt)
	}
	d, err := webhook.NewDispatcher(cfg)
	if err != nil {
		n.log.Error("notifications not started", "partition", p, "err", err)
		return
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := d.Run(ctx); err != nil && ctx.Err() == nil {
			n.log.Error("webhook dispatcher stopped", "partition", p, "err", err)
		}
	}()
	n.follow(ctx, p, GroupNotify, adapters.NewNotifier(state, outbox, d.Queued))
	wg.Wait()
}
