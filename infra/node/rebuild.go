package node

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tierlink/tierlink/infra/adapters"
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
		pipe := newPipelinedStore(ctx, next)
		defer pipe.Close() // on an early return; closed below otherwise
		cases, err := projections.NewCases(pipe, p)
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
				if err := cases.Apply(ctx, adapters.DomainEntries(entries)); err != nil {
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
				if err := pipe.Flush(); err != nil {
					return stats, fmt.Errorf("rebuild %s: %w", p, err)
				}
				switched, err := next.Switch(ctx, gen, projections.CasesName)
				if err != nil {
					return stats, err
				}
				if switched {
					if err := pipe.Close(); err != nil {
						return stats, err
					}
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

// pipelinedStore commits a rebuild's runs in the background, one after another,
// while the rebuild applies the next run: reads see the documents of the runs not
// yet committed first. It serves a rebuild's generation only (its one writer).
type pipelinedStore struct {
	store   *viewstore.Store
	mu      sync.Mutex
	overlay map[string][]byte // "<model>\x00<id>" → the latest document not yet committed
	pending int               // commits queued or running
	cp      int64             // the last position queued
	err     error             // the first failed commit
	queue   chan pipelinedCommit
	idle    *sync.Cond
	closing sync.Once
}

type pipelinedCommit struct {
	name     string
	position int64
	ch       projections.Changes
}

func newPipelinedStore(ctx context.Context, store *viewstore.Store) *pipelinedStore {
	p := &pipelinedStore{store: store, overlay: map[string][]byte{}, queue: make(chan pipelinedCommit, 2)}
	p.idle = sync.NewCond(&p.mu)
	go func() {
		for c := range p.queue {
			err := store.Commit(ctx, c.name, c.position, c.ch)
			p.mu.Lock()
			if err != nil && p.err == nil {
				p.err = err
			}
			if err == nil {
				for _, d := range c.ch.Docs { // committed: drop what no later run changed
					k := d.Model + "\x00" + d.ID
					if b, ok := p.overlay[k]; ok && string(b) == string(d.Body) {
						delete(p.overlay, k)
					}
				}
			}
			p.pending--
			p.idle.Broadcast()
			p.mu.Unlock()
		}
	}()
	return p
}

func (p *pipelinedStore) Checkpoint(ctx context.Context, name string) (int64, error) {
	p.mu.Lock()
	cp, err := p.cp, p.err
	p.mu.Unlock()
	if err != nil || cp > 0 {
		return cp, err
	}
	return p.store.Checkpoint(ctx, name)
}

func (p *pipelinedStore) Get(ctx context.Context, model, id string) ([]byte, bool, error) {
	p.mu.Lock()
	b, ok := p.overlay[model+"\x00"+id]
	p.mu.Unlock()
	if ok {
		return b, true, nil
	}
	return p.store.Get(ctx, model, id)
}

func (p *pipelinedStore) GetMany(ctx context.Context, model string, ids []string) ([][]byte, error) {
	out, err := p.store.GetMany(ctx, model, ids)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, id := range ids {
		if b, ok := p.overlay[model+"\x00"+id]; ok {
			out[i] = b
		}
	}
	return out, nil
}

func (p *pipelinedStore) Commit(_ context.Context, name string, position int64, ch projections.Changes) error {
	p.mu.Lock()
	if p.err != nil {
		defer p.mu.Unlock()
		return p.err
	}
	for _, d := range ch.Docs {
		p.overlay[d.Model+"\x00"+d.ID] = d.Body
	}
	p.cp = position
	p.pending++
	p.mu.Unlock()
	p.queue <- pipelinedCommit{name: name, position: position, ch: ch}
	return nil
}

// Flush waits for every queued commit and returns the first error.
func (p *pipelinedStore) Flush() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.pending > 0 {
		p.idle.Wait()
	}
	return p.err
}

// Close flushes and stops the committer; it may be called more than once.
func (p *pipelinedStore) Close() error {
	err := p.Flush()
	p.closing.Do(func() { close(p.queue) })
	return err
}

// IndexMembers returns every member of an index (projections.IndexReader): it
// waits for the queued commits first, so that the index holds every run's changes.
// The watch projection lists an index only when reference data changes, rarely.
func (p *pipelinedStore) IndexMembers(ctx context.Context, index string) ([]string, error) {
	if err := p.Flush(); err != nil {
		return nil, err
	}
	return p.store.IndexMembers(ctx, index)
}
