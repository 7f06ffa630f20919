package quality

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/tierlink/tierlink/domain"
)

// Outcome is what one algorithm did with a scenario: per need, the offer it was
// given (-1 for none), when, and at which tier.
type Outcome struct {
	Algorithm string
	Offer     []int
	// At is when each served need was proposed its offer (zero for the offline
	// optimum, which has no time).
	At []time.Time
	// Tier is the tier each served need was proposed at.
	Tier []int
	// MaxWait is the bound on waiting the algorithm ran under (the max_wait of the
	// matcher's policy); 0 for none.
	MaxWait time.Duration
	// Elapsed is the wall time the algorithm took.
	Elapsed time.Duration
}

func newOutcome(algorithm string, needs int) Outcome {
	o := Outcome{Algorithm: algorithm, Offer: make([]int, needs), At: make([]time.Time, needs), Tier: make([]int, needs)}
	for i := range o.Offer {
		o.Offer[i] = -1
	}
	return o
}

// Served counts the needs given an offer.
func (o Outcome) Served() int {
	k := 0
	for _, x := range o.Offer {
		if x >= 0 {
			k++
		}
	}
	return k
}

// FirstFitName and BalanceName name the baselines in reports.
const (
	FirstFitName = "first-fit"
	BalanceName  = "balance"
)

// FirstFit plays the scenario online by first fit: a need on arrival takes the
// first fitting offer with a free unit in posting order, or waits; new supply
// serves the waiting needs first come, first served.
func FirstFit(ctx context.Context, sc *Scenario) (Outcome, error) {
	return online(ctx, sc, FirstFitName, func(free []int, cands []int32) int {
		for _, o := range cands {
			if free[o] > 0 {
				return int(o)
			}
		}
		return -1
	})
}

// Balance plays the scenario online by the BALANCE rule of online b-matching: a
// need on arrival takes the fitting offer with the largest share of its capacity
// still free (the first posted of equals), or waits; new supply serves the waiting
// needs first come, first served.
func Balance(ctx context.Context, sc *Scenario) (Outcome, error) {
	return online(ctx, sc, BalanceName, func(free []int, cands []int32) int {
		best := -1
		for _, o := range cands {
			if free[o] <= 0 {
				continue
			}
			// free[o]/cap[o] > free[best]/cap[best], in integers.
			if best < 0 || free[o]*sc.Offers[best].Capacity > free[best]*sc.Offers[o].Capacity {
				best = int(o)
			}
		}
		return best
	})
}

// online plays a scenario with an arrival rule: pick chooses among the offers that
// fit a need now (in posting order) one with a free unit, or -1.
func online(ctx context.Context, sc *Scenario, name string, pick func(free []int, cands []int32) int) (Outcome, error) {
	began := time.Now()
	out := newOutcome(name, len(sc.Needs))
	free := make([]int, len(sc.Offers))
	for i, o := range sc.Offers {
		free[i] = o.Capacity
	}
	// Supply opens in the order of its opening (an offer posted ahead of its start
	// opens at the start), before the needs registered at the same time.
	opens := make([]int, 0, len(sc.Offers))
	for i, o := range sc.Offers {
		if o.ValidUntil.IsZero() || o.Opens().Before(o.ValidUntil) {
			opens = append(opens, i)
		}
	}
	sort.SliceStable(opens, func(a, b int) bool { return sc.Offers[opens[a]].Opens().Before(sc.Offers[opens[b]].Opens()) })
	type slot struct {
		category string
		tier     int
		area     string
	}
	waiting := map[slot][]int{} // needs waiting, in order of registration, under each of their areas
	give := func(n, o int, at time.Time) {
		out.Offer[n], out.At[n], out.Tier[n] = o, at, sc.TierOf(n, o)
		free[o]--
	}
	// serve gives an offer that opens to the needs waiting under its scope that it
	// fits, first come first served.
	serve := func(o int) {
		of := &sc.Offers[o]
		at := of.Opens()
		s := slot{of.Category, of.Scope.Tier, of.Scope.Area}
		kept := waiting[s][:0]
		for _, w := range waiting[s] {
			if out.Offer[w] >= 0 {
				continue // served meanwhile by other supply
			}
			if free[o] > 0 && sc.FitsAt(w, o, at) {
				give(w, o, at)
				continue
			}
			kept = append(kept, w)
		}
		waiting[s] = kept
	}
	var cands []int32
	next := 0
	for n := range sc.Needs {
		if n%1024 == 0 && ctx.Err() != nil {
			return out, fmt.Errorf("%s: %w", name, ctx.Err())
		}
		need := &sc.Needs[n]
		for ; next < len(opens) && !sc.Offers[opens[next]].Opens().After(need.Registered); next++ {
			serve(opens[next])
		}
		cands = cands[:0]
		for _, o := range sc.fit[n] {
			if sc.Offers[o].ValidAt(need.Registered) {
				cands = append(cands, o)
			}
		}
		if o := pick(free, cands); o >= 0 {
			give(n, o, need.Registered)
			continue
		}
		for _, s := range []slot{{need.Category, domain.TierCommunity, need.Community}, {need.Category, domain.TierStreet, need.Street}, {need.Category, domain.TierDistrict, sc.District}} {
			waiting[s] = append(waiting[s], n)
		}
	}
	// Supply that opens after the last registration, within the scenario.
	for ; next < len(opens) && !sc.Offers[opens[next]].Opens().After(sc.End); next++ {
		serve(opens[next])
	}
	out.Elapsed = time.Since(began)
	return out, nil
}
