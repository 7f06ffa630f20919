package matching

import (
	"fmt"
	"testing"
	"time"

	"github.com/tierlink/tierlink/domain"
)

// bench is a matcher fed events by hand, one district "d" of streets s1 (c1, c2)
// and s2 (c3), under a policy the test sets.
type bench struct {
	t        testing.TB
	m        *Matcher
	versions map[string]int64
}

func newBench(t testing.TB, alloc *domain.Allocation, caps map[string][]string) *bench {
	b := &bench{t: t, m: New(), versions: map[string]int64{}}
	b.publish(alloc, caps)
	return b
}

// publish publishes the bench's district with a policy's allocation rules.
func (b *bench) publish(alloc *domain.Allocation, caps map[string][]string) {
	street := func(code string, coms ...string) domain.StreetNode {
		st := domain.StreetNode{Code: code, Name: domain.Text{Zh: code, En: code}}
		for _, c := range coms {
			st.Communities = append(st.Communities, domain.CommunityNode{Code: c, Name: domain.Text{Zh: c, En: c}, Capabilities: caps[c]})
		}
		return st
	}
	var cats []domain.Category
	for _, c := range []string{"counselling", "material_aid"} {
		cats = append(cats, domain.Category{Code: c, Group: domain.GroupCare, Label: domain.Text{Zh: c, En: c}})
	}
	b.apply(domain.AggregateReference, "d", 0, domain.ReferencePublished{
		District:   domain.DistrictNode{Code: "d", Name: domain.Text{Zh: "d", En: "d"}, Streets: []domain.StreetNode{street("s1", "c1", "c2"), street("s2", "c3")}},
		Categories: cats,
		Policy: domain.Policy{
			Deadlines:         domain.Deadlines{Community: domain.Duration(48 * time.Hour), Street: domain.Duration(72 * time.Hour), District: domain.Duration(120 * time.Hour)},
			Hardship:          domain.HardshipWeights{Dimensions: map[domain.Dimension]int{domain.DimIncome: 1}, AssessmentPoints: 70, GroupCap: 30},
			UrgencyPoints:     map[domain.Urgency]int{domain.UrgencyLow: 0, domain.UrgencyNormal: 10, domain.UrgencyHigh: 25, domain.UrgencyCritical: 50},
			AgingPointsPerDay: 2,
			Allocation:        alloc,
		},
	})
}

// apply feeds one event at t0 plus minutes, and the decisions' own events back.
func (b *bench) apply(typ, id string, minute int, p domain.Payload) []Decision {
	b.t.Helper()
	b.versions[typ+id]++
	ds := b.m.Apply(domain.Event{ID: fmt.Sprintf("e-%s-%d", id, b.versions[typ+id]), Type: p.EventType(), AggregateType: typ, AggregateID: id,
		AggregateVersion: b.versions[typ+id], Partition: "d", Time: t0.Add(time.Duration(minute) * time.Minute), Payload: p})
	for _, d := range ds {
		evs, err := DecisionEvents(reg, "d", d)
		if err != nil {
			b.t.Fatal(err)
		}
		for _, e := range evs {
			b.versions[e.AggregateType+e.AggregateID] = e.AggregateVersion
			if more := b.m.Apply(e); len(more) > 0 {
				b.t.Fatalf("the matcher's own event %s decided again: %+v", e.Type, more)
			}
		}
	}
	return ds
}

func (b *bench) need(id, community string, minute, hardship int, groups ...domain.TargetGroup) []Decision {
	street := map[string]string{"c1": "s1", "c2": "s1", "c3": "s2"}[community]
	return b.apply(domain.AggregateNeed, id, minute, domain.NeedRegistered{Community: community, Street: street, Category: b.category(id),
		Urgency: domain.UrgencyNormal, Hardship: hardship, TargetGroups: groups})
}

// category: a need or offer whose id starts with "m" is material aid, else counselling.
func (b *bench) category(id string) string {
	if id[0] == 'm' {
		return "material_aid"
	}
	return "counselling"
}

func (b *bench) offer(id string, minute int, scope domain.Scope, capacity int, elig domain.Eligibility, from time.Time) []Decision {
	return b.apply(domain.AggregateOffer, id, minute, domain.OfferPosted{Scope: scope, District: "d", Category: b.category(id), Capacity: capacity,
		Eligibility: elig, ValidFrom: from})
}

