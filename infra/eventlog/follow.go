package eventlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Applier applies a partition's entries strictly in log order and keeps its own
// checkpoint, written atomically with its effects so that an entry takes effect once.
type Applier interface {
	// Checkpoint returns the position of the last entry applied (0 if none).
	Checkpoint(ctx context.Context) (int64, error)
	// Apply applies the entry right after the checkpoint and moves the checkpoint to
	// it; an entry at or before the checkpoint (applied by another follower sharing
	// the checkpoint) changes nothing. An entry with Err set was dead-lettered: only
	// the checkpoint moves.
	Apply(ctx context.Context, e Entry) error
}

// BatchApplier is an Applier that can also take a run of consecutive entries at
// once (entries that could not be decoded are in it with Err set, as for Apply); a
// follower catching up hands it each run it reads.
type BatchApplier interface {
	Applier
	// ApplyBatch applies the entries in order and moves the checkpoint to the last.
	ApplyBatch(ctx context.Context, entries []Entry) error
}

// Flusher is an Applier that may still have work in flight after Apply returns; a
// follower that has caught up with the log calls Flush, then, if Flush says it
// wrote to the log, reads again what it appended.
type Flusher interface {
	Flush(ctx context.Context) (wrote bool, err error)
}

// FollowRecorder is told what a follower does; metrics implement it.
type FollowRecorder interface {
	// DeadLettered is told of an entry moved to the dead-letter stream (once per
	// group and entry, however often it is read).
	DeadLettered(partition, group string)
	// Checkpointed is told of a group's progress: the checkpoint it starts from,
	// then each one it reaches.
	Checkpointed(partition, group string, position int64)
}

// deadLetterScript adds an entry to the dead-letter stream once per group and entry.
// KEYS[1] the dead-letter stream, KEYS[2] the hash of entries already there;
// ARGV[1] "<group>/<entry id>", then the fields of the dead-letter entry.
var deadLetterScript = redis.NewScript(`
if redis.call('HSETNX', KEYS[2], ARGV[1], 1) == 0 then return 0 end
redis.call('XADD', KEYS[1], '*', unpack(ARGV, 2))
return 1
`)

// catchUpBatch is how many entries one read of a catch-up takes.
const catchUpBatch = 1000

