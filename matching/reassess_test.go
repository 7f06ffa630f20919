package matching

import (
	"fmt"
	"testing"
	"time"

	"github.com/tierlink/tierlink/domain"
)

// TestReassessmentReprioritisesWaitingNeeds: two needs wait for the same scarce
// supply; a reassessment lifts the one that was behind, and the next unit goes to
// it. Without the reassessment the other household would be served.
func TestReassessmentReprioritisesWaitingNeeds(t *testing.T) {
	for _, reassess := range []bool{false, true} {
		t.Run(fmt.Sprint("reassess=", reassess), func(t *testing.T) {
			m := New()
			m.policy = domain.Policy{Deadlines: domain.Deadlines{Community: domain.Duration(48 * time.Hour), Street: domain.Duration(72 * time.Hour), District: domain.Duration(120 * time.Hour)},
				UrgencyPoints: map[domain.Urgency]int{domain.UrgencyNormal: 10}, AgingPointsPerDay: 1}
			at := func(minute int) time.Time { return t0.Add(time.Duration(minute) * time.Minute) }
			ev := func(typ, id string, v int64, minute int, p domain.Payload) domain.Event {
				return domain.Event{ID: fmt.Sprintf("e-%s-%d", id, v), Type: p.EventType(), AggregateType: typ, AggregateID: id, AggregateVersion: v, Partition: "d", Time: at(minute), Payload: p}
			}
			need := func(hh string, hardship int) domain.NeedRegistered {
				return domain.NeedRegistered{HouseholdID: hh, Community: "c1", Street: "s1", Category: "counselling", Urgency: domain.UrgencyNormal, Hardship: hardship}
			}
			m.Apply(ev(domain.AggregateNeed, "n-low", 1, 1, need("h-low", 20)))
			m.Apply(ev(domain.AggregateNeed, "n-high", 1, 2, need("h-high", 60)))
			if m.Waiting() != 2 {
				t.Fatalf("%d waiting, want 2", m.Waiting())
			}
			want := "n-high"
			if reassess {
				if ds := m.Apply(ev(domain.AggregateHousehold, "h-low", 2, 3, domain.HouseholdReassessed{Hardship: 90, Previous: 20})); len(ds) != 0 {
					t.Fatalf("a reassessment decided %+v: it only re-prioritises", ds)
				}
				want = "n-low"
			}
			ds := m.Apply(ev(domain.AggregateOffer, "o1", 1, 4, domain.OfferPosted{Scope: domain.Scope{Tier: domain.TierDistrict, Area: "d"},
				Category: "counselling", Capacity: 1, ValidFrom: t0}))
			if len(ds) != 1 || ds[0].NeedID != want {
				t.Fatalf("the unit went to %+v, want %s", ds, want)
			}
			if n := m.needs["n-low"]; reassess && (n.hardship != 90 || n.points != 100) {
				t.Fatalf("n-low has hardship %d and %d points after the reassessment", n.hardship, n.points)
			}
		})
	}
}
