package matching

import (
	"sort"
	"time"

	"github.com/google/btree"

	"github.com/tierlink/tierlink/domain"
)

type slot struct {
	category string
	tier     int
	area     string
}

// offer is an offer as the matcher holds it: the proposal rules' view of it
// (id, posting order, free units, validity, eligibility) and the rest.
type offer struct {
	domain.Candidate
	category string
	scope    domain.Scope
	capacity int
	active   bool // a candidate: not withdrawn, not ended
	// pending marks, under the allocation rules, an offer whose start the ticks have
	// not reached: no need takes it before the tick lets it serve the waitlist.
	pending   bool
	withdrawn bool
	version   int64
	reserved  map[string]string // referral id holding a unit → its need
}

// How far a live referral went.
const (
	engagedNone = iota
	engagedProposed
	engagedAccepted
	engagedInService
)

// needState is where a need is in the matcher's eyes. It is not domain.NeedStatus
// (nor the need a fold of the log by domain.Need.Evolve, as the read model's is):
// the matcher applies its decisions before their events reach the log, takes back
// those refused (a need parked with its referral restored, or open beside a
// referral still counted) and adopts other matchers' decisions, so it holds
// states the log never shows; engaged says how far a live referral went.
type needState int

const (
	needOpen     needState = iota // being matched (or parked after a refusal)
	needWaiting                   // waitlisted
	needHeld                      // held for an allocation round
	needReferred                  // a referral is live
	needDone                      // completed or withdrawn
)

type need struct {
	id         string
	household  string
	category   string
	areas      [4]string // by tier: community, street, district
	groups     []domain.TargetGroup
	tier       int
	key        int64 // priority key
	points     int   // hardship and urgency points, for a round's weights
	hardship   int
	urgency    domain.Urgency
	registered time.Time
	version    int64
	state      needState
	referral   string
	offer      string    // the live referral's offer
	engaged    int       // how far the live referral went: proposed, accepted, in service
	deadline   time.Time // the live proposal's answer deadline
	heldUntil  time.Time // when held, the round that decides it is due
	attempts   int
	declined   map[string]bool
	parked     bool
	parkGen    int // counts the need's parkings, to tell stale parked entries
	decided    int // counts the decisions made for the need (Decision.Seq)
}

func timeIDLess(ta time.Time, a string, tb time.Time, b string) bool {
	if !ta.Equal(tb) {
		return ta.Before(tb)
	}
	return a < b
}

func deadlineLess(a, b *need) bool { return timeIDLess(a.deadline, a.id, b.deadline, b.id) }

func heldLess(a, b *need) bool { return timeIDLess(a.heldUntil, a.id, b.heldUntil, b.id) }

func ageLess(a, b *need) bool { return timeIDLess(a.registered, a.id, b.registered, b.id) }

// flexLess orders candidate offers by the allocation rules: least flexible first.
func flexLess(a, b *offer) bool { return a.LeastFlexibleBefore(&b.Candidate) }

// rankLess orders candidate offers by the domain's ranking.
func rankLess(a, b *offer) bool { return a.RanksBefore(&b.Candidate) }

// priorityLess orders waiting needs by the domain's rank (domain.Rank.Before).
func priorityLess(a, b *need) bool {
	return domain.Rank{Key: a.key, Registered: a.registered, NeedID: a.id}.Before(domain.Rank{Key: b.key, Registered: b.registered, NeedID: b.id})
}

// wait puts a need on the waitlist, under each of its areas.
func (m *Matcher) wait(n *need) {
	n.state = needWaiting
	m.pool(n)
}

// hold holds a need for the allocation round due at until: it joins the pool of
// waiting needs (the waitlist's indexes) and the queue of rounds.
func (m *Matcher) hold(n *need, until time.Time) {
	n.state, n.heldUntil = needHeld, until
	m.pool(n)
	m.holds.ReplaceOrInsert(n)
}

