// Package matching is the matcher: a pure core that turns the log's events into
// referral decisions, and the loop that feeds it from the log and appends them.
// docs/matching.md states the policy it implements.
package matching

import (
	"sort"
	"strconv"
	"time"

	"github.com/google/btree"
	"github.com/google/uuid"

	"github.com/tierlink/tierlink/domain"
)

// Rules that explain a proposal.
const (
	// RuleBestCandidate: a need takes the first of its candidates at its tier by the
	// ranking of docs/matching.md.
	RuleBestCandidate = "best-candidate-at-tier"
	// RuleWaitingByPriority: new or freed supply serves the waiting needs it can
	// serve, highest priority first.
	RuleWaitingByPriority = "waiting-need-by-priority"
)

// Escalation is one step of a need up a tier, and why.
type Escalation struct {
	From, To int
	Reason   domain.EscalationReason
}

// Ending ends a need's live referral: expired (no answer by the deadline) or
// cancelled (its offer was withdrawn). Its unit goes back to the offer.
type Ending struct {
	ReferralID   string
	OfferID      string
	OfferVersion int64
	// Reason is domain.EndExpired (the need goes up a tier), or a cancellation
	// reason (the need is matched again at its tier).
	Reason domain.EndReason
	// engaged and declined record what to restore if the decision is taken back.
	engaged  int
	deadline time.Time
	declined bool
}

// Decision is what the matcher decided for one need on one event: the end of its
// live referral, if any, zero or more escalations, then either a proposal of an
// offer or the waitlist. It carries the
// versions it was made on (the append expects them) and why.
type Decision struct {
	NeedID      string
	NeedVersion int64
	// FromTier is the need's tier before the decision.
	FromTier    int
	Ending      *Ending
	Escalations []Escalation
	// Waitlist is set when no tier has a candidate.
	Waitlist bool
	// The proposal, when not waitlisted.
	OfferID      string
	OfferVersion int64
	Attempt      int
	Tier         int
	Rule         string
	Candidates   int
	Considered   []string
	Deadline     time.Time
	// Cause is the event that triggered the decision.
	Cause domain.Event
	// Seq counts the decisions made for the need, those taken back included: it
	// tells apart decisions on the same need, cause and version.
	Seq int
}

// needEvents counts the need's events of the decision.
func (d Decision) needEvents() int64 {
	k := int64(len(d.Escalations)) + 1
	if d.Ending != nil {
		k++
	}
	return k
}

// Proposes reports whether the decision proposes an offer.
func (d Decision) Proposes() bool { return d.OfferID != "" }

// maxConsidered bounds the candidates a proposal lists as considered.
const maxConsidered = 5

type slot struct {
	category string
	tier     int
	area     string
}

