package matching

import (
	"slices"
	"sort"
	"time"

	"github.com/google/btree"

	"github.com/tierlink/tierlink/allocation"
	"github.com/tierlink/tierlink/domain"
)

// The allocation rules (docs/matching.md, "Scarce supply"). They apply from a
// policy that has an allocation section; a log decided under the first rules
// replays under them.

// MaxRoundNeeds bounds the needs one allocation round weighs: the highest ranked
// (overdue first, then by priority). A held need left out of a round is waitlisted
// as outranked, as it would have lost anyway to more needs than the round had units.
const MaxRoundNeeds = 2000

// overdueBonus lifts an overdue need's weight above any need that is not overdue
// (priority points stay below it; see weightCap).
const overdueBonus = 1_000_000

// weightCap bounds a need's priority points in a round's weights.
const weightCap = overdueBonus - 1

// localities counts the locality levels of a proposal (see locality).
const localities = 9

// rules reports whether the district's policy has the allocation rules.
func (m *Matcher) rules() *domain.Allocation { return m.policy.Allocation }

// candLess is the order of candidate offers under the district's rules.
func (m *Matcher) candLess() btree.LessFunc[*offer] {
	if m.rules() != nil {
		return flexLess
	}
	return rankLess
}

// rankBefore orders two candidate offers under the district's rules.
func (m *Matcher) rankBefore(a, b *offer) bool { return m.candLess()(a, b) }

// reorderCandidates rebuilds the candidate trees when the rules change.
func (m *Matcher) reorderCandidates() {
	old := m.cands
	m.cands = map[slot]*btree.BTreeG[*offer]{}
	for _, t := range old {
		t.Ascend(func(o *offer) bool {
			m.setFree(o, o.Free)
			return true
		})
	}
}

// scarce decides, under the allocation rules, whether a need that has a candidate
// at a tier is held for a round: its category has a round length and the free
// units that fit it there do not exceed the needs competing for them (held or
// waitlisted needs that fit one of those offers) by more than the policy's spare,
// and it has not waited past max_wait (then it goes first, at once). It returns the
// round's due time (no later than the need would pass max_wait), the competing
// needs (itself included) and the free units; a zero time when the need is
// proposed at once.
func (m *Matcher) scarce(n *need, tier int) (time.Time, int, int) {
	a := m.rules()
	round := a.Round(n.category)
	if round <= 0 || a.Overdue(n.registered, m.latest) {
		return time.Time{}, 0, 0 // a need past max_wait goes first: at once
	}
	// The free units that fit it: reading stops once they exceed every need that
	// could compete (the pool under its area) by more than the spare.
	pool := m.waits[slot{n.category, tier, n.areas[tier]}]
	enough := a.Spare
	if pool != nil {
		enough += pool.Len()
	}
	var fitting []*offer
	free := 0
	for _, t := range domain.CandidateTiers(tier) {
		tree := m.cands[slot{n.category, t, n.areas[t]}]
		if tree == nil || free > enough {
			continue
		}
		tree.Ascend(func(o *offer) bool {
			if !n.declined[o.ID] && o.FitsAt(n.groups, m.latest) {
				fitting = append(fitting, o)
				free += o.Free
			}
			return free <= enough
		})
	}
	competing := 0
	if pool != nil && free <= enough {
		pool.Ascend(func(x *need) bool {
			if x != n && slices.ContainsFunc(fitting, func(o *offer) bool { return m.reaches(x, o) }) {
				competing++
			}
			return free > a.Spare+competing
		})
	}
	if free > a.Spare+competing {
		return time.Time{}, 0, 0
	}
	until := m.latest.Add(round)
	if a.MaxWait > 0 {
		// Its round is due no later than the need would pass max_wait: then it goes
		// first, and no need proposed at once meanwhile takes its unit past the bound.
		if bound := n.registered.Add(time.Duration(a.MaxWait)); bound.Before(until) {
			until = bound
		}
	}
	return until, competing + 1, free
}

// reaches reports whether a need may take a unit of an offer: the offer covers its
// household, fits it now, and was not declined for it.
func (m *Matcher) reaches(n *need, o *offer) bool {
	return o.category == n.category && o.scope.Area == n.areas[o.scope.Tier] &&
		!n.declined[o.ID] && o.FitsAt(n.groups, m.latest)
}

