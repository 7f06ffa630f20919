package projections

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/tierlink/tierlink/domain"
)

// MaxVisitsKept bounds the visits a household's view keeps, the latest ones (the
// log keeps them all).
const MaxVisitsKept = 50

// VisitView is a visit recorded to a household (domain.HouseholdVisited).
type VisitView struct {
	Visitor    string           `json:"visitor"`
	Kind       domain.VisitKind `json:"kind"`
	VisitedAt  time.Time        `json:"visited_at"`
	Found      string           `json:"found,omitempty"`
	RecordedAt time.Time        `json:"recorded_at"`
}

// AssessmentView is one dated assessment of a household: the registration's, or a
// reassessment's (domain.HouseholdReassessed).
type AssessmentView struct {
	At         time.Time         `json:"at"`
	Assessment domain.Assessment `json:"assessment"`
	Hardship   int               `json:"hardship"`
	// Previous is the score before (0 for the registration's).
	Previous int    `json:"previous"`
	Note     string `json:"note,omitempty"`
}

// FollowUpView is the follow-up (回访) of a need's completed referral
// (domain.FollowUpRecorded).
type FollowUpView struct {
	ReferralID   string                 `json:"referral_id"`
	At           time.Time              `json:"at"`
	Outcome      domain.FollowUpOutcome `json:"outcome"`
	Satisfaction int                    `json:"satisfaction"`
	Note         string                 `json:"note,omitempty"`
	// ReopenedAs names the need a "not resolved" outcome opened; OpenNeed the need
	// of the category that was open already, when none was opened.
	ReopenedAs string `json:"reopened_as,omitempty"`
	OpenNeed   string `json:"open_need,omitempty"`
}

// visited adds a visit to a household's visits, ordered by when they were made,
// keeping the latest MaxVisitsKept.
func visited(visits []VisitView, v VisitView) []VisitView {
	i := sort.Search(len(visits), func(i int) bool { return visits[i].VisitedAt.After(v.VisitedAt) })
	visits = slices.Insert(slices.Clone(visits), i, v)
	if len(visits) > MaxVisitsKept {
		visits = visits[len(visits)-MaxVisitsKept:]
	}
	return visits
}

// stepReassessed is the What of the step a household's reassessment adds to the
// story of each of its open needs.
const stepReassessed = "reassessed"

// reassessNeeds carries a household's new hardship score to each of its open needs
// (neither completed nor withdrawn): the need's view and its story, and the
// waitlists, which are ordered by priority, so that they show the matcher's new
// order. The needs' versions do not move: the event is the household's.
func (c *Cases) reassessNeeds(tx *tx, h HouseholdView, e domain.Event, p domain.HouseholdReassessed) error {
	for _, id := range h.NeedIDs {
		var v NeedView
		if ok, err := tx.get(NeedsModel, id, &v); err != nil {
			return fmt.Errorf("need %s of household %s: %w", id, h.ID, err)
		} else if !ok || v.Status == domain.StatusCompleted || v.Status == domain.StatusWithdrawn || v.Hardship == p.Hardship {
			continue
		}
		from := v.Hardship
		v.Hardship = p.Hardship
		v.Steps = append(slices.Clone(v.Steps), Step{Time: e.Time, Actor: e.Actor, What: stepReassessed,
			Detail: fmt.Sprintf("hardship %d → %d", from, p.Hardship), Hardship: p.Hardship, Previous: from, Note: p.Note})
		if len(v.Steps) > MaxSteps {
			v.Steps = append(v.Steps[:1:1], v.Steps[len(v.Steps)-MaxSteps+1:]...)
		}
		if err := tx.put(NeedsModel, id, v); err != nil {
			return err
		}
		if v.Status == domain.StatusWaitlisted {
			key := c.policy.PriorityKey(v.Hardship, v.Urgency, v.RegisteredAt)
			for tier, area := range []string{domain.TierCommunity: v.Community, domain.TierStreet: v.Street, domain.TierDistrict: c.partition} {
				if tier != 0 {
					tx.index(WaitlistIndex(tier, area), id, -float64(key), false)
				}
			}
		}
	}
	return nil
}

// followedUp counts a follow-up in the follow-up counters of the need's
// community, street and district, for the period of the follow-up: in all, by the
// need's category and by the provider of the offer that served it.
func (c *Cases) followedUp(tx *tx, v NeedView, e domain.Event, p domain.FollowUpRecorded) error {
	var o OfferView
	if _, err := tx.get(OffersModel, p.OfferID, &o); err != nil {
		return fmt.Errorf("offer %s of a follow-up: %w", p.OfferID, err)
	}
	keys := []string{"", FollowUpByCategory + v.Category}
	if o.Provider != "" {
		keys = append(keys, FollowUpByProvider+o.Provider)
	}
	for _, period := range Periods(e.Time) {
		for tier, area := range []string{domain.TierCommunity: v.Community, domain.TierStreet: v.Street, domain.TierDistrict: c.partition} {
			if tier == 0 {
				continue
			}
			name := FollowUpCounters(tier, area, period)
			for _, k := range keys {
				tx.add(name, FieldFollowUps+k, 1)
				tx.add(name, string(p.Outcome)+k, 1)
				tx.add(name, FieldSatisfaction+k, int64(p.Satisfaction))
			}
		}
	}
	return nil
}

// Fields of the follow-up counters (FollowUpCounters): FieldFollowUps counts the
// follow-ups recorded, each outcome (domain.FollowUpOutcome) those of that outcome,
// and FieldSatisfaction sums their satisfaction; each alone counts every follow-up,
// and followed by FollowUpByCategory and a category, or FollowUpByProvider and a
// provider, those of the category or provider.
const (
	// FieldFollowUps counts follow-ups recorded.
	FieldFollowUps = "recorded"
	// FieldSatisfaction sums the follow-ups' satisfaction (1 to 5 each).
	FieldSatisfaction = "satisfaction"
	// FollowUpByCategory separates a field from the category it counts.
	FollowUpByCategory = "|category|"
	// FollowUpByProvider separates a field from the provider it counts.
	FollowUpByProvider = "|provider|"
)

// FollowUpCounters names the follow-up counters of an area in a period (the
// period the follow-up was recorded in).
func FollowUpCounters(tier int, area, period string) string {
	return "fu:" + domain.TierName(tier) + ":" + area + ":" + period
}
