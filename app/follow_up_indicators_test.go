package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/tierlink/tierlink/app"
	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/projections"
	"github.com/tierlink/tierlink/projections/projectionstest"
)

// TestFollowUpIndicators plays follow-ups of three needs, two served by one
// provider's offer and one by another's, in two communities: the indicators of the
// street sum them in all, by category and by provider; a community's count only
// its own; a week without follow-ups counts none.
func TestFollowUpIndicators(t *testing.T) {
	views := &memViews{Memory: projectionstest.NewMemory()}
	f := newFixtureReading(t, views)
	cases, err := projections.NewCases(views, district)
	if err != nil {
		t.Fatal(err)
	}
	var pos int64
	versions := map[string]int64{}
	play := func(typ, id string, p domain.Payload) {
		pos++
		versions[id]++
		e := domain.Event{Type: p.EventType(), AggregateType: typ, AggregateID: id, AggregateVersion: versions[id],
			Time: f.now.Add(time.Duration(pos) * time.Minute), Actor: "test", Payload: p}
		if err := cases.Handle(context.Background(), pos, &e); err != nil {
			t.Fatal(err)
		}
	}
	play(domain.AggregateOffer, "o1", domain.OfferPosted{Provider: "p1", Category: "counselling", Capacity: 5, Scope: domain.Scope{Tier: domain.TierStreet, Area: "huayang"}})
	play(domain.AggregateOffer, "o2", domain.OfferPosted{Provider: "p2", Category: "material_aid", Capacity: 5, Scope: domain.Scope{Tier: domain.TierStreet, Area: "huayang"}})
	for _, n := range []struct {
		id, community, category, offer string
		outcome                        domain.FollowUpOutcome
		satisfaction                   int
	}{
		{"n1", community, "counselling", "o1", domain.OutcomeResolved, 5},
		{"n2", community, "counselling", "o1", domain.OutcomeNotResolved, 2},
		{"n3", "huayang-02", "material_aid", "o2", domain.OutcomePartly, 4},
	} {
		play(domain.AggregateNeed, n.id, domain.NeedRegistered{HouseholdID: "h-" + n.id, Community: n.community, Street: "huayang", Category: n.category, Urgency: domain.UrgencyNormal})
		play(domain.AggregateNeed, n.id, domain.FollowUpRecorded{ReferralID: "r-" + n.id, OfferID: n.offer, Outcome: n.outcome, Satisfaction: n.satisfaction, Note: "x"})
	}
	read := func(tier, area string, from time.Time) app.FollowUpIndicators {
		t.Helper()
		ind, err := f.app.Queries.Reads.Indicators(context.Background(), app.IndicatorRequest{Tier: tier, Area: area, Period: "day", From: from, To: f.now}, operator)
		if err != nil {
			t.Fatal(err)
		}
		return ind.FollowUps
	}
	st := read("street", "huayang", f.now.AddDate(0, 0, -3))
	if a := st.All; a.Recorded != 3 || a.Resolved != 1 || a.Partly != 1 || a.NotResolved != 1 || a.ResolutionRate != 1.0/3 || a.Satisfaction != 11.0/3 {
		t.Fatalf("the street in all: %+v", a)
	}
	if c := st.ByCategory["counselling"]; c.Recorded != 2 || c.ResolutionRate != 0.5 || c.Satisfaction != 3.5 || len(st.ByCategory) != 2 {
		t.Fatalf("by category: %+v", st.ByCategory)
	}
	if p := st.ByProvider["p2"]; p.Recorded != 1 || p.Partly != 1 || p.ResolutionRate != 0 || p.Satisfaction != 4 || st.ByProvider["p1"].Recorded != 2 {
		t.Fatalf("by provider: %+v", st.ByProvider)
	}
	if c := read("community", "huayang-02", f.now.AddDate(0, 0, -1)); c.All.Recorded != 1 || c.ByProvider["p1"].Recorded != 0 {
		t.Fatalf("huayang-02: %+v", c)
	}
	if wide := read("street", "huayang", f.now.AddDate(0, 0, -20)); wide.All.Recorded != 3 {
		t.Fatalf("a range holding the day: %+v", wide)
	}
	old, err := f.app.Queries.Reads.Indicators(context.Background(), app.IndicatorRequest{Tier: "street", Area: "huayang", Period: "day",
		From: f.now.AddDate(0, 0, -10), To: f.now.AddDate(0, 0, -5)}, operator)
	if err != nil || old.FollowUps.All.Recorded != 0 || old.FollowUps.All.Satisfaction != 0 {
		t.Fatalf("days without follow-ups: %+v %v", old.FollowUps, err)
	}
}