// offer is an offer as the matcher holds it: the proposal rules' view of it
// (id, posting order, free units, validity, eligibility) and the rest.
type offer struct {
	domain.Candidate
	category  string
	scope     domain.Scope
	capacity  int
	active    bool // a candidate: not withdrawn, not ended
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

// needState is where a need is in the matcher's eyes.
type needState int

const (
	needOpen     needState = iota // being matched (or parked after a refusal)
	needWaiting                   // waitlisted
	needReferred                  // a referral is live
	needDone                      // completed or withdrawn
)

type need struct {
	id         string
	category   string
	areas      [4]string // by tier: community, street, district
	groups     []domain.TargetGroup
	tier       int
	key        int64 // priority key
	registered time.Time
	version    int64
	state      needState
	referral   string
	offer      string    // the live referral's offer
	engaged    int       // how far the live referral went: proposed, accepted, in service
	deadline   time.Time // the live proposal's answer deadline
	attempts   int
	declined   map[string]bool
	parked     bool
	parkGen    int // counts the need's parkings, to tell stale parked entries
	decided    int // counts the decisions made for the need (Decision.Seq)
}

// Matcher is the pure matching core. It is not safe for concurrent use: one loop
// owns it. Its decisions are a deterministic function of the events it is given.
type Matcher struct {
	policy      domain.Policy
	communities map[string]domain.Community
	offers      map[string]*offer
	cands       map[slot]*btree.BTreeG[*offer] // active offers with a free unit, by rank
	needs       map[string]*need
	waits       map[slot]*btree.BTreeG[*need] // waitlisted needs by priority, under each of their areas
	// parked holds the needs whose decision was refused as stale, under the need and
	// the offer of the decision with the version it expected: the first later event
	// of either (the one that made it stale) brings the need back to matching.
	parked map[domain.AggregateRef][]parkedNeed
	// owed holds the offers a decision taken back (Revert, Refused) gave units back
	// to: once the event being read is applied, they serve the waiting needs. This
	// does not hang on the parked needs, which that event may end (a need withdrawn
	// or served): a unit freed by a decision that never reached the log has no event
	// of its own to bring it to the waitlist.
	owed   map[string]bool
	posted int // offers posted so far, for posting order
	// deadlines holds the needs with a proposal waiting for an answer, by deadline.
	deadlines *btree.BTreeG[*need]
	// ending holds the offers with an end date, by it; starting those not yet valid, by start.
	ending, starting *btree.BTreeG[*offer]
	// now is the time of the last clock tick read; latest the latest time of any
	// event read, the matcher's present (event times need not grow: writers' clocks differ).
	now, latest time.Time
}

type parkedNeed struct {
	need     *need
	expected int64
	offer    string           // the offer of the refused decision, if any
	ending   domain.EndReason // the reason of the referral's end it refused, if any
	gen      int
}

// current reports whether the entry belongs to the need's present parking.
func (p parkedNeed) current() bool { return p.need.parked && p.need.parkGen == p.gen }

// New returns an empty matcher.
func New() *Matcher {
	return &Matcher{
		communities: map[string]domain.Community{},
		offers:      map[string]*offer{}, cands: map[slot]*btree.BTreeG[*offer]{},
		needs: map[string]*need{}, waits: map[slot]*btree.BTreeG[*need]{},
		parked: map[domain.AggregateRef][]parkedNeed{}, owed: map[string]bool{},
		deadlines: btree.NewG(16, deadlineLess),
		ending:    btree.NewG(16, func(a, b *offer) bool { return timeIDLess(a.ValidUntil, a.ID, b.ValidUntil, b.ID) }),
		starting:  btree.NewG(16, func(a, b *offer) bool { return timeIDLess(a.ValidFrom, a.ID, b.ValidFrom, b.ID) }),
	}
}

func timeIDLess(ta time.Time, a string, tb time.Time, b string) bool {
	if !ta.Equal(tb) {
		return ta.Before(tb)
	}
	return a < b
}

func deadlineLess(a, b *need) bool { return timeIDLess(a.deadline, a.id, b.deadline, b.id) }

// rankLess orders candidate offers by the domain's ranking.
func rankLess(a, b *offer) bool { return a.RanksBefore(&b.Candidate) }

// priorityLess orders waiting needs: higher priority key, registered first, smaller id.
func priorityLess(a, b *need) bool {
	switch {
	case a.key != b.key:
		return a.key > b.key
	case !a.registered.Equal(b.registered):
		return a.registered.Before(b.registered)
	}
	return a.id < b.id
}

// Apply folds one event into the matcher's state and returns the decisions it
// triggers. Each decision is applied to the state at once (a proposal reserves its
// unit); its events coming back through the log are recognised. Needs whose
// decision was refused (see Refused) are matched again after the event that
// changed their need or offer, and the units those decisions held serve the
// waiting needs then.
func (m *Matcher) Apply(e domain.Event) []Decision {
	if e.Time.After(m.latest) {
		m.latest = e.Time
	}
	// An event at or below the version the matcher already accounts for is one of its
	// own decisions coming back (the matcher applies them when it makes them).
	ahead := m.accounted(e)
	m.track(e) // first: decisions made on this event expect the version it brings
	ds := m.apply(e, ahead)
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
				n := p.need
				switch {
				case n.state == needOpen:
					ds = append(ds, m.match(n, e, ""))
				case p.ending != "" && n.state == needReferred && m.stillEnds(n, p.ending):
					ds = append(ds, m.end(n, p.ending, e))
				case n.state == needReferred && m.stillEnds(n, domain.CancelledOfferWithdrawn):
					// Its offer was withdrawn while it was parked.
					ds = append(ds, m.end(n, domain.CancelledOfferWithdrawn, e))
				}
				// Needs that passed over the refused decision's offer are served by
				// it now, if it has a free unit.
				if o := m.offers[p.offer]; o != nil {
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
	if o := m.offers[e.AggregateID]; o != nil && e.AggregateType == domain.AggregateOffer {
		// An offer with free units serves the waiting needs in its scope after any of
		// its events.
		ds = append(ds, m.serveWaiting(o, e)...)
	}
	return append(ds, m.serveOwed(e)...)
}

// owe notes that an offer got a unit back from a decision taken back: it serves the
// waiting needs after the event about to be applied (serveOwed).
func (m *Matcher) owe(offerID string) {
	if offerID != "" && m.offers[offerID] != nil {
		m.owed[offerID] = true
	}
}

// serveOwed lets the offers owed a serving (owe) serve the waiting needs, in
// posting order, on the event just applied. Once that event is applied the
// matcher holds the offers' versions the log has, so the proposals are not stale
// for it; and whatever became of the needs whose decisions were taken back
// (matched again, withdrawn, served), no waiting need is left beside a free unit.
func (m *Matcher) serveOwed(cause domain.Event) []Decision {
	if len(m.owed) == 0 {
		return nil
	}
	offers := make([]*offer, 0, len(m.owed))
	for id := range m.owed {
		offers = append(offers, m.offers[id])
	}
	clear(m.owed)
	sort.Slice(offers, func(i, j int) bool { return offers[i].Seq < offers[j].Seq })
	var ds []Decision
	for _, o := range offers {
		ds = append(ds, m.serveWaiting(o, cause)...)
	}
	return ds
}

// accounted reports whether the matcher's state already counts an event of a
// known need or offer.
func (m *Matcher) accounted(e domain.Event) bool {
	switch e.AggregateType {
	case domain.AggregateNeed:
		if n := m.needs[e.AggregateID]; n != nil {
			return e.AggregateVersion <= n.version
		}
	case domain.AggregateOffer:
		if o := m.offers[e.AggregateID]; o != nil {
			return e.AggregateVersion <= o.version
		}
	}
	return false
}

// track keeps the version of every known need and offer, whatever the event's type.
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

func (m *Matcher) apply(e domain.Event, accounted bool) []Decision {
	switch p := e.Payload.(type) {
	case domain.ReferencePublished:
		if ref, err := p.Reference(); err == nil {
			m.policy = ref.Policy
			for _, st := range p.District.Streets {
				for _, c := range st.Communities {
					if com, err := ref.Geography.Community(c.Code); err == nil {
						m.communities[c.Code] = com
					}
				}
			}
		}
	case domain.NeedRegistered:
		if _, known := m.needs[e.AggregateID]; known {
			return nil
		}
		n := &need{
			id: e.AggregateID, category: p.Category, groups: p.TargetGroups,
			areas:      [4]string{"", p.Community, p.Street, e.Partition},
			tier:       domain.TierCommunity,
			key:        m.policy.PriorityKey(p.Hardship, p.Urgency, m.latest),
			registered: m.latest, version: e.AggregateVersion,
		}
		m.needs[n.id] = n
		return []Decision{m.match(n, e, "")}
	case domain.OfferPosted:
		if _, known := m.offers[e.AggregateID]; known {
			return nil
		}
		m.posted++
		o := &offer{
			Candidate: domain.Candidate{ID: e.AggregateID, Seq: m.posted, ValidFrom: p.ValidFrom, ValidUntil: p.ValidUntil, Eligibility: p.Eligibility},
			category:  p.Category, scope: p.Scope, capacity: p.Capacity, active: true,
			version: e.AggregateVersion, reserved: map[string]string{},
		}
		m.offers[o.ID] = o
		m.setFree(o, p.Capacity)
		if !o.ValidUntil.IsZero() {
			m.ending.ReplaceOrInsert(o)
		}
		if o.ValidFrom.After(m.latest) {
			m.starting.ReplaceOrInsert(o)
		}
	case domain.OfferCapacityChanged:
		if o := m.offers[e.AggregateID]; o != nil && o.active {
			m.setFree(o, o.Free+p.Capacity-o.capacity)
			o.capacity = p.Capacity
		}
	case domain.OfferWithdrawn:
		if o := m.offers[e.AggregateID]; o != nil && !o.withdrawn {
			m.setFree(o, 0)
			o.active, o.withdrawn = false, true
			m.ending.Delete(o)
			m.starting.Delete(o)
			// Its referrals not yet in service are cancelled; their needs are matched again.
			var ds []Decision
			for _, needID := range sortedNeeds(o.reserved) {
				if n := m.needs[needID]; n != nil && n.offer == o.ID && n.engaged < engagedInService && !n.parked {
					ds = append(ds, m.end(n, domain.CancelledOfferWithdrawn, e))
				}
			}
			return ds
		}
	case domain.ClockTicked:
		return m.tick(e)
	case domain.ReferralAccepted:
		if n := m.needs[e.AggregateID]; n != nil && n.referral == p.ReferralID {
			m.deadlines.Delete(n)
			n.engaged = engagedAccepted
		}
	case domain.ServiceStarted:
		if n := m.needs[e.AggregateID]; n != nil && n.referral == p.ReferralID {
			n.engaged = engagedInService
		}
	case domain.OfferUnitReserved:
		if o := m.offers[e.AggregateID]; o != nil && !accounted && o.reserved[p.ReferralID] == "" {
			o.reserved[p.ReferralID] = p.NeedID // made by another matcher: adopt it
			m.setFree(o, o.Free-1)
		}
	case domain.OfferUnitReleased:
		if o := m.offers[e.AggregateID]; o != nil && !accounted {
			m.release(o, p.ReferralID)
		}
	case domain.ReferralProposed:
		if n := m.needs[e.AggregateID]; n != nil && !accounted && n.referral != p.ReferralID {
			m.unwait(n) // made by another matcher: adopt it
			if n.engaged == engagedProposed {
				m.deadlines.Delete(n)
			}
			n.referral, n.state, n.tier = p.ReferralID, needReferred, max(n.tier, p.Tier)
			n.offer, n.engaged, n.deadline = p.OfferID, engagedProposed, p.Deadline
			m.deadlines.ReplaceOrInsert(n)
			n.attempts++
		}
	case domain.ReferralDeclined:
		if n := m.needs[e.AggregateID]; n != nil && n.referral == p.ReferralID {
			if n.declined == nil {
				n.declined = map[string]bool{}
			}
			n.declined[p.OfferID] = true
			m.clearReferral(n)
			return []Decision{m.match(n, e, "")} // again at the same tier, without that offer
		}
	case domain.NeedEscalated:
		n := m.needs[e.AggregateID]
		if n == nil || p.Reason != domain.EscalatedByCentre || n.referral != p.ReferralID {
			return nil // the matcher's own escalations are applied when decided
		}
		m.clearReferral(n)
		n.tier = max(n.tier, p.To)
		return []Decision{m.match(n, e, "")}
	case domain.NeedWaitlisted:
		if n := m.needs[e.AggregateID]; n != nil && !accounted && n.state == needOpen && !n.parked {
			n.tier = domain.TierDistrict // made by another matcher: adopt it
			m.wait(n)
		}
	case domain.ServiceCompleted, domain.NeedWithdrawn:
		if n := m.needs[e.AggregateID]; n != nil {
			m.unwait(n)
			m.clearReferral(n)
			n.state, n.parked = needDone, false
		}
	}
	return nil
}

// match decides for an open need at its tier: the best candidate, or up a tier
// (the first step to tier 2 if its community does not link the category), or the
// waitlist. The decision is applied to the state at once. An offer named in
// exclude is passed over.
func (m *Matcher) match(n *need, cause domain.Event, exclude string) Decision {
	return m.matchInto(m.decision(n, cause), n, cause, exclude)
}

// decision starts a decision for a need on a cause.
func (m *Matcher) decision(n *need, cause domain.Event) Decision {
	n.decided++
	return Decision{NeedID: n.id, NeedVersion: n.version, FromTier: n.tier, Cause: cause, Seq: n.decided}
}

// matchInto continues a decision from the need's present tier.
func (m *Matcher) matchInto(d Decision, n *need, cause domain.Event, exclude string) Decision {
	tier := n.tier
	if tier == domain.TierCommunity {
		if com, known := m.communities[n.areas[domain.TierCommunity]]; known && !com.CanLink(n.category) {
			d.Escalations = append(d.Escalations, Escalation{From: tier, To: tier + 1, Reason: domain.EscalatedNotCapable})
			tier++
		}
	}
	for {
		if o, considered, count := m.best(n, tier, m.latest, exclude); o != nil {
			d.Tier, d.Rule, d.Candidates, d.Considered = tier, RuleBestCandidate, count, considered
			m.propose(n, o, &d)
			return d
		}
		if tier == domain.TierDistrict {
			d.Waitlist, d.Tier = true, tier
			n.tier = tier
			n.version = d.NeedVersion + d.needEvents()
			m.wait(n)
			return d
		}
		d.Escalations = append(d.Escalations, Escalation{From: tier, To: tier + 1, Reason: domain.EscalatedNoSupply})
		tier++
	}
}

// end ends a need's live referral (expired or cancelled), gives its unit back, and
// matches the need again: a tier up after an expiry, below the district; at the
// same tier otherwise, without that offer.
func (m *Matcher) end(n *need, reason domain.EndReason, cause domain.Event) Decision {
	o := m.offers[n.offer]
	e := &Ending{ReferralID: n.referral, OfferID: n.offer, Reason: reason, engaged: n.engaged, deadline: n.deadline}
	d := m.decision(n, cause)
	d.Ending = e
	if o != nil {
		e.OfferVersion = o.version
		o.version++
		m.release(o, n.referral)
	}
	m.clearReferral(n)
	n.version++
	if reason == domain.EndExpired && n.tier >= domain.TierDistrict {
		e.Reason = domain.CancelledExpiredAtTop // nowhere to go up: matched again without it
	}
	if e.Reason == domain.EndExpired {
		n.tier++
	} else if !n.declined[e.OfferID] {
		if n.declined == nil {
			n.declined = map[string]bool{}
		}
		n.declined[e.OfferID], e.declined = true, true
	}
	return m.matchInto(d, n, cause, "")
}

// stillEnds reports whether a live referral should still end for a reason, once the
// event that refused its end is read: an answer may have come in between.
func (m *Matcher) stillEnds(n *need, reason domain.EndReason) bool {
	switch reason {
	case domain.EndExpired, domain.CancelledExpiredAtTop:
		return n.engaged == engagedProposed && !n.deadline.After(m.now)
	case domain.CancelledOfferWithdrawn:
		o := m.offers[n.offer]
		return o != nil && o.withdrawn && n.engaged < engagedInService
	}
	return false
}

// clearReferral forgets a need's live referral; the need is open.
func (m *Matcher) clearReferral(n *need) {
	if n.engaged == engagedProposed {
		m.deadlines.Delete(n)
	}
	n.referral, n.offer, n.engaged, n.deadline, n.state = "", "", engagedNone, time.Time{}, needOpen
}

// tick reads the time: proposals past their deadline expire, offers past their end
// stop, offers past their start serve the waitlist.
func (m *Matcher) tick(e domain.Event) []Decision {
	now := e.Time
	if !now.After(m.now) {
		return nil
	}
	m.now = now
	var ds []Decision
	var due []*need
	m.deadlines.Ascend(func(n *need) bool {
		if n.deadline.After(now) {
			return false
		}
		due = append(due, n)
		return true
	})
	for _, n := range due {
		if !n.parked {
			ds = append(ds, m.end(n, domain.EndExpired, e))
		}
	}
	var ended []*offer
	m.ending.Ascend(func(o *offer) bool {
		if o.ValidUntil.After(now) {
			return false
		}
		ended = append(ended, o)
		return true
	})
	for _, o := range ended {
		m.ending.Delete(o)
		m.setFree(o, 0)
		o.active = false
	}
	var started []*offer
	m.starting.Ascend(func(o *offer) bool {
		if o.ValidFrom.After(now) {
			return false
		}
		started = append(started, o)
		return true
	})
	for _, o := range started {
		m.starting.Delete(o)
		ds = append(ds, m.serveWaiting(o, e)...)
	}
	return ds
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

// best returns a need's first candidate at a tier by rank, the first few considered
// (fitting, in rank order) and how many offers of its category with a free unit the
// tier's area has. At the district tier, the last resort, every offer whose scope
// covers the household is a candidate (a community's or a street's too), as for new
// supply serving the waitlist: the proposal stays at the district tier. It reads each
// candidate tree from its best end and stops at the first few that fit, so its cost
// grows with the logarithm of the offers, not their number.
func (m *Matcher) best(n *need, tier int, now time.Time, exclude string) (*offer, []string, int) {
	tiers := domain.CandidateTiers(tier)
	var fitting []*offer
	count := 0
	for _, t := range tiers {
		tree := m.cands[slot{n.category, t, n.areas[t]}]
		if tree == nil {
			continue
		}
		count += tree.Len()
		found := 0
		tree.Ascend(func(o *offer) bool {
			if o.ID != exclude && !n.declined[o.ID] && o.FitsAt(n.groups, now) {
				fitting = append(fitting, o)
				found++
			}
			return found < maxConsidered
		})
	}
	if len(fitting) == 0 {
		return nil, nil, count
	}
	if len(tiers) > 1 { // several trees: merge their fitting offers by rank
		sort.Slice(fitting, func(i, j int) bool { return rankLess(fitting[i], fitting[j]) })
	}
	considered := make([]string, 0, min(len(fitting), maxConsidered))
	for _, o := range fitting[:min(len(fitting), maxConsidered)] {
		considered = append(considered, o.ID)
	}
	return fitting[0], considered, count
}

// propose applies a proposal to the state.
func (m *Matcher) propose(n *need, o *offer, d *Decision) {
	m.unwait(n)
	n.attempts++
	ref := ReferralID(n.id, n.attempts)
	d.OfferID, d.OfferVersion, d.Attempt = o.ID, o.version, n.attempts
	d.Deadline = m.latest.Add(m.policy.Deadline(d.Tier))
	n.tier, n.state, n.referral = d.Tier, needReferred, ref
	n.version = d.NeedVersion + d.needEvents()
	o.reserved[ref] = n.id
	o.version++
	m.setFree(o, o.Free-1)
	n.offer, n.engaged, n.deadline = o.ID, engagedProposed, d.Deadline
	m.deadlines.ReplaceOrInsert(n)
}

// serveWaiting gives an offer's free units to the waitlisted needs in its scope
// that it can serve, highest priority first. The proposals stay at the needs' tier.
func (m *Matcher) serveWaiting(o *offer, cause domain.Event) []Decision {
	if !o.active || o.Free <= 0 {
		return nil
	}
	t := m.waits[slot{o.category, o.scope.Tier, o.scope.Area}]
	if t == nil {
		return nil
	}
	var served []*need
	free := o.Free
	t.Ascend(func(n *need) bool {
		if free == 0 {
			return false
		}
		if !n.declined[o.ID] && o.FitsAt(n.groups, m.latest) {
			served = append(served, n)
			free--
		}
		return true
	})
	out := make([]Decision, 0, len(served))
	for _, n := range served {
		d := m.decision(n, cause)
		d.Tier, d.Rule, d.Candidates, d.Considered = n.tier, RuleWaitingByPriority, 1, []string{o.ID}
		m.propose(n, o, &d)
		out = append(out, d)
	}
	return out
}

// wait puts a need on the waitlist, under each of its areas.
func (m *Matcher) wait(n *need) {
	n.state = needWaiting
	for tier := domain.TierCommunity; tier <= domain.TierDistrict; tier++ {
		s := slot{n.category, tier, n.areas[tier]}
		t := m.waits[s]
		if t == nil {
			t = btree.NewG(16, priorityLess)
			m.waits[s] = t
		}
		t.ReplaceOrInsert(n)
	}
}

// unwait takes a need off the waitlist.
func (m *Matcher) unwait(n *need) {
	if n.state != needWaiting {
		return
	}
	for tier := domain.TierCommunity; tier <= domain.TierDistrict; tier++ {
		s := slot{n.category, tier, n.areas[tier]}
		if t := m.waits[s]; t != nil {
			t.Delete(n)
			if t.Len() == 0 {
				delete(m.waits, s)
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
	if !o.active || free <= 0 {
		if t != nil && t.Len() == 0 {
			delete(m.cands, s)
		}
		return
	}
	if t == nil {
		t = btree.NewG(16, rankLess)
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

// Refused takes back a decision that will not be in the log (its append was, or
// will be, refused as stale), with the decisions made after it (rest) that are not
// in the log either. Those that touched its need or offers, directly or through one
// another, were made on a state that counted it: they are taken back too (newest
// first) and made again, so that every append expects versions the log really has;
// the others stand. Its own need waits for the event that made it stale (see
// Revert). It reports which of rest were taken back, and returns the decisions made
// again in their place, on cause: the event that made d stale, about to be read.
// The units the decisions taken back held serve the waiting needs once cause is
// applied (see Apply), whatever cause does to their needs. A replay sees the same
// refusals at the same points and so makes the same decisions.
func (m *Matcher) Refused(d Decision, rest []Decision, cause domain.Event) (affected []bool, redo []Decision) {
	touched := map[string]bool{}
	mark := func(x Decision) {
		touched["n/"+x.NeedID] = true
		if x.OfferID != "" {
			touched["o/"+x.OfferID] = true
		}
		if x.Ending != nil {
			touched["o/"+x.Ending.OfferID] = true
		}
	}
	touches := func(x Decision) bool {
		return touched["n/"+x.NeedID] || (x.OfferID != "" && touched["o/"+x.OfferID]) || (x.Ending != nil && touched["o/"+x.Ending.OfferID])
	}
	mark(d)
	affected = make([]bool, len(rest))
	for j, r := range rest {
		if touches(r) {
			affected[j] = true
			mark(r)
		}
	}
	needs := make([]*need, len(rest))
	for j := len(rest) - 1; j >= 0; j-- {
		if affected[j] {
			needs[j] = m.undo(rest[j])
		}
	}
	m.Revert(d)
	var ds []Decision
	for j, n := range needs {
		switch {
		case !affected[j] || n == nil || n.parked:
		case rest[j].Ending != nil && n.state == needReferred && n.referral == rest[j].Ending.ReferralID:
			// The referral it ended is live again: end it again, on the corrected state.
			ds = append(ds, m.end(n, rest[j].Ending.Reason, cause))
		case n.state == needOpen:
			ds = append(ds, m.match(n, cause, d.OfferID))
		}
	}
	for j, r := range rest {
		if o := m.offers[r.OfferID]; affected[j] && o != nil && o.ID != d.OfferID {
			ds = append(ds, m.serveWaiting(o, cause)...)
		}
	}
	return affected, ds
}

// undo takes back a decision that was never appended, as if it had not been made.
// The offers it touched are owed a serving of the waiting needs (owe): a unit it
// held is free again, and no event of the log will say so.
func (m *Matcher) undo(d Decision) *need {
	n := m.needs[d.NeedID]
	if n == nil {
		return nil
	}
	m.owe(d.OfferID)
	if d.Ending != nil {
		m.owe(d.Ending.OfferID)
	}
	m.unwait(n)
	if d.Proposes() {
		ref := ReferralID(n.id, d.Attempt)
		if o := m.offers[d.OfferID]; o != nil && o.reserved[ref] != "" {
			o.version--
			m.release(o, ref)
		}
		if n.referral == ref {
			m.deadlines.Delete(n)
			n.referral, n.offer, n.engaged, n.deadline = "", "", engagedNone, time.Time{}
		}
	}
	n.state, n.tier = needOpen, d.FromTier
	n.version = d.NeedVersion
	if e := d.Ending; e != nil { // the referral it ended is live again
		if o := m.offers[e.OfferID]; o != nil {
			o.reserved[e.ReferralID] = n.id
			o.version--
			if o.active {
				m.setFree(o, o.Free-1)
			}
		}
		if e.declined {
			delete(n.declined, e.OfferID)
		}
		n.referral, n.offer, n.engaged, n.deadline, n.state = e.ReferralID, e.OfferID, e.engaged, e.deadline, needReferred
		if e.engaged == engagedProposed {
			m.deadlines.ReplaceOrInsert(n)
		}
	}
	return n
}

// Revert undoes a decision whose append was refused (the need or the offer changed
// under it): the unit is free again, and the need waits for the event that changed
// its need or offer (still ahead in the log) to be matched again. That event is in
// the log, so a replay brings the need back at the same point.
func (m *Matcher) Revert(d Decision) {
	n := m.undo(d)
	if n == nil {
		return
	}
	n.parked = true
	n.parkGen++
	p := parkedNeed{need: n, expected: d.NeedVersion, offer: d.OfferID, gen: n.parkGen}
	if d.Ending != nil {
		p.ending = d.Ending.Reason
	}
	nr := domain.AggregateRef{Type: domain.AggregateNeed, ID: n.id}
	m.parked[nr] = append(m.parked[nr], p)
	switch {
	case d.Ending != nil && d.Ending.OfferID == d.OfferID:
		// Released and taken again in one change, which expected the older version.
		or := domain.AggregateRef{Type: domain.AggregateOffer, ID: d.OfferID}
		p.expected = d.Ending.OfferVersion
		m.parked[or] = append(m.parked[or], p)
	default:
		if d.Proposes() {
			or := domain.AggregateRef{Type: domain.AggregateOffer, ID: d.OfferID}
			p.expected = d.OfferVersion
			m.parked[or] = append(m.parked[or], p)
		}
		if d.Ending != nil {
			or := domain.AggregateRef{Type: domain.AggregateOffer, ID: d.Ending.OfferID}
			p.expected = d.Ending.OfferVersion
			m.parked[or] = append(m.parked[or], p)
		}
	}
}

// Waiting returns how many needs wait: waitlisted, or parked after a refusal.
func (m *Matcher) Waiting() int {
	count := 0
	for _, n := range m.needs {
		if n.state == needWaiting || (n.state == needOpen && n.parked) {
			count++
		}
	}
	return count
}

// referralNamespace scopes the name-based referral ids.
var referralNamespace = uuid.MustParse("6f1c1f0e-4d2a-4c55-9a53-2f7d8f1b6a10")

// ReferralID names the attempt-th referral of a need. It is derived, not drawn, so
// that a replay of the log proposes the same referrals.
func ReferralID(needID string, attempt int) string {
	return uuid.NewSHA1(referralNamespace, []byte(needID+"/"+strconv.Itoa(attempt))).String()
}
