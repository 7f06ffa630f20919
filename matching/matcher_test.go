package matching

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tierlink/tierlink/domain"
)

var reg = domain.NewRegistry()

// raceScaled is how many seeds a randomized test plays: n, or a quarter of them
// (at least one) under the race detector. The race detector makes these tests five
// to ten times slower while adding nothing to what a seed checks of the matcher's
// decisions: the full seeds run without it (go test ./..., as developers run the
// tests), and the race run (go test -race ./..., in CI) checks the concurrency of
// the loop's appends on the first seeds. The seeds played are the first ones, so
// that a failing seed is named and played again the same way in either run.
func raceScaled(n int) int {
	if raceEnabled {
		return max(1, n/4)
	}
	return n
}

// memLog is an in-memory partition log that appends idempotently by command id,
// with the version check, so that the loop can be exercised without Redis.
type memLog struct {
	mu       sync.Mutex // a loop's append may be in flight while the test reads
	events   []domain.Event
	versions map[domain.AggregateRef]int64
	commands map[string]bool
	appends  int
	failNext int // appends that fail (as a network error would) before one succeeds
	// noise, when set, makes some appends lose a race: another command changes one of
	// their aggregates first, so that the append is refused as stale.
	noise     *rand.Rand
	stale     int             // appends refused as stale
	attempted map[string]bool // when set, the commands sent
	// The log folded, for the generator's commands.
	needs  map[string]domain.Need
	offers map[string]domain.Offer
	// content of each command, and the commands retried with other content: a
	// replay that decided differently under the same command id.
	content  map[string]string
	diverged []string
	cuts     *rand.Rand // where feed cuts the log into runs
	// held and rounds count the needs held and the proposals of allocation rounds.
	held, rounds int
}

func encodeAll(evs []domain.Event) string {
	var b strings.Builder
	for _, e := range evs {
		body, err := reg.Encode(e)
		if err != nil {
			b.WriteString(fmt.Sprintf("%s %s v%d %T %+v;", e.ID, e.AggregateID, e.AggregateVersion, e.Payload, e.Payload))
			continue
		}
		b.Write(body)
	}
	return b.String()
}

// noiseEvent is what another command writes to a need or offer; the matcher reads
// nothing in it but its version.
type noiseEvent struct{}

func (noiseEvent) EventType() string { return "test.noise" }

func newMemLog() *memLog {
	return &memLog{versions: map[domain.AggregateRef]int64{}, commands: map[string]bool{},
		needs: map[string]domain.Need{}, offers: map[string]domain.Offer{}, content: map[string]string{},
		cuts: rand.New(rand.NewPCG(7, 7))}
}

// Append appends commands in order as the event store does: a command whose
// prerequisite did not take effect is refused untried. An injected failure fails the
// whole call, before or after it took effect (a reply lost on the way back).
func (l *memLog) Append(_ context.Context, cmds []domain.Command) ([]error, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range cmds {
		if l.attempted != nil {
			l.attempted[c.Events[0].CommandID] = true
		}
	}
	lost := false
	if l.failNext > 0 {
		l.failNext--
		if l.failNext%2 == 0 {
			return nil, errors.New("injected network error")
		}
		lost = true
	}
	out := inOrder(cmds, l.appendOne)
	if lost {
		return nil, errors.New("injected network error after the append")
	}
	return out, nil
}

func (l *memLog) appendOne(evs []domain.Event) error {
	if l.commands[evs[0].CommandID] {
		// A retried command: it must be the same command, byte for byte.
		if got := encodeAll(evs); got != l.content[evs[0].CommandID] {
			l.diverged = append(l.diverged, evs[0].CommandID)
		}
		return nil
	}
	// Only decisions on the generator's events race with other commands, so that the
	// races cannot feed on the retries they cause.
	if l.noise != nil && !strings.HasPrefix(evs[0].CausationID, "noise-") && l.noise.IntN(8) == 0 {
		ref := evs[l.noise.IntN(len(evs))].Aggregate()
		l.versions[ref]++
		ne := domain.Event{
			ID: fmt.Sprintf("noise-%d", len(l.events)), Type: "test.noise", AggregateType: ref.Type, AggregateID: ref.ID,
			AggregateVersion: l.versions[ref], Partition: "d", Time: t0, Actor: "test", CommandID: fmt.Sprintf("noise-%d", len(l.events)),
			Payload: noiseEvent{},
		}
		l.events = append(l.events, ne)
		switch ref.Type {
		case domain.AggregateNeed:
			l.needs[ref.ID] = l.needs[ref.ID].Evolve(ne)
		case domain.AggregateOffer:
			l.offers[ref.ID] = l.offers[ref.ID].Evolve(ne)
		}
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
		switch e.AggregateType {
		case domain.AggregateNeed:
			l.needs[e.AggregateID] = l.needs[e.AggregateID].Evolve(e)
		case domain.AggregateOffer:
			l.offers[e.AggregateID] = l.offers[e.AggregateID].Evolve(e)
		}
	}
	l.commands[evs[0].CommandID] = true
	l.content[evs[0].CommandID] = encodeAll(evs)
	l.appends++
	return nil
}

