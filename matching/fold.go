package matching

import "github.com/tierlink/tierlink/domain"

// apply folds one event into the state and returns the decisions it calls for.
// accounted tells that the state counts the event already (see Apply): what
// another matcher decided is adopted only when it is not.
func (m *Matcher) apply(e domain.Event, accounted bool) []Decision {
	switch p := e.Payload.(type) {
	case domain.ReferencePublished:
		m.applyReference(p)
	case domain.ClockTicked:
		return m.tick(e)
	case domain.OfferPosted:
		m.applyOfferPosted(e, p)
	case domain.OfferCapacityChanged:
		m.applyCapacityChanged(e.AggregateID, p)
	case domain.OfferWithdrawn:
		return m.applyOfferWithdrawn(e)
	case domain.OfferUnitReserved:
		if !accounted {
			m.adoptReservation(e.AggregateID, p)
		}
	case domain.OfferUnitReleased:
		if o := m.offers[e.AggregateID]; o != nil && !accounted {
			m.release(o, p.ReferralID)
		}
	case domain.HouseholdReassessed:
		m.reprioritise(e.AggregateID, p.Hardship)
	default:
		return m.applyNeedEvent(e, accounted)
	}
	return nil
}

// applyNeedEvent folds one of a need's events.
func (m *Matcher) applyNeedEvent(e domain.Event, accounted bool) []Decision {
	switch p := e.Payload.(type) {
	case domain.NeedRegistered:
		return m.applyNeedRegistered(e, p)
	case domain.ReferralProposed:
		if !accounted {
			m.adoptProposal(e.AggregateID, p)
		}
	case domain.ReferralAccepted:
		if n := m.needs[e.AggregateID]; n != nil && n.referral == p.ReferralID {
			m.deadlines.Delete(n)
			n.engaged = engagedAccepted
		}
	case domain.ServiceStarted:
		if n := m.needs[e.AggregateID]; n != nil && n.referral == p.ReferralID {
			n.engaged = engagedInService
		}
	case domain.ReferralDeclined:
		return m.applyDeclined(e, p)
	case domain.NeedEscalated:
		return m.applyEscalated(e, p)
	case domain.NeedWaitlisted:
		if n := m.needs[e.AggregateID]; n != nil && !accounted && (n.state == needOpen || n.state == needHeld) && !n.parked {
			m.unwait(n)
			n.tier = domain.TierDistrict // made by another matcher: adopt it
			m.wait(n)
		}
	case domain.NeedHeld:
		if n := m.needs[e.AggregateID]; n != nil && !accounted && n.state == needOpen && !n.parked {
			n.tier = max(n.tier, p.Tier) // made by another matcher: adopt it
			m.hold(n, p.Until)
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

// applyReference takes the policy and each community's capability list.
func (m *Matcher) applyReference(p domain.ReferencePublished) {
	ref, err := p.Reference()
	if err != nil {
		return
	}
	before := m.rules() != nil
	m.policy = ref.Policy
	if (m.rules() != nil) != before {
		m.reorderCandidates()
	}
	m.indexAges()
	for _, st := range p.District.Streets {
		for _, c := range st.Communities {
			if com, err := ref.Geography.Community(c.Code); err == nil {
				m.communities[c.Code] = com
			}
		}
	}
}

// applyNeedRegistered matches a new need; its waiting starts at the matcher's now.
func (m *Matcher) applyNeedRegistered(e domain.Event, p domain.NeedRegistered) []Decision {
	if _, known := m.needs[e.AggregateID]; known {
		return nil
	}
	n := &need{
		id: e.AggregateID, household: p.HouseholdID, category: p.Category, groups: p.TargetGroups,
		hardship: p.Hardship, urgency: p.Urgency,
		areas:      [4]string{"", p.Community, p.Street, e.Partition},
		tier:       domain.TierCommunity,
		key:        m.policy.PriorityKey(p.Hardship, p.Urgency, m.latest),
		points:     p.Hardship + m.policy.UrgencyPoints[p.Urgency],
		registered: m.latest, version: e.AggregateVersion,
	}
	m.needs[n.id] = n
	m.households[n.household] = append(m.households[n.household], n)
	return []Decision{m.match(n, e, "")}
}

// reprioritise gives a reassessed household's needs its new hardship score: the
// waiting and held ones take their new place in the pool, and every later
// decision (a proposal to scarce supply, an allocation round) weighs them by it.
// Needs found done are dropped from the household's list on the way.
func (m *Matcher) reprioritise(household string, hardship int) {
	live := m.households[household][:0]
	for _, n := range m.households[household] {
		if n.state == needDone {
			continue
		}
		live = append(live, n)
		if n.hardship == hardship {
			continue
		}
		state, until := n.state, n.heldUntil
		m.unwait(n)
		n.hardship = hardship
		n.key = m.policy.PriorityKey(hardship, n.urgency, n.registered)
		n.points = hardship + m.policy.UrgencyPoints[n.urgency]
		switch state {
		case needWaiting:
			m.wait(n)
		case needHeld:
			m.hold(n, until)
		}
	}
	if len(live) == 0 {
		delete(m.households, household)
		return
	}
	m.households[household] = live
}

// applyOfferPosted adds an offer; it serves the waitlist after the event (Apply),
// or at the tick that reaches its start.
func (m *Matcher) applyOfferPosted(e domain.Event, p domain.OfferPosted) {
	if _, known := m.offers[e.AggregateID]; known {
		return
	}
	m.posted++
	o := &offer{
		Candidate: domain.Candidate{ID: e.AggregateID, Tier: p.Scope.Tier, Seq: m.posted, ValidFrom: p.ValidFrom, ValidUntil: p.ValidUntil, Eligibility: p.Eligibility},
		category:  p.Category, scope: p.Scope, capacity: p.Capacity, active: true,
		version: e.AggregateVersion, reserved: map[string]string{},
		// Under the allocation rules an offer that starts later is no candidate until
		// the tick that reaches its start lets it serve the waitlist first.
		pending: m.rules() != nil && p.ValidFrom.After(m.latest),
	}
	m.offers[o.ID] = o
	m.setFree(o, p.Capacity)
	if !o.ValidUntil.IsZero() {
		m.ending.ReplaceOrInsert(o)
	}
	if o.ValidFrom.After(m.latest) {
		m.starting.ReplaceOrInsert(o)
	}
}

// applyCapacityChanged moves an active offer's free units by the change.
func (m *Matcher) applyCapacityChanged(offerID string, p domain.OfferCapacityChanged) {
	if o := m.offers[offerID]; o != nil && o.active {
		m.setFree(o, o.Free+p.Capacity-o.capacity)
		o.capacity = p.Capacity
	}
}

// applyOfferWithdrawn stops an offer and cancels its referrals not yet in
// service; their needs are matched again.
func (m *Matcher) applyOfferWithdrawn(e domain.Event) []Decision {
	o := m.offers[e.AggregateID]
	if o == nil || o.withdrawn {
		return nil
	}
	m.setFree(o, 0)
	o.active, o.withdrawn = false, true
	m.ending.Delete(o)
	m.starting.Delete(o)
	var ds []Decision
	for _, needID := range sortedNeeds(o.reserved) {
		if n := m.needs[needID]; n != nil && n.offer == o.ID && n.engaged < engagedInService && !n.parked {
			ds = append(ds, m.end(n, domain.CancelledOfferWithdrawn, e))
		}
	}
	return ds
}

// adoptReservation counts a unit that another matcher reserved.
func (m *Matcher) adoptReservation(offerID string, p domain.OfferUnitReserved) {
	if o := m.offers[offerID]; o != nil && o.reserved[p.ReferralID] == "" {
		o.reserved[p.ReferralID] = p.NeedID
		m.setFree(o, o.Free-1)
	}
}

// adoptProposal makes a referral that another matcher proposed the need's live one.
func (m *Matcher) adoptProposal(needID string, p domain.ReferralProposed) {
	n := m.needs[needID]
	if n == nil || n.referral == p.ReferralID {
		return
	}
	m.unwait(n)
	if n.engaged == engagedProposed {
		m.deadlines.Delete(n)
	}
	n.referral, n.state, n.tier = p.ReferralID, needReferred, max(n.tier, p.Tier)
	n.offer, n.engaged, n.deadline = p.OfferID, engagedProposed, p.Deadline
	m.deadlines.ReplaceOrInsert(n)
	n.attempts++
}

// applyDeclined matches the need again at the same tier, without that offer.
func (m *Matcher) applyDeclined(e domain.Event, p domain.ReferralDeclined) []Decision {
	n := m.needs[e.AggregateID]
	if n == nil || n.referral != p.ReferralID {
		return nil
	}
	if n.declined == nil {
		n.declined = map[string]bool{}
	}
	n.declined[p.OfferID] = true
	m.clearReferral(n)
	return []Decision{m.match(n, e, "")}
}

// applyEscalated matches the need again a tier up when its centre escalated it;
// the matcher's own escalations are applied when decided.
func (m *Matcher) applyEscalated(e domain.Event, p domain.NeedEscalated) []Decision {
	n := m.needs[e.AggregateID]
	if n == nil || p.Reason != domain.EscalatedByCentre || n.referral != p.ReferralID {
		return nil
	}
	m.clearReferral(n)
	n.tier = max(n.tier, p.To)
	return []Decision{m.match(n, e, "")}
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
		if o.pending {
			o.pending = false
			m.setFree(o, o.Free)
		}
		ds = append(ds, m.serveWaiting(o, e)...)
	}
	if m.rules() != nil {
		ds = append(ds, m.roundsDue(e)...)
	}
	return ds
}
