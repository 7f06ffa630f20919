package quality

import (
	"math"
	"slices"
	"sort"
	"time"
)

// Metrics is how well one algorithm did on one scenario, against the optimum.
type Metrics struct {
	// Algorithm names the row: the optimum, a matcher run or a baseline.
	Algorithm string `json:"algorithm"`
	// Served counts the needs given an offer; ServedRatio is that ÷ the most needs
	// any assignment serves.
	Served      int     `json:"served"`
	ServedRatio float64 `json:"served_of_max_servable"`
	// Weighted is the total Value served; WeightedRatio that ÷ the optimum's.
	Weighted      int64   `json:"weighted"`
	WeightedRatio float64 `json:"weighted_of_optimum"`
	// Local is the share of served needs proposed at the most local tier any offer
	// that fits them allows (Scenario.MostLocalTier): where the decision was taken.
	Local float64 `json:"most_local_tier_share"`
	// LocalScope is the share of served needs given an offer whose scope tier is
	// the lowest among the offers that fit them (Scenario.MostLocalScope): where the
	// service comes from, whatever the tier it was proposed at.
	LocalScope float64 `json:"most_local_scope_share"`
	// TopDecile is the share of the tenth of needs in deepest hardship that is
	// served; TopDecileRatio that ÷ the optimum's share.
	TopDecile      float64 `json:"top_decile_served"`
	TopDecileRatio float64 `json:"top_decile_of_optimum"`
	// AUC is the chance that a random served need has more hardship than a random
	// unserved one, among servable needs (ties count half; 0.5 is chance); nil when
	// every servable need, or none, is served.
	AUC *float64 `json:"hardship_auc,omitempty"`
	// Waits are the times from registration to proposal; nil for the optimum.
	Waits *Waits `json:"waits,omitempty"`
	// Overtaken counts the needs never served that fitted an offer that was given
	// to a need registered after them.
	Overtaken int `json:"overtaken_never_served"`
	// PastMaxWait counts the needs overtaken once they had waited past the bound on
	// waiting; nil for the optimum, which has no time.
	PastMaxWait *PastMaxWait `json:"overtaken_past_max_wait,omitempty"`
	// Seconds is the algorithm's wall time (the optimum's: both solves).
	Seconds float64 `json:"seconds"`
}

// PastMaxWait counts the needs overtaken past a bound on waiting (the goal of
// issue 12: no servable need overtaken beyond max_wait).
type PastMaxWait struct {
	// BoundHours is the bound measured against: the max_wait the algorithm ran
	// under, or the scenario's policy's for an algorithm without one.
	BoundHours float64 `json:"bound_hours"`
	// Needs counts the needs that, at a moment when they had waited longer than the
	// bound and were still unserved, fitted a unit (of an offer they fit, valid
	// then) that was proposed to another need that had not waited longer.
	Needs int `json:"needs"`
	// WorstHours is the longest such a need had waited past the bound when it was
	// overtaken (0 for none).
	WorstHours float64 `json:"worst_hours"`
}

// Waits are the times from registration to proposal of one algorithm, in hours.
type Waits struct {
	// Longest is the longest wait of a servable need: to its proposal, or to the
	// end of the scenario if it was never served.
	Longest float64 `json:"longest_servable_hours"`
	// Median and P90 are over the served needs; the Plentiful ones over the served
	// needs of the categories whose capacity is at least their demand (nil if none).
	Median          float64  `json:"median_hours"`
	P90             float64  `json:"p90_hours"`
	MedianPlentiful *float64 `json:"median_plentiful_hours,omitempty"`
	P90Plentiful    *float64 `json:"p90_plentiful_hours,omitempty"`
}

// Measure measures an outcome against the optimum (which it may be).
func Measure(sc *Scenario, opt Optimum, out Outcome) Metrics {
	m := Metrics{Algorithm: out.Algorithm, Served: out.Served(), Seconds: out.Elapsed.Seconds()}
	local, localScope := 0, 0
	for n, o := range out.Offer {
		if o < 0 {
			continue
		}
		m.Weighted += sc.Value(n)
		if out.Tier[n] == sc.MostLocalTier(n) {
			local++
		}
		if sc.Offers[o].Scope.Tier == sc.MostLocalScope(n) {
			localScope++
		}
	}
	m.ServedRatio = ratio(float64(m.Served), float64(opt.MaxServable))
	m.WeightedRatio = ratio(float64(m.Weighted), float64(opt.Total))
	m.Local = ratio(float64(local), float64(m.Served))
	m.LocalScope = ratio(float64(localScope), float64(m.Served))
	top := sc.TopDecile()
	m.TopDecile = servedShare(out, top)
	m.TopDecileRatio = ratio(m.TopDecile, servedShare(opt.Weighted, top))
	m.AUC = hardshipAUC(sc, out)
	m.Overtaken = overtaken(sc, out)
	if out.Algorithm != OracleName {
		m.Waits = waits(sc, out)
		bound := out.MaxWait
		if bound <= 0 {
			bound = sc.MaxWait()
		}
		if bound > 0 {
			m.PastMaxWait = overtakenPastMaxWait(sc, out, bound)
		}
	}
	return m
}

