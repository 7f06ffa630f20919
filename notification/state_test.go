package notification

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tierlink/tierlink/domain"
)

// The district of these tests: two streets of two communities each.
var (
	testStreets     = map[string]string{"c1": "s1", "c2": "s1", "c3": "s2", "c4": "s2"}
	testCommunities = []string{"c1", "c2", "c3", "c4"}
	testProviders   = []string{"p1", "p2", "p3"}
	testCategories  = []string{"tutoring", "meals"}
	zone            = time.FixedZone("CST", 8*3600)
)

// logBuilder writes a district's log as the matcher and the commands would.
type logBuilder struct {
	entries []domain.Entry
	now     time.Time
	seq     int
}

func (b *logBuilder) add(aggType, id string, p domain.Payload) *domain.Event {
	b.seq++
	e := &domain.Event{ID: fmt.Sprintf("e%d", b.seq), Type: p.EventType(), SchemaVersion: 1, AggregateType: aggType, AggregateID: id,
		AggregateVersion: 1, Partition: "d", Time: b.now, Payload: p}
	b.entries = append(b.entries, domain.Entry{Position: int64(len(b.entries) + 1), Event: e})
	return e
}

func newTestState(t *testing.T) *State {
	t.Helper()
	s, err := NewState(Config{Partition: "d", Zone: zone})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func centre(tier int, area string) domain.Principal {
	return domain.Principal{Role: domain.RoleCentre, Tier: tier, Area: area}
}

// TestWhoIsToldWhat walks one referral through its life and checks who is told of
// each step, and what a provider is told before and after the centre accepted.
func TestWhoIsToldWhat(t *testing.T) {
	b := &logBuilder{now: time.Date(2026, 12, 1, 1, 0, 0, 0, time.UTC)}
	all := domain.NotificationKinds
	subs := map[string]domain.Principal{
		"op":  {Role: domain.RoleOperator},
		"pA":  {Role: domain.RoleProvider, Provider: "p1"},
		"pB":  {Role: domain.RoleProvider, Provider: "p2"},
		"c1":  centre(domain.TierCommunity, "c1"),
		"c3":  centre(domain.TierCommunity, "c3"),
		"s1":  centre(domain.TierStreet, "s1"),
		"dis": centre(domain.TierDistrict, "d"),
	}
	for _, id := range []string{"op", "pA", "pB", "c1", "c3", "s1", "dis"} {
		b.add(domain.AggregateSubscription, id, domain.SubscriptionCreated{Owner: subs[id], District: "d", URL: "https://x.test/" + id,
			Kinds: domain.KindsFor(subs[id].Role), Salt: "s"})
	}
	_ = all
	b.add(domain.AggregateOffer, "o1", domain.OfferPosted{Provider: "p1", Category: "tutoring", Capacity: 2,
		Eligibility: domain.Eligibility{TargetGroups: []domain.TargetGroup{domain.GroupSubsistence}}})
	b.add(domain.AggregateNeed, "n1", domain.NeedRegistered{HouseholdID: "h1", Community: "c1", Street: "s1", Category: "tutoring",
		TargetGroups: []domain.TargetGroup{domain.GroupElderly, domain.GroupSubsistence}})
	b.add(domain.AggregateNeed, "n1", domain.ReferralProposed{ReferralID: "r1", OfferID: "o1", Tier: 1, Deadline: b.now.Add(24 * time.Hour)})
	b.add(domain.AggregateOffer, "o1", domain.OfferUnitReserved{ReferralID: "r1", NeedID: "n1"})
	b.add(domain.AggregateNeed, "n1", domain.ReferralAccepted{ReferralID: "r1"})
	b.add(domain.AggregateNeed, "n1", domain.ServiceStarted{ReferralID: "r1"})
	b.add(domain.AggregateNeed, "n1", domain.ServiceCompleted{ReferralID: "r1"})

	s := newTestState(t)
	out, err := s.Apply(b.entries)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	bodies := map[string]map[string]any{}
	for _, n := range out.Notifications {
		got[n.Subscription] = append(got[n.Subscription], n.Kind)
		var m Message
		if err := json.Unmarshal(n.Body, &m); err != nil {
			t.Fatal(err)
		}
		if m.ID != n.DeliveryID || m.Kind != n.Kind || m.Subscription != n.Subscription || m.Position != n.Position {
			t.Fatalf("envelope %+v does not match notification %+v", m, n)
		}
		data, _ := json.Marshal(m.Data)
		var d map[string]any
		_ = json.Unmarshal(data, &d)
		bodies[n.Subscription+"/"+n.Kind] = d
	}
	life := []string{domain.KindReferralProposed, domain.KindOfferExhausted, domain.KindReferralAccepted, domain.KindReferralStarted, domain.KindReferralCompleted}
	withServed := append(slices.Clone(life), domain.KindNeedServed)
	want := map[string][]string{
		"op": withServed, "pA": life, "c1": withServed, "s1": withServed, "dis": withServed,
	}
	// The unit reserved leaves 1 of 2 free: that is the low mark, so the offer runs low before the proposal's acceptance.
	for id, kinds := range want {
		var w []string
		for _, k := range kinds {
			if k == domain.KindOfferExhausted {
				k = domain.KindOfferRunningLow
			}
			w = append(w, k)
		}
		want[id] = w
	}
	// Centres hear of offers in their district too; the other provider and the other community hear nothing of the referral.
	want["c3"] = []string{domain.KindOfferRunningLow}
	for _, id := range []string{"op", "pA", "pB", "c1", "c3", "s1", "dis"} {
		g := slices.Clone(got[id])
		w := slices.Clone(want[id])
		slices.Sort(g)
		slices.Sort(w)
		if !slices.Equal(g, w) {
			t.Errorf("%s was told %v, want %v", id, got[id], want[id])
		}
	}
	prop := bodies["pA/"+domain.KindReferralProposed]
	for _, k := range []string{"household", "household_id", "need_id", "community", "ground"} {
		if _, ok := prop[k]; ok {
			t.Errorf("a provider's proposal carries %q before the centre accepted: %v", k, prop)
		}
	}
	acc := bodies["pA/"+domain.KindReferralAccepted]
	if acc["household"] != domain.Pseudonym("p1", "h1") || acc["ground"] != string(domain.GroupSubsistence) || acc["community"] != "c1" {
		t.Errorf("a provider's acceptance = %v, want the pseudonym, community and the one ground", acc)
	}
	if _, ok := acc["household_id"]; ok {
		t.Errorf("a provider's acceptance carries the household's id: %v", acc)
	}
	if c := bodies["c1/"+domain.KindReferralProposed]; c["household_id"] != "h1" || c["provider"] != "p1" {
		t.Errorf("the centre's proposal = %v, want the household and provider", c)
	}
}

// randomLog draws a district's log: subscriptions come and go, needs live their
// lives through proposals, answers and services, offers fill up, and the clock ticks.
func randomLog(rng *rand.Rand, steps int) []domain.Entry {
	return randomLogWith(rng, steps, steps, 240*time.Minute)
}

// randomLogWith draws a log with at most maxSubs subscriptions (none deleted once
// there are maxSubs), whose clock ticks after up to maxTick.
func randomLogWith(rng *rand.Rand, steps, maxSubs int, maxTick time.Duration) []domain.Entry {
	b := &logBuilder{now: time.Date(2026, 11, 30, 20, 0, 0, 0, time.UTC)}
	type liveNeed struct {
		id, community, category string
		tier                    int
		ref, offer              string
		accepted, started       bool
		done                    bool
	}
	var needs []*liveNeed
	offers := map[string]string{} // offer -> category
	var offerIDs []string
	var subs []string
	nRef := 0
	for i := 0; i < steps; i++ {
		switch r := rng.IntN(100); {
		case r < 6 && len(subs) < maxSubs:
			id := fmt.Sprintf("sub%d", len(subs))
			var owner domain.Principal
			switch rng.IntN(4) {
			case 0:
				owner = domain.Principal{Role: domain.RoleOperator}
			case 1:
				owner = domain.Principal{Role: domain.RoleProvider, Provider: testProviders[rng.IntN(len(testProviders))]}
			case 2:
				c := testCommunities[rng.IntN(4)]
				owner = centre(domain.TierCommunity, c)
			default:
				owner = centre(domain.TierStreet, []string{"s1", "s2"}[rng.IntN(2)])
			}
			kinds := domain.KindsFor(owner.Role)
			if rng.IntN(2) == 0 {
				kinds = []string{kinds[rng.IntN(len(kinds))], kinds[rng.IntN(len(kinds))]}
				kinds = slices.Compact(kinds)
			}
			var cats []string
			if rng.IntN(3) == 0 {
				cats = []string{testCategories[rng.IntN(2)]}
			}
			b.add(domain.AggregateSubscription, id, domain.SubscriptionCreated{Owner: owner, District: "d", URL: "https://x.test/" + id, Kinds: kinds, Categories: cats, Salt: "s"})
			subs = append(subs, id)
		case r < 8 && len(subs) > 0 && len(subs) < maxSubs: // a full set of subscriptions stays
			b.add(domain.AggregateSubscription, subs[rng.IntN(len(subs))], domain.SubscriptionDeleted{})
		case r < 18:
			id := fmt.Sprintf("o%d", len(offerIDs))
			cat := testCategories[rng.IntN(2)]
			b.add(domain.AggregateOffer, id, domain.OfferPosted{Provider: testProviders[rng.IntN(3)], Category: cat, Capacity: 1 + rng.IntN(6)})
			offers[id] = cat
			offerIDs = append(offerIDs, id)
		case r < 30:
			c := testCommunities[rng.IntN(4)]
			n := &liveNeed{id: fmt.Sprintf("n%d", len(needs)), community: c, category: testCategories[rng.IntN(2)], tier: 1}
			b.add(domain.AggregateNeed, n.id, domain.NeedRegistered{HouseholdID: "h" + n.id, Community: c, Street: testStreets[c], Category: n.category})
			needs = append(needs, n)
		case r < 45:
			b.now = b.now.Add(time.Duration(1+rng.Int64N(int64(maxTick/time.Minute))) * time.Minute)
			b.add(domain.AggregateClock, "d", domain.ClockTicked{})
		default:
			if len(needs) == 0 {
				continue
			}
			n := needs[rng.IntN(len(needs))]
			if n.done {
				continue
			}
			switch {
			case n.ref == "":
				var fit []string
				for _, o := range offerIDs {
					if offers[o] == n.category {
						fit = append(fit, o)
					}
				}
				if len(fit) == 0 || rng.IntN(4) == 0 {
					if rng.IntN(2) == 0 && n.tier < 3 {
						b.add(domain.AggregateNeed, n.id, domain.NeedEscalated{From: n.tier, To: n.tier + 1, Reason: domain.EscalatedNoSupply})
						n.tier++
					} else {
						b.add(domain.AggregateNeed, n.id, domain.NeedWaitlisted{Reason: domain.WaitlistedNoSupplyLeft})
						n.tier = 3
					}
					continue
				}
				nRef++
				n.ref, n.offer = fmt.Sprintf("r%d", nRef), fit[rng.IntN(len(fit))]
				b.add(domain.AggregateNeed, n.id, domain.ReferralProposed{ReferralID: n.ref, OfferID: n.offer, Tier: n.tier, Deadline: b.now.Add(time.Duration(2+rng.IntN(70)) * time.Hour)})
				b.add(domain.AggregateOffer, n.offer, domain.OfferUnitReserved{ReferralID: n.ref, NeedID: n.id})
			case !n.accepted:
				release := func(reason domain.EndReason) {
					b.add(domain.AggregateOffer, n.offer, domain.OfferUnitReleased{ReferralID: n.ref, NeedID: n.id, Reason: reason})
					n.ref, n.offer = "", ""
				}
				switch rng.IntN(6) {
				case 0, 1:
					b.add(domain.AggregateNeed, n.id, domain.ReferralAccepted{ReferralID: n.ref})
					n.accepted = true
				case 2:
					b.add(domain.AggregateNeed, n.id, domain.ReferralDeclined{ReferralID: n.ref, OfferID: n.offer, Reason: domain.DeclineNotSuitable, Note: "secret note"})
					release(domain.EndDeclined)
				case 3:
					if n.tier < 3 {
						reason := []domain.EscalationReason{domain.EscalatedByCentre, domain.EscalatedExpired}[rng.IntN(2)]
						b.add(domain.AggregateNeed, n.id, domain.NeedEscalated{From: n.tier, To: n.tier + 1, Reason: reason, ReferralID: n.ref})
						n.tier++
						release(domain.EndEscalated)
					} else {
						b.add(domain.AggregateNeed, n.id, domain.ReferralCancelled{ReferralID: n.ref, OfferID: n.offer, Reason: domain.CancelledExpiredAtTop})
						release(domain.CancelledExpiredAtTop)
					}
				case 4:
					b.add(domain.AggregateNeed, n.id, domain.ReferralCancelled{ReferralID: n.ref, OfferID: n.offer, Reason: domain.CancelledOfferWithdrawn})
					release(domain.CancelledOfferWithdrawn)
				default:
					b.add(domain.AggregateNeed, n.id, domain.NeedWithdrawn{ReferralID: n.ref})
					release(domain.EndNeedWithdrawn)
					n.done = true
				}
			case !n.started:
				b.add(domain.AggregateNeed, n.id, domain.ServiceStarted{ReferralID: n.ref})
				n.started = true
			default:
				b.add(domain.AggregateNeed, n.id, domain.ServiceCompleted{ReferralID: n.ref})
				n.done = true
			}
		}
	}
	return b.entries
}

// TestRandomLogsTellEachSubscriberWhatItMayReadOnce follows drawn logs entry by
// entry and checks, after every entry, that each notification goes to a live
// subscription that asked for its kind and category and may read what it says; that
// a provider hears only of its own offers, and of a household nothing before the
// centre accepted; that every referral event reaches every subscriber an independent
// rule says it should, once; and that a replay in other runs yields the same bytes.
func TestRandomLogsTellEachSubscriberWhatItMayReadOnce(t *testing.T) {
	kinds := map[string]int{}
	defer func() {
		for _, k := range domain.NotificationKinds {
			if kinds[k] == 0 {
				t.Errorf("no drawn log told anyone %s: the test does not walk it", k)
			}
		}
	}()
	for seed := uint64(1); seed <= 40; seed++ {
		rng := rand.New(rand.NewPCG(seed, 14))
		entries := randomLog(rng, 400)
		s := newTestState(t)
		var all []Notification
		live := map[string]domain.Subscription{}
		needOf := map[string]domain.NeedRegistered{}
		refOffer := map[string]string{}
		offerOf := map[string]domain.OfferPosted{}
		accepted := map[string]bool{}
		ids := map[string]bool{}
		for _, x := range entries {
			e := x.Event
			// The oracle's view before the entry: who must hear of it.
			expect := map[string]bool{}
			kind, refID := "", ""
			switch p := e.Payload.(type) {
			case domain.ReferralProposed:
				kind, refID = domain.KindReferralProposed, p.ReferralID
				refOffer[p.ReferralID] = p.OfferID
			case domain.ReferralAccepted:
				kind, refID = domain.KindReferralAccepted, p.ReferralID
				accepted[p.ReferralID] = true // from this event on, the provider may know the household
			case domain.ReferralDeclined:
				kind, refID = domain.KindReferralDeclined, p.ReferralID
			case domain.ServiceStarted:
				kind, refID = domain.KindReferralStarted, p.ReferralID
			case domain.ServiceCompleted:
				kind, refID = domain.KindReferralCompleted, p.ReferralID
			case domain.NeedEscalated:
				if p.ReferralID != "" {
					kind, refID = domain.KindReferralEscalated, p.ReferralID
					if p.Reason == domain.EscalatedExpired {
						kind = domain.KindReferralExpired
					}
				}
			}
			if kind != "" {
				nr := needOf[e.AggregateID]
				o := offerOf[refOffer[refID]]
				for id, sub := range live {
					if !slices.Contains(sub.Kinds, kind) || (len(sub.Categories) > 0 && !slices.Contains(sub.Categories, nr.Category)) {
						continue
					}
					ow := sub.Owner
					switch {
					case ow.Role == domain.RoleOperator,
						ow.Role == domain.RoleProvider && ow.Provider == o.Provider,
						ow.Role == domain.RoleCentre && ow.Tier == 1 && ow.Area == nr.Community,
						ow.Role == domain.RoleCentre && ow.Tier == 2 && ow.Area == nr.Street:
						expect[id] = true
					}
				}
			}
			out, err := s.Apply([]domain.Entry{x})
			if err != nil {
				t.Fatalf("seed %d: %v", seed, err)
			}
			told := map[string]int{}
			for _, n := range out.Notifications {
				sub, ok := live[n.Subscription]
				if !ok {
					t.Fatalf("seed %d, position %d: %s went to %s, which is not live", seed, x.Position, n.Kind, n.Subscription)
				}
				if !slices.Contains(sub.Kinds, n.Kind) {
					t.Fatalf("seed %d, position %d: %s went to %s, which did not ask for it", seed, x.Position, n.Kind, n.Subscription)
				}
				if ids[n.DeliveryID] {
					t.Fatalf("seed %d: delivery id %s twice", seed, n.DeliveryID)
				}
				ids[n.DeliveryID] = true
				var m struct {
					Data map[string]any `json:"data"`
				}
				if err := json.Unmarshal(n.Body, &m); err != nil {
					t.Fatal(err)
				}
				if sub.Owner.Role == domain.RoleProvider {
					if off, ok := m.Data["offer_id"].(string); !ok || offerOf[off].Provider != sub.Owner.Provider {
						t.Fatalf("seed %d, position %d: provider %s told of offer %v: %s", seed, x.Position, sub.Owner.Provider, m.Data["offer_id"], n.Body)
					}
					for _, k := range []string{"household_id", "need_id", "street", "reason", "note"} {
						if _, ok := m.Data[k]; ok {
							t.Fatalf("seed %d, position %d: a provider's %s carries %q: %s", seed, x.Position, n.Kind, k, n.Body)
						}
					}
					if r, _ := m.Data["referral_id"].(string); r != "" && !accepted[r] {
						if _, ok := m.Data["household"]; ok {
							t.Fatalf("seed %d, position %d: a provider heard of the household before acceptance: %s", seed, x.Position, n.Body)
						}
					}
				}
				if sub.Owner.Role == domain.RoleCentre {
					if c, ok := m.Data["community"].(string); ok {
						if a := map[int]string{1: c, 2: testStreets[c], 3: "d"}[sub.Owner.Tier]; a != sub.Owner.Area {
							t.Fatalf("seed %d, position %d: centre %v told of a household of %s: %s", seed, x.Position, sub.Owner, c, n.Body)
						}
					}
				}
				if strings.Contains(string(n.Body), "secret note") {
					t.Fatalf("seed %d: a centre's note went out: %s", seed, n.Body)
				}
				if n.Kind == kind {
					told[n.Subscription]++
				}
				kinds[n.Kind]++
			}
			for id := range expect {
				if told[id] != 1 {
					t.Fatalf("seed %d, position %d: %s told %d times of %s, want once", seed, x.Position, id, told[id], kind)
				}
			}
			for id := range told {
				if !expect[id] {
					t.Fatalf("seed %d, position %d: %s told of %s, which it should not be", seed, x.Position, id, kind)
				}
			}
			all = append(all, out.Notifications...)
			// The oracle's view after the entry.
			switch p := e.Payload.(type) {
			case domain.SubscriptionCreated:
				live[e.AggregateID] = domain.Subscription{}.Evolve(*e)
			case domain.SubscriptionDeleted:
				delete(live, e.AggregateID)
			case domain.NeedRegistered:
				needOf[e.AggregateID] = p
			case domain.OfferPosted:
				offerOf[e.AggregateID] = p
			}
		}
		// A replay in runs of other lengths says the same, byte for byte.
		again := newTestState(t)
		var replay []Notification
		for i := 0; i < len(entries); {
			j := min(len(entries), i+1+rng.IntN(50))
			out, err := again.Apply(entries[i:j])
			if err != nil {
				t.Fatal(err)
			}
			replay = append(replay, out.Notifications...)
			i = j
		}
		if len(replay) != len(all) {
			t.Fatalf("seed %d: replay gave %d notifications, first run %d", seed, len(replay), len(all))
		}
		for i := range all {
			if all[i].DeliveryID != replay[i].DeliveryID || !bytes.Equal(all[i].Body, replay[i].Body) {
				t.Fatalf("seed %d: notification %d differs on replay", seed, i)
			}
		}
	}
}

// TestRemindersAndDigestFollowTheTicks checks the reminders of a 24-hour and a
// 6-hour proposal, to the answering node only, and the digest at 08:00 district time.
func TestRemindersAndDigestFollowTheTicks(t *testing.T) {
	start := time.Date(2026, 12, 1, 1, 0, 0, 0, time.UTC) // 09:00 in Shanghai
	b := &logBuilder{now: start}
	b.add(domain.AggregateSubscription, "c1", domain.SubscriptionCreated{Owner: centre(1, "c1"), District: "d", URL: "https://x.test", Kinds: []string{domain.KindReminder, domain.KindDigest}, Salt: "s"})
	b.add(domain.AggregateSubscription, "s1", domain.SubscriptionCreated{Owner: centre(2, "s1"), District: "d", URL: "https://x.test", Kinds: []string{domain.KindReminder, domain.KindDigest}, Salt: "s"})
	b.add(domain.AggregateOffer, "o1", domain.OfferPosted{Provider: "p1", Category: "meals", Capacity: 9})
	b.add(domain.AggregateNeed, "n1", domain.NeedRegistered{HouseholdID: "h1", Community: "c1", Street: "s1", Category: "meals"})
	b.add(domain.AggregateNeed, "n1", domain.ReferralProposed{ReferralID: "r1", OfferID: "o1", Tier: 1, Deadline: start.Add(24 * time.Hour)})
	b.add(domain.AggregateNeed, "n2", domain.NeedRegistered{HouseholdID: "h2", Community: "c2", Street: "s1", Category: "meals"})
	b.add(domain.AggregateNeed, "n2", domain.ReferralProposed{ReferralID: "r2", OfferID: "o1", Tier: 2, Deadline: start.Add(6 * time.Hour)})
	type told struct {
		at          time.Duration
		sub, stage  string
		referral    string
		waitingRefs int
	}
	var got []told
	s := newTestState(t)
	if _, err := s.Apply(b.entries); err != nil {
		t.Fatal(err)
	}
	for step := time.Duration(0); step <= 26*time.Hour; step += 10 * time.Minute {
		b.now = start.Add(step)
		e := b.add(domain.AggregateClock, "d", domain.ClockTicked{})
		out, err := s.Apply(b.entries[len(b.entries)-1:])
		if err != nil {
			t.Fatal(err)
		}
		_ = e
		for _, n := range out.Notifications {
			var m struct {
				Data map[string]any `json:"data"`
			}
			_ = json.Unmarshal(n.Body, &m)
			tl := told{at: step, sub: n.Subscription}
			if n.Kind == domain.KindReminder {
				tl.stage, tl.referral = m.Data["stage"].(string), m.Data["referral_id"].(string)
			} else {
				tl.stage = "digest"
				tl.waitingRefs = len(m.Data["waiting"].([]any))
			}
			got = append(got, tl)
		}
	}
	want := []told{
		{at: 3 * time.Hour, sub: "s1", stage: StageHalf, referral: "r2"},    // 6 h deadline: half-way only (4 h before is earlier)
		{at: 12 * time.Hour, sub: "c1", stage: StageHalf, referral: "r1"},   // 24 h: half-way
		{at: 20 * time.Hour, sub: "c1", stage: StageBefore, referral: "r1"}, // and 4 h before
		{at: 23 * time.Hour, sub: "c1", stage: "digest", waitingRefs: 1},    // 08:00 in Shanghai, the next day
		{at: 23 * time.Hour, sub: "s1", stage: "digest", waitingRefs: 1},    // r2 still waits on the street in this log
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("told\n%v\nwant\n%v", got, want)
	}
}
