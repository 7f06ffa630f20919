package quality

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"time"

	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/matching"
)

// MatcherRun says how to run the matcher: a label for reports and a change to the
// district's policy (nil keeps the scenario's).
type MatcherRun struct {
	Label  string
	Policy func(*domain.Policy)
}

// Progress reports that a step has done Done of Total (it is over when they are
// equal; the matcher counts the minutes it has played).
type Progress struct {
	Regime Regime
	// Step names the step: "generate", an algorithm's name, "oracle".
	Step        string
	Done, Total int
}

// Actors of the system's events the simulation writes besides the matcher's.
const (
	actorClock     = "system:clock"
	actorReference = "system:reference"
)

// centre names the centre of a need's area at a tier as an event's actor.
func (s *sim) centre(n int, tier int) string {
	area := map[int]string{domain.TierCommunity: s.sc.Needs[n].Community, domain.TierStreet: s.sc.Needs[n].Street}[tier]
	if area == "" {
		area = s.sc.District
	}
	return domain.Principal{Role: domain.RoleCentre, Tier: tier, Area: area}.String()
}

// Simulate plays a scenario through the real matcher (matching.New, no log store),
// each proposal accepted at once so that a proposed unit is consumed; progress, if
// set, is told the minutes played.
func Simulate(ctx context.Context, sc *Scenario, run MatcherRun, progress func(done, total int)) (Outcome, error) {
	// reference.published first, then the offers and needs in time order with a
	// clock.ticked event every minute from the scenario's start to its end. The
	// events of each decision (matching.DecisionEvents) are fed back to the matcher,
	// and the centre's need.referral_accepted after a proposal's (sim.feed).
	began := time.Now()
	s, err := newSim(sc, run)
	if err != nil {
		return Outcome{}, err
	}
	total := int(sc.End.Sub(sc.Start)/time.Minute) + 1
	offers, needs := 0, 0
	for minute := 0; minute < total; minute++ {
		if minute%1440 == 0 {
			if err := ctx.Err(); err != nil {
				return Outcome{}, fmt.Errorf("matcher: %w", err)
			}
			if progress != nil {
				progress(minute, total)
			}
		}
		tick := sc.Start.Add(time.Duration(minute) * time.Minute)
		if minute == 0 {
			if err := s.feed(s.reference, tick); err != nil {
				return Outcome{}, err
			}
		}
		if err := s.post(domain.AggregateClock, sc.District, tick, actorClock, domain.ClockTicked{}); err != nil {
			return Outcome{}, err
		}
		until := tick.Add(time.Minute)
		for {
			// Within the minute, by time; an offer before a need posted at the same time.
			takeOffer := offers < len(sc.Offers) && sc.Offers[offers].Posted.Before(until) &&
				(needs == len(sc.Needs) || !sc.Needs[needs].Registered.Before(sc.Offers[offers].Posted))
			takeNeed := !takeOffer && needs < len(sc.Needs) && sc.Needs[needs].Registered.Before(until)
			var err error
			switch {
			case takeOffer:
				o := sc.Offers[offers]
				offers++
				err = s.post(domain.AggregateOffer, o.ID, o.Posted, domain.Principal{Role: domain.RoleProvider, Provider: o.Provider}.String(), domain.OfferPosted{
					Provider: o.Provider, Category: o.Category, Capacity: o.Capacity, Scope: o.Scope, District: sc.District,
					Eligibility: o.Eligibility, ValidFrom: o.ValidFrom.UTC(), ValidUntil: o.ValidUntil.UTC()})
			case takeNeed:
				n := sc.Needs[needs]
				needs++
				err = s.post(domain.AggregateNeed, n.ID, n.Registered, s.centre(needs-1, domain.TierCommunity), domain.NeedRegistered{
					HouseholdID: n.Household, Community: n.Community, Street: n.Street, Category: n.Category,
					Urgency: n.Urgency, Hardship: n.Hardship, TargetGroups: n.Groups})
			}
			if err != nil {
				return Outcome{}, err
			}
			if !takeOffer && !takeNeed {
				break
			}
		}
	}
	if offers < len(sc.Offers) || needs < len(sc.Needs) {
		return Outcome{}, fmt.Errorf("matcher: %d offers and %d needs fall after the scenario's end", len(sc.Offers)-offers, len(sc.Needs)-needs)
	}
	if progress != nil {
		progress(total, total)
	}
	s.out.Elapsed = time.Since(began)
	return s.out, nil
}

// sim is a simulation in progress: the matcher, the versions of every aggregate it
// has been fed, and the proposals.
type sim struct {
	sc        *Scenario
	m         *matching.Matcher
	reg       *domain.Registry
	reference domain.Event
	versions  map[domain.AggregateRef]int64
	needIndex map[string]int
	offerIdx  map[string]int
	events    int
	out       Outcome
}

