package matching

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/projections"
)

// interleavings is how many seeds TestRandomInterleavings plays: 12 by default,
// 3 with -short or under the race detector, more for a longer search (-interleavings=400 runs in about two
// minutes).
var interleavings = flag.Int("interleavings", 0, "seeds played by TestRandomInterleavings (0: 12, or 3 with -short or -race)")

// world is a district driven by people's commands, each decided by the domain on
// the log's present state as the API decides it: households registering needs,
// providers posting, resizing and withdrawing offers, centres answering, services
// started and completed, needs withdrawn, clock ticks.
type world struct {
	rng        *rand.Rand
	l          *memLog
	ref        *domain.Reference
	now        time.Time
	n          int // commands issued
	folded     int // log entries folded into the state below
	needs      map[string]domain.Need
	offers     map[string]domain.Offer
	households map[string]domain.Household
}

func newWorld(t *testing.T, seed uint64) *world {
	t.Helper()
	w := &world{rng: rand.New(rand.NewPCG(seed, 11)), l: newMemLog(), now: t0,
		needs: map[string]domain.Need{}, offers: map[string]domain.Offer{}, households: map[string]domain.Household{}}
	pub := testReference(w.rng)
	ref, err := pub.Reference()
	if err != nil {
		t.Fatal(err)
	}
	w.ref = ref
	w.do([]domain.Change{{Aggregate: domain.AggregateRef{Type: domain.AggregateReference, ID: "d"}, Payloads: []domain.Payload{pub}}})
	return w
}

// sync folds the log's new entries into the world's state.
func (w *world) sync() {
	for ; w.folded < len(w.l.events); w.folded++ {
		e := w.l.events[w.folded]
		switch e.AggregateType {
		case domain.AggregateNeed:
			w.needs[e.AggregateID] = w.needs[e.AggregateID].Evolve(e)
		case domain.AggregateOffer:
			w.offers[e.AggregateID] = w.offers[e.AggregateID].Evolve(e)
		case domain.AggregateHousehold:
			w.households[e.AggregateID] = w.households[e.AggregateID].Evolve(e)
		}
	}
}

// do appends one command's events at the world's present time. (It may run in a
// loop's append goroutine, where a test cannot fail: a command refused is a bug of
// the test, and panics.)
func (w *world) do(changes []domain.Change) {
	w.n++
	evs, err := reg.Envelop(changes, domain.Meta{Partition: "d", Time: w.now, Actor: "test", CommandID: fmt.Sprintf("cmd%d", w.n)},
		func() string { return fmt.Sprintf("e%d-%d", w.n, w.rng.IntN(1<<30)) })
	if err == nil {
		err = w.l.appendOne(evs)
	}
	if err != nil {
		panic(fmt.Sprintf("command %d, decided on the log's present state, refused: %v", w.n, err))
	}
	w.sync()
}

