// Package matching is the matcher: a pure core that turns the log's events into
// referral decisions, and the loop that feeds it from the log and appends them.
package matching

import (
	"sort"
	"strconv"

	"github.com/google/uuid"

	"github.com/tierlink/tierlink/domain"
)

// Rules that explain a decision.
const (
	// RuleOldestOfferInCommunity: a new need takes the oldest offer of its category with
	// free capacity in its community (posting order, then offer id).
	RuleOldestOfferInCommunity = "community/oldest-offer-with-free-capacity"
	// RuleFirstWaitingNeed: a new or enlarged offer serves the needs of its category in
	// its community that are waiting, first registered first.
	RuleFirstWaitingNeed = "community/first-registered-waiting-need"
)

// Decision is the matcher's proposal of one offer for one need, with the state it
// was made on (the versions the append expects) and why.
type Decision struct {
	NeedID       string
	NeedVersion  int64
	Category     string
	Community    string
	FreeBefore   int // the offer's free units before this decision
	OfferID      string
	OfferVersion int64
	Attempt      int
	Tier         int
	Rule         string
	Candidates   int
	// Cause is the event that triggered the decision.
	Cause domain.Event
}

type key struct{ community, category string }

type offer struct {
	id       string
	seq      int // posting order
	capacity int
	active   bool
	key      key
	free     int
	version  int64
	reserved map[string]bool // referral ids whose reservation is counted
}

type need struct {
	id       string
	key      key
	version  int64
	open     bool
	declined map[string]bool // offers declined for this need
	parked   bool
	parkGen  int // counts the need's parkings, to tell stale parked entries
	attempts int
	referral string
}

// Matcher is the pure matching core. It is not safe for concurrent use: one loop
// owns it. Its decisions are a deterministic function of the events it is given.
type Matcher struct {
	offers  map[string]*offer
	byKey   map[key][]*offer // offers with free capacity, in posting order
	needs   map[string]*need
	waiting map[key][]*need // open needs without a referral, in registration order
	// parked holds the needs whose decision was refused as stale, under the need and
	// the offer of the decision with the version it expected: the first later event
	// of either (the one that made it stale) brings the need back to matching.
	parked map[domain.AggregateRef][]parkedNeed
	posted int // offers posted so far, for posting order
}

type parkedNeed struct {
	need     *need
	expected int64
	offer    string // the offer of the refused decision
	gen      int    // the need's parking this entry belongs to
}

// current reports whether the entry belongs to the need's present parking.
func (p parkedNeed) current() bool { return p.need.parked && p.need.parkGen == p.gen }

// New returns an empty matcher.
func New() *Matcher {
	return &Matcher{
		offers: map[string]*offer{}, byKey: map[key][]*offer{},
		needs: map[string]*need{}, waiting: map[key][]*need{},
		parked: map[domain.AggregateRef][]parkedNeed{},
	}
}

// Apply folds one event into the matcher's state and returns the decisions it
// triggers. Each decision is applied to the state at once (a reservation is made
// when proposed); its events coming back through the log are recognised. Needs
// whose decision was refused (see Revert) are matched again after the event that
// changed their need or offer.
func (m *Matcher) Apply(e domain.Event) []Decision {
	m.track(e) // first: decisions made on this event expect the version it brings
	ds := m.apply(e)
	ref := e.Aggregate()
	if ps, ok := m.parked[ref]; ok {
		var keep []parkedNeed
		for _, p := range ps {
			switch {
			case !p.current(): // brought back by its other aggregate already
			case e.AggregateVersion <= p.expected:
				keep = append(keep, p)
			default:
				p.need.parked = false
				if d, ok := m.matchNeed(p.need, e); ok {
					ds = append(ds, d)
				} else {
					m.waiting[p.need.key] = append(m.waiting[p.need.key], p.need)
				}
				// Needs queued while the refused decision's offer was passed over
				// are served by it now, if it has a free unit.
				if o := m.offers[p.offer]; o != nil && o.free > 0 {
					ds = append(ds, m.serveWaiting(o, e)...)
				}
			}
		}
		if len(keep) == 0 {
			delete(m.parked, ref)
		} else {
			m.parked[ref] = keep
		}
	}
	if o := m.offers[e.AggregateID]; o != nil && e.AggregateType == domain.AggregateOffer && o.free > 0 {
		// An offer with free units serves its waiting needs after any of its events.
		ds = append(ds, m.serveWaiting(o, e)...)
	}
	return ds
}

