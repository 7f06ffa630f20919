package projections

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/tierlink/tierlink/domain"
)

// heldStory is a need held for an allocation round at the street tier and held
// again for the next round; then, by case, what the round decided: a unit (a
// proposal with the round's outcome), none (up to the district and waitlisted as
// outranked), or the need withdrawn while held.
func heldStory(ending ...domain.Payload) []domain.Event {
	var evs []domain.Event
	add := func(typ, id string, v int64, actor string, p domain.Payload) {
		evs = append(evs, domain.Event{Type: p.EventType(), AggregateType: typ, AggregateID: id, AggregateVersion: v,
			Time: t0.Add(time.Duration(len(evs)) * time.Minute), Actor: actor, Payload: p})
	}
	add(domain.AggregateHousehold, "h", 1, "test", domain.HouseholdRegistered{Community: "c1", Street: "s1", District: "d", Hardship: 60})
	add(domain.AggregateHousehold, "h", 2, "test", domain.NeedsOpened{Needs: []domain.OpenedNeed{{NeedID: "n", Category: "counselling"}}})
	add(domain.AggregateNeed, "n", 1, "test", domain.NeedRegistered{HouseholdID: "h", Community: "c1", Street: "s1", Category: "counselling", Urgency: domain.UrgencyHigh, Hardship: 60})
	add(domain.AggregateNeed, "n", 2, matchingActor, domain.NeedEscalated{From: 1, To: 2, Reason: domain.EscalatedNoSupply})
	add(domain.AggregateNeed, "n", 3, matchingActor, domain.NeedHeld{Tier: 2, Until: t0.Add(2 * time.Hour), Competing: 12, Free: 3})
	add(domain.AggregateNeed, "n", 4, matchingActor, domain.NeedHeld{Tier: 2, Until: t0.Add(3 * time.Hour), Competing: 14, Free: 2})
	for _, p := range ending {
		add(domain.AggregateNeed, "n", int64(5+len(evs)-6), matchingActor, p)
	}
	return evs
}

// TestHeldNeedsInTheViews folds the events of a held need and of what its round
// decided, and checks the view (status, tier, hold, referral), its version and its
// steps, the held and waitlist indexes and the supply gap.
func TestHeldNeedsInTheViews(t *testing.T) {
	round := &domain.RoundOutcome{Competing: 14, Units: 2, Priority: 84, Overdue: true, Unserved: 12, HighestUnserved: 61}
	until := t0.Add(3 * time.Hour)
	areas := []string{HeldIndex(1, "c1"), HeldIndex(2, "s1"), HeldIndex(3, "d")}
	waitlists := []string{WaitlistIndex(1, "c1"), WaitlistIndex(2, "s1"), WaitlistIndex(3, "d")}
	cases := []struct {
		name     string
		ending   []domain.Payload
		status   domain.NeedStatus
		tier     int
		held     bool // the view holds its hold, the need is in the held indexes
		waitlist bool // on the waitlist and in the supply gap
		whats    []string
		check    func(t *testing.T, v NeedView)
	}{
		{name: "held, then held again", status: domain.StatusHeld, tier: 2, held: true,
			whats: []string{"registered", "escalated", "held", "held"},
			check: func(t *testing.T, v NeedView) {
				if h := v.Held; h == nil || *h != (Hold{Tier: 2, Until: until, Competing: 14, Free: 2}) {
					t.Errorf("the view's hold is %+v, want the last one", h)
				}
				s := v.Steps[2]
				if s.Tier != 2 || s.Held == nil || s.Held.Competing != 12 || s.Held.Free != 3 || !s.Held.Until.Equal(t0.Add(2*time.Hour)) ||
					s.Detail != "held at the street tier for the allocation round due 2026-11-29T11:00:00Z: 12 needs compete for 3 free units" {
					t.Errorf("the first held step: %+v (hold %+v)", s, s.Held)
				}
			}},
		{name: "a unit in the round", ending: []domain.Payload{
			domain.ReferralProposed{ReferralID: "r", OfferID: "o", Tier: 2, Rule: "allocation-round", Candidates: 2, Deadline: t0.Add(48 * time.Hour), Round: round},
		}, status: domain.StatusProposed, tier: 2,
			whats: []string{"registered", "escalated", "held", "held", "referral_proposed"},
			check: func(t *testing.T, v NeedView) {
				if v.Referral == nil || v.Referral.Round == nil || *v.Referral.Round != *round || v.Referral.Rule != "allocation-round" {
					t.Errorf("the referral %+v does not carry the round", v.Referral)
				}
				s := v.Steps[4]
				if s.Round == nil || *s.Round != *round || s.Held != nil {
					t.Errorf("the proposal step %+v does not carry the round", s)
				}
				want := "offer o at the street tier, by rule allocation-round, first of 2 candidates; answer due 2026-12-01T09:00:00Z" +
					"; allocation round: 14 needs competed for 2 units, priority 84 (12 left without a unit, the highest at 61)" +
					", overdue: it had waited past the maximum wait, so it went first"
				if s.Detail != want {
					t.Errorf("the proposal step says %q,\nwant %q", s.Detail, want)
				}
			}},
		{name: "a unit proposed at once", ending: []domain.Payload{
			domain.ReferralProposed{ReferralID: "r", OfferID: "o", Tier: 2, Rule: "best-candidate-at-tier", Candidates: 1, Deadline: t0.Add(48 * time.Hour)},
		}, status: domain.StatusProposed, tier: 2,
			whats: []string{"registered", "escalated", "held", "held", "referral_proposed"},
			check: func(t *testing.T, v NeedView) {
				if v.Referral.Round != nil || v.Steps[4].Round != nil {
					t.Error("a proposal made at once carries a round")
				}
			}},
		{name: "outranked in the round", ending: []domain.Payload{
			domain.NeedEscalated{From: 2, To: 3, Reason: "outranked_in_round"},
			domain.NeedWaitlisted{Reason: "outranked_in_round"},
		}, status: domain.StatusWaitlisted, tier: 3, waitlist: true,
			whats: []string{"registered", "escalated", "held", "held", "escalated", "waitlisted"},
			check: func(t *testing.T, v NeedView) {
				if s := v.Steps[4]; s.Reason != "outranked_in_round" || s.From != 2 || s.Tier != 3 {
					t.Errorf("the escalation step %+v", s)
				}
				if s := v.Steps[5]; s.Reason != "outranked_in_round" {
					t.Errorf("the waitlisted step %+v", s)
				}
			}},
		{name: "withdrawn while held", ending: []domain.Payload{domain.NeedWithdrawn{Note: "moved away"}},
			status: domain.StatusWithdrawn, tier: 2,
			whats: []string{"registered", "escalated", "held", "held", "withdrawn"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			evs := heldStory(c.ending...)
			st := newMemStore()
			p, _ := NewCases(st, "d")
			for i := range evs {
				if err := p.Handle(context.Background(), int64(i+1), &evs[i]); err != nil {
					t.Fatal(err)
				}
			}
			v := read[NeedView](t, st, NeedsModel, "n")
			last := evs[len(evs)-1]
			if v.Status != c.status || v.Tier != c.tier || v.Version != last.AggregateVersion || v.Position != int64(len(evs)) {
				t.Errorf("view: status %s tier %d version %d position %d; want %s, %d, %d, %d",
					v.Status, v.Tier, v.Version, v.Position, c.status, c.tier, last.AggregateVersion, len(evs))
			}
			if (v.Held != nil) != c.held {
				t.Errorf("the view's hold is %+v", v.Held)
			}
			var whats []string
			for _, s := range v.Steps {
				whats = append(whats, s.What)
			}
			if got, _ := json.Marshal(whats); string(got) != mustJSON(c.whats) {
				t.Errorf("steps %s, want %s", got, mustJSON(c.whats))
			}
			for _, ix := range areas {
				score, in := st.indexes[ix]["n"]
				if in != c.held || in && score != float64(until.UnixMilli()) {
					t.Errorf("in %s: %v (score %v)", ix, in, score)
				}
			}
			for _, ix := range waitlists {
				if _, in := st.indexes[ix]["n"]; in != c.waitlist {
					t.Errorf("in %s: %v", ix, in)
				}
			}
			if gap := st.counters[GapCounters("d")]["s1|counselling"]; gap != map[bool]int64{true: 1}[c.waitlist] {
				t.Errorf("supply gap %d: a held need is no gap, a waitlisted one is", gap)
			}
			if _, in := st.indexes[DecisionsIndex]["n"]; !in {
				t.Error("the matcher's hold is not among its recent decisions")
			}
			if c.check != nil {
				c.check(t, v)
			}
		})
	}
}

