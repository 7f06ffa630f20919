package matching

import (
	"sort"
	"time"

	"github.com/tierlink/tierlink/domain"
)

// match decides for an open need at its tier: the best candidate, or up a tier
// (the first step to tier 2 if its community does not link the category), or the
// waitlist. The decision is applied to the state at once. An offer named in
// exclude is passed over.
func (m *Matcher) match(n *need, cause domain.Event, exclude string) Decision {
	return m.matchInto(m.decision(n, cause), n, cause, exclude)
}

// decision starts a decision for a need on a cause.
func (m *Matcher) decision(n *need, cause domain.Event) Decision {
	n.decided++
	return Decision{NeedID: n.id, NeedVersion: n.version, FromTier: n.tier, Cause: cause, Seq: n.decided}
}

// matchInto continues a decision from the need's present tier.
func (m *Matcher) matchInto(d Decision, n *need, cause domain.Event, exclude string) Decision {
	tier := n.tier
	if tier == domain.TierCommunity {
		if com, known := m.communities[n.areas[domain.TierCommunity]]; known && !com.CanLink(n.category) {
			d.Escalations = append(d.Escalations, Escalation{From: tier, To: tier + 1, Reason: domain.EscalatedNotCapable})
			tier++
		}
	}
	for {
		if o, considered, count := m.best(n, tier, m.latest, exclude); o != nil {
			if m.rules() != nil {
				if until, competing, free := m.scarce(n, tier); !until.IsZero() {
					d.Hold, d.HeldUntil, d.Competing, d.Free, d.Tier = true, until, competing, free, tier
					n.tier = tier
					n.version = d.NeedVersion + d.needEvents()
					m.hold(n, until)
					return d
				}
			}
			d.Tier, d.Rule, d.Candidates, d.Considered = tier, RuleBestCandidate, count, considered
			m.propose(n, o, &d)
			return d
		}
		if tier == domain.TierDistrict {
			d.Waitlist, d.WaitReason, d.Tier = true, domain.WaitlistedNoSupplyLeft, tier
			n.tier = tier
			n.version = d.NeedVersion + d.needEvents()
			m.wait(n)
			return d
		}
		d.Escalations = append(d.Escalations, Escalation{From: tier, To: tier + 1, Reason: domain.EscalatedNoSupply})
		tier++
	}
}

// end ends a need's live referral (expired or cancelled), gives its unit back, and
// matches the need again: a tier up after an expiry, below the district; at the
// same tier otherwise, without that offer.
func (m *Matcher) end(n *need, reason domain.EndReason, cause domain.Event) Decision {
	o := m.offers[n.offer]
	e := &Ending{ReferralID: n.referral, OfferID: n.offer, Reason: reason, engaged: n.engaged, deadline: n.deadline}
	d := m.decision(n, cause)
	d.Ending = e
	if o != nil {
		e.OfferVersion = o.version
		o.version++
		m.release(o, n.referral)
	}
	m.clearReferral(n)
	n.version++
	if reason == domain.EndExpired && n.tier >= domain.TierDistrict {
		e.Reason = domain.CancelledExpiredAtTop // nowhere to go up: matched again without it
	}
	if e.Reason == domain.EndExpired {
		n.tier++
	} else if !n.declined[e.OfferID] {
		if n.declined == nil {
			n.declined = map[string]bool{}
		}
		n.declined[e.OfferID], e.declined = true, true
	}
	return m.matchInto(d, n, cause, "")
}

// best returns a need's first candidate at a tier by rank, the first few considered
// (fitting, in rank order) and how many offers of its category with a free unit the
// tier's area has. At the district tier, the last resort, every offer whose scope
// covers the household is a candidate (a community's or a street's too), as for new
// supply serving the waitlist: the proposal stays at the district tier. It reads each
// candidate tree from its best end and stops at the first few that fit, so its cost
// grows with the logarithm of the offers, not their number.
func (m *Matcher) best(n *need, tier int, now time.Time, exclude string) (*offer, []string, int) {
	tiers := domain.CandidateTiers(tier)
	var fitting []*offer
	count := 0
	for _, t := range tiers {
		tree := m.cands[slot{n.category, t, n.areas[t]}]
		if tree == nil {
			continue
		}
		count += tree.Len()
		found := 0
		tree.Ascend(func(o *offer) bool {
			if o.ID != exclude && !n.declined[o.ID] && o.FitsAt(n.groups, now) {
				fitting = append(fitting, o)
				found++
			}
			return found < maxConsidered
		})
	}
	if len(fitting) == 0 {
		return nil, nil, count
	}
	if len(tiers) > 1 { // several trees: merge their fitting offers by rank
		sort.Slice(fitting, func(i, j int) bool { return m.rankBefore(fitting[i], fitting[j]) })
	}
	considered := make([]string, 0, min(len(fitting), maxConsidered))
	for _, o := range fitting[:min(len(fitting), maxConsidered)] {
		considered = append(considered, o.ID)
	}
	return fitting[0], considered, count
}

// propose applies a proposal to the state.
func (m *Matcher) propose(n *need, o *offer, d *Decision) {
	m.unwait(n)
	n.attempts++
	ref := ReferralID(n.id, n.attempts)
	d.OfferID, d.OfferVersion, d.Attempt = o.ID, o.version, n.attempts
	d.Deadline = m.latest.Add(m.policy.Deadline(d.Tier))
	n.tier, n.state, n.referral = d.Tier, needReferred, ref
	n.version = d.NeedVersion + d.needEvents()
	o.reserved[ref] = n.id
	o.version++
	m.setFree(o, o.Free-1)
	n.offer, n.engaged, n.deadline = o.ID, engagedProposed, d.Deadline
	m.deadlines.ReplaceOrInsert(n)
}

// serveWaiting gives an offer's free units to the waitlisted needs in its scope
// that it can serve, highest priority first (under the allocation rules, those
// waiting past max_wait first, oldest first). The proposals stay at the needs'
// tier. Under the allocation rules, when a need held for a round could take a unit
// too, the category's round is run now instead.
func (m *Matcher) serveWaiting(o *offer, cause domain.Event) []Decision {
	if !o.active || o.Free <= 0 || o.pending {
		return nil
	}
	s := slot{o.category, o.scope.Tier, o.scope.Area}
	t := m.waits[s]
	if t == nil {
		return nil
	}
	var served []*need
	free := o.Free
	var taken map[*need]bool // the overdue needs served first (nil without max_wait)
	roundNow := ""
	visit := func(n *need) bool {
		if free == 0 || taken[n] {
			return free > 0
		}
		if !n.declined[o.ID] && o.FitsAt(n.groups, m.latest) {
			if n.state == needHeld {
				roundNow = n.areas[domain.TierDistrict]
				return false
			}
			served = append(served, n)
			if taken == nil {
				taken = map[*need]bool{}
			}
			taken[n] = true
			free--
		}
		return true
	}
	if a := m.rules(); a != nil && a.MaxWait > 0 {
		if aged := m.aged[s]; aged != nil {
			aged.Ascend(func(n *need) bool { return a.Overdue(n.registered, m.latest) && visit(n) })
		}
	}
	if roundNow == "" && free > 0 {
		t.Ascend(visit)
	}
	if roundNow != "" {
		return m.round(o.category, roundNow, cause)
	}
	out := make([]Decision, 0, len(served))
	for _, n := range served {
		d := m.decision(n, cause)
		d.Tier, d.Rule, d.Candidates, d.Considered = n.tier, RuleWaitingByPriority, 1, []string{o.ID}
		m.propose(n, o, &d)
		out = append(out, d)
	}
	return out
}
