package httpapi

import (
	"slices"
	"testing"
	"time"

	"github.com/tierlink/tierlink/app"
	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/notification"
)

// TestSubscriptionsFitTheOpenAPIDocument checks that what the subscription routes
// answer, and the notifications POSTed to subscribers in each of their variants,
// are what openapi.yaml declares; that its kinds are domain.NotificationKinds, in
// order; and that the document refuses what it should (so that the checks mean
// something).
func TestSubscriptionsFitTheOpenAPIDocument(t *testing.T) {
	doc, err := OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, k := range doc.Components.Schemas["NotificationKind"].Value.Enum {
		kinds = append(kinds, k.(string))
	}
	if !slices.Equal(kinds, domain.NotificationKinds) {
		t.Errorf("NotificationKind's enum %v, domain.NotificationKinds %v", kinds, domain.NotificationKinds)
	}
	at := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	view := app.SubscriptionView{ID: "s1", District: "changning", Owner: domain.Principal{Role: domain.RoleProvider, Provider: "prov-a"},
		URL: "https://example.org/hooks", Kinds: []string{domain.KindReferralProposed}, Categories: []string{}, Created: at, Version: 1}
	msg := func(kind string, data any) notification.Message {
		return notification.Message{ID: "d1", Kind: kind, Subscription: "s1", District: "changning", Position: 7, OccurredAt: at, Data: data}
	}
	for _, c := range []struct {
		name, schema string
		value        any
		ok           bool
	}{
		{"a subscription", "Subscription", view, true},
		{"a subscription created", "SubscriptionCreated", app.CreateSubscriptionResult{Subscription: view, Secret: "whsec_abc", Position: 3}, true},
		{"an attempt that failed", "DeliveryAttempt", app.DeliveryAttempt{DeliveryID: "d1", Kind: domain.KindDigest, Position: 7, Attempt: 2, Time: at,
			Status: 503, Error: "503 Service Unavailable", LatencyMS: 40, Outcome: "retry"}, true},
		{"a dead letter", "DeadLetter", app.DeadLetter{DeliveryID: "d1", Kind: domain.KindReminder, Position: 7, Reason: "410 Gone", Attempts: 1,
			First: at, Last: at}, true},
		{"a referral to a centre", "Notification", msg(domain.KindReferralProposed, notification.ReferralData{ReferralID: "r", NeedID: "n",
			HouseholdID: "h", Category: "counselling", Tier: "community", Community: "c1", Street: "s", OfferID: "o", Provider: "p", Deadline: at}), true},
		{"a referral to a provider", "Notification", msg(domain.KindReferralAccepted, notification.ProviderReferralData{ReferralID: "r", OfferID: "o",
			Category: "counselling", Tier: "street", Household: "hh-1", Community: "c1", Ground: "elderly"}), true},
		{"a need", "Notification", msg(domain.KindNeedWaitlisted, notification.NeedData{NeedID: "n", HouseholdID: "h", Category: "counselling",
			Tier: "district", Community: "c1", Street: "s"}), true},
		{"an offer", "Notification", msg(domain.KindOfferRunningLow, notification.OfferData{OfferID: "o", Provider: "p", Category: "counselling",
			Capacity: 10, Committed: 8, Free: 2}), true},
		{"a reminder", "Notification", msg(domain.KindReminder, notification.ReminderData{Stage: notification.StageHalf, ReferralID: "r", NeedID: "n",
			HouseholdID: "h", Category: "counselling", Tier: "community", Area: "c1", Community: "c1", Deadline: at}), true},
		{"a digest", "Notification", msg(domain.KindDigest, notification.DigestData{Date: "2026-11-29", Tier: "community", Area: "c1",
			Waiting: []notification.Waiting{{ReferralID: "r", NeedID: "n", HouseholdID: "h", Category: "counselling", Tier: "community", Deadline: at}},
			Total:   1}), true},
		{"a kind that is none", "Notification", msg("referral.lost", notification.OfferData{OfferID: "o"}), false},
		{"data of no variant", "Notification", msg(domain.KindDigest, map[string]any{"secret": "x"}), false},
		{"a subscription without its URL", "Subscription", map[string]any{"id": "s1"}, false},
	} {
		t.Run(c.name, func(t *testing.T) { checkFits(t, doc, c.schema, c.value, c.ok) })
	}
}
