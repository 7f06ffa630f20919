package node

import (
	"context"
	"sync"

	"github.com/tierlink/tierlink/infra/adapters"
	"github.com/tierlink/tierlink/infra/eventlog"
	"github.com/tierlink/tierlink/infra/viewstore"
	"github.com/tierlink/tierlink/matching"
	"github.com/tierlink/tierlink/projections"
)

// Run follows every district's log with the projections, and with the matcher of
// each district whose lease it holds, until ctx ends. Everything is built before
// anything starts, so that an error leaves nothing running.
func (n *Node) Run(ctx context.Context) error {
	type consumer struct {
		partition string
		applier   eventlog.Applier
	}
	var consumers []consumer
	for _, p := range n.partitions {
		views, err := viewstore.New(n.cfg.Client, p)
		if err != nil {
			return err
		}
		cases, err := projections.NewCases(views, p)
		if err != nil {
			return err
		}
		cases.Observe(n.metrics)
		n.mu.Lock()
		if n.cases == nil {
			n.cases, n.loops = map[string]*projections.Cases{}, map[string]*matching.Loop{}
		}
		n.cases[p] = cases
		n.mu.Unlock()
		consumers = append(consumers, consumer{p, adapters.CasesApplier(cases)})
	}
	n.running.Store(true)
	defer func() { n.running.Store(false); n.stopped.Store(true) }()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		n.followReference(ctx, referenceInterval)
	}()
	if n.cfg.TickInterval > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.Ticks(ctx, n.cfg.TickInterval)
		}()
	}
	for _, c := range consumers {
		wg.Add(2)
		go func() {
			defer wg.Done()
			n.follow(ctx, c.partition, GroupCases, c.applier)
		}()
		go func() {
			defer wg.Done()
			n.runMatcher(ctx, c.partition)
		}()
	}
	wg.Wait()
	return nil
}
