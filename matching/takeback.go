package matching

import (
	"sort"
	"time"

	"github.com/tierlink/tierlink/domain"
)

// TakeBack takes back a decision that will not be in the log (its append was, or
// will be, refused as stale), with the decisions made after it (rest) that are not
// in the log either. Those that touched its need or offers, directly or through one
// another, were made on a state that counted it: they are taken back too (newest
// first) and made again, so that every append expects versions the log really has;
// the others stand. Its own need waits for the event that made it stale (see
// takeBackAndPark). It reports which of rest were taken back, and returns the decisions made
// again in their place, on cause: the event that made d stale, about to be read.
// The units the decisions taken back held serve the waiting needs once cause is
// applied (see Apply), whatever cause does to their needs. A replay sees the same
// refusals at the same points and so makes the same decisions.
func (m *Matcher) TakeBack(d Decision, rest []Decision, cause domain.Event) (affected []bool, redo []Decision) {
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
			needs[j] = m.takeBack(rest[j])
		}
	}
	m.takeBackAndPark(d)
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

// takeBack takes back a decision that was never appended, as if it had not been made.
// The offers it touched are owed a serving of the waiting needs (owe): a unit it
// held is free again, and no event of the log will say so.
func (m *Matcher) takeBack(d Decision) *need {
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

// takeBackAndPark takes back a decision whose append was refused (the need or the offer changed
// under it): the unit is free again, and the need waits for the event that changed
// its need or offer (still ahead in the log) to be matched again. That event is in
// the log, so a replay brings the need back at the same point.
func (m *Matcher) takeBackAndPark(d Decision) {
	n := m.takeBack(d)
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

type parkedNeed struct {
	need     *need
	expected int64
	offer    string           // the offer of the refused decision, if any
	ending   domain.EndReason // the reason of the referral's end it refused, if any
	gen      int
}

// current reports whether the entry belongs to the need's present parking.
func (p parkedNeed) current() bool { return p.need.parked && p.need.parkGen == p.gen }

// unpark brings back the needs parked on the event's need or offer (see
// takeBackAndPark) whose refused decision expected a version the event moves past.
func (m *Matcher) unpark(e domain.Event) []Decision {
	ref := e.Aggregate()
	ps, ok := m.parked[ref]
	if !ok {
		return nil
	}
	var ds []Decision
	var keep []parkedNeed
	for _, p := range ps {
		switch {
		case !p.current(): // brought back by its other aggregate already
		case e.AggregateVersion <= p.expected:
			keep = append(keep, p)
		default:
			ds = append(ds, m.rematch(p, e)...)
		}
	}
	if len(keep) == 0 {
		delete(m.parked, ref)
	} else {
		m.parked[ref] = keep
	}
	return ds
}

// rematch decides again for a parked need on the event that made its decision
// stale: it is matched again if open, or its referral ended if it still should.
func (m *Matcher) rematch(p parkedNeed, e domain.Event) []Decision {
	p.need.parked = false
	n := p.need
	var ds []Decision
	switch {
	case n.state == needOpen:
		ds = append(ds, m.match(n, e, ""))
	case p.ending != "" && n.state == needReferred && m.stillEnds(n, p.ending):
		ds = append(ds, m.end(n, p.ending, e))
	case n.state == needReferred && m.stillEnds(n, domain.CancelledOfferWithdrawn):
		// Its offer was withdrawn while it was parked.
		ds = append(ds, m.end(n, domain.CancelledOfferWithdrawn, e))
	}
	// Needs that passed over the refused decision's offer are served by it now, if
	// it has a free unit.
	if o := m.offers[p.offer]; o != nil {
		ds = append(ds, m.serveWaiting(o, e)...)
	}
	return ds
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
