package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tierlink/tierlink/domain"
)

// memStore is a Store in memory with the same at-most-once commit rule.
type memStore struct {
	cp       map[string]int64
	docs     map[string][]byte
	indexes  map[string]map[string]float64
	counters map[string]map[string]int64
	commits  int
}

func newMemStore() *memStore {
	return &memStore{cp: map[string]int64{}, docs: map[string][]byte{}, indexes: map[string]map[string]float64{}, counters: map[string]map[string]int64{}}
}

func (m *memStore) Checkpoint(_ context.Context, name string) (int64, error) {
	return m.cp[name], nil
}
func (m *memStore) Get(_ context.Context, model, id string) ([]byte, bool, error) {
	b, ok := m.docs[model+"/"+id]
	return b, ok, nil
}
func (m *memStore) GetMany(_ context.Context, model string, ids []string) ([][]byte, error) {
	out := make([][]byte, len(ids))
	for i, id := range ids {
		out[i] = m.docs[model+"/"+id]
	}
	return out, nil
}
func (m *memStore) Commit(_ context.Context, name string, pos int64, ch Changes) error {
	if pos <= m.cp[name] {
		return nil
	}
	m.commits++
	for _, d := range ch.Docs {
		m.docs[d.Model+"/"+d.ID] = d.Body
	}
	for _, ix := range ch.Indexes {
		if m.indexes[ix.Index] == nil {
			m.indexes[ix.Index] = map[string]float64{}
		}
		if ix.Remove {
			delete(m.indexes[ix.Index], ix.Member)
		} else {
			m.indexes[ix.Index][ix.Member] = ix.Score
		}
	}
	for _, c := range ch.Counters {
		if m.counters[c.Counters] == nil {
			m.counters[c.Counters] = map[string]int64{}
		}
		m.counters[c.Counters][c.Field] += c.Delta
	}
	m.cp[name] = pos
	return nil
}

