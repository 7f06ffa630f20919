package projections

import (
	"context"
	"testing"
	"time"

	"github.com/tierlink/tierlink/domain"
)

// adviserStory is story() followed by an adviser's work on the household: two
// visits recorded out of their order, a reassessment, the follow-up of n1's
// completed referral, not resolved, and the need it reopened.
func adviserStory() []domain.Event {
	evs := story()
	add := func(typ, id string, v int64, p domain.Payload) {
		evs = append(evs, domain.Event{Type: p.EventType(), AggregateType: typ, AggregateID: id, AggregateVersion: v,
			Time: t0.Add(time.Duration(len(evs)) * time.Minute), Actor: "centre", Payload: p})
	}
	add(domain.AggregateHousehold, "h", 3, domain.HouseholdVisited{Visitor: "Wang", Kind: domain.VisitHome, VisitedAt: t0.Add(-time.Hour), Found: "cold flat"})
	add(domain.AggregateHousehold, "h", 4, domain.HouseholdVisited{Visitor: "Li", Kind: domain.VisitPhone, VisitedAt: t0.Add(-2 * time.Hour)})
	add(domain.AggregateHousehold, "h", 5, domain.HouseholdReassessed{Assessment: domain.Assessment{domain.DimHealth: 4}, Hardship: 75, Previous: 40, Note: "fell ill"})
	add(domain.AggregateNeed, "n1", 7, domain.FollowUpRecorded{ReferralID: "r1", OfferID: "o", Outcome: domain.OutcomeNotResolved, Satisfaction: 2,
		Note: "sessions stopped", ReopenedAs: "n3"})
	add(domain.AggregateHousehold, "h", 6, domain.NeedsOpened{Needs: []domain.OpenedNeed{{NeedID: "n3", Category: "counselling"}}})
	add(domain.AggregateNeed, "n3", 1, domain.NeedRegistered{HouseholdID: "h", Community: "c1", Street: "s1", Category: "counselling",
		Urgency: domain.UrgencyHigh, Hardship: 75, Reopens: &domain.Reopening{NeedID: "n1", ReferralID: "r1", Reason: "sessions stopped"}})
	return evs
}

func project(t *testing.T, evs []domain.Event) (*memStore, *Cases) {
	t.Helper()
	st := newMemStore()
	c, err := NewCases(st, "d")
	if err != nil {
		t.Fatal(err)
	}
	for i := range evs {
		if err := c.Handle(context.Background(), int64(i+1), &evs[i]); err != nil {
			t.Fatal(err)
		}
	}
	return st, c
}