var t0 = time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)

// gen draws a random district day: households' needs and providers' offers over a
// few communities of two streets and a few categories, with scopes at every tier,
// eligibility rules, urgencies and hardship, as commands' events appended to the log.
type gen struct {
	rng *rand.Rand
	n   int
}

var (
	genCommunities = []string{"c1", "c2", "c3", "c4"}
	genStreet      = map[string]string{"c1": "s1", "c2": "s1", "c3": "s2", "c4": "s2"}
	genCategories  = []string{"counselling", "material_aid", "respite_care"}
	genGroups      = []domain.TargetGroup{domain.GroupElderly, domain.GroupDisabled, domain.GroupNonLocal}
)

// testReference is the district the generator plays in: two streets of two
// communities, each community linking some categories itself, short deadlines.
func testReference(rng *rand.Rand) domain.ReferencePublished {
	street := func(code string, coms ...string) domain.StreetNode {
		st := domain.StreetNode{Code: code, Name: domain.Text{Zh: code, En: code}}
		for _, c := range coms {
			var caps []string
			for _, cat := range genCategories {
				if rng.IntN(3) > 0 {
					caps = append(caps, cat)
				}
			}
			st.Communities = append(st.Communities, domain.CommunityNode{Code: c, Name: domain.Text{Zh: c, En: c}, Capabilities: caps})
		}
		return st
	}
	var cats []domain.Category
	for _, c := range genCategories {
		cats = append(cats, domain.Category{Code: c, Group: domain.GroupCare, Label: domain.Text{Zh: c, En: c}})
	}
	// Half the districts share scarce supply by the allocation rules: rounds of a
	// few minutes to an hour and a half (for one category or all), a spare of 0–2
	// units, and sometimes a bound on waiting of a few hours.
	var alloc *domain.Allocation
	if rng.IntN(2) == 0 {
		cat := "*"
		if rng.IntN(2) == 0 {
			cat = genCategories[rng.IntN(len(genCategories))]
		}
		alloc = &domain.Allocation{Rounds: map[string]domain.Duration{cat: domain.Duration(time.Duration(1+rng.IntN(90)) * time.Minute)}, Spare: rng.IntN(3)}
		if rng.IntN(2) == 0 {
			alloc.MaxWait = domain.Duration(time.Duration(1+rng.IntN(6)) * time.Hour)
		}
	}
	return domain.ReferencePublished{
		District:   domain.DistrictNode{Code: "d", Name: domain.Text{Zh: "d", En: "d"}, Streets: []domain.StreetNode{street("s1", "c1", "c2"), street("s2", "c3", "c4")}},
		Categories: cats,
		Policy: domain.Policy{
			Deadlines:         domain.Deadlines{Community: domain.Duration(30 * time.Minute), Street: domain.Duration(60 * time.Minute), District: domain.Duration(90 * time.Minute)},
			Hardship:          domain.HardshipWeights{Dimensions: map[domain.Dimension]int{domain.DimIncome: 1}, AssessmentPoints: 70, GroupCap: 30},
			UrgencyPoints:     map[domain.Urgency]int{domain.UrgencyLow: 0, domain.UrgencyNormal: 10, domain.UrgencyHigh: 25, domain.UrgencyCritical: 50},
			AgingPointsPerDay: 200, // many points a day: a few hours of waiting count
			Allocation:        alloc,
		},
	}
}

