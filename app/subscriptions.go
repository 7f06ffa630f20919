package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tierlink/tierlink/domain"
)

// ErrNotificationsOff means the node was started without a webhook key, so it can
// neither show nor sign with a subscription's secret.
var ErrNotificationsOff = errors.New("notifications are not configured on this node")

// Webhooks is what the subscription use cases need beyond the log: the node's
// setting for plain HTTP, its secrets and what delivery has recorded.
type Webhooks struct {
	// AllowHTTP lets a subscription's URL be plain HTTP to a loopback host.
	AllowHTTP bool
	// Secret derives a subscription's signing secret from its id and salt.
	Secret func(id, salt string) (string, error)
	// Deliveries reads what delivery recorded; nil on a node that delivers nothing.
	Deliveries DeliveryLog
}

// DeliveryLog reads what delivery recorded of a district's subscriptions.
type DeliveryLog interface {
	// Attempts returns a subscription's last attempts, newest first.
	Attempts(ctx context.Context, district, subscription string, limit int) ([]DeliveryAttempt, error)
	// DeadLetters returns a subscription's dead letters, newest first.
	DeadLetters(ctx context.Context, district, subscription string, limit int) ([]DeadLetter, error)
	// QueueDepth counts the notifications waiting for delivery to a subscription.
	QueueDepth(ctx context.Context, district, subscription string) (int64, error)
	// Subscriptions lists a district's subscriptions, deleted ones included.
	Subscriptions(ctx context.Context, district string) ([]domain.Subscription, error)
}

// DeliveryAttempt is one attempt to deliver a notification.
type DeliveryAttempt struct {
	DeliveryID string    `json:"delivery_id"`
	Kind       string    `json:"kind"`
	Position   int64     `json:"position"`
	Attempt    int       `json:"attempt"`
	Time       time.Time `json:"time"`
	Status     int       `json:"status,omitempty"`
	Error      string    `json:"error,omitempty"`
	LatencyMS  int64     `json:"latency_ms"`
	// Outcome is delivered, retry or dead.
	Outcome string `json:"outcome"`
}

// DeadLetter is a notification that delivery gave up on.
type DeadLetter struct {
	DeliveryID string    `json:"delivery_id"`
	Kind       string    `json:"kind"`
	Position   int64     `json:"position"`
	Reason     string    `json:"reason"`
	Attempts   int       `json:"attempts"`
	First      time.Time `json:"first_attempt"`
	Last       time.Time `json:"last_attempt"`
}

// SubscriptionView is what the owner and operators read of a subscription; never its secret.
type SubscriptionView struct {
	ID         string           `json:"id"`
	District   string           `json:"district"`
	Owner      domain.Principal `json:"owner"`
	URL        string           `json:"url"`
	Kinds      []string         `json:"kinds"`
	Categories []string         `json:"categories"`
	Created    time.Time        `json:"created"`
	Deleted    bool             `json:"deleted"`
	Version    int64            `json:"version"`
	QueueDepth int64            `json:"queue_depth"`
}

func subscriptionView(s domain.Subscription) SubscriptionView {
	v := SubscriptionView{ID: s.ID, District: s.District, Owner: s.Owner, URL: s.URL, Kinds: s.Kinds, Categories: s.Categories,
		Created: s.Created, Deleted: s.Deleted, Version: s.Version}
	if v.Categories == nil {
		v.Categories = []string{}
	}
	return v
}

// CreateSubscriptionInput is a subscription asked for.
type CreateSubscriptionInput struct {
	District   string   `json:"district"`
	URL        string   `json:"url"`
	Kinds      []string `json:"kinds"`
	Categories []string `json:"categories"`
}

// CreateSubscriptionResult is the subscription created and its secret, shown in
// this answer only (and in a replay of it to the same principal and key).
type CreateSubscriptionResult struct {
	Subscription SubscriptionView `json:"subscription"`
	Secret       string           `json:"secret"`
	Position     int64            `json:"position"`
	Replayed     bool             `json:"replayed"`
}

// CreateSubscriptionHandler creates subscriptions.
type CreateSubscriptionHandler struct{ cfg Config }