func (b *bench) tick(minute int) []Decision {
	return b.apply(domain.AggregateClock, "d", minute, domain.ClockTicked{})
}

var (
	inC1 = domain.Scope{Tier: domain.TierCommunity, Area: "c1"}
	inS1 = domain.Scope{Tier: domain.TierStreet, Area: "s1"}
	inD  = domain.Scope{Tier: domain.TierDistrict, Area: "d"}
)

func hourly() *domain.Allocation {
	return &domain.Allocation{Rounds: map[string]domain.Duration{"counselling": domain.Duration(time.Hour)}, Spare: 1}
}

// TestRoundGivesTheLastPlaceToTheNeediest: the case. A counselling place
// is the last one; a need of hardship 12 registered at 09:00 and one of hardship 70
// at 09:05. Under the allocation rules both are held, and the round at the first
// tick an hour after the first gives the place to the neediest and waitlists the
// other as outranked. Under the first rules the first come takes it.
func TestRoundGivesTheLastPlaceToTheNeediest(t *testing.T) {
	caps := map[string][]string{"c1": {"counselling"}, "c2": {"counselling"}}
	for _, rules := range []string{"first", "allocation"} {
		t.Run(rules, func(t *testing.T) {
			var alloc *domain.Allocation
			if rules == "allocation" {
				alloc = hourly()
			}
			b := newBench(t, alloc, caps)
			b.offer("o", 0, inC1, 1, domain.Eligibility{}, t0)
			first := b.need("low", "c1", 0, 12)
			second := b.need("high", "c1", 5, 70)
			if rules == "first" {
				if len(first) != 1 || first[0].OfferID != "o" || len(second) != 1 || !second[0].Waitlist {
					t.Fatalf("first rules: %+v then %+v", first, second)
				}
				return
			}
			if len(first) != 1 || !first[0].Hold || first[0].Competing != 1 || first[0].Free != 1 || !first[0].HeldUntil.Equal(t0.Add(time.Hour)) {
				t.Fatalf("the first need is not held for the round: %+v", first)
			}
			if len(second) != 1 || !second[0].Hold || second[0].Competing != 2 {
				t.Fatalf("the second need is not held with two competing: %+v", second)
			}
			if ds := b.tick(59); len(ds) != 0 {
				t.Fatalf("a round before it is due: %+v", ds)
			}
			ds := b.tick(61)
			if len(ds) != 2 {
				t.Fatalf("the round decided %d needs, want 2: %+v", len(ds), ds)
			}
			win, lose := ds[0], ds[1]
			if win.NeedID != "high" || win.OfferID != "o" || win.Rule != RuleRound || win.Tier != domain.TierCommunity {
				t.Fatalf("the round's winner: %+v", win)
			}
			if r := win.Round; r == nil || r.Competing != 2 || r.Units != 1 || r.Priority != 80 || r.Unserved != 1 || r.HighestUnserved != 22 {
				t.Fatalf("the round's explanation: %+v", win.Round)
			}
			if lose.NeedID != "low" || !lose.Waitlist || lose.WaitReason != domain.EscalatedOutranked || len(lose.Escalations) != 2 {
				t.Fatalf("the round's loser: %+v", lose)
			}
			evs, err := DecisionEvents(reg, "d", lose)
			if err != nil {
				t.Fatal(err)
			}
			if w, ok := evs[len(evs)-1].Payload.(domain.NeedWaitlisted); !ok || w.Reason != domain.EscalatedOutranked {
				t.Fatalf("the loser's last event: %+v", evs[len(evs)-1].Payload)
			}
		})
	}
}