func newSim(sc *Scenario, run MatcherRun) (*sim, error) {
	policy := sc.Reference.Policy
	policy.UrgencyPoints = maps.Clone(policy.UrgencyPoints)
	policy.Hardship.Dimensions = maps.Clone(policy.Hardship.Dimensions)
	policy.Hardship.Groups = maps.Clone(policy.Hardship.Groups)
	if a := policy.Allocation; a != nil {
		c := *a
		c.Rounds = maps.Clone(a.Rounds)
		policy.Allocation = &c
	}
	if run.Policy != nil {
		run.Policy(&policy)
	}
	label := run.Label
	if label == "" {
		label = "matcher"
	}
	s := &sim{sc: sc, m: matching.New(), reg: domain.NewRegistry(), versions: map[domain.AggregateRef]int64{},
		needIndex: make(map[string]int, len(sc.Needs)), offerIdx: make(map[string]int, len(sc.Offers)),
		out: newOutcome(label, len(sc.Needs))}
	if policy.Allocation != nil {
		s.out.MaxWait = time.Duration(policy.Allocation.MaxWait)
	}
	for i, n := range sc.Needs {
		s.needIndex[n.ID] = i
	}
	for i, o := range sc.Offers {
		s.offerIdx[o.ID] = i
	}
	pub, err := sc.Reference.Publication(sc.District)
	if err != nil {
		return nil, fmt.Errorf("matcher: %w", err)
	}
	pub.Policy = policy
	if _, err := pub.Reference(); err != nil {
		return nil, fmt.Errorf("matcher: the policy is refused: %w", err)
	}
	if s.reference, err = s.event(domain.AggregateReference, sc.District, 0, sc.Start, actorReference, pub); err != nil {
		return nil, err
	}
	return s, nil
}

// event envelops one payload as the event of its aggregate after version after
// (one command of its own).
func (s *sim) event(aggregate, id string, after int64, at time.Time, actor string, p domain.Payload) (domain.Event, error) {
	ref := domain.AggregateRef{Type: aggregate, ID: id}
	s.events++
	cmd := "q" + strconv.Itoa(s.events)
	evs, err := s.reg.Envelop([]domain.Change{{Aggregate: ref, ExpectedVersion: after, Payloads: []domain.Payload{p}}},
		domain.Meta{Partition: s.sc.District, Time: at, Actor: actor, CommandID: cmd}, func() string { return cmd })
	if err != nil {
		return domain.Event{}, fmt.Errorf("matcher: %s of %s: %w", p.EventType(), ref, err)
	}
	return evs[0], nil
}

// post feeds the matcher a person's event: the next of its aggregate, at a time.
func (s *sim) post(aggregate, id string, at time.Time, actor string, p domain.Payload) error {
	e, err := s.event(aggregate, id, s.versions[domain.AggregateRef{Type: aggregate, ID: id}], at, actor, p)
	if err != nil {
		return err
	}
	return s.feed(e, at)
}

// errVersion means the simulation built an event out of its aggregate's order.
var errVersion = errors.New("event out of its aggregate's version order")

// feed applies an event and everything it leads to, in order: the events of each
// decision the matcher returns, and the acceptance of each proposal, whose own
// decisions are queued after them. now is the simulated time (a proposal's time).
func (s *sim) feed(first domain.Event, now time.Time) error {
	queue := []domain.Event{first}
	for len(queue) > 0 {
		e := queue[0]
		queue = queue[1:]
		ref := e.Aggregate()
		if e.AggregateVersion != s.versions[ref]+1 {
			return fmt.Errorf("matcher: %w: %s %s at version %d after %d", errVersion, e.Type, ref, e.AggregateVersion, s.versions[ref])
		}
		s.versions[ref] = e.AggregateVersion
		for _, d := range s.m.Apply(e) {
			evs, err := matching.DecisionEvents(s.reg, s.sc.District, d)
			if err != nil {
				return fmt.Errorf("matcher: decision for %s: %w", d.NeedID, err)
			}
			queue = append(queue, evs...)
			if !d.Proposes() {
				continue
			}
			accept, err := s.proposed(d, evs, now)
			if err != nil {
				return err
			}
			queue = append(queue, accept)
		}
	}
	return nil
}

// proposed records a proposal and returns its acceptance by the centre, the next
// event of its need after the decision's.
func (s *sim) proposed(d matching.Decision, evs []domain.Event, now time.Time) (domain.Event, error) {
	n, ok := s.needIndex[d.NeedID]
	o, known := s.offerIdx[d.OfferID]
	if !ok || !known {
		return domain.Event{}, fmt.Errorf("matcher: proposed unknown need %s or offer %s", d.NeedID, d.OfferID)
	}
	if s.out.Offer[n] >= 0 {
		return domain.Event{}, fmt.Errorf("matcher: need %s proposed %s after %s was accepted", d.NeedID, d.OfferID, s.sc.Offers[s.out.Offer[n]].ID)
	}
	s.out.Offer[n], s.out.At[n], s.out.Tier[n] = o, now, d.Tier
	var referral string
	last := int64(0)
	for _, e := range evs {
		if e.AggregateType != domain.AggregateNeed || e.AggregateID != d.NeedID {
			continue
		}
		last = max(last, e.AggregateVersion)
		if p, ok := e.Payload.(domain.ReferralProposed); ok {
			referral = p.ReferralID
		}
	}
	if referral == "" {
		return domain.Event{}, fmt.Errorf("matcher: the proposal of %s to %s has no need.referral_proposed event", d.OfferID, d.NeedID)
	}
	// The centre of the proposal's tier accepts at once: the need's next event.
	return s.event(domain.AggregateNeed, d.NeedID, last, now, s.centre(n, d.Tier), domain.ReferralAccepted{ReferralID: referral})
}