// Handle creates the subscription, owned by the principal that asks.
func (h CreateSubscriptionHandler) Handle(ctx context.Context, in CreateSubscriptionInput, meta Meta) (CreateSubscriptionResult, error) {
	if h.cfg.Webhooks.Secret == nil {
		return CreateSubscriptionResult{}, ErrNotificationsOff
	}
	fp := fingerprint("create_subscription", in)
	ref := h.cfg.References.Current()
	if err := meta.Principal.MaySubscribe(ref.Geography, in.District); err != nil {
		return CreateSubscriptionResult{}, err
	}
	cmd := domain.CreateSubscription{SubscriptionID: h.cfg.NewID(), Owner: meta.Principal, District: in.District, URL: in.URL,
		Kinds: in.Kinds, Categories: in.Categories, Salt: h.cfg.NewID(), AllowHTTP: h.cfg.Webhooks.AllowHTTP}
	evs, res, err := create(ctx, h.cfg, in.District, meta, fp, func() ([]domain.Change, error) {
		return domain.DecideCreateSubscription(domain.Subscription{}, cmd, ref)
	})
	if err != nil {
		return CreateSubscriptionResult{}, err
	}
	if len(evs) != 1 || evs[0].Type != (domain.SubscriptionCreated{}).EventType() {
		return CreateSubscriptionResult{}, fmt.Errorf("%w: %s", ErrCommandReused, meta.CommandID)
	}
	sub := domain.Subscription{}.Evolve(evs[0])
	secret, err := h.cfg.Webhooks.Secret(sub.ID, sub.Salt)
	if err != nil {
		return CreateSubscriptionResult{}, fmt.Errorf("derive the secret of subscription %s: %w", sub.ID, err)
	}
	return CreateSubscriptionResult{Subscription: subscriptionView(sub), Secret: secret, Position: res.LastPosition, Replayed: res.Duplicate}, nil
}

// SubscriptionChangeResult is a subscription after a change.
type SubscriptionChangeResult struct {
	Subscription SubscriptionView `json:"subscription"`
	Position     int64            `json:"position"`
	Replayed     bool             `json:"replayed"`
}

// changeSubscription runs a command on a subscription its owner or an operator manages.
func changeSubscription(ctx context.Context, cfg Config, id string, meta Meta, fp string, decide func(domain.Subscription) ([]domain.Change, error)) (SubscriptionChangeResult, error) {
	ref := domain.AggregateRef{Type: domain.AggregateSubscription, ID: id}
	fold := func(evs []domain.Event) domain.Subscription {
		var s domain.Subscription
		for _, e := range evs {
			s = s.Evolve(e)
		}
		return s
	}
	var before []domain.Event
	found := false
	evs, res, err := update(ctx, cfg, ref, meta, fp,
		func(evs []domain.Event) error {
			before, found = evs, true
			return meta.Principal.MayManageSubscription(fold(evs).Owner)
		},
		func(evs []domain.Event) ([]domain.Change, error) { return decide(fold(evs)) })
	if !found && errors.Is(err, domain.ErrNotFound) {
		return SubscriptionChangeResult{}, subscriptionNotFound(id, meta.Principal)
	}
	if err != nil {
		return SubscriptionChangeResult{}, err
	}
	all := append(before, evs...)
	if res.Duplicate {
		// A retry answers with the state the first attempt left, whatever came
		// after it: what preceded the first attempt's events, then those events.
		var first []domain.Event
		for _, e := range evs {
			if e.Aggregate() == ref {
				first = append(first, e)
			}
		}
		all = nil
		for _, e := range before {
			if len(first) == 0 || e.AggregateVersion < first[0].AggregateVersion {
				all = append(all, e)
			}
		}
		all = append(all, first...)
	}
	return SubscriptionChangeResult{Subscription: subscriptionView(fold(all)), Position: res.LastPosition, Replayed: res.Duplicate}, nil
}

// DeleteSubscriptionHandler deletes subscriptions.
type DeleteSubscriptionHandler struct{ cfg Config }

// Handle deletes the subscription: nothing more is delivered to it.
func (h DeleteSubscriptionHandler) Handle(ctx context.Context, id string, meta Meta) (SubscriptionChangeResult, error) {
	return changeSubscription(ctx, h.cfg, id, meta, fingerprint("delete_subscription", id), domain.DecideDeleteSubscription)
}

// RedeliverHandler asks for dead letters to be delivered again.
type RedeliverHandler struct{ cfg Config }

// Handle asks for the dead letter to be delivered again; one that is not among the
// subscription's dead letters is not found.
func (h RedeliverHandler) Handle(ctx context.Context, id, deliveryID string, meta Meta) (SubscriptionChangeResult, error) {
	return changeSubscription(ctx, h.cfg, id, meta, fingerprint("redeliver", []string{id, deliveryID}), func(s domain.Subscription) ([]domain.Change, error) {
		if h.cfg.Webhooks.Deliveries != nil && !s.Deleted {
			dead, err := h.cfg.Webhooks.Deliveries.DeadLetters(ctx, s.District, s.ID, MaxDeadLetters)
			if err != nil {
				return nil, err
			}
			found := false
			for _, d := range dead {
				found = found || d.DeliveryID == deliveryID
			}
			if !found {
				return nil, fmt.Errorf("dead letter %q: %w", deliveryID, domain.ErrNotFound)
			}
		}
		return domain.DecideRedeliver(s, deliveryID)
	})
}

