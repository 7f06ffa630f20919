package quality

import (
	"slices"
	"time"

	"github.com/tierlink/tierlink/domain"
)

// Covers reports whether an offer may serve a need at some time, by the matcher's
// eligibility: the same category, a scope over the household's area at the scope's
// tier, and a household its eligibility admits.
func (sc *Scenario) Covers(need, offer int) bool {
	n, o := &sc.Needs[need], &sc.Offers[offer]
	if n.Category != o.Category {
		return false
	}
	var area string
	switch o.Scope.Tier {
	case domain.TierCommunity:
		area = n.Community
	case domain.TierStreet:
		area = n.Street
	case domain.TierDistrict:
		area = sc.District
	}
	return area != "" && o.Scope.Area == area && o.Eligibility.Admits(n.Groups)
}

// ValidAt reports whether an offer is posted and valid at a time: ValidFrom ≤ t <
// ValidUntil (a zero ValidUntil has no end).
func (o *Offer) ValidAt(t time.Time) bool {
	return !t.Before(o.Posted) && !t.Before(o.ValidFrom) && (o.ValidUntil.IsZero() || t.Before(o.ValidUntil))
}

// Opens is when an offer can first serve: when it is posted, or its start if later.
func (o *Offer) Opens() time.Time {
	if o.ValidFrom.After(o.Posted) {
		return o.ValidFrom
	}
	return o.Posted
}

// FitsAt reports whether an offer may serve a need at a time: it covers the need
// and is valid then, and the need is registered by then.
func (sc *Scenario) FitsAt(need, offer int, t time.Time) bool {
	return !t.Before(sc.Needs[need].Registered) && sc.Offers[offer].ValidAt(t) && sc.Covers(need, offer)
}

// Fits reports whether an offer fits a need at some time from its registration to
// the scenario's end: the edges of the offline optimum.
func (sc *Scenario) Fits(need, offer int) bool {
	o := &sc.Offers[offer]
	first := o.Opens()
	if r := sc.Needs[need].Registered; r.After(first) {
		first = r
	}
	return !first.After(sc.End) && (o.ValidUntil.IsZero() || first.Before(o.ValidUntil)) && sc.Covers(need, offer)
}

// Fitting lists the offers that fit a need (Fits) by index in posting order, not to be changed.
func (sc *Scenario) Fitting(need int) []int32 { return sc.fit[need] }

// Servable reports whether some offer fits a need.
func (sc *Scenario) Servable(need int) bool { return len(sc.fit[need]) > 0 }

// TierOf is the tier at which the matcher's rules would propose an offer for a
// need: the offer's scope tier, or the district (the last resort) for an offer
// below the need's starting tier.
func (sc *Scenario) TierOf(need, offer int) int {
	t := sc.Offers[offer].Scope.Tier
	if t < sc.Needs[need].StartTier {
		return domain.TierDistrict
	}
	return t
}

// MostLocalTier is the lowest tier at which some offer could have served a need:
// the tier (TierOf) of its most local fitting offer; 0 for a need nothing fits.
func (sc *Scenario) MostLocalTier(need int) int {
	best := 0
	for _, o := range sc.fit[need] {
		if t := sc.TierOf(need, int(o)); best == 0 || t < best {
			best = t
		}
	}
	return best
}

// MostLocalScope is the lowest scope tier among the offers that fit a need: where
// the most local supply that could have served it comes from; 0 for a need nothing
// fits.
func (sc *Scenario) MostLocalScope(need int) int {
	best := 0
	for _, o := range sc.fit[need] {
		if t := sc.Offers[o].Scope.Tier; best == 0 || t < best {
			best = t
		}
	}
	return best
}

// fitting indexes, per need, the offers that fit it, by category and area.
func (sc *Scenario) fitting() [][]int32 {
	type slot struct {
		category string
		tier     int
		area     string
	}
	bySlot := map[slot][]int32{}
	for i, o := range sc.Offers {
		s := slot{o.Category, o.Scope.Tier, o.Scope.Area}
		bySlot[s] = append(bySlot[s], int32(i))
	}
	out := make([][]int32, len(sc.Needs))
	for i, n := range sc.Needs {
		var fit []int32
		for tier, area := range map[int]string{domain.TierCommunity: n.Community, domain.TierStreet: n.Street, domain.TierDistrict: sc.District} {
			for _, o := range bySlot[slot{n.Category, tier, area}] {
				if sc.Fits(i, int(o)) {
					fit = append(fit, o)
				}
			}
		}
		slices.Sort(fit)
		out[i] = fit
	}
	return out
}