// track keeps the version of every known need and offer, whatever the event's type,
// so that decisions expect the versions the log has.
func (m *Matcher) track(e domain.Event) {
	switch e.AggregateType {
	case domain.AggregateNeed:
		if n := m.needs[e.AggregateID]; n != nil {
			n.version = max(n.version, e.AggregateVersion)
		}
	case domain.AggregateOffer:
		if o := m.offers[e.AggregateID]; o != nil {
			o.version = max(o.version, e.AggregateVersion)
		}
	}
}

func (m *Matcher) apply(e domain.Event) []Decision {
	switch p := e.Payload.(type) {
	case domain.NeedRegistered:
		if _, known := m.needs[e.AggregateID]; known {
			return nil
		}
		n := &need{id: e.AggregateID, key: key{p.Community, p.Category}, version: e.AggregateVersion, open: true}
		m.needs[n.id] = n
		if d, ok := m.matchNeed(n, e); ok {
			return []Decision{d}
		}
		m.waiting[n.key] = append(m.waiting[n.key], n)
	case domain.OfferPosted:
		if _, known := m.offers[e.AggregateID]; known || p.Scope.Tier != domain.TierCommunity {
			return nil // this matcher links at the community tier only
		}
		m.posted++
		o := &offer{id: e.AggregateID, seq: m.posted, key: key{p.Scope.Area, p.Category}, free: p.Capacity, capacity: p.Capacity, active: true, version: e.AggregateVersion, reserved: map[string]bool{}}
		m.offers[o.id] = o
		m.byKey[o.key] = append(m.byKey[o.key], o)
		return m.serveWaiting(o, e)
	case domain.OfferCapacityChanged:
		if o := m.offers[e.AggregateID]; o != nil && o.active {
			m.setFree(o, o.free+p.Capacity-o.capacity)
			o.capacity = p.Capacity
		}
	case domain.OfferWithdrawn:
		if o := m.offers[e.AggregateID]; o != nil && o.active {
			m.setFree(o, 0)
			o.active = false
		}
	case domain.ReferralDeclined:
		if n := m.needs[e.AggregateID]; n != nil && n.referral == p.ReferralID {
			if n.declined == nil {
				n.declined = map[string]bool{}
			}
			n.declined[p.OfferID] = true
			n.referral, n.open = "", true
			// Matched again at the same tier, without the declined offer.
			if d, ok := m.matchNeed(n, e); ok {
				return []Decision{d}
			}
			m.waiting[n.key] = append(m.waiting[n.key], n)
		}
	case domain.NeedEscalated, domain.NeedWithdrawn:
		// This matcher links at the community tier only: a need that leaves it
		// (escalated to the street tier, or withdrawn) is no longer matched here.
		if n := m.needs[e.AggregateID]; n != nil {
			m.removeWaiting(n)
			n.referral, n.open = "", false
		}
	case domain.OfferUnitReleased:
		if o := m.offers[e.AggregateID]; o != nil {
			m.release(o, p.ReferralID)
		}
	case domain.ReferralProposed:
		if n := m.needs[e.AggregateID]; n != nil {
			if n.referral != p.ReferralID { // made by another matcher: adopt it
				n.referral, n.open = p.ReferralID, false
				n.attempts++
				m.removeWaiting(n)
			}
		}
	case domain.OfferUnitReserved:
		if o := m.offers[e.AggregateID]; o != nil {
			if !o.reserved[p.ReferralID] {
				o.reserved[p.ReferralID] = true
				o.free--
				if o.free <= 0 {
					m.removeOffer(o)
				}
			}
		}
	}
	return nil
}

