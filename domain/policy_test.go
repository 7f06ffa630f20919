package domain

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func testPolicy() Policy {
	return Policy{
		Deadlines:         Deadlines{Community: Duration(48 * time.Hour), Street: Duration(72 * time.Hour), District: Duration(120 * time.Hour)},
		Hardship:          testWeights(),
		UrgencyPoints:     map[Urgency]int{UrgencyLow: 0, UrgencyNormal: 10, UrgencyHigh: 25, UrgencyCritical: 50},
		AgingPointsPerDay: 5,
	}
}

func TestPriorityKeyOrderMatchesPriorityAtAnyTime(t *testing.T) {
	p := testPolicy()
	t0 := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	type need struct {
		h   int
		u   Urgency
		reg time.Time
	}
	needs := []need{
		{80, UrgencyNormal, t0.Add(10 * 24 * time.Hour)}, // hard case, registered late
		{20, UrgencyLow, t0},                             // light case, waiting long
		{40, UrgencyCritical, t0.Add(5 * 24 * time.Hour)},
	}
	for _, now := range []time.Time{t0.Add(11 * 24 * time.Hour), t0.Add(30 * 24 * time.Hour), t0.Add(400 * 24 * time.Hour)} {
		for i := range needs {
			for j := range needs {
				a, b := needs[i], needs[j]
				ka, kb := p.PriorityKey(a.h, a.u, a.reg), p.PriorityKey(b.h, b.u, b.reg)
				pa, pb := p.PriorityAt(a.h, a.u, a.reg, now), p.PriorityAt(b.h, b.u, b.reg, now)
				// Whole days only in PriorityAt: compare where both are whole days old.
				if now.Sub(a.reg)%(24*time.Hour) == now.Sub(b.reg)%(24*time.Hour) && (ka > kb) != (pa > pb) && pa != pb {
					t.Fatalf("at %v: keys %d,%d but priorities %d,%d", now, ka, kb, pa, pb)
				}
			}
		}
	}
	// Aging: a light case registered 10 days earlier (20 + 5·10 = 70) stays behind the
	// hard one (80 + 10 = 90); one registered 30 days earlier (20 + 5·30 = 170) is ahead.
	light, hard := needs[1], needs[0]
	if p.PriorityKey(light.h, light.u, light.reg) >= p.PriorityKey(hard.h, hard.u, hard.reg) {
		t.Fatal("a light case 10 days older overtook a case 20 points harder")
	}
	older := light.reg.Add(-20 * 24 * time.Hour)
	if p.PriorityKey(light.h, light.u, older) <= p.PriorityKey(hard.h, hard.u, hard.reg) {
		t.Fatal("a light case 30 days older did not overtake: aging does not work")
	}
}

func TestPolicyJSONAndValidation(t *testing.T) {
	p := testPolicy()
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var back Policy
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Deadline(TierStreet) != 72*time.Hour || back.Validate() != nil {
		t.Fatalf("round trip: %s %+v %v", b, back, back.Validate())
	}
	bad := testPolicy()
	bad.Deadlines.Street = 0
	if bad.Validate() == nil {
		t.Error("a zero deadline accepted")
	}
	bad = testPolicy()
	delete(bad.UrgencyPoints, UrgencyHigh)
	if bad.Validate() == nil {
		t.Error("missing urgency points accepted")
	}
}

// TestRankOrdersNeedsForScarceCapacity: the higher priority first; between equal
// priorities the need registered first; then the smaller id; never both ways.
func TestRankOrdersNeedsForScarceCapacity(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	p := Policy{UrgencyPoints: map[Urgency]int{UrgencyNormal: 10, UrgencyCritical: 50}, AgingPointsPerDay: 2}
	rank := func(hardship int, u Urgency, registered time.Time, id string) Rank {
		return Rank{Key: p.PriorityKey(hardship, u, registered), Registered: registered, NeedID: id}
	}
	ordered := []Rank{
		rank(70, UrgencyCritical, t0.Add(time.Hour), "z"), // 120 points
		// 78 points a day earlier: 80 now, as the next two, and registered first.
		rank(68, UrgencyNormal, t0.Add(-24*time.Hour), "c"),
		rank(70, UrgencyNormal, t0, "a"), // 80 points
		rank(70, UrgencyNormal, t0, "b"), // the same, a larger id
		rank(12, UrgencyNormal, t0, "d"),
	}
	for i := range ordered {
		for j := range ordered {
			if got, want := ordered[i].Before(ordered[j]), i < j; got != want {
				t.Errorf("%+v before %+v: %v, want %v", ordered[i], ordered[j], got, want)
			}
		}
	}
}

// TestAllocationValidation: the allocation rules are refused with a message naming
// what is wrong; a policy without them has no rounds and no bound on waiting.
func TestAllocationValidation(t *testing.T) {
	known := func(c string) bool { return c == "counselling" }
	hour := Duration(time.Hour)
	for _, c := range []struct {
		name string
		a    Allocation
		want string // "" when valid
	}{
		{"valid", Allocation{Rounds: map[string]Duration{"*": hour, "counselling": 0}, Spare: 2, MaxWait: Duration(14 * 24 * time.Hour)}, ""},
		{"unknown category", Allocation{Rounds: map[string]Duration{"karaoke": hour}}, `unknown category "karaoke"`},
		{"negative round", Allocation{Rounds: map[string]Duration{"*": -hour}}, "between 0s"},
		{"round too long", Allocation{Rounds: map[string]Duration{"*": Duration(8 * 24 * time.Hour)}}, "between 0s"},
		{"negative spare", Allocation{Spare: -1}, "spare"},
		{"max_wait too long", Allocation{MaxWait: Duration(400 * 24 * time.Hour)}, "max_wait"},
	} {
		err := c.a.Validate(known)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: refused: %v", c.name, err)
		case c.want != "" && (err == nil || !errors.Is(err, ErrInvalidReference) || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: got %v, want an invalid-reference error naming %q", c.name, err, c.want)
		}
	}
	var none *Allocation
	if none.Round("counselling") != 0 || none.Overdue(time.Time{}, time.Now()) {
		t.Fatal("no allocation rules: a round or a bound on waiting")
	}
	a := Allocation{Rounds: map[string]Duration{"*": hour, "material_aid": 0}, MaxWait: Duration(24 * time.Hour)}
	if a.Round("counselling") != time.Hour || a.Round("material_aid") != 0 {
		t.Fatal("a category's round does not override the default")
	}
	t0 := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	if a.Overdue(t0, t0.Add(24*time.Hour)) || !a.Overdue(t0, t0.Add(24*time.Hour+time.Second)) {
		t.Fatal("overdue is not 'waited longer than max_wait'")
	}
}