// ratio is a ÷ b, or 0 when b is 0.
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// TopDecile lists the tenth of needs (rounded up) in deepest hardship: by hardship,
// then urgency points, then registration.
func (sc *Scenario) TopDecile() []int {
	idx := make([]int, len(sc.Needs))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		na, nb := &sc.Needs[idx[a]], &sc.Needs[idx[b]]
		if na.Hardship != nb.Hardship {
			return na.Hardship > nb.Hardship
		}
		return sc.Value(idx[a]) > sc.Value(idx[b])
	})
	return idx[:(len(idx)+9)/10]
}

func servedShare(out Outcome, needs []int) float64 {
	k := 0
	for _, n := range needs {
		if out.Offer[n] >= 0 {
			k++
		}
	}
	return ratio(float64(k), float64(len(needs)))
}

// hardshipAUC is P(hardship of a random served need > that of a random unserved
// one) among servable needs, ties counted half.
func hardshipAUC(sc *Scenario, out Outcome) *float64 {
	var served, unserved [101]float64
	var s, u float64
	for n := range sc.Needs {
		if !sc.Servable(n) {
			continue
		}
		h := min(max(sc.Needs[n].Hardship, 0), 100)
		if out.Offer[n] >= 0 {
			served[h]++
			s++
		} else {
			unserved[h]++
			u++
		}
	}
	if s == 0 || u == 0 {
		return nil
	}
	wins, below := 0.0, 0.0
	for h := range served {
		wins += served[h] * (below + unserved[h]/2)
		below += unserved[h]
	}
	auc := wins / (s * u)
	return &auc
}

// overtaken counts the needs never served that fitted an offer given to a need
// registered after them.
func overtaken(sc *Scenario, out Outcome) int {
	latest := make([]time.Time, len(sc.Offers)) // latest registration among each offer's needs
	for n, o := range out.Offer {
		if o >= 0 && sc.Needs[n].Registered.After(latest[o]) {
			latest[o] = sc.Needs[n].Registered
		}
	}
	k := 0
	for n, fit := range sc.fit {
		if out.Offer[n] >= 0 {
			continue
		}
		if slices.ContainsFunc(fit, func(o int32) bool { return latest[o].After(sc.Needs[n].Registered) }) {
			k++
		}
	}
	return k
}

// overtakenPastMaxWait finds the needs overtaken past a bound on waiting: at the
// time a unit of an offer was proposed to a need that had waited no longer than the
// bound, another need that the offer fitted then had waited longer and was still
// unserved (proposed later or never; one proposed at the same time was not left
// behind).
func overtakenPastMaxWait(sc *Scenario, out Outcome, bound time.Duration) *PastMaxWait {
	fitters := make([][]int, len(sc.Offers)) // the needs each offer fits at some time, by registration
	for n, fit := range sc.fit {
		for _, o := range fit {
			fitters[o] = append(fitters[o], n)
		}
	}
	for _, f := range fitters {
		slices.SortStableFunc(f, func(a, b int) int { return sc.Needs[a].Registered.Compare(sc.Needs[b].Registered) })
	}
	late := make([]bool, len(sc.Needs))
	var worst time.Duration
	k := 0
	for n, o := range out.Offer {
		if o < 0 {
			continue
		}
		t := out.At[n]
		if t.Sub(sc.Needs[n].Registered) > bound || !sc.Offers[o].ValidAt(t) {
			continue
		}
		for _, w := range fitters[o] {
			waited := t.Sub(sc.Needs[w].Registered)
			if waited <= bound {
				break // nobody registered later has waited longer than the bound
			}
			if out.Offer[w] >= 0 && !out.At[w].After(t) {
				continue
			}
			if !late[w] {
				late[w] = true
				k++
			}
			worst = max(worst, waited-bound)
		}
	}
	return &PastMaxWait{BoundHours: bound.Hours(), Needs: k, WorstHours: worst.Hours()}
}

// waits measures the times from registration to proposal.
func waits(sc *Scenario, out Outcome) *Waits {
	demand, capacity := sc.Demand(), sc.Capacity()
	var all, plentiful []time.Duration
	w := &Waits{}
	longest := time.Duration(0)
	for n := range sc.Needs {
		if !sc.Servable(n) {
			continue
		}
		reg := sc.Needs[n].Registered
		if out.Offer[n] < 0 {
			longest = max(longest, sc.End.Sub(reg))
			continue
		}
		d := out.At[n].Sub(reg)
		longest = max(longest, d)
		all = append(all, d)
		if c := sc.Needs[n].Category; capacity[c] >= demand[c] {
			plentiful = append(plentiful, d)
		}
	}
	w.Longest = longest.Hours()
	w.Median, w.P90 = quantile(all, 0.5), quantile(all, 0.9)
	if len(plentiful) > 0 {
		med, p90 := quantile(plentiful, 0.5), quantile(plentiful, 0.9)
		w.MedianPlentiful, w.P90Plentiful = &med, &p90
	}
	return w
}

// quantile is the nearest-rank q-quantile of durations, in hours (0 for none).
func quantile(ds []time.Duration, q float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)].Hours()
}