// proposalTier is the tier a need at a tier is proposed an offer at: the offer's
// scope tier when it is not below the need's, else the district (the last resort,
// where every offer covering the household is a candidate). Tiers never go down.
func proposalTier(needTier, scopeTier int) int {
	if scopeTier >= needTier {
		return scopeTier
	}
	return domain.TierDistrict
}

// locality grades a proposal, 0 most local: by the tier it is proposed at, then,
// at the district tier, by the offer's scope (the need's own community first).
func locality(tier, scopeTier int) int64 {
	return int64(3*(tier-1) + scopeTier - 1)
}

// weight is a need's weight in a round at now: its priority in points (hardship,
// urgency, aging), lifted above every other when it has waited past max_wait.
func (m *Matcher) weight(n *need, now time.Time) (points int, overdue bool) {
	days := int(now.Sub(n.registered) / (24 * time.Hour))
	points = min(n.points+m.policy.AgingPointsPerDay*max(days, 0), weightCap)
	return points, m.rules().Overdue(n.registered, now)
}

// roundsDue runs, at a tick, the rounds of the categories whose held needs are due.
func (m *Matcher) roundsDue(cause domain.Event) []Decision {
	type pair struct{ category, district string }
	var due []pair
	m.holds.Ascend(func(n *need) bool {
		if n.heldUntil.After(m.now) {
			return false
		}
		if p := (pair{n.category, n.areas[domain.TierDistrict]}); !slices.Contains(due, p) {
			due = append(due, p)
		}
		return true
	})
	sort.Slice(due, func(i, j int) bool {
		if due[i].category != due[j].category {
			return due[i].category < due[j].category
		}
		return due[i].district < due[j].district
	})
	var ds []Decision
	for _, p := range due {
		ds = append(ds, m.round(p.category, p.district, cause)...)
	}
	return ds
}

// round shares the free units of a category among a district's held and waitlisted needs
// by an exact optimisation: the most weight served (allocation.Solve), then the
// most local proposals; among offers equally good for a need, the least flexible.
// Held needs that get no unit are waitlisted as outranked; waitlisted needs that
// get none stay.
func (m *Matcher) round(category, district string, cause domain.Event) []Decision {
	now := m.latest
	pool := m.waits[slot{category, domain.TierDistrict, district}]
	if pool == nil {
		return nil
	}
	// The offers: every started, active offer of the category with a free unit,
	// least flexible first.
	var offers []*offer
	for s, t := range m.cands {
		if s.category == category {
			t.Ascend(func(o *offer) bool { offers = append(offers, o); return true })
		}
	}
	sort.Slice(offers, func(i, j int) bool { return flexLess(offers[i], offers[j]) })
	index := make(map[*offer]int, len(offers))
	capacity := make([]int, len(offers))
	units := 0
	for i, o := range offers {
		index[o], capacity[i] = i, o.Free
		units += o.Free
	}
	// The needs: overdue first (oldest first), then by priority; those that reach
	// no free unit take no part.
	var needs []*need
	seen := map[*need]bool{}
	var bare []*need     // held needs that reach no free unit any more
	var reach [][]*offer // the offers each need of the round reaches
	take := func(n *need) bool {
		if seen[n] || len(needs) >= MaxRoundNeeds {
			return len(needs) < MaxRoundNeeds
		}
		seen[n] = true
		if r := m.reachable(n); len(r) > 0 {
			needs, reach = append(needs, n), append(reach, r)
		} else if n.state == needHeld {
			bare = append(bare, n)
		}
		return len(needs) < MaxRoundNeeds
	}
	if aged := m.aged[slot{category, domain.TierDistrict, district}]; aged != nil && m.rules().MaxWait > 0 {
		aged.Ascend(func(n *need) bool { return m.rules().Overdue(n.registered, now) && take(n) })
	}
	pool.Ascend(take)
	var left []*need // held needs beyond the round's bound
	pool.Ascend(func(n *need) bool {
		if !seen[n] && n.state == needHeld {
			left = append(left, n)
		}
		return true
	})
	var ds []Decision
	for _, n := range bare {
		ds = append(ds, m.waitlist(n, domain.EscalatedNoSupply, domain.WaitlistedNoSupplyLeft, cause))
	}
	if len(needs) == 0 && len(left) == 0 {
		return ds
	}
	k1 := int64(localities*len(needs) + 1)
	var edges []allocation.Edge
	pts := make([]int, len(needs))
	overdue := make([]bool, len(needs))
	for i, n := range needs {
		p, late := m.weight(n, now)
		pts[i], overdue[i] = p, late
		w := int64(p) + 1
		if late {
			w += overdueBonus
		}
		for _, o := range reach[i] {
			tier := proposalTier(n.tier, o.scope.Tier)
			edges = append(edges, allocation.Edge{Need: i, Offer: index[o], Value: w*k1 + localities - 1 - locality(tier, o.scope.Tier)})
		}
	}
	chosen, err := allocation.Solve(len(needs), capacity, edges)
	if err != nil {
		panic("matching: an allocation round is malformed: " + err.Error()) // a bug: the round is built within the solver's bounds
	}
	assigned := make([]*offer, len(needs))
	for i, e := range chosen {
		if e >= 0 {
			assigned[i] = offers[edges[e].Offer]
			capacity[edges[e].Offer]--
		}
	}
	m.leastFlexible(needs, reach, assigned, capacity, index)
	unserved, highest := len(left), 0
	for i := range needs {
		if assigned[i] == nil {
			unserved++
			highest = max(highest, pts[i])
		}
	}
	for _, n := range left {
		p, _ := m.weight(n, now)
		highest = max(highest, p)
	}
	for i, n := range needs {
		o := assigned[i]
		switch {
		case o != nil:
			d := m.decision(n, cause)
			tier := proposalTier(n.tier, o.scope.Tier)
			for t := n.tier; t < tier; t++ {
				d.Escalations = append(d.Escalations, Escalation{From: t, To: t + 1, Reason: domain.EscalatedOutranked})
			}
			d.Tier, d.Rule, d.Candidates, d.Considered = tier, RuleRound, len(reach[i]), []string{o.ID}
			d.Round = &domain.RoundOutcome{Competing: len(needs) + len(left), Units: units, Priority: pts[i], Overdue: overdue[i], Unserved: unserved, HighestUnserved: highest}
			m.propose(n, o, &d)
			ds = append(ds, d)
		case n.state == needHeld:
			ds = append(ds, m.outranked(n, cause))
		}
	}
	for _, n := range left {
		ds = append(ds, m.outranked(n, cause))
	}
	return ds
}

