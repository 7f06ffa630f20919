package adapters

import (
	"context"

	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/eventlog"
	"github.com/tierlink/tierlink/matching"
	"github.com/tierlink/tierlink/projections"
)

// Applier adapts a checkpointed handler to eventlog.Applier, and to
// eventlog.BatchApplier and eventlog.Flusher.
type Applier struct {
	checkpoint func(context.Context) (int64, error)
	handle     func(context.Context, int64, *domain.Event) error
	batch      func(context.Context, []eventlog.Entry) error
	flush      func(context.Context) (bool, error)
}

// MatcherApplier feeds a matching loop from its consumer group.
func MatcherApplier(l *matching.Loop) Applier {
	return Applier{checkpoint: l.Checkpoint, handle: l.Handle, batch: loopRun(l), flush: loopFlush(l)}
}

// CasesApplier feeds the cases projection from its consumer group.
func CasesApplier(c *projections.Cases) Applier {
	return Applier{checkpoint: c.Checkpoint, handle: c.Handle, batch: casesRun(c)}
}

// Flush appends what the handler holds back, and says whether there was any.
func (a Applier) Flush(ctx context.Context) (bool, error) {
	if a.flush == nil {
		return false, nil
	}
	return a.flush(ctx)
}

// ApplyBatch applies a run of entries in order.
func (a Applier) ApplyBatch(ctx context.Context, entries []eventlog.Entry) error {
	if a.batch == nil {
		for _, e := range entries {
			if err := a.Apply(ctx, e); err != nil {
				return err
			}
		}
		return nil
	}
	return a.batch(ctx, entries)
}

// Checkpoint returns the position of the last entry applied.
func (a Applier) Checkpoint(ctx context.Context) (int64, error) { return a.checkpoint(ctx) }

// Apply applies one entry.
func (a Applier) Apply(ctx context.Context, e eventlog.Entry) error {
	return a.handle(ctx, e.Position, eventOf(&e))
}

// eventOf is an entry's event, or nil for one that was dead-lettered.
func eventOf(e *eventlog.Entry) *domain.Event {
	if e.Err != nil {
		return nil
	}
	return &e.Event
}

// loopFlush flushes a matcher's loop and says whether it had decisions to append.
func loopFlush(l *matching.Loop) func(context.Context) (bool, error) {
	return func(ctx context.Context) (bool, error) {
		pending := l.Pending()
		return pending, l.Flush(ctx)
	}
}

// loopRun hands a matching loop a run of entries.
func loopRun(l *matching.Loop) func(context.Context, []eventlog.Entry) error {
	return func(ctx context.Context, entries []eventlog.Entry) error {
		return l.HandleBatch(ctx, DomainEntries(entries))
	}
}

// casesRun hands the cases projection a run of entries.
func casesRun(c *projections.Cases) func(context.Context, []eventlog.Entry) error {
	return func(ctx context.Context, entries []eventlog.Entry) error {
		return c.Apply(ctx, DomainEntries(entries))
	}
}

// DomainEntries turns the store's reads of log entries into the entries the
// matcher and the projections take (a dead-lettered one without its event).
func DomainEntries(entries []eventlog.Entry) []domain.Entry {
	run := make([]domain.Entry, len(entries))
	for i := range entries {
		run[i] = domain.Entry{Position: entries[i].Position, Event: eventOf(&entries[i])}
	}
	return run
}
