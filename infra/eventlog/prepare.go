package eventlog

import (
	"fmt"
	"strings"

	"github.com/tierlink/tierlink/domain"
)

// AppendOptions are an append's options as a store reads them (set by Fence and
// Fingerprint).
type AppendOptions struct {
	// Fingerprint is the digest of the command of a single Append.
	Fingerprint string
	// Lease names the lease that fences the append ("" when it is not fenced), and
	// Token is the fencing token the writer holds it with.
	Lease string
	Token int64
	// Digest makes each command's fingerprint the digest of its events as encoded
	// (domain.Digest), computed from the bytes the store writes.
	Digest bool
}

// AppendOption tunes one append.
type AppendOption func(*AppendOptions)

// Options returns the options that opts set.
func Options(opts ...AppendOption) AppendOptions {
	var o AppendOptions
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// Fence makes the append conditional on the writer still holding a lease with
// the fencing token it was given (see Lease); else it fails with ErrFenced.
func Fence(lease string, token int64) AppendOption {
	return func(o *AppendOptions) { o.Lease, o.Token = lease, token }
}

// Fingerprint attaches a digest of the command (its kind and input) to its id: a
// later append with the same id and another fingerprint fails with ErrCommandReused.
func Fingerprint(fp string) AppendOption {
	return func(o *AppendOptions) { o.Fingerprint = fp }
}

// DigestFingerprints makes each command's fingerprint the digest of its events as
// the store encodes them (the matcher's decisions: a decision made again after a
// restart is told apart from another by what it writes).
func DigestFingerprints() AppendOption {
	return func(o *AppendOptions) { o.Digest = true }
}

// Batch is a batched append checked and encoded by Prepare, ready to be written.
type Batch struct {
	Partition string
	Commands  []Prepared
	Options   AppendOptions
}

// Prepared is one command of a batch, checked and encoded.
type Prepared struct {
	// ID is the command id.
	ID string
	// Fingerprint is the command's fingerprint as stored: "-" when it has none.
	Fingerprint string
	// After lists the earlier commands of the batch it needs (see Command.After).
	After []int
	// Runs are its events, aggregate by aggregate, in order.
	Runs []Run
}

// Run is one aggregate's events in a command: the version the aggregate must be at
// before them, the events, and each event as encoded.
type Run struct {
	Aggregate domain.AggregateRef
	Expected  int64
	Events    []domain.Event
	Bodies    [][]byte
}

// Prepare checks a batched append and encodes its events, as every store must
// before it writes anything: 1 to MaxCommandsPerBatch commands of one partition,
// each of one command id, each aggregate's events contiguous with consecutive
// versions, each event registered and at most MaxEventBytes encoded, and each
// command needing only commands before it. It fails with ErrBadAppend or
// ErrBadPartition.
func Prepare(registry *domain.Registry, cmds []domain.Command, opts ...AppendOption) (Batch, error) {
	if len(cmds) == 0 || len(cmds) > MaxCommandsPerBatch {
		return Batch{}, fmt.Errorf("%w: %d commands in a batch, from 1 to %d", ErrBadAppend, len(cmds), MaxCommandsPerBatch)
	}
	b := Batch{Options: Options(opts...), Commands: make([]Prepared, len(cmds))}
	if len(cmds[0].Events) > 0 {
		b.Partition = cmds[0].Events[0].Partition
	}
	if _, err := KeysFor(b.Partition); err != nil {
		return Batch{}, err
	}
	for c, cmd := range cmds {
		p := Prepared{Fingerprint: cmd.Fingerprint, After: cmd.After}
		if p.Fingerprint == "" {
			p.Fingerprint = "-"
		}
		if strings.ContainsAny(p.Fingerprint, " \t\n") {
			return Batch{}, fmt.Errorf("%w: a fingerprint may not hold spaces", ErrBadAppend)
		}
		var err error
		if p.Runs, err = group(cmd.Events); err != nil {
			return Batch{}, err
		}
		if cmd.Events[0].Partition != b.Partition {
			return Batch{}, fmt.Errorf("%w: command %d is of another partition", ErrBadAppend, c)
		}
		p.ID = cmd.Events[0].CommandID
		var all [][]byte
		for i, run := range p.Runs {
			for _, e := range run.Events {
				body, err := registry.Encode(e)
				if err != nil {
					return Batch{}, fmt.Errorf("%w: %w", ErrBadAppend, err)
				}
				if len(body) > MaxEventBytes {
					return Batch{}, fmt.Errorf("%w: event %s is %d bytes, at most %d", ErrBadAppend, e.Type, len(body), MaxEventBytes)
				}
				p.Runs[i].Bodies = append(p.Runs[i].Bodies, body)
				all = append(all, body)
			}
		}
		if b.Options.Digest {
			p.Fingerprint = domain.Digest(all...)
		}
		for _, i := range cmd.After {
			if i < 0 || i >= c {
				return Batch{}, fmt.Errorf("%w: command %d needs command %d, which is not before it", ErrBadAppend, c, i)
			}
		}
		b.Commands[c] = p
	}
	return b, nil
}

// group checks one command's events and splits them into per-aggregate runs: one
// partition, one command, each aggregate's events contiguous with consecutive versions.
func group(events []domain.Event) ([]Run, error) {
	if len(events) == 0 {
		return nil, fmt.Errorf("%w: no events", ErrBadAppend)
	}
	if len(events) > MaxEventsPerAppend {
		return nil, fmt.Errorf("%w: %d events, at most %d", ErrBadAppend, len(events), MaxEventsPerAppend)
	}
	first := events[0]
	if first.CommandID == "" {
		return nil, fmt.Errorf("%w: events need a command id", ErrBadAppend)
	}
	var runs []Run
	seen := map[domain.AggregateRef]bool{}
	for i, e := range events {
		if e.Partition != first.Partition || e.CommandID != first.CommandID {
			return nil, fmt.Errorf("%w: event %d is of another partition or command", ErrBadAppend, i)
		}
		if e.ID == "" || !domain.ValidID(e.AggregateID) || !domain.ValidCode(e.AggregateType) {
			return nil, fmt.Errorf("%w: event %d lacks an id or has a bad aggregate", ErrBadAppend, i)
		}
		ref := e.Aggregate()
		if n := len(runs); n > 0 && runs[n-1].Aggregate == ref {
			last := runs[n-1].Events[len(runs[n-1].Events)-1]
			if e.AggregateVersion != last.AggregateVersion+1 {
				return nil, fmt.Errorf("%w: %s versions not consecutive", ErrBadAppend, ref)
			}
			runs[n-1].Events = append(runs[n-1].Events, e)
			continue
		}
		if seen[ref] {
			return nil, fmt.Errorf("%w: events of %s are not contiguous", ErrBadAppend, ref)
		}
		if e.AggregateVersion < 1 {
			return nil, fmt.Errorf("%w: %s version %d", ErrBadAppend, ref, e.AggregateVersion)
		}
		seen[ref] = true
		runs = append(runs, Run{Aggregate: ref, Expected: e.AggregateVersion - 1, Events: []domain.Event{e}})
	}
	return runs, nil
}