// ids returns the sorted ids of a map's values that ok picks.
func ids[V any](m map[string]V, ok func(V) bool) []string {
	var out []string
	for id, v := range m {
		if ok(v) {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

func (w *world) pickNeed(ok func(domain.Need) bool) (domain.Need, bool) {
	c := ids(w.needs, ok)
	if len(c) == 0 {
		return domain.Need{}, false
	}
	return w.needs[c[w.rng.IntN(len(c))]], true
}

func (w *world) pickOffer(ok func(domain.Offer) bool) (domain.Offer, bool) {
	c := ids(w.offers, ok)
	if len(c) == 0 {
		return domain.Offer{}, false
	}
	return w.offers[c[w.rng.IntN(len(c))]], true
}

func (w *world) household(id string) domain.Household { return w.households[id] }

func isStatus(st ...domain.NeedStatus) func(domain.Need) bool {
	return func(n domain.Need) bool { return slices.Contains(st, n.Status) }
}

// step issues one random command that the log's present state allows (drawing
// again until one does), and moves the clock a little.
func (w *world) step() {
	w.sync()
	for {
		w.now = w.now.Add(time.Duration(1+w.rng.IntN(4)) * time.Minute)
		if changes := w.draw(); len(changes) > 0 {
			w.do(changes)
			return
		}
	}
}

// draw decides one random command, or returns nothing if the state refuses it.
func (w *world) draw() []domain.Change {
	cat := genCategories[w.rng.IntN(len(genCategories))]
	com := genCommunities[w.rng.IntN(len(genCommunities))]
	var changes []domain.Change
	switch r := w.rng.IntN(100); {
	case r < 16: // a household registers with one or two needs
		specs := []domain.NeedSpec{{NeedID: fmt.Sprintf("n%d", w.n+1), Category: cat, Urgency: []domain.Urgency{domain.UrgencyLow, domain.UrgencyNormal, domain.UrgencyHigh, domain.UrgencyCritical}[w.rng.IntN(4)]}}
		if other := genCategories[w.rng.IntN(len(genCategories))]; other != cat && w.rng.IntN(3) == 0 {
			specs = append(specs, domain.NeedSpec{NeedID: fmt.Sprintf("n%d-2", w.n+1), Category: other})
		}
		var groups []domain.TargetGroup
		for _, g := range genGroups {
			if w.rng.IntN(3) == 0 {
				groups = append(groups, g)
			}
		}
		changes, _ = domain.DecideRegisterHousehold(domain.Household{}, domain.RegisterHousehold{HouseholdID: fmt.Sprintf("h%d", w.n+1), Community: com,
			TargetGroups: groups, Assessment: domain.Assessment{domain.DimIncome: w.rng.IntN(5)}, Needs: specs}, w.ref)
	case r < 22: // a known household opens another need
		hs := ids(w.households, func(domain.Household) bool { return true })
		if len(hs) > 0 {
			h := w.households[hs[w.rng.IntN(len(hs))]]
			changes, _ = domain.DecideRegisterNeeds(h, domain.RegisterNeeds{HouseholdID: h.ID,
				Needs: []domain.NeedSpec{{NeedID: fmt.Sprintf("n%d", w.n+1), Category: cat, Urgency: domain.UrgencyCritical}}}, w.ref)
		}
	case r < 36: // a provider posts an offer, at any tier, sometimes with conditions or dates
		scope := domain.Scope{Tier: domain.TierCommunity, Area: com}
		switch w.rng.IntN(5) {
		case 0, 1:
			scope = domain.Scope{Tier: domain.TierStreet, Area: genStreet[com]}
		case 2:
			scope = domain.Scope{Tier: domain.TierDistrict, Area: "d"}
		}
		var elig domain.Eligibility
		switch w.rng.IntN(6) {
		case 0:
			elig.TargetGroups = []domain.TargetGroup{genGroups[w.rng.IntN(2)]}
		case 1:
			elig.LocalResidentsOnly = true
		}
		from, until := t0, time.Time{}
		if w.rng.IntN(5) == 0 {
			from = w.now.Add(time.Duration(1+w.rng.IntN(60)) * time.Minute)
		}
		if w.rng.IntN(4) == 0 {
			until = from.Add(time.Duration(30+w.rng.IntN(300)) * time.Minute)
		}
		changes, _ = domain.DecidePostOffer(domain.Offer{}, domain.PostOffer{OfferID: fmt.Sprintf("o%d", w.n+1), Provider: "p", Category: cat,
			Capacity: 1 + w.rng.IntN(3), Scope: scope, Eligibility: elig, ValidFrom: from, ValidUntil: until}, w.ref)
	case r < 46: // capacity raised or lowered (never below what is committed)
		if o, ok := w.pickOffer(func(o domain.Offer) bool { return o.Status == domain.OfferActive }); ok {
			c := o.Capacity + 1 + w.rng.IntN(2)
			if w.rng.IntN(2) == 0 {
				c = max(1, o.Committed, o.Capacity-1-w.rng.IntN(2))
			}
			changes, _ = domain.DecideChangeCapacity(o, c)
		}
	case r < 50: // an offer withdrawn
		if o, ok := w.pickOffer(func(o domain.Offer) bool { return o.Status == domain.OfferActive }); ok {
			changes, _ = domain.DecideWithdrawOffer(o)
		}
	case r < 68: // a centre answers a proposal: accept, decline or escalate
		if n, ok := w.pickNeed(isStatus(domain.StatusProposed)); ok {
			a := domain.Answer{ReferralID: n.ReferralID, Kind: domain.AnswerAccept}
			switch w.rng.IntN(5) {
			case 0, 1:
				a.Kind, a.Reason = domain.AnswerDecline, domain.DeclineNotSuitable
			case 2:
				a.Kind = domain.AnswerEscalate
			}
			changes, _ = domain.DecideAnswer(n, w.offers[n.OfferID], a, w.now)
		}
	case r < 76: // a provider starts or completes a service
		if n, ok := w.pickNeed(isStatus(domain.StatusAccepted, domain.StatusInService)); ok {
			if n.Status == domain.StatusAccepted {
				changes, _ = domain.DecideStartService(n, n.ReferralID)
			} else {
				changes, _ = domain.DecideCompleteService(n, w.household(n.HouseholdID), n.ReferralID)
			}
		}
	case r < 88: // a need withdrawn, mostly a waiting one
		st := isStatus(domain.StatusWaitlisted, domain.StatusHeld)
		if w.rng.IntN(3) == 0 {
			st = isStatus(domain.StatusOpen, domain.StatusWaitlisted, domain.StatusHeld, domain.StatusProposed, domain.StatusAccepted)
		}
		if n, ok := w.pickNeed(st); ok {
			changes, _ = domain.DecideWithdrawNeed(n, w.offers[n.OfferID], w.household(n.HouseholdID), "")
		}
	default: // the clock ticks, sometimes far enough to expire proposals and offers
		if w.rng.IntN(3) == 0 {
			w.now = w.now.Add(time.Duration(20+w.rng.IntN(90)) * time.Minute)
		}
		clock := domain.AggregateRef{Type: domain.AggregateClock, ID: "d"}
		changes = []domain.Change{{Aggregate: clock, ExpectedVersion: w.l.versions[clock], Payloads: []domain.Payload{domain.ClockTicked{}}}}
	}
	return changes
}

// racing is the loop's appender: before some of the matcher's appends, a person's
// command gets into the log first (decided on the log as it is then), so that the
// decisions it makes stale are refused, as they are when people and the matcher
// write at once.
type racing struct {
	w     *world
	oneIn int
}

func (r *racing) Append(ctx context.Context, cmds []domain.Command) ([]error, error) {
	if r.oneIn > 0 && r.w.rng.IntN(r.oneIn) == 0 {
		r.w.step()
	}
	return r.w.l.Append(ctx, cmds)
}

// views is an in-memory projections.Store, with the same at-most-once commit rule
// as the Redis one.
type views struct {
	cp      map[string]int64
	docs    map[string][]byte
	written []projections.Doc // by the last commit
}

func (v *views) Checkpoint(_ context.Context, name string) (int64, error) { return v.cp[name], nil }
func (v *views) Get(_ context.Context, model, id string) ([]byte, bool, error) {
	b, ok := v.docs[model+"/"+id]
	return b, ok, nil
}
func (v *views) GetMany(_ context.Context, model string, ids []string) ([][]byte, error) {
	out := make([][]byte, len(ids))
	for i, id := range ids {
		out[i] = v.docs[model+"/"+id]
	}
	return out, nil
}

// IndexMembers lists no member: these views keep no indexes (projections.IndexReader).
func (v *views) IndexMembers(context.Context, string) ([]string, error) { return nil, nil }
func (v *views) Commit(_ context.Context, name string, pos int64, ch projections.Changes) error {
	if pos <= v.cp[name] {
		return nil
	}
	for _, d := range ch.Docs {
		v.docs[d.Model+"/"+d.ID] = d.Body
	}
	v.written = ch.Docs
	v.cp[name] = pos
	return nil
}

// checker folds the log with the domain's aggregates, independently of the
// matcher, applies it to the read models, and checks the invariants.
type checker struct {
	t          *testing.T
	seed       uint64
	l          *memLog
	pos        int // entries checked
	needs      map[string]domain.Need
	regs       map[string]domain.NeedRegistered
	offers     map[string]domain.Offer
	postedBy   map[string]time.Time // the latest event time when each offer was posted
	households map[string]domain.Household
	live       map[string]map[string]bool // need → referrals holding a unit of an offer
	heldUntil  map[string]time.Time       // need → the round it was last held for
	latest     time.Time                  // the latest event time read
	lastTick   time.Time
	cases      *projections.Cases
	store      *views
}

func newChecker(t *testing.T, seed uint64, l *memLog) *checker {
	st := &views{cp: map[string]int64{}, docs: map[string][]byte{}}
	cases, err := projections.NewCases(st, "d")
	if err != nil {
		t.Fatal(err)
	}
	return &checker{t: t, seed: seed, l: l, needs: map[string]domain.Need{}, regs: map[string]domain.NeedRegistered{},
		offers: map[string]domain.Offer{}, postedBy: map[string]time.Time{},
		households: map[string]domain.Household{}, live: map[string]map[string]bool{}, heldUntil: map[string]time.Time{}, cases: cases, store: st}
}

// fail reports a broken invariant with the seed, the story of the needs and
// offers it names (their entries) and the log's last entries.
func (c *checker) fail(related []string, format string, args ...any) {
	c.t.Helper()
	line := func(b *strings.Builder, i int) {
		e := c.l.events[i]
		fmt.Fprintf(b, "\n  %4d %-26s %s/%s v%d by %s %s", i+1, e.Type, e.AggregateType, e.AggregateID, e.AggregateVersion, e.Actor, payloadText(e.Payload))
	}
	var story, last strings.Builder
	for i := range c.pos {
		e := c.l.events[i]
		if slices.ContainsFunc(related, func(id string) bool {
			return e.AggregateID == id || strings.Contains(payloadText(e.Payload), `"`+id+`"`)
		}) {
			line(&story, i)
		}
	}
	for i := max(0, c.pos-20); i < c.pos; i++ {
		line(&last, i)
	}
	c.t.Fatalf("seed %d, after entry %d: %s\nthe entries of %v:%s\nthe log's last entries:%s",
		c.seed, c.pos, fmt.Sprintf(format, args...), related, story.String(), last.String())
}

func payloadText(p domain.Payload) string {
	b, _ := json.Marshal(p)
	if len(b) > 160 {
		b = append(b[:160], "..."...)
	}
	return string(b)
}

// advance checks every entry appended since the last call: committed units within
// capacity, at most one live referral per need, tiers that never go down, and
// every read model at its aggregate's version.
func (c *checker) advance() {
	c.t.Helper()
	for c.pos < len(c.l.events) {
		e := c.l.events[c.pos]
		c.pos++
		if e.Time.After(c.latest) {
			c.latest = e.Time
		}
		switch p := e.Payload.(type) {
		case domain.ClockTicked:
			c.lastTick = e.Time
		case domain.NeedRegistered:
			c.regs[e.AggregateID] = p
		case domain.NeedHeld:
			c.heldUntil[e.AggregateID] = p.Until
		case domain.OfferPosted:
			c.postedBy[e.AggregateID] = c.latest
		case domain.OfferUnitReserved:
			if c.live[p.NeedID] == nil {
				c.live[p.NeedID] = map[string]bool{}
			}
			c.live[p.NeedID][p.ReferralID] = true
		case domain.OfferUnitReleased:
			delete(c.live[p.NeedID], p.ReferralID)
		case domain.ServiceCompleted:
			delete(c.live[e.AggregateID], p.ReferralID) // its unit stays committed, the referral is over
		}
		var version int64
		var model string
		switch e.AggregateType {
		case domain.AggregateNeed:
			before := c.needs[e.AggregateID]
			after := before.Evolve(e)
			if after.Tier < before.Tier {
				c.fail([]string{e.AggregateID}, "need %s went down from tier %d to %d", e.AggregateID, before.Tier, after.Tier)
			}
			if _, ok := e.Payload.(domain.ReferralProposed); ok && before.Status != domain.StatusOpen && before.Status != domain.StatusWaitlisted && before.Status != domain.StatusHeld {
				c.fail([]string{e.AggregateID}, "need %s proposed a second referral while %s", e.AggregateID, before.Status)
			}
			c.needs[e.AggregateID] = after
			version, model = after.Version, projections.NeedsModel
		case domain.AggregateOffer:
			o := c.offers[e.AggregateID].Evolve(e)
			if o.Committed > o.Capacity || o.Committed < 0 {
				c.fail([]string{o.ID}, "offer %s has %d committed of %d", o.ID, o.Committed, o.Capacity)
			}
			c.offers[e.AggregateID] = o
			version, model = o.Version, projections.OffersModel
		case domain.AggregateHousehold:
			h := c.households[e.AggregateID].Evolve(e)
			c.households[e.AggregateID] = h
			version, model = h.Version, projections.HouseholdsModel
		}
		for need, refs := range c.live {
			if len(refs) > 1 {
				c.fail([]string{need}, "need %s has %d live referrals: %v", need, len(refs), refs)
			}
		}
		ev := e
		if err := c.cases.Handle(context.Background(), int64(c.pos), &ev); err != nil {
			c.fail(nil, "projection: %v", err)
		}
		if model != "" {
			c.checkView(model, e.AggregateID, version)
		}
		c.checkWritten()
	}
}

// checkView checks that a read model's document is at its aggregate's version.
func (c *checker) checkView(model, id string, version int64) {
	c.t.Helper()
	var view struct {
		Version int64 `json:"version"`
	}
	b, ok, _ := c.store.Get(context.Background(), model, id)
	if !ok || json.Unmarshal(b, &view) != nil || view.Version != version {
		c.fail([]string{id}, "read model %s/%s is at version %d (found %v), its aggregate at %d", model, id, view.Version, ok, version)
	}
}

// checkWritten checks every versioned read model's document the last commit wrote
// against its aggregate: an event of one aggregate may write another's view (a
// service started marks its household helped, moves its offer's units), and none
// may move it off its aggregate's version.
func (c *checker) checkWritten() {
	c.t.Helper()
	for _, d := range c.store.written {
		switch d.Model {
		case projections.NeedsModel:
			c.checkView(d.Model, d.ID, c.needs[d.ID].Version)
		case projections.OffersModel:
			c.checkView(d.Model, d.ID, c.offers[d.ID].Version)
		case projections.HouseholdsModel:
			c.checkView(d.Model, d.ID, c.households[d.ID].Version)
		}
	}
}

// fitting returns the offers that could be proposed to a need now under DESIGN's
// matching rule 1, at the need's tier or above (at the district, the last tier,
// every offer whose scope covers the household): active, of its category, scoped to
// one of its areas, with a free unit, valid now and open to the waitlist (started
// when posted or at a clock tick since), admitting its household, not declined for it.
func (c *checker) fitting(n domain.Need) []string {
	r := c.regs[n.ID]
	areas := [4]string{"", r.Community, r.Street, "d"}
	var out []string
	for _, id := range ids(c.offers, func(domain.Offer) bool { return true }) {
		o := c.offers[id]
		started := !o.ValidFrom.After(c.postedBy[id]) || (!c.lastTick.IsZero() && !o.ValidFrom.After(c.lastTick))
		valid := !c.latest.Before(o.ValidFrom) && (o.ValidUntil.IsZero() || c.latest.Before(o.ValidUntil))
		if o.Status == domain.OfferActive && o.Free() > 0 && o.Category == r.Category && o.Scope.Tier >= domain.TierCommunity &&
			o.Scope.Tier <= domain.TierDistrict && o.Scope.Area == areas[o.Scope.Tier] && started && valid &&
			o.Eligibility.Admits(r.TargetGroups) && !slices.Contains(n.Declined, id) {
			out = append(out, id)
		}
	}
	return out
}

// settled checks the matcher's own invariant once it has answered every entry: no
// waitlisted need, and no need escalated and not yet proposed, fits a free unit
// that could be proposed to it now.
func (c *checker) settled() (waiting int) {
	c.t.Helper()
	c.advance()
	for _, id := range ids(c.needs, func(domain.Need) bool { return true }) {
		n := c.needs[id]
		switch n.Status {
		case domain.StatusHeld:
			// Held beside free supply until its round is due (allocation rules), then decided.
			if !c.heldUntil[id].After(c.lastTick) {
				c.fail([]string{id}, "need %s is still held for a round due at %v (last tick %v)", id, c.heldUntil[id], c.lastTick)
			}
			waiting++
		case domain.StatusWaitlisted, domain.StatusOpen:
			if f := c.fitting(n); len(f) > 0 {
				c.fail(append([]string{id}, f...), "need %s is %s at tier %d beside free supply it fits: %v (free %d)", id, n.Status, n.Tier, f, c.offers[f[0]].Free())
			}
			if n.Status == domain.StatusOpen {
				c.fail([]string{id}, "need %s is left open at tier %d", id, n.Tier)
			}
			waiting++
		}
	}
	return waiting
}

// feedAll hands the loop every entry it has not read, in short runs (so that each
// run's appends are waited for), until the log stops growing.
func feedAll(t *testing.T, lp *Loop, l *memLog, rng *rand.Rand, fed int) int {
	t.Helper()
	for {
		if fed >= len(l.events) {
			if err := lp.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			if fed >= len(l.events) {
				return fed
			}
		}
		end := min(len(l.events), fed+1+rng.IntN(6))
		run := make([]domain.Entry, 0, end-fed)
		for i := fed; i < end; i++ {
			ev := l.events[i]
			run = append(run, domain.Entry{Position: int64(i + 1), Event: &ev})
		}
		if err := lp.HandleBatch(context.Background(), run); err != nil {
			t.Fatal(err)
		}
		fed = end
	}
}

// playInterleaving plays one seed: random commands, some of them racing the
// matcher's appends, the matcher's decisions fed back into the log as the loop
// appends them, and the invariants checked after every entry; the matcher's own
// invariant once it has answered each command. It returns what the run made.
func playInterleaving(t *testing.T, seed uint64, commands int) (waiting, refused, proposed int, l *memLog) {
	w := newWorld(t, seed)
	lp, err := NewLoop(LoopConfig{Partition: "d", Registry: reg, Appender: &racing{w: w, oneIn: 2 + int(seed%3)},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	c := newChecker(t, seed, w.l)
	cuts := rand.New(rand.NewPCG(seed, 12))
	fed := 0
	for i := 0; i < commands; i++ {
		w.step()
		fed = feedAll(t, lp, w.l, cuts, fed)
		waiting += c.settled()
	}
	for _, e := range w.l.events {
		switch p := e.Payload.(type) {
		case domain.ReferralProposed:
			proposed++
			if p.Rule == RuleRound {
				w.l.rounds++
			}
		case domain.NeedHeld:
			w.l.held++
		}
	}
	// A fresh matcher replaying the whole log appends nothing new: what it decides
	// is in the log already, or refused as the first run's was.
	appends := w.l.appends
	replay := newLoop(t, w.l)
	feed(t, replay, w.l, 0)
	if w.l.appends != appends {
		t.Fatalf("seed %d: a replay of the log appended %d more commands", seed, w.l.appends-appends)
	}
	return waiting, w.l.stale, proposed, w.l
}

// TestRandomInterleavings plays random interleavings of people's commands and the
// matcher's decisions (fixed seeds; more with -interleavings=N) and checks, after
// every log entry: committed units never above capacity, at most one live
// referral per need, tiers never going down, every read model at its aggregate's
// version; and, once the matcher has answered, that no waiting need fits a free
// unit it could be proposed now, by a check that folds the log with the domain's
// own aggregates, not the matcher's state.
func TestRandomInterleavings(t *testing.T) {
	t.Parallel()
	seeds := *interleavings
	if seeds == 0 {
		seeds = raceScaled(12) // 3 under the race detector: see raceScaled
		if testing.Short() {
			seeds = 3
		}
	}
	var waiting, refused, proposed, held, rounds int
	for seed := uint64(1); seed <= uint64(seeds); seed++ {
		w, r, p, l := playInterleaving(t, seed, 400)
		waiting, refused, proposed, held, rounds = waiting+w, refused+r, proposed+p, held+l.held, rounds+l.rounds
	}
	if waiting == 0 || refused == 0 || proposed == 0 || held == 0 || rounds == 0 {
		t.Fatalf("%d needs seen waiting, %d refused appends, %d proposals, %d needs held, %d proposals of a round: the generator should make all five",
			waiting, refused, proposed, held, rounds)
	}
}

// TestWithdrawnNeedLeavesNoWaitingNeedBesideFreeSupply is issue 11's sequence: two
// waitlisted needs of one street; an offer of two units is posted, and the first
// need is withdrawn before the matcher's proposals to both reach the log. Both
// proposals are refused; the second need is matched again without the offer (its
// unit was uncertain then) and must get it once the withdrawal is read, not wait
// for the offer's next event, which may never come.
func TestWithdrawnNeedLeavesNoWaitingNeedBesideFreeSupply(t *testing.T) {
	w := newWorld(t, 1)
	lp := newLoop(t, w.l)
	c := newChecker(t, 0, w.l)
	register := func(id string, u domain.Urgency) {
		w.now = w.now.Add(time.Minute)
		changes, err := domain.DecideRegisterHousehold(domain.Household{}, domain.RegisterHousehold{HouseholdID: "h-" + id, Community: "c1",
			Needs: []domain.NeedSpec{{NeedID: id, Category: "respite_care", Urgency: u}}}, w.ref)
		if err != nil {
			t.Fatal(err)
		}
		w.do(changes)
	}
	register("n1", domain.UrgencyCritical)
	register("n2", domain.UrgencyLow)
	fed := feedAll(t, lp, w.l, rand.New(rand.NewPCG(1, 1)), 0)
	w.sync()
	if w.needs["n1"].Status != domain.StatusWaitlisted || w.needs["n2"].Status != domain.StatusWaitlisted {
		t.Fatalf("both needs should wait: %+v %+v", w.needs["n1"], w.needs["n2"])
	}
	w.now = w.now.Add(time.Minute)
	posted, err := domain.DecidePostOffer(domain.Offer{}, domain.PostOffer{OfferID: "o", Provider: "p", Category: "respite_care", Capacity: 2,
		Scope: domain.Scope{Tier: domain.TierStreet, Area: "s1"}, ValidFrom: t0}, w.ref)
	if err != nil {
		t.Fatal(err)
	}
	w.do(posted)
	withdrawn, err := domain.DecideWithdrawNeed(w.needs["n1"], domain.Offer{}, w.households["h-n1"], "")
	if err != nil {
		t.Fatal(err)
	}
	w.do(withdrawn)
	// The loop reads the posting, the withdrawal and the household's need_closed in
	// one run: its proposals (made on the posting) expect n1 as it was before.
	var run []domain.Entry
	for i := fed; i < len(w.l.events); i++ {
		ev := w.l.events[i]
		run = append(run, domain.Entry{Position: int64(i + 1), Event: &ev})
	}
	if err := lp.HandleBatch(context.Background(), run); err != nil {
		t.Fatal(err)
	}
	feedAll(t, lp, w.l, rand.New(rand.NewPCG(1, 1)), len(w.l.events))
	w.sync()
	c.settled()
	if n2 := w.needs["n2"]; n2.Status != domain.StatusProposed || n2.OfferID != "o" {
		t.Fatalf("n2 is %s (offer %q), want proposed offer o", n2.Status, n2.OfferID)
	}
	for _, e := range w.l.events {
		if _, ok := e.Payload.(domain.ReferralProposed); ok && e.AggregateID == "n1" {
			t.Fatal("n1 was proposed: the test does not play the race")
		}
	}
	// A replay of the log decides the same and appends nothing.
	appends := w.l.appends
	feed(t, newLoop(t, w.l), w.l, 0)
	if w.l.appends != appends {
		t.Fatalf("a replay appended %d more commands", w.l.appends-appends)
	}
	// A log written before the fix ends at n2's second waitlisting, with o free: a
	// restarted matcher, which knows the decisions recorded there, proposes o to n2.
	old := newMemLog()
	recorded := map[string][]domain.Event{}
	for i := 0; i < len(w.l.events); {
		cmd := w.l.events[i].CommandID
		j := i
		for j < len(w.l.events) && w.l.events[j].CommandID == cmd {
			j++
		}
		if _, ok := w.l.events[i].Payload.(domain.ReferralProposed); ok && w.l.events[i].AggregateID == "n2" {
			break
		}
		if err := old.appendOne(w.l.events[i:j]); err != nil {
			t.Fatal(err)
		}
		if w.l.events[i].Actor == Actor {
			recorded[cmd] = w.l.events[i:j]
		}
		i = j
	}
	digests := map[string]string{}
	for cmd, evs := range recorded {
		digests[cmd], _ = Digest(reg, evs)
	}
	restarted, err := NewLoop(LoopConfig{Partition: "d", Registry: reg, Appender: old, Recorded: digests, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	feed(t, restarted, old, 0)
	if n2 := old.needs["n2"]; n2.Status != domain.StatusProposed || n2.OfferID != "o" || len(digests) != 0 {
		t.Fatalf("after a restart on the log written before the fix, n2 is %s (offer %q); %d recorded decisions not made again",
			n2.Status, n2.OfferID, len(digests))
	}
}
