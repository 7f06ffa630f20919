package matching

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tierlink/tierlink/domain"
)

var reg = domain.NewRegistry()

// memLog is an in-memory partition log that appends idempotently by command id,
// with the version check, so that the loop can be exercised without Redis.
type memLog struct {
	events   []domain.Event
	versions map[domain.AggregateRef]int64
	commands map[string]bool
	appends  int
	failNext int // appends that fail (as a network error would) before one succeeds
	// noise, when set, makes some appends lose a race: another command changes one of
	// their aggregates first, so that the append is refused as stale.
	noise *rand.Rand
	stale int // appends refused as stale
}

// noiseEvent is what another command writes to a need or offer; the matcher reads
// nothing in it but its version.
type noiseEvent struct{}

func (noiseEvent) EventType() string { return "test.noise" }

func newMemLog() *memLog {
	return &memLog{versions: map[domain.AggregateRef]int64{}, commands: map[string]bool{}}
}

func (l *memLog) Append(_ context.Context, evs []domain.Event) error {
	if l.failNext > 0 {
		l.failNext--
		return errors.New("injected network error")
	}
	if l.commands[evs[0].CommandID] {
		return nil
	}
	// Only decisions on the generator's events race with other commands, so that the
	// races cannot feed on the retries they cause.
	if l.noise != nil && !strings.HasPrefix(evs[0].CausationID, "noise-") && l.noise.IntN(8) == 0 {
		ref := evs[l.noise.IntN(len(evs))].Aggregate()
		l.versions[ref]++
		l.events = append(l.events, domain.Event{
			ID: fmt.Sprintf("noise-%d", len(l.events)), Type: "test.noise", AggregateType: ref.Type, AggregateID: ref.ID,
			AggregateVersion: l.versions[ref], Partition: "d", Time: t0, Actor: "test", CommandID: fmt.Sprintf("noise-%d", len(l.events)),
			Payload: noiseEvent{},
		})
	}
	seen := map[domain.AggregateRef]bool{}
	for _, e := range evs {
		if !seen[e.Aggregate()] && l.versions[e.Aggregate()] != e.AggregateVersion-1 {
			l.stale++
			return fmt.Errorf("%w: %s at %d, event %d", ErrStale, e.Aggregate(), l.versions[e.Aggregate()], e.AggregateVersion)
		}
		seen[e.Aggregate()] = true
	}
	for _, e := range evs {
		l.versions[e.Aggregate()] = e.AggregateVersion
		l.events = append(l.events, e)
	}
	l.commands[evs[0].CommandID] = true
	l.appends++
	return nil
}

var t0 = time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)

// gen draws a random district day: households' needs and providers' offers over a
// few communities and categories, as commands' events appended to the log.
type gen struct {
	rng *rand.Rand
	n   int
}

func (g *gen) event(l *memLog) {
	g.n++
	communities := []string{"c1", "c2", "c3"}
	categories := []string{"counselling", "material_aid", "respite_care"}
	com := communities[g.rng.IntN(len(communities))]
	cat := categories[g.rng.IntN(len(categories))]
	var ch domain.Change
	if g.rng.IntN(3) == 0 {
		ch = domain.Change{Aggregate: domain.AggregateRef{Type: domain.AggregateOffer, ID: fmt.Sprintf("o%d", g.n)},
			Payloads: []domain.Payload{domain.OfferPosted{Provider: "p", Scope: domain.Scope{Tier: domain.TierCommunity, Area: com}, District: "d", Category: cat, Capacity: 1 + g.rng.IntN(3)}}}
	} else {
		ch = domain.Change{Aggregate: domain.AggregateRef{Type: domain.AggregateNeed, ID: fmt.Sprintf("n%d", g.n)},
			Payloads: []domain.Payload{domain.NeedRegistered{HouseholdID: fmt.Sprintf("h%d", g.n), Community: com, Street: "s", Category: cat}}}
	}
	evs, err := reg.Envelop([]domain.Change{ch}, domain.Meta{Partition: "d", Time: t0.Add(time.Duration(g.n) * time.Minute), Actor: "test", CommandID: fmt.Sprintf("cmd%d", g.n)},
		func() string { return fmt.Sprintf("e%d", g.n) })
	if err != nil {
		panic(err)
	}
	fail, noise := l.failNext, l.noise
	l.failNext, l.noise = 0, nil // injected failures and races are for the matcher's appends
	if err := l.Append(context.Background(), evs); err != nil {
		panic(err)
	}
	l.failNext, l.noise = fail, noise
}

