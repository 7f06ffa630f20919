package matching

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/tierlink/tierlink/domain"
)

// benchWorld is a district of 10 streets of 18 communities and 18 categories: the
// first 9 categories have no supply (their needs wait), the other 9 have offers.
type benchWorld struct {
	m      *Matcher
	rng    *rand.Rand
	n      int
	coms   []string
	street map[string]string
	at     time.Time
}

func benchCategory(i int) string { return fmt.Sprintf("cat%02d", i) }

func newBenchWorld(b *testing.B, needs, offers int, alloc *domain.Allocation) *benchWorld {
	b.Helper()
	w := &benchWorld{m: New(), rng: rand.New(rand.NewPCG(1, 2)), street: map[string]string{}, at: t0}
	var streets []domain.StreetNode
	for s := 0; s < 10; s++ {
		st := domain.StreetNode{Code: fmt.Sprintf("s%02d", s), Name: domain.Text{Zh: "街", En: "s"}}
		for c := 0; c < 18; c++ {
			code := fmt.Sprintf("s%02d-c%02d", s, c)
			var caps []string
			for k := 0; k < 18; k += 2 {
				caps = append(caps, benchCategory((k+c)%18))
			}
			st.Communities = append(st.Communities, domain.CommunityNode{Code: code, Name: domain.Text{Zh: "社", En: "c"}, Capabilities: caps})
			w.coms = append(w.coms, code)
			w.street[code] = st.Code
		}
		streets = append(streets, st)
	}
	var cats []domain.Category
	for k := 0; k < 18; k++ {
		cats = append(cats, domain.Category{Code: benchCategory(k), Group: domain.GroupCare, Label: domain.Text{Zh: "类", En: "c"}})
	}
	pub := testReference(rand.New(rand.NewPCG(1, 1)))
	pub.District = domain.DistrictNode{Code: "d", Name: domain.Text{Zh: "区", En: "d"}, Streets: streets}
	pub.Categories = cats
	pub.Policy.Allocation = alloc
	w.apply(domain.AggregateReference, "d", pub)
	for i := 0; i < offers; i++ {
		w.offer(9 + w.rng.IntN(9))
	}
	for i := 0; i < needs; i++ {
		w.need(w.rng.IntN(9)) // waits: nothing offers these categories
	}
	return w
}

func (w *benchWorld) apply(typ, id string, p domain.Payload) []Decision {
	w.n++
	w.at = w.at.Add(time.Second)
	return w.m.Apply(domain.Event{ID: fmt.Sprintf("e%d", w.n), Type: p.EventType(), AggregateType: typ, AggregateID: id,
		AggregateVersion: 1, Partition: "d", Time: w.at, Payload: p})
}

func (w *benchWorld) need(cat int) []Decision {
	com := w.coms[w.rng.IntN(len(w.coms))]
	return w.apply(domain.AggregateNeed, fmt.Sprintf("n%d", w.n), domain.NeedRegistered{
		HouseholdID: "h", Community: com, Street: w.street[com], Category: benchCategory(cat),
		Urgency: domain.UrgencyNormal, Hardship: w.rng.IntN(101)})
}

func (w *benchWorld) offer(cat int) []Decision {
	com := w.coms[w.rng.IntN(len(w.coms))]
	scope := domain.Scope{Tier: domain.TierCommunity, Area: com}
	switch w.rng.IntN(4) {
	case 0:
		scope = domain.Scope{Tier: domain.TierStreet, Area: w.street[com]}
	case 1:
		scope = domain.Scope{Tier: domain.TierDistrict, Area: "d"}
	}
	return w.apply(domain.AggregateOffer, fmt.Sprintf("o%d", w.n), domain.OfferPosted{
		Provider: "p", Category: benchCategory(cat), Capacity: 1 + w.rng.IntN(1000), Scope: scope, District: "d", ValidFrom: t0})
}

