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
	for _, r := range stepRules {
		for _, lang := range []string{LangZH, LangEN} {
			if _, ok := messages[lang]["rule."+r]; !ok {
				t.Errorf("rule %s has no %s text", r, lang)
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
		{What: "held", Tier: domain.TierStreet, Held: &projections.Hold{Tier: domain.TierStreet, Until: due, Competing: 12, Free: 3}},
		{What: "referral_proposed", Tier: domain.TierStreet, Rule: "allocation-round", Candidates: 3, Due: &due,
			Round: &domain.RoundOutcome{Competing: 12, Units: 3, Priority: 84, Overdue: true, Unserved: 9, HighestUnserved: 61}},
		{What: "escalated", From: domain.TierStreet, Tier: domain.TierDistrict, Reason: string(domain.EscalatedOutranked)},
		{What: "waitlisted", Reason: string(domain.EscalatedOutranked)},
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
		if got := actorText(LangZH, actor, place, func(code string) string { return code }); got != want {
			t.Errorf("actor %q reads %q, want %q", actor, got, want)
		}
	}
	if got := actorText(LangEN, "centre:street:xinhua/token:ab12", place, nil); got != "the street centre 新华路街道" {
		t.Errorf("in English: %q", got)
	}
}

// A need held for an allocation round, and a proposal decided in one, read in
// words in both languages: the round's time in the district's zone, the counts
// with their nouns, the priority and the highest left without a place, and why an
// overdue need went first; a step kept without its hold is shown as recorded.
func TestRoundsInWords(t *testing.T) {
	until := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC) // 11:00 in Shanghai
	due := until.Add(48 * time.Hour)
	round := func(competing, units, unserved, highest int, overdue bool) *domain.RoundOutcome {
		return &domain.RoundOutcome{Competing: competing, Units: units, Priority: 84, Overdue: overdue, Unserved: unserved, HighestUnserved: highest}
	}
	for _, c := range []struct {
		name   string
		step   projections.Step
		zh, en string
	}{
		{"held", projections.Step{What: "held", Tier: 2, Held: &projections.Hold{Tier: 2, Until: until, Competing: 12, Free: 3}},
			"资源紧张，等待街道层级的分配轮次，12-01 11:00 分配（12 个需求竞争 3 个名额）",
			"supply is scarce: held for an allocation round at the street tier until 12-01 11:00 (12 needs for 3 places)"},
		{"held for one place", projections.Step{What: "held", Tier: 1, Held: &projections.Hold{Tier: 1, Until: until, Competing: 2, Free: 1}},
			"资源紧张，等待社区层级的分配轮次，12-01 11:00 分配（2 个需求竞争 1 个名额）",
			"supply is scarce: held for an allocation round at the community tier until 12-01 11:00 (2 needs for 1 place)"},
		{"held, kept without its hold", projections.Step{What: "held", Detail: "held at the street tier"},
			"held — held at the street tier", "held — held at the street tier"},
		{"won in a round", projections.Step{What: "referral_proposed", Tier: 2, Rule: "allocation-round", Candidates: 3, Due: &due, Round: round(12, 3, 9, 61, false)},
			"转介至街道层级的资源（规则：分配轮次，3 个候选），12-03 11:00 前答复。分配轮次：12 户竞争 3 个名额；优先级 84（未获名额者最高 61）",
			"proposed an offer at the street tier (rule: allocation round; fitting offers: 3); answer by 12-03 11:00. " +
				"Allocation round: 12 households competed for 3 places; priority 84 (highest left without a place: 61)"},
		{"won overdue", projections.Step{What: "referral_proposed", Tier: 3, Rule: "allocation-round", Candidates: 1, Due: &due, Round: round(5, 1, 4, 90, true)},
			"转介至区层级的资源（规则：分配轮次，1 个候选），12-03 11:00 前答复。分配轮次：5 户竞争 1 个名额；优先级 84（未获名额者最高 90）；等待超过上限，优先安排",
			"proposed an offer at the district tier (rule: allocation round; fitting offers: 1); answer by 12-03 11:00. " +
				"Allocation round: 5 households competed for 1 place; priority 84 (highest left without a place: 90); waited past the maximum wait, so it went first"},
		{"every one served", projections.Step{What: "referral_proposed", Tier: 1, Rule: "allocation-round", Candidates: 2, Due: &due, Round: round(1, 2, 0, 0, false)},
			"转介至社区层级的资源（规则：分配轮次，2 个候选），12-03 11:00 前答复。分配轮次：1 户竞争 2 个名额；优先级 84（全部获得名额）",
			"proposed an offer at the community tier (rule: allocation round; fitting offers: 2); answer by 12-03 11:00. " +
				"Allocation round: 1 household competed for 2 places; priority 84 (every one got a place)"},
		{"proposed at once", projections.Step{What: "referral_proposed", Tier: 2, Rule: "best-candidate-at-tier", Candidates: 2, Due: &due},
			"转介至街道层级的资源（规则：本层级排序第一的资源，2 个候选），12-03 11:00 前答复",
			"proposed an offer at the street tier (rule: the first candidate at the tier; fitting offers: 2); answer by 12-03 11:00"},
		{"a rule not known yet", projections.Step{What: "referral_proposed", Tier: 2, Rule: "a-rule-of-later", Candidates: 2, Due: &due},
			"转介至街道层级的资源（规则：a-rule-of-later，2 个候选），12-03 11:00 前答复",
			"proposed an offer at the street tier (rule: a-rule-of-later; fitting offers: 2); answer by 12-03 11:00"},
		{"outranked", projections.Step{What: "escalated", From: 2, Tier: 3, Reason: string(domain.EscalatedOutranked)},
			"由街道层级上转至区层级：在该层级的分配轮次中未获名额（其他需求优先）",
			"escalated from the street to the district tier: no place in the allocation round at that tier: other needs came first"},
		{"waitlisted, outranked", projections.Step{What: "waitlisted", Reason: string(domain.EscalatedOutranked)},
			"进入待匹配：在该层级的分配轮次中未获名额（其他需求优先）",
			"waitlisted: no place in the allocation round at that tier: other needs came first"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := stepText(LangZH, c.step); got != c.zh {
				t.Errorf("zh:\n got %q\nwant %q", got, c.zh)
			}
			if got := stepText(LangEN, c.step); got != c.en {
				t.Errorf("en:\n got %q\nwant %q", got, c.en)
			}
		})
	}
	if eventText(LangZH, "need.held") != "等待分配轮次" || eventText(LangEN, "need.held") != "held for an allocation round" {
		t.Error("need.held has no name in the history")
	}
}