// feed hands the loop every log position it has not seen, as the follower would.
func feed(t *testing.T, lp *Loop, l *memLog, from int) int {
	t.Helper()
	for pos := from; pos < len(l.events); pos++ {
		ev := l.events[pos]
		for tries := 0; ; tries++ {
			err := lp.Handle(context.Background(), int64(pos+1), &ev)
			if err == nil {
				break
			}
			// A failed append: the follower hands the same position again.
			if tries > 100 {
				t.Fatalf("position %d keeps failing: %v", pos+1, err)
			}
		}
	}
	return len(l.events)
}

// checkInvariants folds the log and checks DESIGN.md's invariants that this matcher
// touches: committed ≤ capacity; at most one live referral per need; a referral
// matches its need's community and category.
func checkInvariants(t *testing.T, seed uint64, l *memLog) (referred, waiting int) {
	t.Helper()
	needs := map[string]domain.Need{}
	offers := map[string]domain.Offer{}
	for i, e := range l.events {
		switch e.AggregateType {
		case domain.AggregateNeed:
			before := needs[e.AggregateID]
			after := before.Evolve(e)
			if _, ok := e.Payload.(domain.ReferralProposed); ok {
				if before.Status != domain.StatusOpen {
					t.Fatalf("seed %d, position %d: need %s referred while %s", seed, i+1, e.AggregateID, before.Status)
				}
				o := offers[after.OfferID]
				if o.Category != after.Category || o.Scope.Area != after.Community {
					t.Fatalf("seed %d: need %s (%s/%s) referred to offer %s (%s/%s)", seed, after.ID, after.Community, after.Category, o.ID, o.Scope.Area, o.Category)
				}
			}
			needs[e.AggregateID] = after
		case domain.AggregateOffer:
			o := offers[e.AggregateID].Evolve(e)
			if o.Committed > o.Capacity {
				t.Fatalf("seed %d, position %d: offer %s has %d committed of %d", seed, i+1, o.ID, o.Committed, o.Capacity)
			}
			offers[e.AggregateID] = o
		}
	}
	// Nothing waits while an offer of its kind has a free unit.
	free := map[[2]string]int{}
	for _, o := range offers {
		free[[2]string{o.Scope.Area, o.Category}] += o.Free()
	}
	for _, n := range needs {
		if n.Status == domain.StatusOpen {
			waiting++
			if free[[2]string{n.Community, n.Category}] > 0 {
				t.Fatalf("seed %d: need %s waits while %s/%s has free capacity", seed, n.ID, n.Community, n.Category)
			}
		} else {
			referred++
		}
	}
	return referred, waiting
}

func newLoop(t *testing.T, l *memLog) *Loop {
	t.Helper()
	lp, err := NewLoop(LoopConfig{Partition: "d", Registry: reg, Appender: l})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lp.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	return lp
}

func TestRandomizedInvariants(t *testing.T) {
	var referred, waiting, stale int
	for s := uint64(1); s <= 20; s++ {
		l := newMemLog()
		g := &gen{rng: rand.New(rand.NewPCG(s, 42))}
		l.noise = rand.New(rand.NewPCG(s, 43))
		lp := newLoop(t, l)
		fed := 0
		for i := 0; i < 2000; i++ {
			g.event(l)
			if g.rng.IntN(5) == 0 {
				l.failNext = g.rng.IntN(3)
			}
			if g.rng.IntN(4) == 0 { // the loop lags behind the log now and then
				fed = feed(t, lp, l, fed)
			}
		}
		for fed < len(l.events) {
			fed = feed(t, lp, l, fed)
		}
		r, w := checkInvariants(t, s, l)
		referred, waiting, stale = referred+r, waiting+w, stale+l.stale
	}
	if referred == 0 || waiting == 0 || stale == 0 {
		t.Fatalf("%d referred, %d waiting, %d stale appends: the generator should make all three", referred, waiting, stale)
	}
}

