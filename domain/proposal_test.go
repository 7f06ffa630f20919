package domain

import "fmt"

// ProposeReferral is a proposal of an offer for a need, as the tests make one (the
// matcher builds its own, with its candidate rules, in matching.DecisionEvents).
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
	case n.Status != StatusOpen && n.Status != StatusWaitlisted:
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
