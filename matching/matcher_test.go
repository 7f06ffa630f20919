package matching

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
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
}

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
	seen := map[domain.AggregateRef]bool{}
	for _, e := range evs {
		if !seen[e.Aggregate()] && l.versions[e.Aggregate()] != e.AggregateVersion-1 {
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

type memCheckpoints map[string]int64

func (m memCheckpoints) Load(_ context.Context, name string) (int64, error) { return m[name], nil }
func (m memCheckpoints) Save(_ context.Context, name string, p int64) error {
	m[name] = p
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
			Payloads: []domain.Payload{domain.OfferPosted{Provider: "p", Community: com, Street: "s", District: "d", Category: cat, Capacity: 1 + g.rng.IntN(3)}}}
	} else {
		ch = domain.Change{Aggregate: domain.AggregateRef{Type: domain.AggregateNeed, ID: fmt.Sprintf("n%d", g.n)},
			Payloads: []domain.Payload{domain.NeedRegistered{HouseholdID: fmt.Sprintf("h%d", g.n), Community: com, Street: "s", Category: cat}}}
	}
	evs, err := reg.Envelop([]domain.Change{ch}, domain.Meta{Partition: "d", Time: t0.Add(time.Duration(g.n) * time.Minute), Actor: "test", CommandID: fmt.Sprintf("cmd%d", g.n)},
		func() string { return fmt.Sprintf("e%d", g.n) })
	if err != nil {
		panic(err)
	}
	fail := l.failNext
	l.failNext = 0 // injected failures are for the matcher's appends
	if err := l.Append(context.Background(), evs); err != nil {
		panic(err)
	}
	l.failNext = fail
}

// feed hands the loop every log position it has not seen, as the follower would.
func feed(t *testing.T, lp *Loop, l *memLog, from int) int {
	t.Helper()
	for pos := from; pos < len(l.events); pos++ {
		ev := l.events[pos]
		for {
			err := lp.Handle(context.Background(), int64(pos+1), &ev)
			if err == nil {
				break
			}
			// A failed append: the follower hands the same position again.
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
				if before.Status != domain.NeedOpen {
					t.Fatalf("seed %d, position %d: need %s referred while %s", seed, i+1, e.AggregateID, before.Status)
				}
				o := offers[after.OfferID]
				if o.Category != after.Category || o.Community != after.Community {
					t.Fatalf("seed %d: need %s (%s/%s) referred to offer %s (%s/%s)", seed, after.ID, after.Community, after.Category, o.ID, o.Community, o.Category)
				}
			}
			needs[e.AggregateID] = after
		case domain.AggregateOffer:
			o := offers[e.AggregateID].Evolve(e)
			if o.Reserved > o.Capacity {
				t.Fatalf("seed %d, position %d: offer %s has %d reserved of %d", seed, i+1, o.ID, o.Reserved, o.Capacity)
			}
			offers[e.AggregateID] = o
		}
	}
	// Nothing waits while an offer of its kind has a free unit.
	free := map[[2]string]int{}
	for _, o := range offers {
		free[[2]string{o.Community, o.Category}] += o.Free()
	}
	for _, n := range needs {
		if n.Status == domain.NeedOpen {
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

func newLoop(t *testing.T, l *memLog, cps memCheckpoints) *Loop {
	t.Helper()
	lp, err := NewLoop(LoopConfig{Partition: "d", Registry: reg, Appender: l, Checkpoints: cps})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lp.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	return lp
}

func TestRandomizedInvariants(t *testing.T) {
	for s := uint64(1); s <= 20; s++ {
		l := newMemLog()
		g := &gen{rng: rand.New(rand.NewPCG(s, 42))}
		lp := newLoop(t, l, memCheckpoints{})
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
		referred, waiting := checkInvariants(t, s, l)
		if referred == 0 || waiting == 0 {
			t.Fatalf("seed %d: %d referred, %d waiting: the generator should make both", s, referred, waiting)
		}
	}
}

func TestReplayMakesByteIdenticalDecisions(t *testing.T) {
	const seed = 7
	l := newMemLog()
	g := &gen{rng: rand.New(rand.NewPCG(seed, 1))}
	for i := 0; i < 3000; i++ {
		g.event(l)
	}
	lp := newLoop(t, l, memCheckpoints{})
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
		cps := memCheckpoints{}
		lp := newLoop(t, l, cps)
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
			// The process dies: the core is lost, the checkpoint may lag behind.
			lp = newLoop(t, l, cps)
			fed = feed(t, lp, l, 0)
		}
		appends := l.appends
		decisions := 0
		for _, e := range l.events {
			if e.Actor == Actor && e.AggregateType == domain.AggregateNeed {
				decisions++
			}
		}
		// Replaying once more from scratch appends nothing new.
		lp = newLoop(t, l, memCheckpoints{})
		feed(t, lp, l, 0)
		if l.appends != appends {
			t.Fatalf("seed %d: a full replay appended %d more commands", s, l.appends-appends)
		}
		checkInvariants(t, s, l)
		if decisions == 0 {
			t.Fatalf("seed %d: no decisions made", s)
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
	if ds := m.Apply(ev("o-other", domain.OfferPosted{Community: "c2", Category: "counselling", Capacity: 5})); len(ds) != 0 {
		t.Fatalf("matched across communities: %+v", ds)
	}
	ds := m.Apply(ev("o1", domain.OfferPosted{Community: "c1", Category: "counselling", Capacity: 1}))
	if len(ds) != 1 || ds[0].NeedID != "n1" || ds[0].OfferID != "o1" || ds[0].Rule != RuleFirstWaitingNeed {
		t.Fatalf("waiting need not served: %+v", ds)
	}
	if ds := m.Apply(ev("n2", domain.NeedRegistered{Community: "c1", Category: "counselling"})); len(ds) != 0 {
		t.Fatalf("matched beyond capacity: %+v", ds)
	}
	m.Revert(ds0(ds))
	if m.Waiting() != 2 {
		t.Fatalf("after revert %d waiting, want 2", m.Waiting())
	}
}

func ds0(ds []Decision) Decision { return ds[0] }
