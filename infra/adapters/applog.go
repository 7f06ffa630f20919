package adapters

import (
	"context"
	"errors"
	"fmt"

	"github.com/tierlink/tierlink/app"
	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/eventlog"
)

// Log adapts the event store to app.Log.
type Log struct {
	Store *eventlog.Store
	// Partitions are the districts in which Find looks for an aggregate.
	Partitions []string
}

// Find returns an aggregate's partition and events, looked for in every partition.
func (l Log) Find(ctx context.Context, ref domain.AggregateRef) (string, []domain.Event, error) {
	return l.Store.FindAggregate(ctx, l.Partitions, ref)
}

// A batch of households is one script call per district.
var _ [eventlog.MaxCommandsPerBatch - app.MaxHouseholdsPerBatch]struct{}

// AppendMany appends commands to one partition in one script call.
func (l Log) AppendMany(ctx context.Context, cmds []app.Command) ([]app.Appended, []error, error) {
	batch := make([]eventlog.Command, len(cmds))
	for i, c := range cmds {
		batch[i] = eventlog.Command{Events: c.Events, Fingerprint: c.Fingerprint}
	}
	outs, err := l.Store.AppendBatch(ctx, batch)
	if err != nil {
		return nil, nil, err
	}
	res, errs := make([]app.Appended, len(outs)), make([]error, len(outs))
	for i, o := range outs {
		switch {
		case errors.Is(o.Err, eventlog.ErrVersionConflict):
			errs[i] = fmt.Errorf("%w: %w", app.ErrConflict, o.Err)
		case errors.Is(o.Err, eventlog.ErrCommandReused):
			errs[i] = fmt.Errorf("%w: %w", app.ErrCommandReused, o.Err)
		case o.Err != nil:
			errs[i] = o.Err
		default:
			res[i] = app.Appended{Partition: cmds[i].Events[0].Partition, FirstPosition: o.Result.FirstPosition, LastPosition: o.Result.LastPosition, Duplicate: o.Result.Duplicate}
		}
	}
	return res, errs, nil
}

// Append appends one command's events atomically.
func (l Log) Append(ctx context.Context, evs []domain.Event, fingerprint string) (app.Appended, error) {
	res, err := l.Store.Append(ctx, evs, eventlog.Fingerprint(fingerprint))
	switch {
	case errors.Is(err, eventlog.ErrVersionConflict):
		return app.Appended{}, fmt.Errorf("%w: %w", app.ErrConflict, err)
	case errors.Is(err, eventlog.ErrCommandReused):
		return app.Appended{}, fmt.Errorf("%w: %w", app.ErrCommandReused, err)
	}
	if err != nil {
		return app.Appended{}, err
	}
	return app.Appended{Partition: evs[0].Partition, FirstPosition: res.FirstPosition, LastPosition: res.LastPosition, Duplicate: res.Duplicate}, nil
}

// Taken returns what a command id appended before, with its fingerprint.
func (l Log) Taken(ctx context.Context, partition, commandID string) (app.Appended, string, bool, error) {
	res, fp, ok, err := l.Store.CommandResult(ctx, partition, commandID)
	if err != nil || !ok {
		return app.Appended{}, "", false, err
	}
	return app.Appended{Partition: partition, FirstPosition: res.FirstPosition, LastPosition: res.LastPosition, Duplicate: true}, fp, true, nil
}

// Fingerprints returns the fingerprints of command ids, in order.
func (l Log) Fingerprints(ctx context.Context, partition string, commandIDs []string) ([]string, error) {
	return l.Store.CommandFingerprints(ctx, partition, commandIDs)
}

// Range returns a partition's events from one position to another, both included.
func (l Log) Range(ctx context.Context, partition string, from, to int64) ([]domain.Event, error) {
	entries, err := l.Store.ReadPartition(ctx, partition, from, to-from+1)
	if err != nil {
		return nil, err
	}
	out := make([]domain.Event, 0, len(entries))
	for _, e := range entries {
		if e.Err != nil {
			return nil, fmt.Errorf("position %d: %w", e.Position, e.Err)
		}
		out = append(out, e.Event)
	}
	return out, nil
}
