package domain

import (
	"errors"
	"slices"
	"testing"
)

// completedNeed is need n1 of household h, its referral r1 to offer o1 completed.
func completedNeed() Need {
	return Need{ID: "n1", HouseholdID: "h", Community: "c1", Category: "material_aid", Urgency: UrgencyHigh, Status: StatusCompleted,
		Tier: TierStreet, ReferralID: "r1", OfferID: "o1", Version: 6}
}

func TestDecideFollowUp(t *testing.T) {
	h := adviserHousehold() // an open counselling need, none of material aid
	h.Hardship = 72
	for _, c := range []struct {
		name    string
		need    func(Need) Need
		cmd     FollowUp
		refused bool
		fields  []string
	}{
		{name: "a referral not completed", need: func(n Need) Need { n.Status = StatusInService; return n },
			cmd: FollowUp{ReferralID: "r1", Outcome: OutcomeResolved, Satisfaction: 5}, refused: true},
		{name: "another referral", cmd: FollowUp{ReferralID: "r0", Outcome: OutcomeResolved, Satisfaction: 5}, refused: true},
		{name: "a second follow-up", need: func(n Need) Need { n.FollowedUp = true; return n },
			cmd: FollowUp{ReferralID: "r1", Outcome: OutcomeResolved, Satisfaction: 5}, refused: true},
		{name: "satisfaction 0", cmd: FollowUp{ReferralID: "r1", Outcome: OutcomeResolved}, fields: []string{"satisfaction"}},
		{name: "satisfaction 6", cmd: FollowUp{ReferralID: "r1", Outcome: OutcomePartly, Satisfaction: 6}, fields: []string{"satisfaction"}},
		{name: "no outcome", cmd: FollowUp{ReferralID: "r1", Satisfaction: 3}, fields: []string{"outcome"}},
		{name: "an unknown outcome", cmd: FollowUp{ReferralID: "r1", Outcome: "maybe", Satisfaction: 3}, fields: []string{"outcome"}},
		{name: "not resolved without a note", cmd: FollowUp{ReferralID: "r1", Outcome: OutcomeNotResolved, Satisfaction: 3, Note: "  ", NewNeedID: "n2"},
			fields: []string{"note"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			n := completedNeed()
			if c.need != nil {
				n = c.need(n)
			}
			_, err := DecideFollowUp(n, h, c.cmd)
			if c.refused {
				if !errors.Is(err, ErrRefused) {
					t.Fatalf("%v, want refused", err)
				}
				return
			}
			if got := fields(err); !slices.Equal(got, c.fields) {
				t.Fatalf("fields %v, want %v (%v)", got, c.fields, err)
			}
		})
	}
	// Resolved: the follow-up alone, on the need.
	changes, err := DecideFollowUp(completedNeed(), h, FollowUp{ReferralID: "r1", Outcome: OutcomeResolved, Satisfaction: 5, NewNeedID: "n2"})
	if err != nil || len(changes) != 1 || changes[0].ExpectedVersion != 6 {
		t.Fatalf("resolved: %+v %v", changes, err)
	}
	if rec := changes[0].Payloads[0].(FollowUpRecorded); rec.ReopenedAs != "" || rec.OfferID != "o1" || rec.Satisfaction != 5 {
		t.Fatalf("resolved %+v", rec)
	}
	// Not resolved: reopened as a new need of the category and urgency, with the
	// household's hardship now, from the community tier.
	changes, err = DecideFollowUp(completedNeed(), h, FollowUp{ReferralID: "r1", Outcome: OutcomeNotResolved, Satisfaction: 2, Note: "parcels stopped", NewNeedID: "n2"})
	if err != nil || len(changes) != 3 {
		t.Fatalf("not resolved: %+v %v", changes, err)
	}
	if rec := changes[0].Payloads[0].(FollowUpRecorded); rec.ReopenedAs != "n2" || rec.OpenNeed != "" || rec.Note != "parcels stopped" {
		t.Fatalf("recorded %+v", rec)
	}
	opened := changes[1]
	if opened.Aggregate != (AggregateRef{Type: AggregateHousehold, ID: "h"}) || opened.ExpectedVersion != h.Version ||
		opened.Payloads[0].(NeedsOpened).Needs[0] != (OpenedNeed{NeedID: "n2", Category: "material_aid"}) {
		t.Fatalf("household change %+v", opened)
	}
	reg := changes[2]
	r := reg.Payloads[0].(NeedRegistered)
	if reg.Aggregate != (AggregateRef{Type: AggregateNeed, ID: "n2"}) || reg.ExpectedVersion != 0 || r.Category != "material_aid" ||
		r.Urgency != UrgencyHigh || r.Hardship != 72 || r.HouseholdID != "h" || r.Community != "c1" || r.Street != "s1" ||
		r.Reopens == nil || *r.Reopens != (Reopening{NeedID: "n1", ReferralID: "r1", Reason: "parcels stopped"}) {
		t.Fatalf("reopened need %+v %+v", reg, r)
	}
	// Not resolved with the category open already: that need is named, none opened.
	n := completedNeed()
	n.Category = "counselling"
	changes, err = DecideFollowUp(n, h, FollowUp{ReferralID: "r1", Outcome: OutcomeNotResolved, Satisfaction: 1, Note: "no", NewNeedID: "n2"})
	if err != nil || len(changes) != 1 {
		t.Fatalf("with an open need: %+v %v", changes, err)
	}
	if rec := changes[0].Payloads[0].(FollowUpRecorded); rec.OpenNeed != "n-open" || rec.ReopenedAs != "" {
		t.Fatalf("recorded %+v", rec)
	}
	// The need's state records it, so that a second is refused.
	if after := completedNeed().Evolve(Event{AggregateVersion: 7, Payload: FollowUpRecorded{ReferralID: "r1"}}); !after.FollowedUp || after.Status != StatusCompleted {
		t.Fatalf("need after its follow-up %+v", after)
	}
	if _, err := DecideFollowUp(Need{}, h, FollowUp{ReferralID: "r1"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("an unknown need: %v", err)
	}
}