// A need held is at the version of its held event, and its view changes with it;
// the hold ends with the round's decision.
func TestEvolveNeedHeld(t *testing.T) {
	until := t0.Add(time.Hour)
	reg := domain.Event{Type: "need.registered", AggregateID: "n", AggregateVersion: 1, Time: t0, Actor: "test",
		Payload: domain.NeedRegistered{HouseholdID: "h", Community: "c1", Street: "s1", Category: "counselling", Urgency: domain.UrgencyNormal}}
	held := domain.Event{Type: "need.held", AggregateID: "n", AggregateVersion: 2, Time: t0.Add(time.Minute), Actor: matchingActor,
		Payload: domain.NeedHeld{Tier: 1, Until: until, Competing: 3, Free: 1}}
	v, _ := EvolveNeed(NeedView{}, reg, 1)
	v, changed := EvolveNeed(v, held, 2)
	if !changed || v.Status != domain.StatusHeld || v.Tier != 1 || v.Version != 2 || v.Position != 2 || len(v.Steps) != 2 {
		t.Fatalf("held: changed %v, %+v", changed, v)
	}
	if s := v.Steps[1]; s.What != "held" || s.Actor != matchingActor || s.Tier != 1 || s.Held == nil || *s.Held != *v.Held {
		t.Errorf("held step %+v", s)
	}
	proposed := domain.Event{Type: "need.referral_proposed", AggregateID: "n", AggregateVersion: 3, Time: until, Actor: matchingActor,
		Payload: domain.ReferralProposed{ReferralID: "r", OfferID: "o", Tier: 1, Rule: "allocation-round", Deadline: until.Add(time.Hour),
			Round: &domain.RoundOutcome{Competing: 3, Units: 1, Priority: 40, Unserved: 2, HighestUnserved: 35}}}
	v, _ = EvolveNeed(v, proposed, 3)
	if v.Status != domain.StatusProposed || v.Held != nil || v.Referral == nil || v.Referral.Round == nil || v.Referral.Round.Unserved != 2 {
		t.Errorf("after the round: %+v", v)
	}
	// The round outcome and the hold reach the JSON clients read.
	b, _ := json.Marshal(v)
	var doc map[string]any
	_ = json.Unmarshal(b, &doc)
	round, _ := doc["referral"].(map[string]any)["round"].(map[string]any)
	if round["competing"] != 3.0 || round["highest_unserved"] != 35.0 || round["units"] != 1.0 {
		t.Errorf("the referral's round in JSON: %s", b)
	}
	steps := doc["steps"].([]any)
	if h, _ := steps[1].(map[string]any)["held"].(map[string]any); h["until"] != until.Format(time.RFC3339) || h["free"] != 1.0 {
		t.Errorf("the held step in JSON: %v", steps[1])
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
