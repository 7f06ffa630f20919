// Package memlog is the event log in memory, for tests and for embedding where
// nothing must outlive the process. It keeps the contract of eventlog.Store (an
// atomic, version-checked, idempotent append of one command or a batch; reads of
// an aggregate, of a partition log and of where commands took effect, with the
// same errors), and runs the same conformance suite (eventlogtest) to prove it. It
// has no consumer groups and no leases: it holds no lease, so it refuses every
// fenced append with eventlog.ErrFenced.
package memlog

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/eventlog"
)

var _ eventlog.Log = (*Log)(nil)

// Log is an event log in memory. It is safe for concurrent use.
type Log struct {
	registry *domain.Registry
	mu       sync.RWMutex
	parts    map[string]*partition
}

// partition is one partition's log, its aggregates' events and the commands that
// took effect in it; events are kept encoded, as the Redis store keeps them, so
// that every read decodes a copy.
type partition struct {
	log        [][]byte // the event at position i+1
	aggregates map[domain.AggregateRef][][]byte
	commands   map[string]taken
}

// taken is where a command took effect, and its fingerprint.
type taken struct {
	first, last int64
	fingerprint string
}

// New returns an empty log that encodes and decodes events with registry.
func New(registry *domain.Registry) (*Log, error) {
	if registry == nil {
		return nil, errors.New("memlog: nil event registry")
	}
	return &Log{registry: registry, parts: map[string]*partition{}}, nil
}

// Registry returns the event registry the log encodes and decodes with.
func (l *Log) Registry() *domain.Registry { return l.registry }

// Append writes one command's events atomically, as eventlog.Store.Append does.
func (l *Log) Append(ctx context.Context, events []domain.Event, opts ...eventlog.AppendOption) (eventlog.Result, error) {
	out, err := l.AppendBatch(ctx, []domain.Command{{Events: events, Fingerprint: eventlog.Options(opts...).Fingerprint}}, opts...)
	if err != nil {
		return eventlog.Result{}, err
	}
	return out[0].Result, out[0].Err
}

