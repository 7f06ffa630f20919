package adapters

import (
	"context"
	"fmt"

	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/eventlog"
	"github.com/tierlink/tierlink/notification"
)

// Outbox is where a district's notifications wait for delivery; webhook.Outbox
// implements it.
type Outbox interface {
	// Mark is the position up to which outputs have been committed.
	Mark(ctx context.Context) (int64, error)
	// Commit stores what the entries up to position implied, atomically and once.
	Commit(ctx context.Context, position int64, out notification.Output) (bool, error)
}

// Notifier follows a district's log with the notification state and commits what
// each run implies to the outbox. Its state lives in memory and is rebuilt from the
// start of the log (Checkpoint starts at 0); the outbox's mark says what was
// committed before, so a restart queues nothing twice and loses nothing.
type Notifier struct {
	state *notification.State
	out   Outbox
	wake  func(subscriptions []string, changed bool)
	// mark is the outbox's mark once read (-1 before); pending holds an output not
	// yet committed (its run is applied to the state), up to pendingAt.
	mark      int64
	pending   notification.Output
	pendingAt int64
}

// NewNotifier returns the notifier of a district; wake is told, after each commit
// that queued something, which subscriptions were given notifications and whether
// subscriptions were created or deleted (webhook.Dispatcher.Queued).
func NewNotifier(state *notification.State, out Outbox, wake func(subscriptions []string, changed bool)) *Notifier {
	if wake == nil {
		wake = func([]string, bool) {}
	}
	return &Notifier{state: state, out: out, wake: wake, mark: -1}
}

// Checkpoint is the position of the last entry applied to the state.
func (n *Notifier) Checkpoint(context.Context) (int64, error) {
	if n.pendingAt > 0 {
		return n.pendingAt, nil
	}
	return n.state.Position(), nil
}

// Apply applies one entry.
func (n *Notifier) Apply(ctx context.Context, e eventlog.Entry) error {
	return n.ApplyBatch(ctx, []eventlog.Entry{e})
}

// ApplyBatch applies a run of entries: those the outbox has already committed only
// to the state, the rest to the state and then, their output, to the outbox.
func (n *Notifier) ApplyBatch(ctx context.Context, entries []eventlog.Entry) error {
	if err := n.flush(ctx); err != nil {
		return err
	}
	if n.mark < 0 {
		m, err := n.out.Mark(ctx)
		if err != nil {
			return fmt.Errorf("notifications: read the outbox's mark: %w", err)
		}
		n.mark = m
	}
	run := DomainEntries(entries)
	split := 0
	for split < len(run) && run[split].Position <= n.mark {
		split++
	}
	if split > 0 {
		if _, err := n.state.Apply(run[:split]); err != nil { // committed before a restart
			return err
		}
	}
	if split == len(run) {
		return nil
	}
	out, err := n.state.Apply(run[split:])
	if err != nil {
		return err
	}
	n.pending, n.pendingAt = out, run[len(run)-1].Position
	return n.flush(ctx)
}

// flush commits the pending output, if any.
func (n *Notifier) flush(ctx context.Context) error {
	if n.pendingAt == 0 {
		return nil
	}
	if _, err := n.out.Commit(ctx, n.pendingAt, n.pending); err != nil {
		return fmt.Errorf("notifications: queue what position %d implied: %w", n.pendingAt, err)
	}
	out := n.pending
	n.mark, n.pending, n.pendingAt = max(n.mark, n.pendingAt), notification.Output{}, 0
	if out.Empty() {
		return nil
	}
	var subs []string
	seen := map[string]bool{}
	for _, x := range out.Notifications {
		if !seen[x.Subscription] {
			seen[x.Subscription] = true
			subs = append(subs, x.Subscription)
		}
	}
	for _, r := range out.Redeliveries {
		if !seen[r.Subscription] {
			seen[r.Subscription] = true
			subs = append(subs, r.Subscription)
		}
	}
	n.wake(subs, len(out.Subscriptions) > 0)
	return nil
}

var _ eventlog.BatchApplier = (*Notifier)(nil)

// subscriptionOf turns the delivery's view of a subscription into the domain's.
func subscriptionOf(s notification.Subscription) domain.Subscription {
	return domain.Subscription{ID: s.ID, Owner: s.Owner, District: s.District, URL: s.URL, Kinds: s.Kinds,
		Categories: s.Categories, Salt: s.Salt, Created: s.Created, Deleted: s.Deleted, Version: s.Version}
}
