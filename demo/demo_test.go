package demo_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/tierlink/tierlink/demo"
	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/node"
	"github.com/tierlink/tierlink/infra/node/nodetest"
	"github.com/tierlink/tierlink/infra/redistest"
	"github.com/tierlink/tierlink/infra/reference"
)

func world(t *testing.T, seed uint64) *demo.World {
	t.Helper()
	base, err := reference.Default()
	if err != nil {
		t.Fatal(err)
	}
	w, err := demo.NewWorld(base, seed)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// The demo district looks like Changning: nine streets and a town, about 180
// communities that keep the sample's codes; providers of every kind; offers in every
// category, with respite care and counselling scarce and material aid plentiful.
func TestWorldIsAPlausibleDistrict(t *testing.T) {
	w := world(t, 1)
	d := w.Reference.Geography.Districts()
	if len(d) != 1 || len(d[0].Streets) != 10 {
		t.Fatalf("want one district of 10 streets and towns, got %d districts", len(d))
	}
	if n := len(w.Communities()); n < 170 || n > 200 {
		t.Fatalf("%d communities, want about 180", n)
	}
	base, _ := reference.Default()
	if err := base.CheckSuccessor(w.Reference); err != nil {
		t.Fatalf("the demo district must grow the sample, not move its codes: %v", err)
	}
	kinds := map[demo.ProviderKind]int{}
	capacity := map[string]int{}
	for _, p := range w.Providers {
		kinds[p.Kind]++
		for _, o := range p.Offers {
			capacity[o.Category] += o.Capacity
		}
	}
	for _, k := range []demo.ProviderKind{demo.KindDepartment, demo.KindCharity, demo.KindSocialWork, demo.KindCompany, demo.KindVolunteers} {
		if kinds[k] == 0 {
			t.Errorf("no provider of kind %s", k)
		}
	}
	for _, c := range w.Reference.Taxonomy.Codes() {
		if capacity[c] == 0 {
			t.Errorf("nobody offers %s", c)
		}
	}
	for _, scarce := range []string{"respite_care", "counselling"} {
		if capacity[scarce]*10 > capacity["material_aid"] {
			t.Errorf("%s has %d places against material aid's %d: it should be scarce", scarce, capacity[scarce], capacity["material_aid"])
		}
	}
	if again := world(t, 1); !reflect.DeepEqual(again.Providers, w.Providers) || !reflect.DeepEqual(again.Reference.Geography.Districts(), d) {
		t.Fatal("the same seed drew another district")
	}
	if other := world(t, 2); reflect.DeepEqual(other.Providers, w.Providers) {
		t.Fatal("another seed drew the same providers")
	}
}

// playOnce plays days of the demo on a fresh redis-server and returns the log, each
// entry reduced to what a seed must fix: type, aggregate, version, time, actor,
// command id and payload.
func playOnce(t *testing.T, seed uint64, end time.Time, days int) ([]string, demo.Totals, map[string]int) {
	t.Helper()
	w := world(t, seed)
	srv := redistest.Real(t)
	clock := demo.NewClock(demo.Start(end, days))
	n, stop := nodetest.Run(t, node.Config{Client: srv.Client(t), Consumer: "demo-test", Reference: w.Reference,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), TickInterval: -1, Clock: clock.Now, NewID: clock.IDs(seed)})
	defer stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	totals, err := demo.Play(ctx, n, w, demo.Config{Seed: seed, Days: days, HouseholdsPerDay: 30, Clock: clock, End: end, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatalf("seed %d: %v", seed, err)
	}
	entries, err := n.Store().ReadPartition(ctx, demo.District, 1, 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	var log []string
	kinds := map[string]int{}
	for _, e := range entries {
		ev := e.Event
		b, _ := json.Marshal(ev.Payload)
		log = append(log, fmt.Sprintf("%s %s/%s@%d %s %s %s %s", ev.Type, ev.AggregateType, ev.AggregateID, ev.AggregateVersion,
			ev.Time.UTC().Format(time.RFC3339Nano), ev.Actor, ev.CommandID, b))
		kinds[ev.Type]++
		if esc, ok := ev.Payload.(domain.NeedEscalated); ok {
			kinds["escalated:"+string(esc.Reason)]++
		}
		if ev.Time.After(end) {
			t.Fatalf("seed %d: an event at %v, after the play's end %v", seed, ev.Time, end)
		}
	}
	return log, totals, kinds
}

// A seed gives the same days: two plays on two fresh servers write the same log,
// event for event. And the days are alive: every kind of step of a referral's life
// happens, including declines, escalations by a centre, expiries and completions.
func TestPlayIsDeterministicAndAlive(t *testing.T) {
	if testing.Short() {
		t.Skip("plays six days twice on real Redis")
	}
	const seed, days = 5, 6
	end := time.Date(2026, 11, 30, 17, 0, 0, 0, time.FixedZone("CST", 8*3600)) // a Monday: the days span a weekend
	first, totals, kinds := playOnce(t, seed, end, days)
	second, _, _ := playOnce(t, seed, end, days)
	if len(first) != len(second) {
		t.Fatalf("seed %d: the plays wrote %d and %d entries", seed, len(first), len(second))
	}
	for i := range first {
		if first[i] != second[i] {
			t.Fatalf("seed %d: the plays differ at position %d:\n%s\n%s", seed, i+1, first[i], second[i])
		}
	}
	t.Logf("seed %d: %d entries; %+v", seed, len(first), totals)
	if totals.Refused != 0 {
		t.Fatalf("seed %d: %d of the play's commands were refused, with nobody else acting", seed, totals.Refused)
	}
	if totals.Households < 60 || totals.Needs < totals.Households {
		t.Fatalf("seed %d: only %d households and %d needs", seed, totals.Households, totals.Needs)
	}
	for _, k := range []string{"offer.posted", "offer.capacity_changed", "need.referral_proposed", "need.referral_accepted",
		"need.referral_declined", "need.service_started", "need.service_completed", "need.waitlisted", "need.withdrawn", "need.held",
		"escalated:" + string(domain.EscalatedByCentre), "escalated:" + string(domain.EscalatedExpired), "escalated:" + string(domain.EscalatedNotCapable)} {
		if kinds[k] == 0 {
			t.Errorf("seed %d: the play wrote no %s (%v)", seed, k, kinds)
		}
	}
	if kinds["offer.posted"] <= totals.Providers {
		t.Errorf("seed %d: no offer arrived after the start", seed)
	}
}

// The clock never goes back; its ids are the seed's while it is simulated and
// random once it is real.
func TestClockAndIDs(t *testing.T) {
	start := time.Date(2026, 11, 1, 7, 0, 0, 0, time.UTC)
	a, b := demo.NewClock(start), demo.NewClock(start)
	a.Set(start.Add(time.Hour))
	a.Set(start) // not back
	if !a.Now().Equal(start.Add(time.Hour)) {
		t.Fatalf("the clock went back to %v", a.Now())
	}
	b.Set(start.Add(time.Hour))
	idsA, idsB := a.IDs(5), b.IDs(5)
	for range 3 {
		if x, y := idsA(), idsB(); x != y {
			t.Fatalf("the same seed and time gave %s and %s", x, y)
		}
	}
	a.Real()
	b.Real()
	if x, y := idsA(), idsB(); x == y {
		t.Fatalf("real-time ids repeat the seed's: %s", x)
	}
	if time.Since(a.Now()) > time.Minute {
		t.Fatalf("a real clock reads %v", a.Now())
	}
}

// Plays of other seeds refuse none of their own commands either: the demo acts only
// on what can still be acted on (needs open, offers active, referrals live).
func TestPlaysRefuseNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("plays six days of four seeds on real Redis")
	}
	end := time.Date(2026, 11, 29, 15, 25, 0, 0, time.UTC) // a Sunday
	for _, seed := range []uint64{1, 5, 8, 9} {
		_, totals, _ := playOnce(t, seed, end, 6)
		if totals.Refused != 0 {
			t.Errorf("seed %d: %d of the play's commands were refused, with nobody else acting", seed, totals.Refused)
		}
	}
}

// Every provider that posts an offer in the play (its own, and the showcase's) is
// named in the reference data the demo publishes.
func TestWorldNamesItsProviders(t *testing.T) {
	w := world(t, 1)
	d := w.Reference.Geography.Districts()[0].Code
	pub, err := w.Reference.Publication(d)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := pub.Reference()
	if err != nil {
		t.Fatalf("the published reference data: %v", err)
	}
	ids := []string{demo.ShowcaseProvider, demo.ShowcaseStreet + "-volunteers"}
	for _, p := range w.Providers {
		ids = append(ids, p.ID)
	}
	for _, id := range ids {
		if name, ok := ref.ProviderName(id); !ok || name.Zh == "" || name.En == "" {
			t.Errorf("provider %s is not named in the published reference data (%v)", id, name)
		}
	}
}
