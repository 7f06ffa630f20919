// Package applog adapts an event store (an eventlog.Log: on Redis or in memory) to
// the application's port app.Log.
package applog

import (
	"context"
	"errors"
	"fmt"

	"github.com/tierlink/tierlink/app"
	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/eventlog"
)

// A batch of households is one store call per district.
var _ [eventlog.MaxCommandsPerBatch - app.MaxHouseholdsPerBatch]struct{}

// Log is app.Log over a store, finding aggregates in the partitions it is given.
type Log struct {
	store      eventlog.Log
	partitions []string
}

// New returns the app.Log over store; Find looks in partitions.
func New(store eventlog.Log, partitions []string) Log {
	return Log{store: store, partitions: partitions}
}

// Find returns an aggregate's events and the partition that holds them.
func (l Log) Find(ctx context.Context, ref domain.AggregateRef) (string, []domain.Event, error) {
	return l.store.FindAggregate(ctx, l.partitions, ref)
}

// appError says a store's refusal in the application's terms.
func appError(err error) error {
	switch {
	case errors.Is(err, eventlog.ErrVersionConflict):
		return fmt.Errorf("%w: %w", app.ErrConflict, err)
	case errors.Is(err, eventlog.ErrCommandReused):
		return fmt.Errorf("%w: %w", app.ErrCommandReused, err)
	}
	return err
}

// appended is a store's result in the application's terms.
func appended(partition string, res eventlog.Result) app.Appended {
	return app.Appended{Partition: partition, FirstPosition: res.FirstPosition, LastPosition: res.LastPosition, Duplicate: res.Duplicate}
}

// AppendMany appends commands to one partition in one store call.
func (l Log) AppendMany(ctx context.Context, cmds []domain.Command) ([]app.Appended, []error, error) {
	outs, err := l.store.AppendBatch(ctx, cmds)
	if err != nil {
		return nil, nil, err
	}
	res, errs := make([]app.Appended, len(outs)), make([]error, len(outs))
	for i, o := range outs {
		if o.Err != nil {
			errs[i] = appError(o.Err)
			continue
		}
		res[i] = appended(cmds[i].Events[0].Partition, o.Result)
	}
	return res, errs, nil
}

// Append writes one command's events atomically.
func (l Log) Append(ctx context.Context, evs []domain.Event, fingerprint string) (app.Appended, error) {
	res, err := l.store.Append(ctx, evs, eventlog.Fingerprint(fingerprint))
	if err != nil {
		return app.Appended{}, appError(err)
	}
	return appended(evs[0].Partition, res), nil
}

// Taken returns where a command id took effect in a partition, if it did, and its fingerprint.
func (l Log) Taken(ctx context.Context, partition, commandID string) (app.Appended, string, bool, error) {
	res, fp, ok, err := l.store.CommandResult(ctx, partition, commandID)
	if err != nil || !ok {
		return app.Appended{}, "", false, err
	}
	return appended(partition, res), fp, true, nil
}

// Fingerprints returns the fingerprint each command id took effect with in a partition.
func (l Log) Fingerprints(ctx context.Context, partition string, commandIDs []string) ([]string, error) {
	return l.store.CommandFingerprints(ctx, partition, commandIDs)
}

// Range returns the events of a partition between two positions, inclusive.
func (l Log) Range(ctx context.Context, partition string, from, to int64) ([]domain.Event, error) {
	entries, err := l.store.ReadPartition(ctx, partition, from, to-from+1)
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
