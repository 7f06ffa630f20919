package node

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tierlink/tierlink/infra/eventlog"
	"github.com/tierlink/tierlink/infra/viewstore"
	"github.com/tierlink/tierlink/projections"
)

// RebuildStats says what a rebuild of the read models did. Elapsed runs until the
// last partition's new models were in force (the old ones are dropped after).
type RebuildStats struct {
	Partitions int
	Events     int64
	Elapsed    time.Duration
}

// Rate is the events applied per second.
func (s RebuildStats) Rate() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Events) / s.Elapsed.Seconds()
}

// rebuildRun is how many entries a rebuild reads and commits at a time.
const rebuildRun = 2000

// RebuildProjections rebuilds every partition's read models from its log into a new
// generation, while the current one keeps serving (and the live projection keeps
// applying to it); once the new generation holds the whole log it becomes current
// in one atomic step, and the old one is dropped. progress, if set, is told the
// events applied so far and the total known (it grows when the log does).
func RebuildProjections(ctx context.Context, client redis.UniversalClient, store *eventlog.Store, partitions []string,
	progress func(done, total int64)) (RebuildStats, error) {
	start := time.Now()
	var stats RebuildStats
	var total int64
	for _, p := range partitions {
		h, err := store.Head(ctx, p)
		if err != nil {
			return stats, err
		}
		total += h
	}
	for _, p := range partitions {
		live, err := viewstore.New(client, p)
		if err != nil {
			return stats, err
		}
		old, err := live.Generation(ctx)
		if err != nil {
			return stats, err
		}
		gen, err := live.NextGeneration(ctx)
		if err != nil {
			return stats, err
		}
		next, err := viewstore.NewGeneration(client, p, gen)
		if err != nil {
			return stats, err
		}
		if left, err := next.Exists(ctx, gen); err != nil {
			return stats, err
		} else if left {
			if err := next.Drop(ctx, gen); err != nil { // what a rebuild that stopped half-way left
				return stats, err
			}
		}
		cases, err := projections.NewCases(next, p)
		if err != nil {
			return stats, err
		}
		// The next run is read while the present one is applied and committed.
		type read struct {
			entries []eventlog.Entry
			err     error
		}
		readFrom := func(from int64) <-chan read {
			out := make(chan read, 1)
			go func() {
				entries, err := store.ReadPartition(ctx, p, from, rebuildRun)
				out <- read{entries, err}
			}()
			return out
		}
		ahead := readFrom(1)
		for from := int64(1); ; {
			r := <-ahead
			entries, err := r.entries, r.err
			if err != nil {
				return stats, err
			}
			if len(entries) == rebuildRun {
				ahead = readFrom(entries[len(entries)-1].Position + 1)
			}
			if len(entries) > 0 {
				run := make([]projections.Entry, len(entries))
				for i := range entries {
					run[i] = projections.Entry{Position: entries[i].Position, Event: eventOf(&entries[i])}
				}
				if err := cases.Apply(ctx, run); err != nil {
					return stats, fmt.Errorf("rebuild %s: %w", p, err)
				}
				from = entries[len(entries)-1].Position + 1
				stats.Events += int64(len(entries))
				total = max(total, stats.Events)
				if progress != nil {
					progress(stats.Events, total)
				}
			}
			if len(entries) < rebuildRun {
				switched, err := next.Switch(ctx, gen, projections.CasesName)
				if err != nil {
					return stats, err
				}
				if switched {
					break
				}
				ahead = readFrom(from) // the log moved on: read what came
			}
		}
		stats.Elapsed = time.Since(start) // the rebuilt models are in force from here
		// Readers trust the generation they read for a second: give them two.
		select {
		case <-ctx.Done():
			return stats, ctx.Err()
		case <-time.After(2 * time.Second):
		}
		prev, err := viewstore.NewGeneration(client, p, old)
		if err != nil {
			return stats, err
		}
		if err := prev.Drop(ctx, old); err != nil {
			return stats, err
		}
		stats.Partitions++
	}
	return stats, nil
}
