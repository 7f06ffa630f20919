package watch

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/tierlink/tierlink/domain"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func randomHousehold(r *rand.Rand) Household {
	at := func() time.Time { return t0.Add(time.Duration(r.IntN(200*24)) * time.Hour) }
	groups := []domain.TargetGroup{domain.GroupElderly, domain.GroupLivingAlone, domain.GroupDisabled, domain.GroupChildDifficulty, domain.GroupLowIncome}
	h := Household{ID: "h1", Community: "c1", Registered: t0}
	for _, g := range groups {
		if r.IntN(3) == 0 {
			h.Groups = append(h.Groups, g)
		}
	}
	if r.IntN(10) > 0 {
		h.LastContact = at()
	}
	if r.IntN(10) > 0 {
		h.LastAssessed = at()
	}
	for range r.IntN(4) {
		h.Declines = append(h.Declines, at())
	}
	slices.SortFunc(h.Declines, time.Time.Compare)
	for i := range r.IntN(3) {
		h.Waiting = append(h.Waiting, WaitingNeed{NeedID: fmt.Sprint("n", i), Category: "c", Since: at()})
	}
	for i := range r.IntN(3) {
		h.FollowUps = append(h.FollowUps, PendingFollowUp{NeedID: fmt.Sprint("f", i), ReferralID: "r", CompletedAt: at()})
	}
	for i := range r.IntN(2) {
		h.Unclaimed = append(h.Unclaimed, UnclaimedProgramme{Programme: fmt.Sprint("p", i), Since: at()})
	}
	return h
}

func randomRules(r *rand.Rand) domain.Adviser {
	a := domain.DefaultAdviser()
	a.WaitDays, a.Declines, a.FollowUpDays = 1+r.IntN(20), 1+r.IntN(3), 1+r.IntN(30)
	a.ContactDays = map[domain.TargetGroup]int{domain.GroupElderly: 1 + r.IntN(90), domain.GroupLivingAlone: 1 + r.IntN(60)}
	a.ReassessDays = map[string]int{"*": 1 + r.IntN(365), string(domain.GroupDisabled): 1 + r.IntN(100)}
	if r.IntN(4) == 0 {
		a.ReassessDays = map[string]int{"*": domain.MaxAdviserDays}
	}
	return a
}

// TestDueIsWhenReasonsBegin checks, on random facts and rules, that the household
// has reasons at t exactly when Due is set and t is not before it, and that the
// reasons come in the kinds' order, then by Since.
func TestDueIsWhenReasonsBegin(t *testing.T) {
	for seed := uint64(1); seed <= 2000; seed++ {
		r := rand.New(rand.NewPCG(seed, 7))
		h, rules := randomHousehold(r), randomRules(r)
		due := Due(h, rules)
		times := []time.Time{t0, t0.Add(-time.Hour), due, due.Add(-time.Millisecond), due.Add(time.Millisecond)}
		for range 20 {
			times = append(times, t0.Add(time.Duration(r.IntN(600*24))*time.Hour))
		}
		for _, at := range times {
			rs := Reasons(h, rules, at)
			want := !due.IsZero() && !at.Before(due)
			if (len(rs) > 0) != want {
				t.Fatalf("seed %d: at %v Reasons gives %d, Due is %v", seed, at, len(rs), due)
			}
			for i := 1; i < len(rs); i++ {
				a, b := rs[i-1], rs[i]
				if kindOrder[a.Kind] > kindOrder[b.Kind] || (a.Kind == b.Kind && a.Since.After(b.Since)) {
					t.Fatalf("seed %d: reasons out of order: %+v before %+v", seed, a, b)
				}
			}
			for _, x := range rs {
				if x.Since.After(at) {
					t.Fatalf("seed %d: reason %s since %v listed at %v", seed, x.Kind, x.Since, at)
				}
			}
		}
	}
}

// TestReasonsByRule checks each rule on one household.
func TestReasonsByRule(t *testing.T) {
	rules := domain.DefaultAdviser()
	h := Household{ID: "h", Groups: []domain.TargetGroup{domain.GroupElderly}, Registered: t0, LastContact: t0, LastAssessed: t0}
	day := domain.Day
	kinds := func(at time.Time) []Kind {
		var out []Kind
		for _, r := range Reasons(h, rules, at) {
			out = append(out, r.Kind)
		}
		return out
	}
	if got := kinds(t0.Add(89 * day)); len(got) != 0 {
		t.Fatalf("day 89: %v", got)
	}
	if got := kinds(t0.Add(90 * day)); !slices.Equal(got, []Kind{NotContacted}) {
		t.Fatalf("day 90: %v", got)
	}
	if got := kinds(t0.Add(365 * day)); !slices.Equal(got, []Kind{NotContacted, ReassessmentDue}) {
		t.Fatalf("day 365: %v", got)
	}
	h.Declines = []time.Time{t0.Add(-day), t0.Add(day)}
	if got := kinds(t0.Add(2 * day)); len(got) != 0 {
		t.Fatalf("one decline after contact: %v", got)
	}
	h.Declines = append(h.Declines, t0.Add(3*day))
	h.Waiting = []WaitingNeed{{NeedID: "n", Since: t0.Add(day)}}
	h.FollowUps = []PendingFollowUp{{NeedID: "m", ReferralID: "r", CompletedAt: t0}}
	h.Unclaimed = []UnclaimedProgramme{{Programme: "p", Since: t0.Add(4 * day)}}
	if got := kinds(t0.Add(8 * day)); !slices.Equal(got, []Kind{NeedWaiting, RepeatedDeclines, FollowUpDue, Unclaimed}) {
		t.Fatalf("day 8: %v", got)
	}
	rs := Reasons(h, rules, t0.Add(14*day))
	if rs[1].Kind != RepeatedDeclines || rs[1].Count != 2 || !rs[1].Since.Equal(t0.Add(3*day)) {
		t.Fatalf("declines: %+v", rs[1])
	}
	if rs[2].Kind != FollowUpDue || !rs[2].Due.Equal(t0.Add(14*day)) {
		t.Fatalf("follow-up: %+v", rs[2])
	}
	if !Due(h, rules).Equal(t0) { // the follow-up is listed from the completion

		t.Fatalf("due %v", Due(h, rules))
	}
}
