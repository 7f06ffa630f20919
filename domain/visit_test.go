package domain

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// adviserHousehold is a registered household of community c1 with hardship 40 and
// an open counselling need n-open.
func adviserHousehold() Household {
	return Household{ID: "h", Community: "c1", Street: "s1", District: "d", TargetGroups: []TargetGroup{GroupElderly},
		Hardship: 40, OpenNeeds: map[string]string{"counselling": "n-open"}, Version: 4}
}

func TestDecideVisit(t *testing.T) {
	now := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	h := adviserHousehold()
	for _, c := range []struct {
		name   string
		visit  Visit
		fields []string // nil: recorded
		kind   VisitKind
	}{
		{name: "a home visit", visit: Visit{Visitor: " Wang ", Kind: VisitHome, VisitedAt: now.Add(-time.Hour), Found: "ok"}, kind: VisitHome},
		{name: "the kind defaults to home", visit: Visit{Visitor: "Wang", VisitedAt: now}, kind: VisitHome},
		{name: "a call", visit: Visit{Visitor: "Wang", Kind: VisitPhone, VisitedAt: now.Add(-MaxVisitAge)}, kind: VisitPhone},
		{name: "within the clock skew", visit: Visit{Visitor: "Wang", Kind: VisitCentre, VisitedAt: now.Add(visitClockSkew)}, kind: VisitCentre},
		{name: "every field wrong", visit: Visit{Visitor: " ", Kind: "letter", Found: strings.Repeat("x", MaxFoundLength+1)},
			fields: []string{"visitor", "kind", "visited_at", "found"}},
		{name: "a visitor's name too long", visit: Visit{Visitor: strings.Repeat("王", MaxVisitorLength+1), VisitedAt: now}, fields: []string{"visitor"}},
		{name: "in the future", visit: Visit{Visitor: "Wang", VisitedAt: now.Add(visitClockSkew + time.Second)}, fields: []string{"visited_at"}},
		{name: "older than 90 days", visit: Visit{Visitor: "Wang", VisitedAt: now.Add(-MaxVisitAge - time.Second)}, fields: []string{"visited_at"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			changes, err := DecideVisit(h, c.visit, now)
			if c.fields != nil {
				if got := fields(err); !slices.Equal(got, c.fields) {
					t.Fatalf("wrong fields %v, want %v", got, c.fields)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(changes) != 1 || changes[0].ExpectedVersion != h.Version || changes[0].Aggregate != (AggregateRef{Type: AggregateHousehold, ID: "h"}) {
				t.Fatalf("changes %+v", changes)
			}
			v := changes[0].Payloads[0].(HouseholdVisited)
			if v.Kind != c.kind || v.Visitor != strings.TrimSpace(c.visit.Visitor) || !v.VisitedAt.Equal(c.visit.VisitedAt) || v.VisitedAt.Location() != time.UTC {
				t.Fatalf("visited %+v", v)
			}
		})
	}
	if _, err := DecideVisit(Household{}, Visit{Visitor: "Wang", VisitedAt: now}, now); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a household not registered: %v", err)
	}
}

func TestDecideReassess(t *testing.T) {
	h := adviserHousehold()
	ref := &Reference{Policy: Policy{Hardship: testWeights()}}
	a := Assessment{DimIncome: 4, DimHealth: 3}
	changes, err := DecideReassess(h, a, "lost her job", ref)
	if err != nil {
		t.Fatal(err)
	}
	r := changes[0].Payloads[0].(HouseholdReassessed)
	want := HardshipScore(a, h.TargetGroups, ref.Policy.Hardship)
	if r.Hardship != want || want == h.Hardship || r.Previous != 40 || r.Note != "lost her job" || changes[0].ExpectedVersion != h.Version {
		t.Fatalf("reassessed %+v, want hardship %d from 40", r, want)
	}
	// The household's state follows.
	after := h.Evolve(Event{AggregateVersion: 5, Payload: r})
	if after.Hardship != want || after.Assessment[DimIncome] != 4 || after.Version != 5 {
		t.Fatalf("household after %+v", after)
	}
	// An empty assessment scores as every dimension 0.
	changes, err = DecideReassess(h, nil, "", ref)
	if err != nil || changes[0].Payloads[0].(HouseholdReassessed).Assessment == nil {
		t.Fatalf("an empty assessment: %+v %v", changes, err)
	}
	for _, c := range []struct {
		name   string
		a      Assessment
		note   string
		fields []string
	}{
		{"an unknown dimension", Assessment{"wealth": 2}, "", []string{"assessment/wealth"}},
		{"a level out of range", Assessment{DimHousing: MaxLevel + 1, DimIncome: -1}, "", []string{"assessment/housing", "assessment/income"}},
		{"a note too long", Assessment{}, strings.Repeat("x", 10000), []string{"note"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := DecideReassess(h, c.a, c.note, ref)
			if got := fields(err); !slices.Equal(got, c.fields) {
				t.Fatalf("fields %v, want %v", got, c.fields)
			}
		})
	}
	if _, err := DecideReassess(Household{}, a, "", ref); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a household not registered: %v", err)
	}
}