func TestReplayMakesByteIdenticalDecisions(t *testing.T) {
	const seed = 7
	l := newMemLog()
	g := &gen{rng: rand.New(rand.NewPCG(seed, 1))}
	for i := 0; i < 3000; i++ {
		g.event(l)
	}
	lp := newLoop(t, l)
	var first []string
	lp.cfg.OnDecision = func(d Decision) {
		evs, _ := DecisionEvents(reg, "d", d)
		for _, e := range evs {
			b, _ := reg.Encode(e)
			first = append(first, string(b))
		}
	}
	for fed := 0; fed < len(l.events); {
		fed = feed(t, lp, l, fed)
	}
	// A fresh matcher over the recorded log (inputs and decisions alike) decides the
	// same: every decision it makes is already in the log, byte for byte.
	recorded := map[string]bool{}
	for _, e := range l.events {
		if e.Actor == Actor {
			b, _ := reg.Encode(e)
			recorded[string(b)] = true
		}
	}
	if len(recorded) != len(first) || len(first) == 0 {
		t.Fatalf("seed %d: %d decision events in the log, %d made", seed, len(recorded), len(first))
	}
	fresh := New()
	n := 0
	for _, e := range l.events {
		for _, d := range fresh.Apply(e) {
			evs, err := DecisionEvents(reg, "d", d)
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range evs {
				b, _ := reg.Encode(ev)
				if !recorded[string(b)] {
					t.Fatalf("seed %d: replay made a decision not in the log: %s", seed, b)
				}
				n++
			}
		}
	}
	if n != len(first) {
		t.Fatalf("seed %d: replay made %d decision events, the log has %d", seed, n, len(first))
	}
}

func TestRestartMidStreamLosesAndRepeatsNothing(t *testing.T) {
	for s := uint64(1); s <= 10; s++ {
		l := newMemLog()
		g := &gen{rng: rand.New(rand.NewPCG(s, 3))}
		l.noise = rand.New(rand.NewPCG(s, 4))
		lp := newLoop(t, l)
		fed := 0
		for round := 0; round < 5; round++ {
			for i := 0; i < 300; i++ {
				g.event(l)
			}
			stopAt := fed + g.rng.IntN(len(l.events)-fed)
			for pos := fed; pos < stopAt; pos++ {
				ev := l.events[pos]
				if err := lp.Handle(context.Background(), int64(pos+1), &ev); err != nil {
					t.Fatal(err)
				}
			}
			// The process dies: the core is lost and rebuilt from the log, while other
			// commands keep racing the matcher's appends.
			lp = newLoop(t, l)
			fed = feed(t, lp, l, 0)
		}
		for fed < len(l.events) { // the last races' events
			fed = feed(t, lp, l, fed)
		}
		l.noise = nil
		appends := l.appends
		decisions := 0
		for _, e := range l.events {
			if e.Actor == Actor && e.AggregateType == domain.AggregateNeed {
				decisions++
			}
		}
		// Replaying once more from scratch appends nothing new, and ends in the state
		// the live loop ended in.
		replay := newLoop(t, l)
		nBefore := len(l.events)
		feed(t, replay, l, 0)
		for _, e := range l.events[nBefore:] {
			t.Logf("NEW %s %s v%d %+v cause=%s", e.AggregateType, e.AggregateID, e.AggregateVersion, e.Payload, e.CausationID)
			for i, x := range l.events[:nBefore] {
				if x.AggregateID == e.AggregateID || x.ID == e.CausationID {
					t.Logf("   %d %s %s v%d %T %+v cmd=%s", i+1, x.AggregateType, x.AggregateID, x.AggregateVersion, x.Payload, x.Payload, x.CommandID)
				}
			}
		}
		if l.appends != appends {
			t.Fatalf("seed %d: a full replay appended %d more commands", s, l.appends-appends)
		}
		if a, b := coreState(lp.Core()), coreState(replay.Core()); a != b {
			t.Fatalf("seed %d: replayed core differs from the live one:\n%s\n%s", s, a, b)
		}
		checkInvariants(t, s, l)
		if decisions == 0 || l.stale == 0 {
			t.Fatalf("seed %d: %d decisions, %d stale appends: the test should make both", s, decisions, l.stale)
		}
	}
}

