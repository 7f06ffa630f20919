package web

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/projections"
)

// Every step the matcher and the centres write, with its facts, reads in both
// languages — the Chinese with no English words but the rule's code — and a step
// kept before its facts were recorded is shown as recorded.
func TestStepsInBothLanguages(t *testing.T) {
	for _, what := range stepWhats {
		for _, lang := range []string{LangZH, LangEN} {
			if _, ok := messages[lang]["step."+what]; !ok {
				t.Errorf("step %s has no %s text", what, lang)
			}
		}
	}
	for _, r := range stepReasons {
		for _, lang := range []string{LangZH, LangEN} {
			if _, ok := messages[lang]["why."+r]; !ok {
				t.Errorf("reason %s has no %s text", r, lang)
			}
		}
	}
	for _, st := range []domain.OfferStatus{domain.OfferActive, domain.OfferStatusWithdrawn} {
		for _, lang := range []string{LangZH, LangEN} {
			if _, ok := messages[lang]["offerstatus."+string(st)]; !ok {
				t.Errorf("offer status %s has no %s text", st, lang)
			}
		}
	}
	due := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	steps := []projections.Step{
		{What: "registered", Urgency: string(domain.UrgencyHigh), Hardship: 35},
		{What: "referral_proposed", Tier: domain.TierStreet, Rule: "best-candidate-at-tier", Candidates: 2, Due: &due},
		{What: "referral_accepted"},
		{What: "referral_declined", Reason: string(domain.DeclineHouseholdRefused)},
		{What: "referral_cancelled", Reason: string(domain.CancelledOfferWithdrawn)},
		{What: "escalated", From: domain.TierCommunity, Tier: domain.TierStreet, Reason: string(domain.EscalatedExpired)},
		{What: "waitlisted", Reason: string(domain.WaitlistedNoSupplyLeft)},
		{What: "service_started"},
		{What: "service_completed"},
		{What: "withdrawn"},
	}
	english := regexp.MustCompile(`[A-Za-z]{3,}`)
	for _, s := range steps {
		zh, en := stepText(LangZH, s), stepText(LangEN, s)
		if rest := strings.ReplaceAll(zh, s.Rule, ""); s.Rule == "" && english.MatchString(rest) || s.Rule != "" && english.MatchString(rest) {
			t.Errorf("%s in Chinese reads %q", s.What, zh)
		}
		if zh == en || strings.Contains(en, "%") || strings.Contains(zh, "%") || strings.HasPrefix(en, "step.") {
			t.Errorf("%s: zh %q, en %q", s.What, zh, en)
		}
	}
	if got := stepText(LangEN, steps[1]); !strings.Contains(got, "street") || !strings.Contains(got, "12-02 16:00") { // 08:00 UTC, in the district
		t.Errorf("a proposal reads %q", got)
	}
	old := projections.Step{What: "escalated", Detail: "from the community to the street tier: expired"}
	if got := stepText(LangZH, old); got != "escalated — from the community to the street tier: expired" {
		t.Errorf("a step without its facts reads %q", got)
	}
	if got := stepText(LangZH, projections.Step{What: "waitlisted", Reason: "a_reason_not_known_yet"}); !strings.Contains(got, "a_reason_not_known_yet") {
		t.Errorf("an unknown reason reads %q", got)
	}
}

// A household's history names its events and who acted in the reader's language.
func TestHistoryInBothLanguages(t *testing.T) {
	for _, e := range historyEvents {
		for _, lang := range []string{LangZH, LangEN} {
			if _, ok := messages[lang]["event."+e]; !ok {
				t.Errorf("event %s has no %s text", e, lang)
			}
		}
	}
	if got := eventText(LangZH, "need.escalated"); got != "上转" {
		t.Errorf("need.escalated reads %q", got)
	}
	place := func(code string) string { return map[string]string{"xinhua": "新华路街道"}[code] }
	cases := map[string]string{
		"system:matcher":                  "匹配器",
		"centre:street:xinhua/token:ab12": "街道中心 新华路街道",
		"demo/provider:cn-civil-affairs":  "服务方 cn-civil-affairs",
		"operator/token:ff":               "运营方",
		"something:new":                   "something:new",
		"centre:nowhere:x/token:1":        "centre:nowhere:x/token:1",
	}
	for actor, want := range cases {
		if got := actorText(LangZH, actor, place); got != want {
			t.Errorf("actor %q reads %q, want %q", actor, got, want)
		}
	}
	if got := actorText(LangEN, "centre:street:xinhua/token:ab12", place); got != "the street centre 新华路街道" {
		t.Errorf("in English: %q", got)
	}
}