// matchNeed picks an offer for a need, records the decision in the state, and
// returns it. An offer named in exclude is passed over.
func (m *Matcher) matchNeed(n *need, cause domain.Event, exclude ...string) (Decision, bool) {
	cands := m.byKey[n.key]
	for _, o := range cands {
		if (len(exclude) > 0 && o.id == exclude[0]) || n.declined[o.id] {
			continue
		}
		return m.decide(n, o, RuleOldestOfferInCommunity, len(cands), cause), true
	}
	return Decision{}, false
}

// serveWaiting gives an offer's free units to the waiting needs it can serve,
// first registered first, passing over needs that declined it.
func (m *Matcher) serveWaiting(o *offer, cause domain.Event) []Decision {
	var out []Decision
	q := m.waiting[o.key]
	var keep []*need
	for i, n := range q {
		if o.free <= 0 {
			keep = append(keep, q[i:]...)
			break
		}
		if n.declined[o.id] {
			keep = append(keep, n)
			continue
		}
		out = append(out, m.decide(n, o, RuleFirstWaitingNeed, 1, cause))
	}
	m.setWaiting(o.key, keep)
	return out
}

func (m *Matcher) decide(n *need, o *offer, rule string, candidates int, cause domain.Event) Decision {
	n.attempts++
	d := Decision{
		NeedID: n.id, NeedVersion: n.version, Category: n.key.category, Community: n.key.community,
		FreeBefore: o.free, OfferID: o.id, OfferVersion: o.version,
		Attempt: n.attempts, Tier: domain.TierCommunity, Rule: rule, Candidates: candidates, Cause: cause,
	}
	ref := ReferralID(n.id, n.attempts)
	n.open, n.referral = false, ref
	n.version++
	o.reserved[ref] = true
	o.free--
	o.version++
	if o.free <= 0 {
		m.removeOffer(o)
	}
	return d
}

// undo takes back a decision that was never appended, as if it had not been made.
func (m *Matcher) undo(d Decision) *need {
	n, o := m.needs[d.NeedID], m.offers[d.OfferID]
	if n == nil || o == nil {
		return nil
	}
	ref := ReferralID(n.id, d.Attempt)
	if n.referral == ref {
		n.referral, n.open = "", true
		n.version--
	}
	if o.reserved[ref] {
		o.version--
		m.release(o, ref)
	}
	return n
}

// Refused handles a decision whose append was refused as stale, and the decisions
// made after it from the same event (rest), which were made on a state that counted
// it: they are taken back (newest first) and made again, so that every append
// expects versions the log really has. A replay sees the same refusals and so makes
// the same decisions. It returns the decisions to append in place of rest.
func (m *Matcher) Refused(d Decision, rest []Decision) []Decision {
	needs := make([]*need, 0, len(rest))
	for j := len(rest) - 1; j >= 0; j-- {
		if n := m.undo(rest[j]); n != nil {
			needs = append([]*need{n}, needs...)
		}
	}
	m.Revert(d)
	ds := m.rematch(needs, d.Cause, d.OfferID)
	for _, r := range rest {
		if o := m.offers[r.OfferID]; o != nil && o.id != d.OfferID && o.free > 0 {
			ds = append(ds, m.serveWaiting(o, d.Cause)...)
		}
	}
	return ds
}

// rematch decides again for needs whose decisions were taken back, in their order,
// passing over the offer just refused (the matcher has not read its change yet);
// those with no candidate wait at the head of their queue, and the refused offer
// serves them once its change is read.
func (m *Matcher) rematch(needs []*need, cause domain.Event, refused string) []Decision {
	var ds []Decision
	back := map[key][]*need{}
	var keys []key
	for _, n := range needs {
		if d, ok := m.matchNeed(n, cause, refused); ok {
			ds = append(ds, d)
			continue
		}
		if _, seen := back[n.key]; !seen {
			keys = append(keys, n.key)
		}
		back[n.key] = append(back[n.key], n)
	}
	for _, k := range keys {
		m.waiting[k] = append(back[k], m.waiting[k]...)
	}
	return ds
}

