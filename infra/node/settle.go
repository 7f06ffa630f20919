package node

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Settle waits until the matcher and the projections of every district have applied
// the whole log and no decision is left to append: the log's head, read before and
// after, equals both consumers' checkpoints. It waits for Run to start (until ctx
// ends, if Run is never called, or this node never gets a district's matcher lease)
// and returns ErrStopped once Run has returned.
func (n *Node) Settle(ctx context.Context) error { return n.settle(ctx, true) }

// ErrStopped is returned by Settle once the node's Run has returned.
var ErrStopped = errors.New("node: stopped running")

// SettleMatcher is Settle for the matchers alone: every decision the log calls for
// is in it (the read models may still be behind).
func (n *Node) SettleMatcher(ctx context.Context) error { return n.settle(ctx, false) }

func (n *Node) settle(ctx context.Context, readModels bool) error {
	for {
		if n.stopped.Load() {
			return ErrStopped
		}
		settled := n.running.Load()
		for _, p := range n.partitions {
			if !settled {
				break
			}
			h, err := n.store.Head(ctx, p)
			if err != nil {
				return fmt.Errorf("settle %s: %w", p, err)
			}
			n.mu.Lock()
			loop, cases := n.loops[p], n.cases[p]
			n.mu.Unlock()
			if loop == nil || cases == nil {
				settled = false
				break
			}
			// The loop's checkpoint counts a position once its decisions are in the log.
			lcp, _ := loop.Checkpoint(ctx)
			ccp := h
			if readModels {
				var err error
				if ccp, err = cases.Checkpoint(ctx); err != nil {
					return fmt.Errorf("settle %s: %w", p, err)
				}
			}
			if lcp != h || ccp != h {
				settled = false
				break
			}
			if h2, err := n.store.Head(ctx, p); err != nil || h2 != h {
				settled = false
				break
			}
		}
		if settled {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
}

// Lag returns how many log entries the matchers and the projections of every
// district have still to apply here (a district whose matcher does not run in this
// node counts its whole log).
func (n *Node) Lag(ctx context.Context) (matcher, projection int64, err error) {
	for _, p := range n.partitions {
		h, err := n.store.Head(ctx, p)
		if err != nil {
			return 0, 0, fmt.Errorf("lag of %s: %w", p, err)
		}
		n.mu.Lock()
		loop, cases := n.loops[p], n.cases[p]
		n.mu.Unlock()
		var lcp, ccp int64
		if loop != nil {
			lcp, _ = loop.Checkpoint(ctx)
		}
		if cases != nil {
			if ccp, err = cases.Checkpoint(ctx); err != nil {
				return 0, 0, fmt.Errorf("lag of %s: %w", p, err)
			}
		}
		matcher += max(h-lcp, 0)
		projection += max(h-ccp, 0)
	}
	return matcher, projection, nil
}