// BenchmarkMatcherDecisions measures the pure core: each operation registers one
// need of a supplied category (it is proposed the best candidate), registers one
// need of an unsupplied category (it climbs to the waitlist), and posts one unit of
// an unsupplied category somewhere (it serves the highest-priority waiting need in
// its scope). The waitlist and the offers keep their sizes; decisions/s counts the
// three decisions of each operation.
func BenchmarkMatcherDecisions(b *testing.B) {
	for _, rules := range benchRules {
		for _, needs := range []int{10_000, 100_000, 1_000_000} {
			for _, offers := range []int{1_000, 10_000, 100_000} {
				b.Run(fmt.Sprintf("rules=%s/needs=%d/offers=%d", rules.name, needs, offers), func(b *testing.B) {
					w := newBenchWorld(b, needs, offers, rules.alloc)
					decisions := 0
					b.ReportAllocs()
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						decisions += len(w.need(9 + w.rng.IntN(9)))
						decisions += len(w.need(w.rng.IntN(9)))
						com := w.coms[w.rng.IntN(len(w.coms))]
						decisions += len(w.apply(domain.AggregateOffer, fmt.Sprintf("u%d", w.n), domain.OfferPosted{
							Provider: "p", Category: benchCategory(w.rng.IntN(9)), Capacity: 1,
							Scope: domain.Scope{Tier: domain.TierCommunity, Area: com}, District: "d", ValidFrom: t0}))
					}
					b.StopTimer()
					b.ReportMetric(float64(decisions)/b.Elapsed().Seconds(), "decisions/s")
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(max(decisions, 1)), "ns/decision")
				})
			}
		}
	}
}

// benchRules are the rule sets the benchmarks compare: the first rules, and the
// allocation rules of the default policy (hourly rounds, spare 2, max_wait 14 days).
var benchRules = []struct {
	name  string
	alloc *domain.Allocation
}{
	{"first", nil},
	{"allocation", &domain.Allocation{Rounds: map[string]domain.Duration{"*": domain.Duration(time.Hour)}, Spare: 2, MaxWait: domain.Duration(14 * 24 * time.Hour)}},
}

// BenchmarkMemoryPerOpenNeed measures the heap the core holds per waitlisted need.
func BenchmarkMemoryPerOpenNeed(b *testing.B) {
	for _, rules := range benchRules {
		for _, needs := range []int{100_000, 1_000_000} {
			b.Run(fmt.Sprintf("rules=%s/needs=%d", rules.name, needs), func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					var before, after runtime.MemStats
					runtime.GC()
					runtime.ReadMemStats(&before)
					w := newBenchWorld(b, needs, 1000, rules.alloc)
					runtime.GC()
					runtime.ReadMemStats(&after)
					b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(needs), "B/need")
					runtime.KeepAlive(w)
				}
			})
		}
	}
}

// BenchmarkRound measures one allocation round: N needs of one category held in a
// district of three communities, all deciding at one tick, for N/4 units spread over
// N/20 offers of every scope (some restricted to a target group). Its cost grows with
// the needs times the offers each reaches, plus the exact optimisation
// (allocation.Solve).
func BenchmarkRound(b *testing.B) {
	for _, n := range []int{10, 100, 1000, 2000} {
		b.Run(fmt.Sprintf("needs=%d", n), func(b *testing.B) {
			alloc := &domain.Allocation{Rounds: map[string]domain.Duration{"*": domain.Duration(time.Hour)}, Spare: domain.MaxSpare}
			for b.Loop() {
				b.StopTimer()
				w := newBench(b, alloc, map[string][]string{"c1": {"counselling"}, "c2": {"counselling"}, "c3": {"counselling"}})
				rng := rand.New(rand.NewPCG(uint64(n), 3))
				scopes := []domain.Scope{inC1, {Tier: domain.TierCommunity, Area: "c2"}, {Tier: domain.TierCommunity, Area: "c3"}, inS1, {Tier: domain.TierStreet, Area: "s2"}, inD}
				for i := 0; i < max(1, n/20); i++ {
					var elig domain.Eligibility
					if rng.IntN(4) == 0 {
						elig.TargetGroups = []domain.TargetGroup{domain.GroupElderly}
					}
					w.offer(fmt.Sprintf("o%d", i), 0, scopes[rng.IntN(len(scopes))], 5, elig, t0)
				}
				for i := 0; i < n; i++ {
					var groups []domain.TargetGroup
					if rng.IntN(3) == 0 {
						groups = []domain.TargetGroup{domain.GroupElderly}
					}
					w.need(fmt.Sprintf("n%d", i), []string{"c1", "c2", "c3"}[rng.IntN(3)], 1, rng.IntN(101), groups...)
				}
				b.StartTimer()
				if ds := w.tick(62); len(ds) == 0 {
					b.Fatal("the round decided nothing")
				}
			}
		})
	}
}