// event appends one random command's events: mostly needs and offers, and the
// commands of centres and providers on what the log holds (answers, starts,
// completions, withdrawals, capacity changes), and clock ticks. The commands are
// decided on the log's present state, so they race with the matcher's appends.
func (g *gen) event(l *memLog) {
	g.n++
	now := t0.Add(time.Duration(g.n) * time.Minute)
	var changes []domain.Change
	pick := func(ok func(domain.Need) bool) (domain.Need, bool) {
		var ids []string
		for id, n := range l.needs {
			if ok(n) {
				ids = append(ids, id)
			}
		}
		if len(ids) == 0 {
			return domain.Need{}, false
		}
		sort.Strings(ids)
		return l.needs[ids[g.rng.IntN(len(ids))]], true
	}
	status := func(st ...domain.NeedStatus) func(domain.Need) bool {
		return func(n domain.Need) bool {
			for _, s := range st {
				if n.Status == s {
					return true
				}
			}
			return false
		}
	}
	switch r := g.rng.IntN(100); {
	case g.n == 1:
		changes = []domain.Change{{Aggregate: domain.AggregateRef{Type: domain.AggregateReference, ID: "d"}, Payloads: []domain.Payload{testReference(g.rng)}}}
	case r < 8:
		changes = []domain.Change{{Aggregate: domain.AggregateRef{Type: domain.AggregateClock, ID: "d"}, ExpectedVersion: l.versions[domain.AggregateRef{Type: domain.AggregateClock, ID: "d"}],
			Payloads: []domain.Payload{domain.ClockTicked{}}}}
	case r < 18:
		if n, ok := pick(status(domain.StatusProposed)); ok {
			a := domain.Answer{ReferralID: n.ReferralID, Kind: domain.AnswerAccept}
			switch g.rng.IntN(5) {
			case 0, 1:
				a.Kind, a.Reason = domain.AnswerDecline, domain.DeclineNotSuitable
			case 2:
				a.Kind = domain.AnswerEscalate
			}
			changes, _ = domain.DecideAnswer(n, l.offers[n.OfferID], a, now)
		}
	case r < 23:
		if n, ok := pick(status(domain.StatusAccepted, domain.StatusInService)); ok {
			if n.Status == domain.StatusAccepted {
				changes, _ = domain.DecideStartService(n, n.ReferralID)
			} else {
				changes, _ = domain.DecideCompleteService(n, domain.Household{ID: n.HouseholdID, Version: l.versions[domain.AggregateRef{Type: domain.AggregateHousehold, ID: n.HouseholdID}]}, n.ReferralID)
			}
		}
	case r < 26:
		if n, ok := pick(status(domain.StatusOpen, domain.StatusWaitlisted, domain.StatusHeld, domain.StatusProposed, domain.StatusAccepted)); ok {
			changes, _ = domain.DecideWithdrawNeed(n, l.offers[n.OfferID], domain.Household{ID: n.HouseholdID, Version: l.versions[domain.AggregateRef{Type: domain.AggregateHousehold, ID: n.HouseholdID}]}, "")
		}
	case r < 31:
		var ids []string
		for id, o := range l.offers {
			if o.Status == domain.OfferActive {
				ids = append(ids, id)
			}
		}
		if len(ids) > 0 {
			sort.Strings(ids)
			o := l.offers[ids[g.rng.IntN(len(ids))]]
			if g.rng.IntN(3) == 0 {
				changes, _ = domain.DecideWithdrawOffer(o)
			} else {
				changes, _ = domain.DecideChangeCapacity(o, max(o.Committed, 1)+g.rng.IntN(3))
			}
		}
	case r < 50:
		com := genCommunities[g.rng.IntN(len(genCommunities))]
		cat := genCategories[g.rng.IntN(len(genCategories))]
		scope := domain.Scope{Tier: domain.TierCommunity, Area: com}
		switch g.rng.IntN(6) {
		case 0, 1:
			scope = domain.Scope{Tier: domain.TierStreet, Area: genStreet[com]}
		case 2:
			scope = domain.Scope{Tier: domain.TierDistrict, Area: "d"}
		}
		var elig domain.Eligibility
		switch g.rng.IntN(6) {
		case 0:
			elig.TargetGroups = []domain.TargetGroup{genGroups[g.rng.IntN(2)]}
		case 1:
			elig.LocalResidentsOnly = true
		}
		from, until := t0, time.Time{}
		if g.rng.IntN(4) == 0 {
			from = now.Add(time.Duration(g.rng.IntN(120)) * time.Minute)
		}
		if g.rng.IntN(3) == 0 {
			until = now.Add(time.Duration(1+g.rng.IntN(600)) * time.Minute)
			if !from.Before(until) {
				from = until.Add(-time.Minute)
			}
		}
		changes = []domain.Change{{Aggregate: domain.AggregateRef{Type: domain.AggregateOffer, ID: fmt.Sprintf("o%d", g.n)},
			Payloads: []domain.Payload{domain.OfferPosted{Provider: "p", Scope: scope, District: "d", Category: cat, Capacity: 1 + g.rng.IntN(3),
				Eligibility: elig, ValidFrom: from, ValidUntil: until}}}}
	case r < 53:
		// A reassessment moves the hardship of a household whose need waits or is
		// being matched: the matcher re-prioritises it from that event.
		if n, ok := pick(status(domain.StatusOpen, domain.StatusWaitlisted, domain.StatusHeld, domain.StatusProposed)); ok {
			ref := domain.AggregateRef{Type: domain.AggregateHousehold, ID: n.HouseholdID}
			changes = []domain.Change{{Aggregate: ref, ExpectedVersion: l.versions[ref],
				Payloads: []domain.Payload{domain.HouseholdReassessed{Assessment: domain.Assessment{}, Hardship: g.rng.IntN(101)}}}}
		}
	default:
		com := genCommunities[g.rng.IntN(len(genCommunities))]
		cat := genCategories[g.rng.IntN(len(genCategories))]
		var groups []domain.TargetGroup
		for _, gr := range genGroups {
			if g.rng.IntN(3) == 0 {
				groups = append(groups, gr)
			}
		}
		changes = []domain.Change{{Aggregate: domain.AggregateRef{Type: domain.AggregateNeed, ID: fmt.Sprintf("n%d", g.n)},
			Payloads: []domain.Payload{domain.NeedRegistered{HouseholdID: fmt.Sprintf("h%d", g.n), Community: com, Street: genStreet[com], Category: cat,
				Urgency: []domain.Urgency{domain.UrgencyLow, domain.UrgencyNormal, domain.UrgencyHigh}[g.rng.IntN(3)], Hardship: g.rng.IntN(101), TargetGroups: groups}}}}
	}
	if len(changes) == 0 {
		g.n--
		g.event(l) // nothing to do for that kind of command now: draw another
		return
	}
	evs, err := reg.Envelop(changes, domain.Meta{Partition: "d", Time: now, Actor: "test", CommandID: fmt.Sprintf("cmd%d", g.n)},
		func() string { return fmt.Sprintf("e%d-%d", g.n, g.rng.IntN(1<<30)) })
	if err != nil {
		panic(err)
	}
	fail, noise := l.failNext, l.noise
	l.failNext, l.noise = 0, nil // injected failures and races are for the matcher's appends
	if err := l.appendOne(evs); err != nil {
		panic(err)
	}
	l.failNext, l.noise = fail, noise
}

