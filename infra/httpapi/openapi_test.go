package httpapi

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/tierlink/tierlink/app"
	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/projections"
)

// TestHeldNeedsAndRoundsFitTheDocument checks that what the API answers about a
// need held for an allocation round, and about a referral decided in a round, is
// what openapi.yaml declares: the need, its steps and referral, the inbox item, the
// provider's referral and the indicators; and that the document refuses a status it
// does not name (so that the checks mean something).
func TestHeldNeedsAndRoundsFitTheDocument(t *testing.T) {
	doc, err := OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	until, due := at.Add(2*time.Hour), at.Add(48*time.Hour)
	hold := &projections.Hold{Tier: 2, Until: until, Competing: 12, Free: 3}
	round := &domain.RoundOutcome{Competing: 12, Units: 3, Priority: 84, Overdue: true, Unserved: 9, HighestUnserved: 61}
	steps := []projections.Step{
		{Time: at, Actor: "centre:community:c1", What: "registered", Urgency: "high", Hardship: 60},
		{Time: at, Actor: "system:matcher", What: "held", Tier: 2, Held: hold, Detail: "held"},
		{Time: until, Actor: "system:matcher", What: "referral_proposed", Tier: 2, Offer: "o", Rule: "allocation-round", Candidates: 2, Due: &due, Round: round},
	}
	base := projections.NeedView{ID: "n", HouseholdID: "h", Community: "c1", Street: "s1", Category: "counselling", Urgency: domain.UrgencyHigh,
		Hardship: 60, Tier: 2, RegisteredAt: at, Version: 3, Position: 9}
	held := base
	held.Status, held.Held, held.Steps = domain.StatusHeld, hold, steps[:2]
	proposed := base
	proposed.Status, proposed.Steps = domain.StatusProposed, steps
	proposed.Referral = &projections.ReferralView{ID: "r", OfferID: "o", Tier: 2, Rule: "allocation-round", Candidates: 2, ProposedAt: until, Deadline: due, Round: round}
	outranked := base
	outranked.Status, outranked.Tier = domain.StatusWaitlisted, 3
	outranked.Steps = append(steps[:2:2], projections.Step{Time: until, Actor: "system:matcher", What: "escalated", From: 2, Tier: 3, Reason: "outranked_in_round"},
		projections.Step{Time: until, Actor: "system:matcher", What: "waitlisted", Reason: "outranked_in_round"})
	for _, c := range []struct {
		name, schema string
		value        any
		ok           bool
	}{
		{"a held need", "Need", held, true},
		{"a need proposed in a round", "Need", proposed, true},
		{"a need outranked in its round", "Need", outranked, true},
		{"a case with a held need", "Case", app.CaseView{Household: projections.HouseholdView{ID: "h", Community: "c1", Street: "s1", District: "d",
			RegisteredAt: at, NeedIDs: []string{"n"}}, Needs: []projections.NeedView{held, proposed}}, true},
		{"an inbox item decided in a round", "InboxItem", app.InboxItem{ReferralID: "r", Deadline: due, Need: proposed, Referral: *proposed.Referral,
			OfferID: "o", HouseholdID: "h"}, true},
		{"a provider's referral whose need is held", "ProviderReferral", app.ProviderReferral{ReferralID: "r", Category: "counselling", Status: domain.StatusHeld}, true},
		{"the indicators", "Indicators", app.Indicators{Tier: "street", Area: "s1", Period: "day", Zone: "CST", Periods: []app.PeriodIndicators{},
			Waitlisted: 1, Held: 2, SupplyGap: []app.GapRow{}, At: at, FollowUps: app.FollowUpIndicators{
				All:        app.FollowUpRates{Recorded: 2, Resolved: 1, NotResolved: 1, ResolutionRate: 0.5, Satisfaction: 3.5},
				ByCategory: map[string]app.FollowUpRates{"counselling": {Recorded: 2, Resolved: 1, NotResolved: 1, ResolutionRate: 0.5, Satisfaction: 3.5}},
				ByProvider: map[string]app.FollowUpRates{"prov-a": {Recorded: 2, Resolved: 1, NotResolved: 1, ResolutionRate: 0.5, Satisfaction: 3.5}}}}, true},
		{"a case with visits and assessments", "Case", app.CaseView{Household: projections.HouseholdView{ID: "h", Community: "c1", Street: "s1", District: "d",
			RegisteredAt: at, NeedIDs: []string{"n"}, Hardship: 70,
			Visits:      []projections.VisitView{{Visitor: "Wang", Kind: domain.VisitHome, VisitedAt: at, Found: "cold flat", RecordedAt: at}},
			Assessments: []projections.AssessmentView{{At: at, Hardship: 40}, {At: at, Assessment: domain.Assessment{domain.DimHealth: 4}, Hardship: 70, Previous: 40, Note: "ill"}}},
			Needs: []projections.NeedView{func() projections.NeedView {
				v := base
				v.Status, v.FollowUpDue = domain.StatusCompleted, due
				v.FollowUp = &projections.FollowUpView{ReferralID: "r", At: at, Outcome: domain.OutcomeNotResolved, Satisfaction: 2, Note: "stopped", ReopenedAs: "n2"}
				v.Steps = []projections.Step{{Time: at, Actor: "centre:community:c1", What: "followed_up", Reason: "not_resolved", Offer: "o"}}
				return v
			}(), func() projections.NeedView {
				v := base
				v.Status, v.Reopens, v.Steps = domain.StatusOpen, &domain.Reopening{NeedID: "n", ReferralID: "r", Reason: "stopped"}, steps[:1]
				return v
			}()}}, true},
		{"a follow-up outcome the document does not name", "Need", func() projections.NeedView {
			v := base
			v.Status, v.FollowUp = domain.StatusCompleted, &projections.FollowUpView{ReferralID: "r", At: at, Outcome: "maybe", Satisfaction: 2}
			return v
		}(), false},
		{"a status the document does not name", "Need", func() projections.NeedView { v := held; v.Status = "parked"; return v }(), false},
		{"a hold without its round's time", "Hold", map[string]any{"tier": 2, "competing": 1, "free": 1}, false},
	} {
		t.Run(c.name, func(t *testing.T) { checkFits(t, doc, c.schema, c.value, c.ok) })
	}
}

// checkFits checks that a value, as JSON, fits a schema of the document (or, with
// ok false, that it does not).
func checkFits(t *testing.T, doc *openapi3.T, schema string, value any, ok bool) {
	t.Helper()
	ref := doc.Components.Schemas[schema]
	if ref == nil || ref.Value == nil {
		t.Fatalf("no schema %s", schema)
	}
	b, err := json.Marshal(value)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	err = ref.Value.VisitJSON(v, openapi3.MultiErrors())
	if ok && err != nil {
		t.Errorf("%s does not fit %s: %v", b, schema, err)
	}
	if !ok && err == nil {
		t.Errorf("%s fits %s", b, schema)
	}
}
