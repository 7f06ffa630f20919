package eventlog

import (
	"context"

	"github.com/tierlink/tierlink/domain"
)

// Log is what every event store implements: Store on Redis, and memlog's log in
// memory; the conformance suite (eventlogtest) checks it of both. It must be safe
// for concurrent use, and refuse with this package's errors.
type Log interface {
	// Append writes one command's events atomically (see Store.Append).
	Append(ctx context.Context, events []domain.Event, opts ...AppendOption) (Result, error)
	// AppendBatch appends commands in order, each on its own (see Store.AppendBatch).
	AppendBatch(ctx context.Context, cmds []domain.Command, opts ...AppendOption) ([]Outcome, error)
	// ReadAggregate returns an aggregate's events from version from (1 for all).
	ReadAggregate(ctx context.Context, partition string, ref domain.AggregateRef, from int64) ([]domain.Event, error)
	// FindAggregate returns the first of the partitions that holds the aggregate, and its events.
	FindAggregate(ctx context.Context, partitions []string, ref domain.AggregateRef) (string, []domain.Event, error)
	// ReadPartition returns up to count entries of a partition log from position from on.
	ReadPartition(ctx context.Context, partition string, from, count int64) ([]Entry, error)
	// Head returns the position of the last event written to a partition (0 if none).
	Head(ctx context.Context, partition string) (int64, error)
	// CommandResult returns where a command id took effect in a partition, and its fingerprint.
	CommandResult(ctx context.Context, partition, commandID string) (Result, string, bool, error)
	// CommandFingerprints returns the fingerprint each command id took effect with ("" for none).
	CommandFingerprints(ctx context.Context, partition string, commandIDs []string) ([]string, error)
}

var _ Log = (*Store)(nil)