// outranked waitlists a held need that got no unit in its round.
func (m *Matcher) outranked(n *need, cause domain.Event) Decision {
	return m.waitlist(n, domain.EscalatedOutranked, domain.EscalatedOutranked, cause)
}

// waitlist sends a held need up to the district tier and waitlists it, for a reason.
func (m *Matcher) waitlist(n *need, up, reason domain.EscalationReason, cause domain.Event) Decision {
	d := m.decision(n, cause)
	for t := n.tier; t < domain.TierDistrict; t++ {
		d.Escalations = append(d.Escalations, Escalation{From: t, To: t + 1, Reason: up})
	}
	m.unwait(n)
	d.Waitlist, d.WaitReason, d.Tier = true, reason, domain.TierDistrict
	n.tier = domain.TierDistrict
	n.version = d.NeedVersion + d.needEvents()
	m.wait(n)
	return d
}

// leastFlexible moves each winner, best ranked first, to the least flexible offer
// that is as good for it (same proposal tier and scope) and still has a unit left,
// so that broad supply stays for the needs only it can serve.
func (m *Matcher) leastFlexible(needs []*need, reach [][]*offer, assigned []*offer, left []int, index map[*offer]int) {
	for i, n := range needs {
		cur := assigned[i]
		if cur == nil {
			continue
		}
		tier := proposalTier(n.tier, cur.scope.Tier)
		for _, o := range reach[i] { // least flexible first
			if !flexLess(o, cur) {
				break
			}
			if left[index[o]] > 0 && o.scope.Tier == cur.scope.Tier && proposalTier(n.tier, o.scope.Tier) == tier {
				left[index[o]]--
				left[index[cur]]++
				assigned[i] = o
				break
			}
		}
	}
}

// reachable lists the free units' offers a need may take, least flexible first:
// those of its category scoped to one of its areas that fit it now and were not
// declined for it (reaches), read from the candidate trees of its areas.
func (m *Matcher) reachable(n *need) []*offer {
	var out []*offer
	for t := domain.TierCommunity; t <= domain.TierDistrict; t++ {
		if tree := m.cands[slot{n.category, t, n.areas[t]}]; tree != nil {
			tree.Ascend(func(o *offer) bool {
				if !n.declined[o.ID] && o.FitsAt(n.groups, m.latest) {
					out = append(out, o)
				}
				return true
			})
		}
	}
	sort.Slice(out, func(i, j int) bool { return flexLess(out[i], out[j]) })
	return out
}