// Limits of the delivery log's reads.
const (
	// MaxAttempts is the most attempts a read of the delivery log returns.
	MaxAttempts = 200
	// MaxDeadLetters is the most dead letters kept and returned per subscription.
	MaxDeadLetters = 1000
)

// subscriptionNotFound answers for a subscription that does not exist: not found to
// an operator, who may read them all; to anyone else the refusal that another's
// subscription gets, so that nobody learns whether another's id exists.
func subscriptionNotFound(id string, who domain.Principal) error {
	if who.Role != domain.RoleOperator {
		return who.MayManageSubscription(domain.Principal{}) // owned by nobody: refused
	}
	return fmt.Errorf("subscription %q: %w", id, domain.ErrNotFound)
}

// subscription reads a subscription from the log and checks who may read it.
func (r Reads) subscription(ctx context.Context, id string, who domain.Principal) (domain.Subscription, error) {
	if !domain.ValidID(id) {
		return domain.Subscription{}, subscriptionNotFound(id, who)
	}
	_, evs, err := r.cfg.Log.Find(ctx, domain.AggregateRef{Type: domain.AggregateSubscription, ID: id})
	if err != nil {
		return domain.Subscription{}, err
	}
	if len(evs) == 0 {
		return domain.Subscription{}, subscriptionNotFound(id, who)
	}
	var s domain.Subscription
	for _, e := range evs {
		s = s.Evolve(e)
	}
	if err := who.MayManageSubscription(s.Owner); err != nil {
		return domain.Subscription{}, err
	}
	return s, nil
}

// Subscription returns a subscription to its owner and operators.
func (r Reads) Subscription(ctx context.Context, id string, who domain.Principal) (SubscriptionView, error) {
	s, err := r.subscription(ctx, id, who)
	if err != nil {
		return SubscriptionView{}, err
	}
	v := subscriptionView(s)
	if d := r.cfg.Webhooks.Deliveries; d != nil && !s.Deleted {
		if v.QueueDepth, err = d.QueueDepth(ctx, s.District, s.ID); err != nil {
			return SubscriptionView{}, err
		}
	}
	return v, nil
}

// Subscriptions lists the live subscriptions of a district the principal may
// manage: its own, or all of them for an operator.
func (r Reads) Subscriptions(ctx context.Context, district string, who domain.Principal) ([]SubscriptionView, error) {
	if _, err := r.cfg.References.Current().Geography.DistrictOf(domain.TierDistrict, district); err != nil {
		return nil, &domain.FieldError{Field: "district", Reason: err}
	}
	out := []SubscriptionView{}
	d := r.cfg.Webhooks.Deliveries
	if d == nil {
		return out, nil
	}
	subs, err := d.Subscriptions(ctx, district)
	if err != nil {
		return nil, err
	}
	for _, s := range subs {
		if s.Deleted || who.MayManageSubscription(s.Owner) != nil {
			continue
		}
		v := subscriptionView(s)
		if v.QueueDepth, err = d.QueueDepth(ctx, district, s.ID); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// Deliveries returns a subscription's last attempts (newest first, at most limit,
// itself at most MaxAttempts) to its owner and operators.
func (r Reads) Deliveries(ctx context.Context, id string, limit int, who domain.Principal) ([]DeliveryAttempt, error) {
	s, err := r.subscription(ctx, id, who)
	if err != nil {
		return nil, err
	}
	if limit <= 0 || limit > MaxAttempts {
		limit = MaxAttempts
	}
	if r.cfg.Webhooks.Deliveries == nil {
		return []DeliveryAttempt{}, nil
	}
	return r.cfg.Webhooks.Deliveries.Attempts(ctx, s.District, s.ID, limit)
}

// DeadLetters returns a subscription's dead letters, newest first, to its owner and operators.
func (r Reads) DeadLetters(ctx context.Context, id string, limit int, who domain.Principal) ([]DeadLetter, error) {
	s, err := r.subscription(ctx, id, who)
	if err != nil {
		return nil, err
	}
	if limit <= 0 || limit > MaxDeadLetters {
		limit = MaxDeadLetters
	}
	if r.cfg.Webhooks.Deliveries == nil {
		return []DeadLetter{}, nil
	}
	return r.cfg.Webhooks.Deliveries.DeadLetters(ctx, s.District, s.ID, limit)
}