func TestAdviserWorkInTheCase(t *testing.T) {
	evs := adviserStory()
	st, _ := project(t, evs)
	h := read[HouseholdView](t, st, HouseholdsModel, "h")
	if len(h.Visits) != 2 || h.Visits[0].Visitor != "Li" || h.Visits[1].Visitor != "Wang" || h.Visits[1].Found != "cold flat" ||
		!h.Visits[1].RecordedAt.Equal(evs[16].Time) {
		t.Fatalf("visits are not in the order they were made: %+v", h.Visits)
	}
	if h.Hardship != 75 || h.Assessment[domain.DimHealth] != 4 || h.Version != 6 {
		t.Fatalf("household after the reassessment %+v", h)
	}
	if len(h.Assessments) != 2 || h.Assessments[0].Hardship != 40 || h.Assessments[0].Previous != 0 || !h.Assessments[0].At.Equal(evs[0].Time) ||
		h.Assessments[1].Hardship != 75 || h.Assessments[1].Previous != 40 || h.Assessments[1].Note != "fell ill" {
		t.Fatalf("assessments %+v", h.Assessments)
	}
	// n1 was completed: the reassessment leaves it as it was; n2, proposed, takes it.
	n1 := read[NeedView](t, st, NeedsModel, "n1")
	n2 := read[NeedView](t, st, NeedsModel, "n2")
	if n1.Hardship != 40 || n2.Hardship != 75 || n2.Version != 5 {
		t.Fatalf("hardship of n1 %d (completed), of n2 %d at version %d", n1.Hardship, n2.Hardship, n2.Version)
	}
	if last := n2.Steps[len(n2.Steps)-1]; last.What != "reassessed" || last.Detail != "hardship 40 → 75" || last.Note != "fell ill" {
		t.Fatalf("n2's last step %+v", last)
	}
	completed := evs[13].Time
	if !n1.FollowUpDue.Equal(completed.Add(14 * domain.Day)) {
		t.Fatalf("follow-up due %v, want 14 days after %v", n1.FollowUpDue, completed)
	}
	fu := n1.FollowUp
	if fu == nil || fu.Outcome != domain.OutcomeNotResolved || fu.Satisfaction != 2 || fu.ReopenedAs != "n3" || fu.ReferralID != "r1" ||
		!fu.At.Equal(evs[19].Time) || n1.Version != 7 || n1.Status != domain.StatusCompleted {
		t.Fatalf("n1 after its follow-up %+v %+v", n1, fu)
	}
	if last := n1.Steps[len(n1.Steps)-1]; last.What != "followed_up" || last.Reason != "not_resolved" || last.Note != "sessions stopped" {
		t.Fatalf("n1's last step %+v", last)
	}
	n3 := read[NeedView](t, st, NeedsModel, "n3")
	if n3.Reopens == nil || n3.Reopens.NeedID != "n1" || n3.Reopens.ReferralID != "r1" || n3.Hardship != 75 || n3.FollowUp != nil {
		t.Fatalf("reopened need %+v", n3)
	}
	// The follow-up is counted in the period it was recorded, in all, by category
	// and by the offer's provider, in the need's community, street and district.
	for _, area := range []struct {
		tier int
		name string
	}{{domain.TierCommunity, "c1"}, {domain.TierStreet, "s1"}, {domain.TierDistrict, "d"}} {
		got := st.counters[FollowUpCounters(area.tier, area.name, PeriodName(PeriodWeek, evs[19].Time))]
		for field, want := range map[string]int64{
			FieldFollowUps: 1, "not_resolved": 1, "resolved": 0, FieldSatisfaction: 2,
			FieldFollowUps + FollowUpByCategory + "counselling": 1, "not_resolved" + FollowUpByCategory + "counselling": 1,
			FieldFollowUps + FollowUpByProvider + "p1": 1, FieldSatisfaction + FollowUpByProvider + "p1": 2,
		} {
			if got[field] != want {
				t.Fatalf("%s %s: %s = %d, want %d (%v)", domain.TierName(area.tier), area.name, field, got[field], want, got)
			}
		}
	}
}

// TestReassessmentReordersTheWaitlist: a waitlisted need is scored on the
// waitlists by its household's hardship, so a reassessment moves it.
func TestReassessmentReordersTheWaitlist(t *testing.T) {
	evs := story()[:11] // n2 waitlisted
	evs = append(evs, domain.Event{AggregateType: domain.AggregateHousehold, AggregateID: "h", AggregateVersion: 3, Time: t0.Add(time.Hour),
		Actor: "centre", Payload: domain.HouseholdReassessed{Hardship: 90, Previous: 40}})
	before, _ := project(t, evs[:11])
	after, c := project(t, evs)
	v := read[NeedView](t, after, NeedsModel, "n2")
	want := -float64(c.policy.PriorityKey(90, v.Urgency, v.RegisteredAt))
	for _, ix := range []string{WaitlistIndex(1, "c1"), WaitlistIndex(2, "s1"), WaitlistIndex(3, "d")} {
		if got := after.indexes[ix]["n2"]; got != want || got == before.indexes[ix]["n2"] {
			t.Fatalf("%s: n2 scored %v after the reassessment (before %v), want %v", ix, got, before.indexes[ix]["n2"], want)
		}
	}
	if v.Hardship != 90 || v.Status != domain.StatusWaitlisted {
		t.Fatalf("n2 %+v", v)
	}
}

func TestVisitsKeptAreTheLatest(t *testing.T) {
	var visits []VisitView
	for i := range MaxVisitsKept + 5 {
		// Recorded newest first: each is inserted before the others.
		visits = visited(visits, VisitView{Visitor: "v", VisitedAt: t0.Add(-time.Duration(i) * time.Hour)})
	}
	visits = visited(visits, VisitView{Visitor: "latest", VisitedAt: t0.Add(time.Hour)})
	if len(visits) != MaxVisitsKept || visits[len(visits)-1].Visitor != "latest" {
		t.Fatalf("%d visits kept, last %+v", len(visits), visits[len(visits)-1])
	}
	for i := 1; i < len(visits); i++ {
		if !visits[i-1].VisitedAt.Before(visits[i].VisitedAt) {
			t.Fatalf("visits out of order at %d", i)
		}
	}
}
