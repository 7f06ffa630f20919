package domain

import (
	"fmt"
	"time"
)

// Candidate is an offer as the proposal rules read it (DESIGN "Matching" 1–2,
// docs/matching.md): what decides whether it fits a household and how it ranks.
// Category, scope and declines are matched by whoever lists the candidates.
type Candidate struct {
	ID string
	// Tier is the tier of the offer's scope: community, street or district.
	Tier int
	// Seq is the offer's posting order in its district's log.
	Seq int
	// Free counts its units not committed to a referral.
	Free      int
	ValidFrom time.Time
	// ValidUntil is the zero time for an offer with no end.
	ValidUntil  time.Time
	Eligibility Eligibility
}

// FitsAt reports whether the candidate may serve a household of these target
// groups at a time: valid then, and the household eligible.
func (c *Candidate) FitsAt(groups []TargetGroup, now time.Time) bool {
	if now.Before(c.ValidFrom) || (!c.ValidUntil.IsZero() && !now.Before(c.ValidUntil)) {
		return false
	}
	return c.Eligibility.Admits(groups)
}

// RanksBefore orders candidates, the first wins: ending soonest (no end last), then
// most free units, then posted first, then the smaller id.
func (c *Candidate) RanksBefore(d *Candidate) bool {
	switch {
	case !c.ValidUntil.Equal(d.ValidUntil):
		if c.ValidUntil.IsZero() || d.ValidUntil.IsZero() {
			return d.ValidUntil.IsZero()
		}
		return c.ValidUntil.Before(d.ValidUntil)
	case c.Free != d.Free:
		return c.Free > d.Free
	case c.Seq != d.Seq:
		return c.Seq < d.Seq
	}
	return c.ID < d.ID
}

// LeastFlexibleBefore orders candidates by the allocation rules (docs/matching.md),
// the first wins: the one fewer other needs could use goes first, so that broad
// supply stays for the needs that only it can serve. Ending soonest first (a unit
// not used before its offer ends is lost; no end last), then narrower scope
// (community, street, district), then restricted eligibility (naming fewer target
// groups first, none last; local residents only before open to all), then most
// free units, posted first, and the smaller id.
func (c *Candidate) LeastFlexibleBefore(d *Candidate) bool {
	switch {
	case !c.ValidUntil.Equal(d.ValidUntil):
		return c.RanksBefore(d)
	case c.Tier != d.Tier:
		return c.Tier < d.Tier
	}
	if gc, gd := groupsBreadth(c.Eligibility), groupsBreadth(d.Eligibility); gc != gd {
		return gc < gd
	}
	if c.Eligibility.LocalResidentsOnly != d.Eligibility.LocalResidentsOnly {
		return c.Eligibility.LocalResidentsOnly
	}
	return c.RanksBefore(d)
}

// groupsBreadth counts the target groups an eligibility admits; open to all counts
// as more than any list.
func groupsBreadth(e Eligibility) int {
	if len(e.TargetGroups) == 0 {
		return 1 << 30
	}
	return len(e.TargetGroups)
}

// candidateTiers lists, per tier, the tiers of the scopes a need's candidates have.
var candidateTiers = [...][]int{
	TierCommunity: {TierCommunity},
	TierStreet:    {TierStreet},
	TierDistrict:  {TierDistrict, TierStreet, TierCommunity},
}

// CandidateTiers lists the tiers whose offers, scoped to the household's area at
// that tier, are a need's candidates at a tier: that tier alone, except at the
// district, the last resort, where an offer of any tier covering the household is
// one (the proposal stays at the district tier). The caller must not change it.
func CandidateTiers(tier int) []int {
	if tier < TierCommunity || tier > TierDistrict {
		return nil
	}
	return candidateTiers[tier]
}

// ProposeReferral is a proposal of an offer for a need, as the tests make one (the
// matcher makes its own with these rules, in matching.DecisionEvents).
type ProposeReferral struct {
	ReferralID string
	Tier       int
	Rule       string
	Candidates int
}

// DecideProposeReferral checks that the need is open and the offer fits it and has a
// free unit, and returns the need's and the offer's events: the proposal reserves one unit.
func DecideProposeReferral(n Need, o Offer, cmd ProposeReferral) ([]Change, error) {
	if err := checkID("referral_id", cmd.ReferralID); err != nil {
		return nil, err
	}
	switch {
	case n.Version == 0:
		return nil, fmt.Errorf("need: %w", ErrNotFound)
	case o.Version == 0:
		return nil, fmt.Errorf("offer: %w", ErrNotFound)
	case n.Status != StatusOpen && n.Status != StatusWaitlisted && n.Status != StatusHeld:
		return nil, fmt.Errorf("%w: need %s is %s", ErrRefused, n.ID, n.Status)
	case o.Category != n.Category:
		return nil, fmt.Errorf("%w: offer %s is %s, need is %s", ErrRefused, o.ID, o.Category, n.Category)
	case o.Free() < 1:
		return nil, fmt.Errorf("%w: offer %s has no free capacity", ErrRefused, o.ID)
	case cmd.Tier < n.Tier:
		return nil, fmt.Errorf("%w: tier %d is below the need's tier %d", ErrRefused, cmd.Tier, n.Tier)
	}
	return []Change{
		{
			Aggregate:       AggregateRef{Type: AggregateNeed, ID: n.ID},
			ExpectedVersion: n.Version,
			Payloads: []Payload{ReferralProposed{
				ReferralID: cmd.ReferralID, OfferID: o.ID, Tier: cmd.Tier, Rule: cmd.Rule, Candidates: cmd.Candidates,
			}},
		},
		{
			Aggregate:       AggregateRef{Type: AggregateOffer, ID: o.ID},
			ExpectedVersion: o.Version,
			Payloads:        []Payload{OfferUnitReserved{ReferralID: cmd.ReferralID, NeedID: n.ID}},
		},
	}, nil
}
