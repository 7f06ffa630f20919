package quality

import (
	"fmt"
	"time"

	"github.com/tierlink/tierlink/allocation"
)

// OracleName names the offline optimum in reports.
const OracleName = "oracle"

// Optimum is a scenario's exact offline optimum: the assignment of the largest
// hardship-weighted total over the whole month, and the most needs any serves.
type Optimum struct {
	// Weighted is the assignment of the largest total Value; its Tier is TierOf.
	Weighted Outcome
	// Total is its total Value.
	Total int64
	// MaxServable is the most needs any assignment serves (every edge worth 1).
	MaxServable int
	// Edges counts the need–offer pairs that fit.
	Edges int
}

// Oracle solves a scenario offline with allocation.Solve over an edge from each
// need to every offer that fits it (Scenario.Fits), once with each edge worth the
// need's Value and once worth 1.
func Oracle(sc *Scenario) (Optimum, error) {
	began := time.Now()
	capacity := make([]int, len(sc.Offers))
	for i, o := range sc.Offers {
		capacity[i] = o.Capacity
	}
	var edges []allocation.Edge
	for n, fit := range sc.fit {
		v := sc.Value(n)
		for _, o := range fit {
			edges = append(edges, allocation.Edge{Need: n, Offer: int(o), Value: v})
		}
	}
	chosen, err := allocation.Solve(len(sc.Needs), capacity, edges)
	if err != nil {
		return Optimum{}, fmt.Errorf("oracle: weighted: %w", err)
	}
	opt := Optimum{Weighted: newOutcome(OracleName, len(sc.Needs)), Edges: len(edges)}
	if err := opt.take(sc, edges, chosen); err != nil {
		return Optimum{}, err
	}
	for i := range edges {
		edges[i].Value = 1
	}
	chosen, err = allocation.Solve(len(sc.Needs), capacity, edges)
	if err != nil {
		return Optimum{}, fmt.Errorf("oracle: count: %w", err)
	}
	for _, e := range chosen {
		if e >= 0 {
			opt.MaxServable++
		}
	}
	opt.Weighted.Elapsed = time.Since(began)
	return opt, nil
}

// take records the weighted assignment, checking that it is one.
func (opt *Optimum) take(sc *Scenario, edges []allocation.Edge, chosen []int) error {
	if len(chosen) != len(sc.Needs) {
		return fmt.Errorf("oracle: the solver returned %d choices for %d needs", len(chosen), len(sc.Needs))
	}
	for n, e := range chosen {
		if e < 0 {
			continue
		}
		if e >= len(edges) || edges[e].Need != n {
			return fmt.Errorf("oracle: the solver chose edge %d for need %d, not one of its edges", e, n)
		}
		o := edges[e].Offer
		opt.Weighted.Offer[n], opt.Weighted.Tier[n] = o, sc.TierOf(n, o)
		opt.Total += edges[e].Value
	}
	return nil
}