// dump is the store's content, in a stable order.
func (m *memStore) dump() string {
	var out []string
	for k, v := range m.docs {
		out = append(out, k+"="+string(v))
	}
	for ix, ms := range m.indexes {
		for id, s := range ms {
			out = append(out, fmt.Sprintf("%s:%s@%v", ix, id, s))
		}
	}
	for k, fs := range m.counters {
		for f, v := range fs {
			if v != 0 {
				out = append(out, fmt.Sprintf("%s#%s=%d", k, f, v))
			}
		}
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

var t0 = time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)

// story is a district's morning: a household with two needs, an offer, a proposal
// accepted, started and completed, a second proposal declined, and a need waitlisted.
func story() []domain.Event {
	var evs []domain.Event
	add := func(typ, id string, v int64, p domain.Payload) {
		evs = append(evs, domain.Event{AggregateType: typ, AggregateID: id, AggregateVersion: v, Time: t0.Add(time.Duration(len(evs)) * time.Minute), Actor: "test", Payload: p})
	}
	add(domain.AggregateHousehold, "h", 1, domain.HouseholdRegistered{Community: "c1", Street: "s1", District: "d", TargetGroups: []domain.TargetGroup{domain.GroupElderly}, Hardship: 40})
	add(domain.AggregateHousehold, "h", 2, domain.NeedsOpened{Needs: []domain.OpenedNeed{{NeedID: "n1", Category: "counselling"}, {NeedID: "n2", Category: "respite_care"}}})
	add(domain.AggregateNeed, "n1", 1, domain.NeedRegistered{HouseholdID: "h", Community: "c1", Street: "s1", Category: "counselling", Urgency: domain.UrgencyHigh, Hardship: 40})
	add(domain.AggregateNeed, "n2", 1, domain.NeedRegistered{HouseholdID: "h", Community: "c1", Street: "s1", Category: "respite_care", Urgency: domain.UrgencyNormal, Hardship: 40})
	add(domain.AggregateOffer, "o", 1, domain.OfferPosted{Provider: "p1", Category: "counselling", Capacity: 2, Scope: domain.Scope{Tier: domain.TierStreet, Area: "s1"}, District: "d"})
	add(domain.AggregateNeed, "n1", 2, domain.NeedEscalated{From: 1, To: 2, Reason: domain.EscalatedNoSupply})
	add(domain.AggregateNeed, "n1", 3, domain.ReferralProposed{ReferralID: "r1", OfferID: "o", Tier: 2, Rule: "best", Candidates: 1, Deadline: t0.Add(48 * time.Hour)})
	add(domain.AggregateOffer, "o", 2, domain.OfferUnitReserved{ReferralID: "r1", NeedID: "n1"})
	add(domain.AggregateNeed, "n2", 2, domain.NeedEscalated{From: 1, To: 2, Reason: domain.EscalatedNoSupply})
	add(domain.AggregateNeed, "n2", 3, domain.NeedEscalated{From: 2, To: 3, Reason: domain.EscalatedNoSupply})
	add(domain.AggregateNeed, "n2", 4, domain.NeedWaitlisted{Reason: domain.WaitlistedNoSupplyLeft})
	add(domain.AggregateNeed, "n1", 4, domain.ReferralAccepted{ReferralID: "r1"})
	add(domain.AggregateNeed, "n1", 5, domain.ServiceStarted{ReferralID: "r1"})
	add(domain.AggregateNeed, "n1", 6, domain.ServiceCompleted{ReferralID: "r1"})
	add(domain.AggregateNeed, "n2", 5, domain.ReferralProposed{ReferralID: "r2", OfferID: "o", Tier: 3, Rule: "waiting", Candidates: 1, Deadline: t0.Add(72 * time.Hour)})
	add(domain.AggregateOffer, "o", 3, domain.OfferUnitReserved{ReferralID: "r2", NeedID: "n2"})
	return evs
}

func read[T any](t *testing.T, st *memStore, model, id string) T {
	t.Helper()
	var v T
	b, ok := st.docs[model+"/"+id]
	if !ok {
		t.Fatalf("no %s/%s", model, id)
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestCasesProjection(t *testing.T) {
	st := newMemStore()
	c, err := NewCases(st, "d")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	evs := story()
	for i := range evs[:8] { // up to r1 reserved
		if err := c.Handle(ctx, int64(i+1), &evs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if h := read[HouseholdView](t, st, HouseholdsModel, "h"); fmt.Sprint(h.NeedIDs) != "[n1 n2]" || h.Hardship != 40 {
		t.Fatalf("household %+v", h)
	}
	if o := read[OfferView](t, st, OffersModel, "o"); o.Proposed != 1 || o.Free != 1 || o.Provider != "p1" {
		t.Fatalf("offer after a proposal %+v", o)
	}
	if _, ok := st.indexes[InboxIndex(domain.TierStreet, "s1")]["r1"]; !ok {
		t.Fatalf("r1 not in the street centre's inbox: %v", st.indexes)
	}
	if _, ok := st.indexes[ProviderIndex("p1")]["r1"]; !ok {
		t.Fatal("r1 not among the provider's referrals")
	}
	if err := c.Handle(ctx, 9, nil); err != nil { // a dead-lettered entry moves only the checkpoint
		t.Fatal(err)
	}
	for i := 9; i < len(evs); i++ {
		if err := c.Handle(ctx, int64(i+1), &evs[i]); err != nil {
			t.Fatal(err)
		}
	}
	o := read[OfferView](t, st, OffersModel, "o")
	if o.Completed != 1 || o.Proposed != 1 || o.Accepted != 0 || o.Free != 0 {
		t.Fatalf("offer at the end %+v", o)
	}
	if len(st.indexes[InboxIndex(domain.TierStreet, "s1")]) != 0 {
		t.Fatalf("an answered referral is still in the inbox: %v", st.indexes[InboxIndex(domain.TierStreet, "s1")])
	}
	if _, ok := st.indexes[InboxIndex(domain.TierDistrict, "d")]["r2"]; !ok {
		t.Fatal("r2 not in the district centre's inbox")
	}
	for _, ix := range []string{WaitlistIndex(1, "c1"), WaitlistIndex(2, "s1"), WaitlistIndex(3, "d")} {
		if len(st.indexes[ix]) != 0 {
			t.Fatalf("n2 left the waitlist but is still in %s", ix)
		}
	}
	// The event that put n2 on the waitlist put it under its three areas (seen at
	// position 11 in a store stopped there).
	part := newMemStore()
	pc, _ := NewCases(part, "d")
	for i := range evs[:11] {
		_ = pc.Handle(ctx, int64(i+1), &evs[i])
	}
	for _, ix := range []string{WaitlistIndex(1, "c1"), WaitlistIndex(2, "s1"), WaitlistIndex(3, "d")} {
		if _, ok := part.indexes[ix]["n2"]; !ok {
			t.Fatalf("waitlisted n2 not in %s", ix)
		}
	}
	// The indicators of the district, for the day of the story.
	day := st.counters[IndicatorCounters(domain.TierDistrict, "d", PeriodName(PeriodDay, t0))]
	for field, want := range map[string]int64{
		"demand|counselling": 1, "demand|respite_care": 1, "linked|counselling": 1, "linked|respite_care": 1,
		"near|counselling": 1, "near|respite_care": 0, "served|counselling": 1, "escalated_from_community|counselling": 1, // (n2's first escalation was dead-lettered above)
		"escalated_from_street|respite_care": 1, FieldHouseholds: 1, FieldHelped: 1, "link_le_5m0s|counselling": 1,
	} {
		if day[field] != want {
			t.Errorf("district indicator %s = %d, want %d (all: %v)", field, day[field], want, day)
		}
	}
	if gap := st.counters[GapCounters("d")]["s1|respite_care"]; gap != 0 {
		t.Errorf("supply gap after n2 was served from the waitlist: %d", gap)
	}
	if gap := part.counters[GapCounters("d")]["s1|respite_care"]; gap != 1 {
		t.Errorf("supply gap while n2 waits: %d", gap)
	}
	// Applying a position again changes nothing.
	before := st.dump()
	if err := c.Handle(ctx, 12, &evs[11]); err != nil || st.dump() != before {
		t.Fatalf("a redelivered position changed the read models (%v)", err)
	}
}

// TestCasesRunsGiveTheSameModels applies the story in runs cut at random: the read
// models end the same as applied one event at a time, with one commit per run.
func TestCasesRunsGiveTheSameModels(t *testing.T) {
	evs := story()
	one := newMemStore()
	c1, _ := NewCases(one, "d")
	for i := range evs {
		if err := c1.Handle(context.Background(), int64(i+1), &evs[i]); err != nil {
			t.Fatal(err)
		}
	}
	for seed := uint64(1); seed <= 50; seed++ {
		rng := rand.New(rand.NewPCG(seed, 9))
		st := newMemStore()
		c, _ := NewCases(st, "d")
		runs := 0
		for pos := 0; pos < len(evs); {
			end := min(len(evs), pos+1+rng.IntN(6))
			var run []domain.Entry
			for i := pos; i < end; i++ {
				run = append(run, domain.Entry{Position: int64(i + 1), Event: &evs[i]})
			}
			if err := c.Apply(context.Background(), run); err != nil {
				t.Fatal(err)
			}
			runs++
			pos = end
		}
		if st.dump() != one.dump() || st.commits != runs {
			t.Fatalf("seed %d: runs gave other read models (%d commits, %d runs):\n%s\nwant\n%s", seed, st.commits, runs, st.dump(), one.dump())
		}
	}
}

// A run reads back what it wrote without encoding it; what it commits is the last
// value written, encoded once; a document read under another type is decoded from
// that encoding.
func TestRunDocumentsAreEncodedOnceAtCommit(t *testing.T) {
	store := newMemStore()
	store.docs[HouseholdsModel+"/h1"] = []byte(`{"id":"h1","community":"c1","need_ids":["n0"]}`)
	tx := &tx{ctx: context.Background(), store: store, docs: map[string]*cached{}}
	var h HouseholdView
	if ok, err := tx.get(HouseholdsModel, "h1", &h); err != nil || !ok || h.Community != "c1" {
		t.Fatalf("stored document: %v %v %+v", ok, err, h)
	}
	h.NeedIDs = append(h.NeedIDs, "n1")
	if err := tx.put(HouseholdsModel, "h1", h); err != nil {
		t.Fatal(err)
	}
	var again HouseholdView
	if ok, err := tx.get(HouseholdsModel, "h1", &again); err != nil || !ok || strings.Join(again.NeedIDs, ",") != "n0,n1" {
		t.Fatalf("read back %v %v %+v", ok, err, again)
	}
	again.Helped = true
	if err := tx.put(HouseholdsModel, "h1", again); err != nil {
		t.Fatal(err)
	}
	var other struct {
		ID     string `json:"id"`
		Helped bool   `json:"helped"`
	}
	if ok, err := tx.get(HouseholdsModel, "h1", &other); err != nil || !ok || other.ID != "h1" || !other.Helped {
		t.Fatalf("read under another type: %v %v %+v", ok, err, other)
	}
	if ok, _ := tx.get(HouseholdsModel, "nobody", &other); ok {
		t.Fatal("a missing document was found")
	}
	ch, err := tx.changes()
	if err != nil || len(ch.Docs) != 1 {
		t.Fatalf("changes %+v %v", ch, err)
	}
	var committed HouseholdView
	if err := json.Unmarshal(ch.Docs[0].Body, &committed); err != nil || !committed.Helped || len(committed.NeedIDs) != 2 {
		t.Fatalf("committed %s (%v)", ch.Docs[0].Body, err)
	}
}

// unknownEvent is an event type the projection does not know (one added later).
type unknownEvent struct{}

func (unknownEvent) EventType() string { return "test.unknown" }

// TestViewVersionsFollowEveryEvent plays every event type each versioned aggregate
// can have (and one the projection does not know): after each, the view's version
// is the aggregate's, so that an ETag read from it is what If-Match expects.
func TestViewVersionsFollowEveryEvent(t *testing.T) {
	deadline := t0.Add(time.Hour)
	type step struct {
		typ, id string
		p       domain.Payload
	}
	steps := []step{
		{domain.AggregateHousehold, "h", domain.HouseholdRegistered{Community: "c1", Street: "s1", District: "d"}},
		{domain.AggregateHousehold, "h", domain.NeedsOpened{Needs: []domain.OpenedNeed{{NeedID: "n", Category: "counselling"}}}},
		{domain.AggregateNeed, "n", domain.NeedRegistered{HouseholdID: "h", Community: "c1", Street: "s1", Category: "counselling", Urgency: domain.UrgencyHigh}},
		{domain.AggregateOffer, "o", domain.OfferPosted{Provider: "p", Category: "counselling", Capacity: 3, Scope: domain.Scope{Tier: domain.TierStreet, Area: "s1"}, District: "d"}},
		{domain.AggregateNeed, "n", domain.NeedEscalated{From: 1, To: 2, Reason: domain.EscalatedNoSupply}},
		{domain.AggregateNeed, "n", domain.ReferralProposed{ReferralID: "r1", OfferID: "o", Tier: 2, Deadline: deadline}},
		{domain.AggregateOffer, "o", domain.OfferUnitReserved{ReferralID: "r1", NeedID: "n"}},
		{domain.AggregateNeed, "n", domain.ReferralDeclined{ReferralID: "r1", OfferID: "o", Reason: domain.DeclineNotSuitable}},
		{domain.AggregateOffer, "o", domain.OfferUnitReleased{ReferralID: "r1", NeedID: "n", Reason: "declined"}},
		{domain.AggregateOffer, "o", domain.OfferCapacityChanged{Capacity: 4}},
		{domain.AggregateNeed, "n", domain.NeedEscalated{From: 2, To: 3, Reason: domain.EscalatedNoSupply}},
		{domain.AggregateNeed, "n", domain.NeedHeld{Tier: 3, Until: deadline, Competing: 2, Free: 1}},
		{domain.AggregateNeed, "n", domain.NeedWaitlisted{Reason: domain.WaitlistedNoSupplyLeft}},
		{domain.AggregateNeed, "n", domain.ReferralProposed{ReferralID: "r2", OfferID: "o", Tier: 3, Deadline: deadline,
			Round: &domain.RoundOutcome{Competing: 2, Units: 1, Priority: 50, Unserved: 1, HighestUnserved: 40}}},
		{domain.AggregateOffer, "o", domain.OfferUnitReserved{ReferralID: "r2", NeedID: "n"}},
		{domain.AggregateNeed, "n", domain.ReferralCancelled{ReferralID: "r2", OfferID: "o", Reason: domain.CancelledExpiredAtTop}},
		{domain.AggregateOffer, "o", domain.OfferUnitReleased{ReferralID: "r2", NeedID: "n", Reason: domain.CancelledExpiredAtTop}},
		{domain.AggregateNeed, "n", domain.ReferralProposed{ReferralID: "r3", OfferID: "o", Tier: 3, Deadline: deadline}},
		{domain.AggregateOffer, "o", domain.OfferUnitReserved{ReferralID: "r3", NeedID: "n"}},
		{domain.AggregateNeed, "n", domain.ReferralAccepted{ReferralID: "r3"}},
		{domain.AggregateNeed, "n", domain.ServiceStarted{ReferralID: "r3"}},
		{domain.AggregateNeed, "n", domain.ServiceCompleted{ReferralID: "r3"}},
		{domain.AggregateHousehold, "h", domain.NeedClosed{NeedID: "n", Category: "counselling"}},
		{domain.AggregateHousehold, "h", domain.NeedsOpened{Needs: []domain.OpenedNeed{{NeedID: "n2", Category: "counselling"}}}},
		{domain.AggregateNeed, "n2", domain.NeedRegistered{HouseholdID: "h", Community: "c1", Street: "s1", Category: "counselling"}},
		{domain.AggregateNeed, "n2", domain.NeedWithdrawn{Note: "moved away"}},
		{domain.AggregateHousehold, "h", domain.NeedClosed{NeedID: "n2", Category: "counselling"}},
		{domain.AggregateOffer, "o", domain.OfferWithdrawn{}},
		{domain.AggregateHousehold, "h", unknownEvent{}},
		{domain.AggregateOffer, "o", unknownEvent{}},
		{domain.AggregateNeed, "n", unknownEvent{}},
	}
	// Every event type of the registry that belongs to a household, an offer or a
	// need is played above.
	played := map[string]bool{}
	for _, s := range steps {
		played[s.p.EventType()] = true
	}
	for _, typ := range []string{"household.registered", "household.needs_opened", "household.need_closed",
		"offer.posted", "offer.capacity_changed", "offer.withdrawn", "offer.unit_reserved", "offer.unit_released",
		"need.registered", "need.referral_proposed", "need.referral_accepted", "need.referral_declined", "need.referral_cancelled",
		"need.escalated", "need.held", "need.waitlisted", "need.service_started", "need.service_completed", "need.withdrawn"} {
		if !played[typ] {
			t.Errorf("event type %s is not played", typ)
		}
	}
	st := newMemStore()
	c, _ := NewCases(st, "d")
	versions := map[string]int64{}
	model := map[string]string{domain.AggregateHousehold: HouseholdsModel, domain.AggregateOffer: OffersModel, domain.AggregateNeed: NeedsModel}
	for i, s := range steps {
		versions[s.id]++
		e := domain.Event{Type: s.p.EventType(), AggregateType: s.typ, AggregateID: s.id, AggregateVersion: versions[s.id],
			Time: t0.Add(time.Duration(i) * time.Minute), Actor: "test", Payload: s.p}
		if err := c.Handle(context.Background(), int64(i+1), &e); err != nil {
			t.Fatal(err)
		}
		var v struct {
			Version  int64 `json:"version"`
			Position int64 `json:"position"`
		}
		if err := json.Unmarshal(st.docs[model[s.typ]+"/"+s.id], &v); err != nil || v.Version != versions[s.id] || v.Position != int64(i+1) {
			t.Fatalf("after %s of %s: the view is at version %d, position %d (%v); the aggregate at %d, position %d",
				s.p.EventType(), s.id, v.Version, v.Position, err, versions[s.id], i+1)
		}
	}
}
