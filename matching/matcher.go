// Package matching is the matcher: a pure core that turns the log's events into
// referral decisions, and the loop that feeds it from the log and appends them.
// docs/matching.md states the policy it implements.
package matching

import (
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
	// RuleRound: an allocation round shared scarce units among the needs competing
	// for them, by an exact optimisation (docs/matching.md).
	RuleRound = "allocation-round"
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
	// Waitlist is set when no tier has a candidate, or the need lost a round;
	// WaitReason says which.
	Waitlist   bool
	WaitReason domain.EscalationReason
	// Hold is set when supply that fits the need is scarce: it is held for the
	// round due at HeldUntil, with Competing needs (itself included) for Free units.
	Hold      bool
	HeldUntil time.Time
	Competing int
	Free      int
	// Round explains a proposal decided in an allocation round.
	Round *domain.RoundOutcome
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

// Matcher is the pure matching core. It is not safe for concurrent use: one loop
// owns it. Its decisions are a deterministic function of the events it is given.
type Matcher struct {
	policy      domain.Policy
	communities map[string]domain.Community
	offers      map[string]*offer
	cands       map[slot]*btree.BTreeG[*offer] // active offers with a free unit, by rank
	needs       map[string]*need
	// households lists each household's needs not known to be done, so that a
	// reassessment re-prioritises them.
	households map[string][]*need
	waits      map[slot]*btree.BTreeG[*need] // waitlisted needs by priority, under each of their areas
	// parked holds the needs whose decision was refused as stale, under the need and
	// the offer of the decision with the version it expected: the first later event
	// of either (the one that made it stale) brings the need back to matching.
	parked map[domain.AggregateRef][]parkedNeed
	// owed holds the offers a decision taken back (TakeBack) gave units back
	// to: once the event being read is applied, they serve the waiting needs. This
	// does not hang on the parked needs, which that event may end (a need withdrawn
	// or served): a unit freed by a decision that never reached the log has no event
	// of its own to bring it to the waitlist.
	owed   map[string]bool
	posted int // offers posted so far, for posting order
	// deadlines holds the needs with a proposal waiting for an answer, by deadline.
	deadlines *btree.BTreeG[*need]
	// holds holds the needs held for an allocation round, by the round's due time;
	// aged indexes the pool of waiting needs (waits) by registration, for max_wait.
	holds *btree.BTreeG[*need]
	aged  map[slot]*btree.BTreeG[*need]
	byAge bool // whether aged is kept: while the policy has a max_wait
	// ending holds the offers with an end date, by it; starting those not yet valid, by start.
	ending, starting *btree.BTreeG[*offer]
	// now is the time of the last clock tick read; latest the latest time of any
	// event read, the matcher's present (event times need not grow: writers' clocks differ).
	now, latest time.Time
}

// New returns an empty matcher.
func New() *Matcher {
	return &Matcher{
		communities: map[string]domain.Community{},
		offers:      map[string]*offer{}, cands: map[slot]*btree.BTreeG[*offer]{},
		needs: map[string]*need{}, households: map[string][]*need{}, waits: map[slot]*btree.BTreeG[*need]{},
		parked: map[domain.AggregateRef][]parkedNeed{}, owed: map[string]bool{},
		deadlines: btree.NewG(16, deadlineLess),
		holds:     btree.NewG(16, heldLess), aged: map[slot]*btree.BTreeG[*need]{},
		ending:   btree.NewG(16, func(a, b *offer) bool { return timeIDLess(a.ValidUntil, a.ID, b.ValidUntil, b.ID) }),
		starting: btree.NewG(16, func(a, b *offer) bool { return timeIDLess(a.ValidFrom, a.ID, b.ValidFrom, b.ID) }),
	}
}

// Apply folds one event into the matcher's state and returns the decisions it
// triggers. Each decision is applied to the state at once (a proposal reserves its
// unit); its events coming back through the log are recognised. Needs whose
// decision was refused (see TakeBack) are matched again after the event that
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
	ds = append(ds, m.unpark(e)...)
	if o := m.offers[e.AggregateID]; o != nil && e.AggregateType == domain.AggregateOffer {
		// An offer with free units serves the waiting needs in its scope after any of
		// its events.
		ds = append(ds, m.serveWaiting(o, e)...)
	}
	return append(ds, m.serveOwed(e)...)
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

// referralNamespace scopes the name-based referral ids.
var referralNamespace = uuid.MustParse("6f1c1f0e-4d2a-4c55-9a53-2f7d8f1b6a10")

// ReferralID names the attempt-th referral of a need. It is derived, not drawn, so
// that a replay of the log proposes the same referrals.
func ReferralID(needID string, attempt int) string {
	return uuid.NewSHA1(referralNamespace, []byte(needID+"/"+strconv.Itoa(attempt))).String()
}