func TestCoreBasics(t *testing.T) {
	m := New()
	ev := func(id string, p domain.Payload) domain.Event {
		typ := domain.AggregateNeed
		if _, ok := p.(domain.OfferPosted); ok {
			typ = domain.AggregateOffer
		}
		return domain.Event{ID: "e-" + id, Type: p.EventType(), AggregateType: typ, AggregateID: id, AggregateVersion: 1, Payload: p}
	}
	if ds := m.Apply(ev("n1", domain.NeedRegistered{Community: "c1", Category: "counselling"})); len(ds) != 0 {
		t.Fatalf("matched with no offer: %+v", ds)
	}
	if ds := m.Apply(ev("o-other", domain.OfferPosted{Scope: domain.Scope{Tier: domain.TierCommunity, Area: "c2"}, Category: "counselling", Capacity: 5})); len(ds) != 0 {
		t.Fatalf("matched across communities: %+v", ds)
	}
	ds := m.Apply(ev("o1", domain.OfferPosted{Scope: domain.Scope{Tier: domain.TierCommunity, Area: "c1"}, Category: "counselling", Capacity: 1}))
	if len(ds) != 1 || ds[0].NeedID != "n1" || ds[0].OfferID != "o1" || ds[0].Rule != RuleFirstWaitingNeed {
		t.Fatalf("waiting need not served: %+v", ds)
	}
	if ds := m.Apply(ev("n2", domain.NeedRegistered{Community: "c1", Category: "counselling"})); len(ds) != 0 {
		t.Fatalf("matched beyond capacity: %+v", ds)
	}
	// o1's unit was refused (o1 changed under the decision): the unit is free again and
	// n1 is matched again at o1's next event, to o1, at o1's new version.
	m.Revert(ds0(ds))
	if m.Waiting() != 2 || m.offers["o1"].free != 1 {
		t.Fatalf("after revert %d waiting and %d free, want 2 and 1", m.Waiting(), m.offers["o1"].free)
	}
	bump := ev("o1", noiseEvent{})
	bump.AggregateType, bump.AggregateVersion = domain.AggregateOffer, 2
	again := m.Apply(bump)
	if len(again) != 1 || again[0].NeedID != "n1" || again[0].OfferVersion != 2 || again[0].Attempt != 2 {
		t.Fatalf("after the next event: %+v", again)
	}
}

func ds0(ds []Decision) Decision { return ds[0] }

// coreState renders a core's state in a canonical form.
func coreState(m *Matcher) string {
	var out []string
	for id, n := range m.needs {
		out = append(out, fmt.Sprintf("need %s v%d open=%v ref=%s att=%d", id, n.version, n.open, n.referral, n.attempts))
	}
	for id, o := range m.offers {
		out = append(out, fmt.Sprintf("offer %s v%d free=%d", id, o.version, o.free))
	}
	for k, q := range m.waiting {
		ids := ""
		for _, n := range q {
			ids += n.id + ","
		}
		out = append(out, fmt.Sprintf("waiting %v %s", k, ids))
	}
	for ref, ps := range m.parked {
		for _, p := range ps {
			out = append(out, fmt.Sprintf("parked %s %s@%d %v", ref, p.need.id, p.expected, p.current()))
		}
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}