// TestRoundServesEveryoneAGreedyOrderWouldNot: two held needs and two offers where
// serving the neediest first with its least flexible offer (the one restricted to
// two target groups) leaves the other, a non-local disabled resident who fits only
// that one, unserved: the round's exact optimisation serves both.
func TestRoundServesEveryoneAGreedyOrderWouldNot(t *testing.T) {
	b := newBench(t, &domain.Allocation{Rounds: map[string]domain.Duration{"*": domain.Duration(time.Hour)}, Spare: 3}, map[string][]string{"c1": {"counselling"}})
	b.offer("local", 0, inC1, 1, domain.Eligibility{LocalResidentsOnly: true}, t0)
	b.offer("groups", 0, inC1, 1, domain.Eligibility{TargetGroups: []domain.TargetGroup{domain.GroupElderly, domain.GroupDisabled}}, t0)
	if ds := b.need("old", "c1", 1, 90, domain.GroupElderly); len(ds) != 1 || !ds[0].Hold || ds[0].Considered != nil {
		t.Fatalf("the elderly need: %+v", ds)
	}
	if ds := b.need("young", "c1", 2, 10, domain.GroupDisabled, domain.GroupNonLocal); len(ds) != 1 || !ds[0].Hold {
		t.Fatalf("the other need: %+v", ds)
	}
	got := map[string]string{}
	for _, d := range b.tick(61) {
		got[d.NeedID] = d.OfferID
	}
	if got["old"] != "local" || got["young"] != "groups" {
		t.Fatalf("the round proposed %v; want old → local, young → groups", got)
	}
}

// TestLeastFlexibleOfferFirst: among fitting offers, a need takes the one fewer
// other needs could use (restricted before open to all, even with fewer free units
// and no end), and at the district tier its own community's offer before a
// district-wide one with more free units. The first rules take the other.
func TestLeastFlexibleOfferFirst(t *testing.T) {
	plenty := &domain.Allocation{} // no rounds: every need is proposed at once
	for _, c := range []struct {
		name  string
		alloc *domain.Allocation
		want  map[string]string
	}{
		{"first rules", nil, map[string]string{"m-old": "m-open", "m-far": "m-district"}},
		{"allocation rules", plenty, map[string]string{"m-old": "m-elderly", "m-far": "m-c2"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			// c2 does not link material aid itself: its needs go to the street, then the district.
			b := newBench(t, c.alloc, map[string][]string{"c1": {"material_aid"}})
			b.offer("m-open", 0, inC1, 5, domain.Eligibility{}, t0)
			b.offer("m-elderly", 0, inC1, 1, domain.Eligibility{TargetGroups: []domain.TargetGroup{domain.GroupElderly, domain.GroupDisabled}}, t0)
			b.offer("m-district", 0, inD, 10, domain.Eligibility{}, t0)
			b.offer("m-c2", 0, domain.Scope{Tier: domain.TierCommunity, Area: "c2"}, 1, domain.Eligibility{}, t0)
			for id, want := range c.want {
				com := map[string]string{"m-old": "c1", "m-far": "c2"}[id]
				ds := b.need(id, com, 1, 50, domain.GroupElderly)
				if len(ds) != 1 || ds[0].OfferID != want {
					t.Fatalf("need %s: %+v; want offer %s", id, ds, want)
				}
			}
		})
	}
}

// TestMaxWaitGoesFirst: a need waiting past max_wait is served before a needier
// one registered later; without the bound, the needier one goes first.
func TestMaxWaitGoesFirst(t *testing.T) {
	for _, c := range []struct {
		maxWait time.Duration
		want    string
	}{{0, "m-new"}, {14 * 24 * time.Hour, "m-old"}} {
		t.Run(fmt.Sprint(c.maxWait), func(t *testing.T) {
			b := newBench(t, &domain.Allocation{MaxWait: domain.Duration(c.maxWait)}, nil)
			day := 24 * 60
			if ds := b.need("m-old", "c1", 0, 10); len(ds) != 1 || !ds[0].Waitlist {
				t.Fatalf("the old need: %+v", ds)
			}
			if ds := b.need("m-new", "c1", 20*day, 90); len(ds) != 1 || !ds[0].Waitlist {
				t.Fatalf("the new need: %+v", ds)
			}
			ds := b.offer("m-o", 20*day+1, inS1, 1, domain.Eligibility{}, t0)
			if len(ds) != 1 || ds[0].NeedID != c.want {
				t.Fatalf("the new unit went to %+v; want %s", ds, c.want)
			}
		})
	}
}