// pool indexes a waitlisted or held need under each of its areas, by priority and
// by age.
func (m *Matcher) pool(n *need) {
	for tier := domain.TierCommunity; tier <= domain.TierDistrict; tier++ {
		s := slot{n.category, tier, n.areas[tier]}
		t := m.waits[s]
		if t == nil {
			t = btree.NewG(16, priorityLess)
			m.waits[s] = t
		}
		t.ReplaceOrInsert(n)
		if m.byAge {
			m.age(s, n)
		}
	}
}

// age indexes a waiting need by registration under one of its areas.
func (m *Matcher) age(s slot, n *need) {
	a := m.aged[s]
	if a == nil {
		a = btree.NewG(16, ageLess)
		m.aged[s] = a
	}
	a.ReplaceOrInsert(n)
}

// indexAges keeps the waiting needs indexed by registration exactly while the
// policy bounds waiting (max_wait), rebuilding the index when that changes.
func (m *Matcher) indexAges() {
	want := m.rules() != nil && m.rules().MaxWait > 0
	if want == m.byAge {
		return
	}
	m.byAge = want
	clear(m.aged)
	if !want {
		return
	}
	for s, t := range m.waits {
		t.Ascend(func(n *need) bool {
			m.age(s, n)
			return true
		})
	}
}

// unwait takes a need off the waitlist, or out of the round it is held for.
func (m *Matcher) unwait(n *need) {
	if n.state != needWaiting && n.state != needHeld {
		return
	}
	if n.state == needHeld {
		m.holds.Delete(n)
		n.heldUntil = time.Time{}
	}
	for tier := domain.TierCommunity; tier <= domain.TierDistrict; tier++ {
		s := slot{n.category, tier, n.areas[tier]}
		if t := m.waits[s]; t != nil {
			t.Delete(n)
			if t.Len() == 0 {
				delete(m.waits, s)
			}
		}
		if a := m.aged[s]; a != nil {
			a.Delete(n)
			if a.Len() == 0 {
				delete(m.aged, s)
			}
		}
	}
	n.state = needOpen
}

// setFree sets an offer's free units, keeping it in its candidate tree only while
// it is active with a free unit. (The tree is ordered by free units, so the offer
// leaves it before the change.)
func (m *Matcher) setFree(o *offer, free int) {
	s := slot{o.category, o.scope.Tier, o.scope.Area}
	t := m.cands[s]
	if t != nil {
		t.Delete(o)
	}
	o.Free = free
	if !o.active || free <= 0 || o.pending {
		if t != nil && t.Len() == 0 {
			delete(m.cands, s)
		}
		return
	}
	if t == nil {
		t = btree.NewG(16, m.candLess())
		m.cands[s] = t
	}
	t.ReplaceOrInsert(o)
}

// release frees the unit a referral held (the offer's version is its callers').
func (m *Matcher) release(o *offer, ref string) {
	if o.reserved[ref] == "" {
		return
	}
	delete(o.reserved, ref)
	if o.active {
		m.setFree(o, o.Free+1)
	}
}

// clearReferral forgets a need's live referral; the need is open.
func (m *Matcher) clearReferral(n *need) {
	if n.engaged == engagedProposed {
		m.deadlines.Delete(n)
	}
	n.referral, n.offer, n.engaged, n.deadline, n.state = "", "", engagedNone, time.Time{}, needOpen
}

// sortedNeeds lists an offer's reserving needs in a fixed order.
func sortedNeeds(reserved map[string]string) []string {
	out := make([]string, 0, len(reserved))
	for _, n := range reserved {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Waiting returns how many needs wait: waitlisted, held for a round, or parked
// after a refusal.
func (m *Matcher) Waiting() int {
	count := 0
	for _, n := range m.needs {
		if n.state == needWaiting || n.state == needHeld || (n.state == needOpen && n.parked) {
			count++
		}
	}
	return count
}
