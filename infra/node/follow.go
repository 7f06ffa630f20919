package node

import (
	"context"
	"time"

	"github.com/tierlink/tierlink/infra/eventlog"
)

// Consumer groups of the partition logs.
const (
	GroupMatcher     = "matcher"
	GroupCases       = "projection.cases"
	followRetryPause = time.Second
)

// follow keeps one consumer group running, restarting it after a failure.
func (n *Node) follow(ctx context.Context, partition, group string, a eventlog.Applier) {
	cfg := n.cfg.Subscription
	cfg.Partition, cfg.Group, cfg.Consumer, cfg.Logger = partition, group, n.cfg.Consumer, n.log
	cfg.Metrics = n.metrics.Registry()
	n.metrics.Watch(partition, group)
	for ctx.Err() == nil {
		err := n.store.Follow(ctx, cfg, a, n.metrics)
		if ctx.Err() != nil {
			return
		}
		n.log.Error("consumer stopped; restarting", "partition", partition, "group", group, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(followRetryPause):
		}
	}
}