// TestOfferStartingLaterServesTheWaitlistFirst: an offer whose start has passed
// but whose start tick has not come is no candidate for a new need: the tick gives
// it to the waitlist by priority. Under the first rules the new need takes it.
func TestOfferStartingLaterServesTheWaitlistFirst(t *testing.T) {
	for _, c := range []struct {
		alloc *domain.Allocation
		want  string
	}{{nil, "m-new"}, {&domain.Allocation{}, "m-waiting"}} {
		t.Run(fmt.Sprint(c.alloc != nil), func(t *testing.T) {
			b := newBench(t, c.alloc, nil)
			b.tick(1)
			if ds := b.need("m-waiting", "c1", 2, 80); len(ds) != 1 || !ds[0].Waitlist {
				t.Fatalf("the waiting need: %+v", ds)
			}
			b.offer("m-o", 3, inS1, 1, domain.Eligibility{}, t0.Add(30*time.Minute))
			got := b.need("m-new", "c1", 40, 10)
			ds := append(got, b.tick(41)...)
			var to string
			for _, d := range ds {
				if d.OfferID == "m-o" {
					to = d.NeedID
				}
			}
			if to != c.want {
				t.Fatalf("the unit went to %q (%+v); want %s", to, ds, c.want)
			}
		})
	}
}

// TestHeldNeedNeverWaitsPastMaxWait: a need's round is due no later than the need
// would pass max_wait, even when the round is longer; and a need already past
// max_wait when it is matched again (here after a decline) is not held but proposed
// at once, before a newcomer can take the unit.
func TestHeldNeedNeverWaitsPastMaxWait(t *testing.T) {
	b := newBench(t, &domain.Allocation{Rounds: map[string]domain.Duration{"*": domain.Duration(24 * time.Hour)}, Spare: 1, MaxWait: domain.Duration(time.Hour)},
		map[string][]string{"c1": {"counselling"}})
	b.offer("o", 0, inC1, 1, domain.Eligibility{}, t0)
	ds := b.need("first", "c1", 0, 10)
	if len(ds) != 1 || !ds[0].Hold || !ds[0].HeldUntil.Equal(t0.Add(time.Hour)) {
		t.Fatalf("held until %+v; want the round due when max_wait (1h) is reached, not the day's round", ds)
	}
	if ds := b.tick(61); len(ds) != 1 || ds[0].NeedID != "first" || ds[0].OfferID != "o" || ds[0].Round == nil {
		t.Fatalf("the round at max_wait: %+v", ds)
	}
	// Declined two hours later: matched again past max_wait, proposed at once.
	b.offer("o2", 120, inC1, 1, domain.Eligibility{}, t0)
	ref := ReferralID("first", 1)
	ds = b.apply(domain.AggregateNeed, "first", 121, domain.ReferralDeclined{ReferralID: ref, OfferID: "o", Reason: domain.DeclineNotSuitable})
	if len(ds) != 1 || ds[0].Hold || ds[0].OfferID != "o2" {
		t.Fatalf("a need past max_wait matched again: %+v; want o2 proposed at once", ds)
	}
}

// TestRulesPublishedLaterApplyFromThere: a district matched under the first rules
// publishes a policy with the allocation rules; from that entry on, the waiting
// needs are indexed by age (the overdue one goes first) and the candidates are
// ranked least flexible first.
func TestRulesPublishedLaterApplyFromThere(t *testing.T) {
	b := newBench(t, nil, map[string][]string{"c1": {"material_aid"}})
	day := 24 * 60
	b.need("m-old", "c2", 0, 10)
	b.need("m-new", "c2", 20*day, 90)
	b.offer("m-open", 20*day, inC1, 5, domain.Eligibility{}, t0)
	b.offer("m-elderly", 20*day, inC1, 1, domain.Eligibility{TargetGroups: []domain.TargetGroup{domain.GroupElderly}}, t0)
	b.publish(&domain.Allocation{MaxWait: domain.Duration(14 * 24 * time.Hour)}, map[string][]string{"c1": {"material_aid"}})
	if ds := b.offer("m-o", 20*day+1, inS1, 1, domain.Eligibility{}, t0); len(ds) != 1 || ds[0].NeedID != "m-old" {
		t.Fatalf("the new unit went to %+v; want the overdue need", ds)
	}
	if ds := b.need("m-c1", "c1", 20*day+2, 50, domain.GroupElderly); len(ds) != 1 || ds[0].OfferID != "m-elderly" {
		t.Fatalf("the elderly need in c1: %+v; want the offer restricted to the elderly", ds)
	}
}