// setFree sets an offer's free units, keeping the candidate lists to offers with some.
func (m *Matcher) setFree(o *offer, free int) {
	was := o.free
	o.free = free
	switch {
	case was > 0 && free <= 0:
		m.removeOffer(o)
	case was <= 0 && free > 0:
		m.byKey[o.key] = insertByPosting(m.byKey[o.key], o)
	}
}

// release frees the unit a referral held (the offer's version is its callers').
func (m *Matcher) release(o *offer, ref string) {
	if !o.reserved[ref] {
		return
	}
	delete(o.reserved, ref)
	if o.active {
		m.setFree(o, o.free+1)
	}
}

// Revert undoes a decision whose append was refused (the need or the offer changed
// under it): the unit is free again, and the need waits for the event that changed
// its need or offer (still ahead in the log) to be matched again. That event is in
// the log, so a replay brings the need back at the same point.
func (m *Matcher) Revert(d Decision) {
	n, o := m.needs[d.NeedID], m.offers[d.OfferID]
	if n == nil || o == nil {
		return
	}
	ref := ReferralID(n.id, d.Attempt)
	if n.referral == ref {
		n.referral, n.open = "", true
		n.version--
		n.parked = true
		n.parkGen++
		nr := domain.AggregateRef{Type: domain.AggregateNeed, ID: n.id}
		or := domain.AggregateRef{Type: domain.AggregateOffer, ID: o.id}
		m.parked[nr] = append(m.parked[nr], parkedNeed{need: n, expected: d.NeedVersion, offer: o.id, gen: n.parkGen})
		m.parked[or] = append(m.parked[or], parkedNeed{need: n, expected: d.OfferVersion, offer: o.id, gen: n.parkGen})
	}
	if o.reserved[ref] {
		o.version--
		m.release(o, ref)
	}
}

func (m *Matcher) removeOffer(o *offer) {
	list := m.byKey[o.key]
	for i, x := range list {
		if x == o {
			list = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(m.byKey, o.key)
	} else {
		m.byKey[o.key] = list
	}
}

func (m *Matcher) removeWaiting(n *need) {
	q := m.waiting[n.key]
	for i, x := range q {
		if x == n {
			m.setWaiting(n.key, append(q[:i:i], q[i+1:]...))
			return
		}
	}
}

func (m *Matcher) setWaiting(k key, q []*need) {
	if len(q) == 0 {
		delete(m.waiting, k)
		return
	}
	m.waiting[k] = q
}

// insertByPosting puts an offer back into its list in posting order.
func insertByPosting(list []*offer, o *offer) []*offer {
	i := sort.Search(len(list), func(i int) bool { return list[i].seq > o.seq })
	list = append(list, nil)
	copy(list[i+1:], list[i:])
	list[i] = o
	return list
}

// referralNamespace scopes the name-based referral ids.
var referralNamespace = uuid.MustParse("6f1c1f0e-4d2a-4c55-9a53-2f7d8f1b6a10")

// ReferralID names the attempt-th referral of a need. It is derived, not drawn, so
// that a replay of the log proposes the same referrals.
func ReferralID(needID string, attempt int) string {
	return uuid.NewSHA1(referralNamespace, []byte(needID+"/"+strconv.Itoa(attempt))).String()
}

// Waiting returns how many open needs wait for an offer (parked ones included).
func (m *Matcher) Waiting() int {
	n := 0
	for _, q := range m.waiting {
		n += len(q)
	}
	for _, n2 := range m.needs {
		if n2.parked {
			n++
		}
	}
	return n
}