// Follow applies a partition log to an Applier, in order and with nothing lost or
// skipped, until ctx ends. It first catches up from the checkpoint by reading the log
// directly, then follows it through the consumer group. An entry delivered at or before
// the checkpoint is acknowledged and skipped; one delivered past a gap (after a claim
// or a restart) makes the follower read the gap from the log first. An entry that
// cannot be decoded is copied to the partition's dead-letter stream and counted.
func (s *Store) Follow(ctx context.Context, cfg SubscriptionConfig, a Applier, rec FollowRecorder) error {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	f := &follower{store: s, cfg: cfg, applier: a, rec: rec, log: cfg.Logger.With("partition", cfg.Partition, "group", cfg.Group)}
	cp, err := a.Checkpoint(ctx)
	if err != nil {
		return fmt.Errorf("follow %s/%s: checkpoint: %w", cfg.Partition, cfg.Group, err)
	}
	f.cp = cp
	if rec != nil {
		// Reported now, not only once an entry is applied: after a restart on an idle
		// log, the lag is the log's head minus this checkpoint, not the whole log.
		rec.Checkpointed(cfg.Partition, cfg.Group, cp)
	}
	for {
		err := f.catchUp(ctx, -1)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		f.log.Warn("catch-up failed; retrying", "checkpoint", f.cp, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(cfg.NackDelay):
		}
	}
	cfg.StartAfter = f.cp
	sub, err := s.Subscribe(ctx, cfg)
	if err != nil {
		return err
	}
	defer sub.Close()
	for m := range sub.C {
		if m.Position < 1 {
			// An entry with no position was not written by tierlink: reading the log
			// to its end dead-letters it with its id.
			if err := f.catchUp(ctx, -1); err != nil {
				f.log.Warn("catch-up failed", "err", err)
			}
			m.Ack()
			continue
		}
		if m.Position <= f.cp {
			m.Ack()
			continue
		}
		// The delivery says the log has grown: read it from the checkpoint to its end
		// in runs, as a catch-up does. Under load that applies hundreds of entries a
		// call instead of one (and the matcher appends their decisions together).
		if err := f.catchUp(ctx, -1); err != nil {
			f.log.Warn("reading the log failed; the entry will be delivered again", "position", m.Position, "err", err)
			m.Nack()
			continue
		}
		if m.Position > f.cp { // an entry tierlink did not write blocks the log before it
			m.Nack()
			continue
		}
		if f.cp > m.Position {
			// Entries up to the checkpoint are applied: the group need not deliver
			// them one by one (a read and an acknowledgement each).
			f.skipDelivered(ctx)
		}
		m.Ack()
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return errors.New("follow: subscription ended")
}

type follower struct {
	store   *Store
	cfg     SubscriptionConfig
	applier Applier
	rec     FollowRecorder
	log     *slog.Logger
	cp      int64
	// noSetID is set once the server refused XGROUP SETID (the embedded one does):
	// the group then delivers every entry, acknowledged as applied.
	noSetID bool
}

// catchUp reads and applies the log from the checkpoint up to position until
// (through to the end when until < 0).
//
// It reads the next run while the applier works on the present one (the log's
// entries never change, so a read ahead cannot go stale; entries appended
// meanwhile are read by a later read).
func (f *follower) catchUp(ctx context.Context, until int64) error {
	type read struct {
		entries []Entry
		err     error
	}
	readFrom := func(from int64) <-chan read {
		n := int64(catchUpBatch)
		if until >= 0 && until-from+1 < n {
			n = until - from + 1
		}
		out := make(chan read, 1)
		if n <= 0 {
			out <- read{}
			return out
		}
		go func() {
			entries, err := f.store.ReadPartition(ctx, f.cfg.Partition, from, n)
			out <- read{entries, err}
		}()
		return out
	}
	ahead := readFrom(f.cp + 1)
	flushed := false
	for until < 0 || f.cp < until {
		r := <-ahead
		entries, err := r.entries, r.err
		if err != nil {
			return err
		}
		if len(entries) == int(catchUpBatch) {
			ahead = readFrom(entries[len(entries)-1].Position + 1)
		} else {
			ahead = nil
		}
		if len(entries) == 0 {
			if until >= 0 {
				return fmt.Errorf("log %s ends before position %d", f.cfg.Partition, until)
			}
			if fl, ok := f.applier.(Flusher); ok && !flushed {
				wrote, err := fl.Flush(ctx)
				if err != nil {
					return err
				}
				if !wrote {
					return nil
				}
				flushed = true
				ahead = readFrom(f.cp + 1)
				continue
			}
			return nil
		}
		flushed = false
		foreign := slices.IndexFunc(entries, func(e Entry) bool { return errors.Is(e.Err, ErrForeignEntry) })
		run := entries
		if foreign >= 0 {
			run = entries[:foreign]
		}
		for i, e := range run {
			if e.Position != f.cp+1+int64(i) {
				return fmt.Errorf("log %s: position %d follows %d", f.cfg.Partition, e.Position, f.cp+int64(i))
			}
		}
		if err := f.applyRun(ctx, run); err != nil {
			return err
		}
		if ahead == nil {
			ahead = readFrom(f.cp + 1)
		}
		if foreign >= 0 {
			// Nothing tierlink writes can follow it (appends refuse to), so the log
			// ends here until someone removes it.
			f.deadLetter(ctx, entries[foreign])
			if until >= 0 {
				return fmt.Errorf("log %s: %w blocks position %d", f.cfg.Partition, entries[foreign].Err, until)
			}
			return nil
		}
	}
	return nil
}

// applyRun applies consecutive entries: in one call to a BatchApplier, else one by one.
func (f *follower) applyRun(ctx context.Context, run []Entry) error {
	b, ok := f.applier.(BatchApplier)
	if !ok || len(run) < 2 {
		for _, e := range run {
			if err := f.apply(ctx, e); err != nil {
				return err
			}
		}
		return nil
	}
	for _, e := range run {
		if e.Err != nil {
			f.deadLetter(ctx, e)
		}
	}
	if err := b.ApplyBatch(ctx, run); err != nil {
		return fmt.Errorf("apply positions %d to %d: %w", run[0].Position, run[len(run)-1].Position, err)
	}
	f.cp = run[len(run)-1].Position
	if f.rec != nil {
		f.rec.Checkpointed(f.cfg.Partition, f.cfg.Group, f.cp)
	}
	return nil
}

// apply dead-letters an undecodable entry, then hands the entry to the applier.
func (f *follower) apply(ctx context.Context, e Entry) error {
	if e.Err != nil {
		f.deadLetter(ctx, e)
	}
	if err := f.applier.Apply(ctx, e); err != nil {
		return fmt.Errorf("apply position %d: %w", e.Position, err)
	}
	f.cp = e.Position
	if f.rec != nil {
		f.rec.Checkpointed(f.cfg.Partition, f.cfg.Group, f.cp)
	}
	return nil
}

// skipDelivered moves the group's last delivered entry to the checkpoint, so that
// the entries applied by reading the log are not delivered too. If the subscriber
// has already read past it, the entries between are delivered again and
// acknowledged as applied: at least once, as always.
//
// It also sets the group's count of entries read (ENTRIESREAD, Redis 7), which is
// the position, so that Redis's own XINFO GROUPS lag stays known.
func (f *follower) skipDelivered(ctx context.Context) {
	keys, err := KeysFor(f.cfg.Partition)
	if err != nil || f.noSetID {
		return
	}
	id := strconv.FormatInt(f.cp, 10) + "-0"
	err = f.store.client.Do(ctx, "XGROUP", "SETID", keys.Log(), f.cfg.Group, id, "ENTRIESREAD", f.cp).Err()
	if err != nil && ctx.Err() == nil && !errors.Is(err, redis.Nil) {
		// A server before Redis 7 knows SETID without ENTRIESREAD.
		err = f.store.client.XGroupSetID(ctx, keys.Log(), f.cfg.Group, id).Err()
	}
	if err != nil && ctx.Err() == nil {
		f.noSetID = true
		f.log.Debug("the server cannot move a consumer group (XGROUP SETID); the entries applied will be delivered and acknowledged one by one", "err", err)
	}
}

// deadLetter copies an entry to the dead-letter stream, once per group and entry.
func (f *follower) deadLetter(ctx context.Context, e Entry) {
	keys, _ := KeysFor(f.cfg.Partition)
	id := e.ID
	if id == "" {
		id = strconv.FormatInt(e.Position, 10) + "-0"
	}
	added, err := deadLetterScript.Run(ctx, f.store.client, []string{keys.DeadLetter(), keys.DeadLetterSeen()},
		f.cfg.Group+"/"+id, "group", f.cfg.Group, "consumer", f.cfg.Consumer, "entry", id,
		"pos", strconv.FormatInt(e.Position, 10), "error", e.Err.Error(), "payload", string(e.Raw)).Int()
	if err != nil {
		f.log.Error("dead-letter write failed", "entry", id, "err", err)
		return
	}
	if added == 1 {
		f.log.Error("log entry cannot be read; copied to the dead-letter stream and skipped",
			"entry", id, "position", e.Position, "err", e.Err, "dead_letters", keys.DeadLetter())
		if f.rec != nil {
			f.rec.DeadLettered(f.cfg.Partition, f.cfg.Group)
		}
	}
}