// AppendBatch appends commands in order, each atomically and on its own, as
// eventlog.Store.AppendBatch does.
func (l *Log) AppendBatch(ctx context.Context, cmds []domain.Command, opts ...eventlog.AppendOption) ([]eventlog.Outcome, error) {
	b, err := eventlog.Prepare(l.registry, cmds, opts...)
	if err != nil {
		return nil, err
	}
	if b.Options.Lease != "" {
		return nil, fmt.Errorf("append to %s: %w (held by none)", b.Partition, eventlog.ErrFenced)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("append to %s: %w", b.Partition, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.parts[b.Partition]
	if p == nil {
		p = &partition{aggregates: map[domain.AggregateRef][][]byte{}, commands: map[string]taken{}}
		l.parts[b.Partition] = p
	}
	out := make([]eventlog.Outcome, len(b.Commands))
	landed := make([]bool, len(b.Commands))
	for c, cmd := range b.Commands {
		res, err := p.append(cmd, landed)
		if err != nil {
			err = fmt.Errorf("append to %s: %w", b.Partition, err)
		}
		out[c] = eventlog.Outcome{Result: res, Err: err}
		landed[c] = err == nil || errors.Is(err, eventlog.ErrCommandReused)
	}
	return out, nil
}

// append writes one command of a batch unless a command it needs did not land, its
// id took effect before (then its first result, or ErrCommandReused under another
// fingerprint), or an aggregate is not at the version expected.
func (p *partition) append(cmd eventlog.Prepared, landed []bool) (eventlog.Result, error) {
	for _, i := range cmd.After {
		if !landed[i] {
			return eventlog.Result{}, fmt.Errorf("command %s: %w (command %d)", cmd.ID, eventlog.ErrPrerequisite, i+1)
		}
	}
	if t, ok := p.commands[cmd.ID]; ok {
		if t.fingerprint != cmd.Fingerprint {
			return eventlog.Result{}, eventlog.ErrCommandReused
		}
		return eventlog.Result{FirstPosition: t.first, LastPosition: t.last, Duplicate: true}, nil
	}
	for _, run := range cmd.Runs {
		if v := int64(len(p.aggregates[run.Aggregate])); v != run.Expected {
			return eventlog.Result{}, &eventlog.ConflictError{Aggregate: run.Aggregate, Expected: run.Expected, Actual: v}
		}
	}
	res := eventlog.Result{FirstPosition: int64(len(p.log)) + 1, Versions: map[domain.AggregateRef]int64{}}
	for _, run := range cmd.Runs {
		p.log = append(p.log, run.Bodies...)
		p.aggregates[run.Aggregate] = append(p.aggregates[run.Aggregate], run.Bodies...)
		res.Versions[run.Aggregate] = int64(len(p.aggregates[run.Aggregate]))
	}
	res.LastPosition = int64(len(p.log))
	p.commands[cmd.ID] = taken{first: res.FirstPosition, last: res.LastPosition, fingerprint: cmd.Fingerprint}
	return res, nil
}

// read returns a partition for reading, nil if nothing was written to it; the
// caller holds the read lock.
func (l *Log) read(name string) (*partition, error) {
	if _, err := eventlog.KeysFor(name); err != nil {
		return nil, err
	}
	return l.parts[name], nil
}

// decode decodes an aggregate's encoded events.
func (l *Log) decode(ref domain.AggregateRef, bodies [][]byte) ([]domain.Event, error) {
	out := make([]domain.Event, 0, len(bodies))
	for i, body := range bodies {
		e, err := l.registry.Decode(body)
		if err != nil {
			return nil, fmt.Errorf("read %s entry %d: %w", ref, i+1, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// ReadAggregate returns an aggregate's events from version from (1 for all) in order.
func (l *Log) ReadAggregate(_ context.Context, partition string, ref domain.AggregateRef, from int64) ([]domain.Event, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	p, err := l.read(partition)
	if err != nil {
		return nil, err
	}
	if !domain.ValidID(ref.ID) || !domain.ValidCode(ref.Type) {
		return nil, fmt.Errorf("%w: %s", eventlog.ErrBadAggregate, ref)
	}
	if p == nil {
		return []domain.Event{}, nil
	}
	bodies := p.aggregates[ref]
	from = min(max(from, 1), int64(len(bodies))+1)
	return l.decode(ref, bodies[from-1:])
}

// FindAggregate returns the first of the partitions that holds the aggregate and
// its events, or "" and none.
func (l *Log) FindAggregate(_ context.Context, partitions []string, ref domain.AggregateRef) (string, []domain.Event, error) {
	if !domain.ValidID(ref.ID) || !domain.ValidCode(ref.Type) {
		return "", nil, fmt.Errorf("%w: %s", eventlog.ErrBadAggregate, ref)
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	ps := make([]*partition, len(partitions))
	for i, name := range partitions {
		var err error
		if ps[i], err = l.read(name); err != nil {
			return "", nil, err
		}
	}
	for i, p := range ps {
		if p == nil || len(p.aggregates[ref]) == 0 {
			continue
		}
		evs, err := l.decode(ref, p.aggregates[ref])
		if err != nil {
			return "", nil, err
		}
		return partitions[i], evs, nil
	}
	return "", nil, nil
}

// ReadPartition returns up to count entries (all for count < 1) of a partition log
// from position from on.
func (l *Log) ReadPartition(_ context.Context, partition string, from, count int64) ([]eventlog.Entry, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	p, err := l.read(partition)
	if err != nil {
		return nil, err
	}
	if p == nil {
		return []eventlog.Entry{}, nil
	}
	from = min(max(from, 1), int64(len(p.log))+1)
	to := int64(len(p.log))
	if count > 0 {
		to = min(to, from-1+count)
	}
	out := make([]eventlog.Entry, 0, to-from+1)
	for pos := from; pos <= to; pos++ {
		raw := p.log[pos-1]
		e, err := l.registry.Decode(raw)
		out = append(out, eventlog.Entry{Position: pos, ID: strconv.FormatInt(pos, 10) + "-0", Event: e, Err: err, Raw: raw})
	}
	return out, nil
}

// Head returns the position of the last event written to a partition (0 if none).
func (l *Log) Head(_ context.Context, partition string) (int64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	p, err := l.read(partition)
	if err != nil || p == nil {
		return 0, err
	}
	return int64(len(p.log)), nil
}

// CommandResult returns the first result of a command id in a partition, the
// fingerprint it took effect with, and whether the command took effect there.
func (l *Log) CommandResult(_ context.Context, partition, commandID string) (eventlog.Result, string, bool, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	p, err := l.read(partition)
	if err != nil || p == nil {
		return eventlog.Result{}, "", false, err
	}
	t, ok := p.commands[commandID]
	if !ok {
		return eventlog.Result{}, "", false, nil
	}
	return eventlog.Result{FirstPosition: t.first, LastPosition: t.last, Duplicate: true}, t.fingerprint, true, nil
}

// CommandFingerprints returns the fingerprint each command id took effect with in
// a partition ("" for an id that did not).
func (l *Log) CommandFingerprints(_ context.Context, partition string, commandIDs []string) ([]string, error) {
	out := make([]string, len(commandIDs))
	if len(commandIDs) == 0 {
		return out, nil
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	p, err := l.read(partition)
	if err != nil || p == nil {
		return out, err
	}
	for i, id := range commandIDs {
		out[i] = p.commands[id].fingerprint
	}
	return out, nil
}
