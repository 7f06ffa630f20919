package eventlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
	// it. An entry with Err set was dead-lettered: only the checkpoint moves.
	Apply(ctx context.Context, e Entry) error
}

// FollowRecorder is told what a follower does; metrics implement it.
type FollowRecorder interface {
	DeadLettered(partition, group string)
	Checkpointed(partition, group string, position int64)
}

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
		if m.Position <= f.cp && m.Position > 0 {
			m.Ack()
			continue
		}
		if err := f.catchUp(ctx, m.Position-1); err != nil {
			f.log.Warn("gap fill failed; the entry will be delivered again", "position", m.Position, "err", err)
			m.Nack()
			continue
		}
		if m.Position != f.cp+1 {
			// An entry with no readable position: nothing to order it by.
			f.deadLetter(ctx, m.Entry)
			m.Ack()
			continue
		}
		if err := f.apply(ctx, m.Entry); err != nil {
			f.log.Warn("apply failed; the entry will be delivered again", "position", m.Position, "err", err)
			m.Nack()
			continue
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
}

// catchUp reads and applies the log from the checkpoint up to position until
// (through to the end when until < 0).
func (f *follower) catchUp(ctx context.Context, until int64) error {
	for until < 0 || f.cp < until {
		n := int64(catchUpBatch)
		if until >= 0 && until-f.cp < n {
			n = until - f.cp
		}
		entries, err := f.store.ReadPartition(ctx, f.cfg.Partition, f.cp+1, n)
		if err != nil {
			return err
		}
		if len(entries) == 0 {
			if until >= 0 {
				return fmt.Errorf("log %s ends before position %d", f.cfg.Partition, until)
			}
			return nil
		}
		for _, e := range entries {
			if e.Position != f.cp+1 {
				return fmt.Errorf("log %s: position %d follows %d", f.cfg.Partition, e.Position, f.cp)
			}
			if err := f.apply(ctx, e); err != nil {
				return err
			}
		}
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

func (f *follower) deadLetter(ctx context.Context, e Entry) {
	keys, _ := KeysFor(f.cfg.Partition)
	reason := "no position"
	if e.Err != nil {
		reason = e.Err.Error()
	}
	f.log.Error("log entry cannot be decoded; moved to the dead-letter stream", "position", e.Position, "err", reason)
	err := f.store.client.XAdd(ctx, &redis.XAddArgs{
		Stream: keys.DeadLetter(),
		Values: []any{"group", f.cfg.Group, "consumer", f.cfg.Consumer, "pos", strconv.FormatInt(e.Position, 10), "error", reason, "payload", string(e.Raw)},
	}).Err()
	if err != nil {
		f.log.Error("dead-letter write failed", "position", e.Position, "err", err)
	}
	if f.rec != nil {
		f.rec.DeadLettered(f.cfg.Partition, f.cfg.Group)
	}
}
