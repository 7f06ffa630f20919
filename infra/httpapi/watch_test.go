package httpapi

import (
	"testing"
	"time"

	"github.com/tierlink/tierlink/app"
	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/watch"
)

// TestWatchListsFitTheDocument checks that a watch list's page, its counts and the
// indicators' take-up are what openapi.yaml declares, and that a kind it does not
// name is refused.
func TestWatchListsFitTheDocument(t *testing.T) {
	doc, err := OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	rules := domain.DefaultAdviser()
	h := watch.Household{ID: "h", Community: "c1", Street: "s1", Groups: []domain.TargetGroup{domain.GroupElderly},
		LastContact: at.Add(-100 * domain.Day), LastAssessed: at.Add(-400 * domain.Day),
		Declines:  []time.Time{at.Add(-2 * domain.Day), at.Add(-domain.Day)},
		Waiting:   []watch.WaitingNeed{{NeedID: "n", Category: "counselling", Since: at.Add(-9 * domain.Day)}},
		FollowUps: []watch.PendingFollowUp{{NeedID: "m", ReferralID: "r", Category: "legal_aid", CompletedAt: at.Add(-20 * domain.Day)}},
		Unclaimed: []watch.UnclaimedProgramme{{Programme: "p", Since: at.Add(-domain.Day)}}}
	item := h.Item(rules, at)
	if len(item.Reasons) != len(watch.Kinds()) {
		t.Fatalf("the example holds %d reasons, not one of each kind", len(item.Reasons))
	}
	bad := item
	bad.Reasons = []watch.Reason{{Kind: "forgotten", Since: at}}
	for _, c := range []struct {
		name, schema string
		value        any
		ok           bool
	}{
		{"a page of a watch list", "WatchPage", app.WatchPage{Tier: "community", Area: "c1", At: at, Total: 1, Items: []watch.Item{item}}, true},
		{"an empty page", "WatchPage", app.WatchPage{Tier: "community", Area: "c1", At: at, Items: []watch.Item{}}, true},
		{"the counts", "WatchCounts", app.WatchCounts{Tier: "street", Area: "s1", At: at, Rows: []app.WatchCountRow{
			{Tier: "street", Area: "s1", Households: 1, ByKind: map[watch.Kind]int{watch.NotContacted: 1}},
			{Tier: "community", Area: "c1", Households: 0, ByKind: map[watch.Kind]int{}}}}, true},
		{"a kind the document does not name", "WatchItem", bad, false},
		{"the indicators' take-up", "Indicators", app.Indicators{Tier: "street", Area: "s1", Period: "day", Zone: "CST", Periods: []app.PeriodIndicators{},
			SupplyGap: []app.GapRow{}, TakeUp: []app.TakeUpRow{{Programme: "p", Eligible: 4, Applied: 2, Granted: 1, Refused: 1, Rate: 0.25}}, At: at,
			FollowUps: app.FollowUpIndicators{ByCategory: map[string]app.FollowUpRates{}, ByProvider: map[string]app.FollowUpRates{}}}, true},
	} {
		t.Run(c.name, func(t *testing.T) { checkFits(t, doc, c.schema, c.value, c.ok) })
	}
}
