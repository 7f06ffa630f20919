package adapters

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/tierlink/tierlink/app"
	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/webhook"
)

// DeliveryLog reads the webhook outboxes of every district for the application.
type DeliveryLog struct {
	outboxes map[string]*webhook.Outbox
}

var _ app.DeliveryLog = DeliveryLog{}

// NewDeliveryLog returns the delivery log of the districts.
func NewDeliveryLog(client redis.UniversalClient, districts []string) (DeliveryLog, error) {
	d := DeliveryLog{outboxes: map[string]*webhook.Outbox{}}
	for _, p := range districts {
		o, err := webhook.NewOutbox(client, p)
		if err != nil {
			return DeliveryLog{}, err
		}
		d.outboxes[p] = o
	}
	return d, nil
}

// Outbox returns a district's outbox.
func (d DeliveryLog) Outbox(district string) (*webhook.Outbox, error) {
	o, ok := d.outboxes[district]
	if !ok {
		return nil, fmt.Errorf("delivery log of district %q: %w", district, domain.ErrNotFound)
	}
	return o, nil
}

// Attempts returns a subscription's last attempts, newest first.
func (d DeliveryLog) Attempts(ctx context.Context, district, sub string, limit int) ([]app.DeliveryAttempt, error) {
	o, err := d.Outbox(district)
	if err != nil {
		return nil, err
	}
	as, err := o.Attempts(ctx, sub, limit)
	if err != nil {
		return nil, err
	}
	out := make([]app.DeliveryAttempt, len(as))
	for i, a := range as {
		out[i] = app.DeliveryAttempt{DeliveryID: a.DeliveryID, Kind: a.Kind, Position: a.Position, Attempt: a.Attempt, Time: a.Time,
			Status: a.Status, Error: a.Error, LatencyMS: a.Latency.Milliseconds(), Outcome: a.Outcome}
	}
	return out, nil
}

// DeadLetters returns a subscription's dead letters, newest first.
func (d DeliveryLog) DeadLetters(ctx context.Context, district, sub string, limit int) ([]app.DeadLetter, error) {
	o, err := d.Outbox(district)
	if err != nil {
		return nil, err
	}
	ds, err := o.DeadLetters(ctx, sub, limit)
	if err != nil {
		return nil, err
	}
	out := make([]app.DeadLetter, len(ds))
	for i, x := range ds {
		out[i] = app.DeadLetter{DeliveryID: x.Notification.DeliveryID, Kind: x.Notification.Kind, Position: x.Notification.Position,
			Reason: x.Reason, Attempts: x.Attempts, First: x.First, Last: x.Last}
	}
	return out, nil
}

// QueueDepth counts what waits for delivery to a subscription.
func (d DeliveryLog) QueueDepth(ctx context.Context, district, sub string) (int64, error) {
	o, err := d.Outbox(district)
	if err != nil {
		return 0, err
	}
	return o.QueueDepth(ctx, sub)
}

// Subscriptions lists a district's subscriptions as delivery knows them.
func (d DeliveryLog) Subscriptions(ctx context.Context, district string) ([]domain.Subscription, error) {
	o, err := d.Outbox(district)
	if err != nil {
		return nil, err
	}
	subs, err := o.Subscriptions(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]domain.Subscription, len(subs))
	for i, s := range subs {
		out[i] = subscriptionOf(s)
	}
	return out, nil
}