// feed hands the loop every log position it has not seen, as the follower would:
// in runs of 1 to 48 positions, or of asyncRun and more, cut at random (the log's own cuts, drawn from a
// fixed seed), so that a decision's refusal may be found in its own run or later.
func feed(t *testing.T, lp *Loop, l *memLog, from int) int {
	t.Helper()
	logged := func() int {
		l.mu.Lock()
		defer l.mu.Unlock()
		return len(l.events)
	}
	retry := func(what string, f func() error) {
		for tries := 0; ; tries++ {
			err := f()
			if err == nil {
				return
			}
			// A failed append: the follower hands the same run again.
			if tries > 100 {
				t.Fatalf("%s keeps failing: %v", what, err)
			}
		}
	}
	for pos := from; ; {
		if pos >= logged() {
			// Caught up: what is in flight lands, and may bring more to read.
			retry("the last flush", func() error { return lp.Flush(context.Background()) })
			if pos >= logged() {
				return pos
			}
			continue
		}
		size := 1 + l.cuts.IntN(48)
		if l.cuts.IntN(4) == 0 {
			size = asyncRun + l.cuts.IntN(100) // appended while the loop takes the next run
		}
		l.mu.Lock()
		end := min(len(l.events), pos+size)
		run := make([]domain.Entry, 0, end-pos)
		for i := pos; i < end; i++ {
			ev := l.events[i]
			run = append(run, domain.Entry{Position: int64(i + 1), Event: &ev})
		}
		l.mu.Unlock()
		retry(fmt.Sprintf("positions %d to %d", pos+1, end), func() error { return lp.HandleBatch(context.Background(), run) })
		pos = end
	}
}

