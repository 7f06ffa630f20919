package node

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/eventlog"
)

// Ticks writes the node's time into every district's log at each interval, until
// ctx ends (Run does it when the configuration's TickInterval is positive).
func (n *Node) Ticks(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := n.Tick(ctx, n.cfg.Clock()); err != nil && ctx.Err() == nil {
				n.log.Warn("clock tick not written", "err", err)
			}
		}
	}
}

// Tick writes a clock tick of time at into every district's log: the matcher
// expires what is due then. Ticks of the same interval from several nodes are one
// command, written once.
func (n *Node) Tick(ctx context.Context, at time.Time) error {
	slot := at.Truncate(max(n.cfg.TickInterval, time.Millisecond)).UnixMilli()
	for _, p := range n.partitions {
		ref := domain.AggregateRef{Type: domain.AggregateClock, ID: p}
		v, err := n.store.Version(ctx, p, ref)
		if err != nil {
			return err
		}
		evs, err := n.store.Registry().Envelop([]domain.Change{{Aggregate: ref, ExpectedVersion: v, Payloads: []domain.Payload{domain.ClockTicked{}}}},
			domain.Meta{Partition: p, Time: at, Actor: "system:clock", CommandID: "tick:" + strconv.FormatInt(slot, 10)},
			n.cfg.NewID)
		if err != nil {
			return err
		}
		if _, err := n.store.Append(ctx, evs); err != nil && !errors.Is(err, eventlog.ErrVersionConflict) {
			return fmt.Errorf("tick %s: %w", p, err)
		}
	}
	return nil
}