// checkInvariants folds the log and checks, after every event, DESIGN.md's
// invariants that the matcher touches: committed ≤ capacity; at most one live
// referral per need (a proposal only for an open or waitlisted need); a need's tier
// never goes down; a referral's offer is of the need's category, covers its
// household's area and admits it. At the end: no need is left open, and none waits
// while an offer in its scope that admits it has a free unit.
func checkInvariants(t *testing.T, seed uint64, l *memLog) (referred, waiting int) {
	t.Helper()
	needs := map[string]domain.Need{}
	regs := map[string]domain.NeedRegistered{}
	offers := map[string]domain.Offer{}
	heldUntil := map[string]time.Time{}
	areas := func(id string) [4]string {
		r := regs[id]
		return [4]string{"", r.Community, r.Street, "d"}
	}
	for i, e := range l.events {
		switch e.AggregateType {
		case domain.AggregateNeed:
			before := needs[e.AggregateID]
			after := before.Evolve(e)
			if p, ok := e.Payload.(domain.NeedRegistered); ok {
				regs[e.AggregateID] = p
			}
			if p, ok := e.Payload.(domain.NeedHeld); ok {
				heldUntil[e.AggregateID] = p.Until
			}
			if after.Tier < before.Tier {
				t.Fatalf("seed %d, position %d: need %s went down from tier %d to %d", seed, i+1, e.AggregateID, before.Tier, after.Tier)
			}
			if _, ok := e.Payload.(domain.ReferralProposed); ok {
				if before.Status != domain.StatusOpen && before.Status != domain.StatusWaitlisted && before.Status != domain.StatusHeld {
					t.Fatalf("seed %d, position %d: need %s proposed while %s", seed, i+1, e.AggregateID, before.Status)
				}
				o := offers[after.OfferID]
				if o.Category != after.Category || o.Scope.Area != areas(after.ID)[o.Scope.Tier] || !o.Eligibility.Admits(regs[after.ID].TargetGroups) {
					t.Fatalf("seed %d, position %d: need %s (%v %s) proposed offer %s (%+v %s %+v)", seed, i+1, after.ID, areas(after.ID), after.Category, o.ID, o.Scope, o.Category, o.Eligibility)
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
	var end, lastTick time.Time // the latest time the log has seen, and of its last tick
	posted := map[string]time.Time{}
	for _, e := range l.events {
		if e.Time.After(end) {
			end = e.Time
		}
		if _, ok := e.Payload.(domain.ClockTicked); ok {
			lastTick = e.Time
		}
		if _, ok := e.Payload.(domain.OfferPosted); ok {
			posted[e.AggregateID] = e.Time
		}
	}
	// An offer is available to the end if it started (at its posting, or at a tick
	// after its start) and does not end before the last event.
	available := func(o domain.Offer) bool {
		started := !o.ValidFrom.After(posted[o.ID]) || !o.ValidFrom.After(lastTick)
		return o.Status == domain.OfferActive && started && (o.ValidUntil.IsZero() || o.ValidUntil.After(end))
	}
	for _, n := range needs {
		switch n.Status {
		case domain.StatusOpen:
			t.Fatalf("seed %d: need %s is left open", seed, n.ID)
		case domain.StatusHeld:
			waiting++
			if !heldUntil[n.ID].After(lastTick) {
				t.Fatalf("seed %d: need %s is still held for a round due at %v (last tick %v)", seed, n.ID, heldUntil[n.ID], lastTick)
			}
		case domain.StatusWaitlisted:
			waiting++
			for _, o := range offers {
				if available(o) && o.Free() > 0 && o.Category == n.Category && !slices.Contains(n.Declined, o.ID) &&
					o.Scope.Area == areas(n.ID)[o.Scope.Tier] && o.Eligibility.Admits(regs[n.ID].TargetGroups) {
					t.Fatalf("seed %d: need %s waits while offer %s in its scope has %d free", seed, n.ID, o.ID, o.Free())
				}
			}
		case domain.StatusWithdrawn, domain.StatusCompleted:
		default:
			referred++
			if n.Status == domain.StatusProposed && !lastTick.IsZero() && !n.Deadline.After(lastTick) {
				t.Fatalf("seed %d: need %s is still proposed past its deadline %v (last tick %v)", seed, n.ID, n.Deadline, lastTick)
			}
			if o := offers[n.OfferID]; o.Status == domain.OfferStatusWithdrawn && n.Status != domain.StatusInService {
				t.Fatalf("seed %d: need %s is %s on withdrawn offer %s", seed, n.ID, n.Status, o.ID)
			}
		}
	}
	if len(l.diverged) > 0 {
		t.Fatalf("seed %d: retried commands with other content (a replay decided differently): %v", seed, l.diverged)
	}
	return referred, waiting
}

func newLoop(t *testing.T, l *memLog) *Loop {
	t.Helper()
	lp, err := NewLoop(LoopConfig{Partition: "d", Registry: reg, Appender: l, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lp.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	return lp
}

// runLive generates events into the log while the loop follows it, one position in
// lagOneIn draws behind, with injected append failures if failures is set, then
// feeds the loop to the end.
func runLive(t *testing.T, g *gen, l *memLog, lp *Loop, events, lagOneIn int, failures bool) {
	t.Helper()
	fed := 0
	for i := 0; i < events; i++ {
		g.event(l)
		if failures && g.rng.IntN(5) == 0 {
			l.failNext = g.rng.IntN(3)
		}
		if g.rng.IntN(lagOneIn) == 0 { // the loop lags behind the log now and then
			fed = feed(t, lp, l, fed)
		}
	}
	for fed < len(l.events) {
		fed = feed(t, lp, l, fed)
	}
}

func TestRandomizedInvariants(t *testing.T) {
	t.Parallel()
	var referred, waiting, stale int
	for s := uint64(1); s <= uint64(raceScaled(20)); s++ {
		l := newMemLog()
		g := &gen{rng: rand.New(rand.NewPCG(s, 42))}
		l.noise = rand.New(rand.NewPCG(s, 43))
		lp := newLoop(t, l)
		runLive(t, g, l, lp, 2000, 4, true)
		r, w := checkInvariants(t, s, l)
		referred, waiting, stale = referred+r, waiting+w, stale+l.stale
	}
	if referred == 0 || waiting == 0 || stale == 0 {
		t.Fatalf("%d referred, %d waiting, %d stale appends: the generator should make all three", referred, waiting, stale)
	}
}

// replayCheck is an appender for a replaying loop: every decision it is given must be
// in the log already, byte for byte (then the append is a retried command), or be
// refused as stale, as the first run's was.
type replayCheck struct {
	t        *testing.T
	l        *memLog
	byCmd    map[string][]string
	matched  int
	refused  int
	seedNote string
}

func (r *replayCheck) Append(ctx context.Context, cmds []domain.Command) ([]error, error) {
	return inOrder(cmds, func(evs []domain.Event) error { return r.appendOne(ctx, evs) }), nil
}

// inOrder appends commands one by one as the event store does: a command whose
// prerequisite was refused is refused untried.
func inOrder(cmds []domain.Command, appendOne func([]domain.Event) error) []error {
	out := make([]error, len(cmds))
	for i, c := range cmds {
		for _, j := range c.After {
			if out[j] != nil {
				out[i] = fmt.Errorf("%w: command %d was refused", ErrStale, j)
			}
		}
		if out[i] == nil {
			out[i] = appendOne(c.Events)
		}
	}
	return out
}

func (r *replayCheck) appendOne(_ context.Context, evs []domain.Event) error {
	cmd := evs[0].CommandID
	if logged, ok := r.byCmd[cmd]; ok {
		for i, e := range evs {
			b, _ := reg.Encode(e)
			if i >= len(logged) || string(b) != logged[i] {
				r.t.Fatalf("%s: replayed decision %s differs from the log:\n%s\n%v", r.seedNote, cmd, b, logged)
			}
		}
		r.matched++
		return nil
	}
	err := r.l.appendOne(evs)
	if !errors.Is(err, ErrStale) {
		r.t.Fatalf("%s: replay made a decision the first run did not: %s (%v)", r.seedNote, cmd, err)
	}
	r.refused++
	return err
}

func TestReplayMakesByteIdenticalDecisions(t *testing.T) {
	t.Parallel()
	for seed := uint64(1); seed <= uint64(raceScaled(3)); seed++ {
		replayOnce(t, seed)
	}
}

func replayOnce(t *testing.T, seed uint64) {
	l := newMemLog()
	g := &gen{rng: rand.New(rand.NewPCG(seed, 1))}
	l.noise = rand.New(rand.NewPCG(seed, 2))
	lp := newLoop(t, l)
	runLive(t, g, l, lp, 3000, 3, false)
	l.noise = nil
	// A fresh loop over the recorded log (inputs and decisions alike) decides the
	// same: each decision it makes is in the log byte for byte, or refused as the
	// first run's was.
	check := &replayCheck{t: t, l: l, byCmd: map[string][]string{}, seedNote: fmt.Sprintf("seed %d", seed)}
	decisions := 0
	for _, e := range l.events {
		if e.Actor == Actor {
			b, _ := reg.Encode(e)
			check.byCmd[e.CommandID] = append(check.byCmd[e.CommandID], string(b))
		}
	}
	decisions = len(check.byCmd)
	replay, err := NewLoop(LoopConfig{Partition: "d", Registry: reg, Appender: check})
	if err != nil {
		t.Fatal(err)
	}
	n := len(l.events)
	for pos := 0; pos < n; pos++ {
		ev := l.events[pos]
		if err := replay.Handle(context.Background(), int64(pos+1), &ev); err != nil {
			t.Fatal(err)
		}
	}
	if check.matched != decisions || len(l.events) != n || l.stale == 0 {
		t.Fatalf("seed %d: the replay matched %d of %d decisions in the log, wrote %d events; %d refusals in the first run",
			seed, check.matched, decisions, len(l.events)-n, l.stale)
	}
	if a, b := coreState(lp.Core()), coreState(replay.Core()); a != b {
		t.Fatalf("seed %d: replayed core differs from the live one", seed)
	}
}

func TestRestartMidStreamLosesAndRepeatsNothing(t *testing.T) {
	t.Parallel()
	for s := uint64(1); s <= uint64(raceScaled(10)); s++ {
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
		feed(t, replay, l, 0)
		if l.appends != appends {
			t.Fatalf("seed %d: a full replay appended %d more commands", s, l.appends-appends)
		}
		// A replay that knows the recorded decisions writes none of them again, and
		// ends in the same state.
		recorded := map[string]string{}
		byCmd := map[string][]domain.Event{}
		for _, e := range l.events {
			if e.Actor == Actor {
				byCmd[e.CommandID] = append(byCmd[e.CommandID], e)
			}
		}
		for cmd, evs := range byCmd {
			recorded[cmd], _ = Digest(reg, evs)
		}
		known := len(recorded)
		quick, err := NewLoop(LoopConfig{Partition: "d", Registry: reg, Appender: l, Recorded: recorded, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		l.attempted = map[string]bool{}
		feed(t, quick, l, 0)
		if l.appends != appends || len(recorded) != 0 {
			t.Fatalf("seed %d: a replay with the recorded decisions appended %d and left %d of %d unmatched", s, l.appends-appends, len(recorded), known)
		}
		for cmd := range l.attempted {
			if byCmd[cmd] != nil {
				t.Fatalf("seed %d: recorded decision %s was sent to the log again", s, cmd)
			}
		}
		if a, b := coreState(lp.Core()), coreState(quick.Core()); a != b {
			t.Fatalf("seed %d: the replay with recorded decisions ends elsewhere", s)
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
	at := func(minutes int) time.Time { return t0.Add(time.Duration(minutes) * time.Minute) }
	ev := func(id string, v int64, minute int, p domain.Payload) domain.Event {
		typ := domain.AggregateNeed
		if _, ok := p.(domain.OfferPosted); ok {
			typ = domain.AggregateOffer
		}
		return domain.Event{ID: "e-" + id + fmt.Sprint(v), Type: p.EventType(), AggregateType: typ, AggregateID: id, AggregateVersion: v, Partition: "d", Time: at(minute), Payload: p}
	}
	needOf := func(com, street string, hardship int) domain.NeedRegistered {
		return domain.NeedRegistered{Community: com, Street: street, Category: "counselling", Urgency: domain.UrgencyNormal, Hardship: hardship}
	}
	offerOf := func(tier int, area string, capacity int) domain.OfferPosted {
		return domain.OfferPosted{Scope: domain.Scope{Tier: tier, Area: area}, Category: "counselling", Capacity: capacity, ValidFrom: t0}
	}
	m.policy = domain.Policy{Deadlines: domain.Deadlines{Community: domain.Duration(48 * time.Hour), Street: domain.Duration(72 * time.Hour), District: domain.Duration(120 * time.Hour)},
		UrgencyPoints: map[domain.Urgency]int{domain.UrgencyNormal: 10}, AgingPointsPerDay: 1}

	// No supply anywhere: the need climbs to the district and waits.
	ds := m.Apply(ev("n1", 1, 1, needOf("c1", "s1", 30)))
	if len(ds) != 1 || !ds[0].Waitlist || len(ds[0].Escalations) != 2 || ds[0].Escalations[1].Reason != domain.EscalatedNoSupply {
		t.Fatalf("no supply: %+v", ds)
	}
	// A harder case waits too, and is served first when a street offer appears,
	// at its own tier (the district): tiers never go down.
	m.Apply(ev("n2", 1, 2, needOf("c2", "s1", 90)))
	ds = m.Apply(ev("o1", 1, 3, offerOf(domain.TierStreet, "s1", 1)))
	if len(ds) != 1 || ds[0].NeedID != "n2" || ds[0].Tier != domain.TierDistrict || ds[0].Rule != RuleWaitingByPriority {
		t.Fatalf("supply to the waitlist: %+v", ds)
	}
	if !ds[0].Deadline.Equal(at(3).Add(120 * time.Hour)) {
		t.Fatalf("deadline %v", ds[0].Deadline)
	}
	// Ranking: of two community offers, the one ending first; of two with no end,
	// the one with more free units.
	m.Apply(ev("o2", 1, 4, offerOf(domain.TierCommunity, "c3", 1)))
	o3 := offerOf(domain.TierCommunity, "c3", 5)
	m.Apply(ev("o3", 1, 5, o3))
	ends := offerOf(domain.TierCommunity, "c3", 1)
	ends.ValidUntil = at(1000)
	m.Apply(ev("o4", 1, 6, ends))
	ds = m.Apply(ev("n3", 1, 7, needOf("c3", "s2", 0)))
	if len(ds) != 1 || ds[0].OfferID != "o4" || ds[0].Tier != domain.TierCommunity || ds[0].Candidates != 3 || ds[0].Considered[1] != "o3" {
		t.Fatalf("ranking: %+v", ds)
	}
	ds = m.Apply(ev("n4", 1, 8, needOf("c3", "s2", 0)))
	if ds[0].OfferID != "o3" {
		t.Fatalf("most free units first: %+v", ds)
	}
	// A refused decision frees its unit; the need is matched again at the offer's
	// next event, at the offer's new version.
	m.takeBackAndPark(ds[0])
	if m.Waiting() != 2 || m.offers["o3"].Free != 5 {
		t.Fatalf("after revert %d waiting and %d free", m.Waiting(), m.offers["o3"].Free)
	}
	bump := ev("o3", 2, 9, noiseEvent{})
	bump.AggregateType = domain.AggregateOffer
	again := m.Apply(bump)
	if len(again) != 1 || again[0].NeedID != "n4" || again[0].OfferVersion != 2 {
		t.Fatalf("after the offer's next event: %+v", again)
	}
}

// coreState renders a core's state in a canonical form.
func coreState(m *Matcher) string {
	var out []string
	for id, n := range m.needs {
		out = append(out, fmt.Sprintf("need %s v%d state=%d tier=%d ref=%s att=%d parked=%v", id, n.version, n.state, n.tier, n.referral, n.attempts, n.parked))
	}
	for id, o := range m.offers {
		out = append(out, fmt.Sprintf("offer %s v%d free=%d active=%v", id, o.version, o.Free, o.active))
	}
	for s, t := range m.waits {
		ids := ""
		t.Ascend(func(n *need) bool { ids += n.id + ","; return true })
		out = append(out, fmt.Sprintf("waiting %v %s", s, ids))
	}
	for ref, ps := range m.parked {
		for _, p := range ps {
			out = append(out, fmt.Sprintf("parked %s %s@%d %v", ref, p.need.id, p.expected, p.current()))
		}
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}
