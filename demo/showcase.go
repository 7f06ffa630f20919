package demo

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/tierlink/tierlink/domain"
)

// showcaseRole is what the play does with a need it registered so that an
// advertised inbox has work when the play ends.
type showcaseRole int

const (
	// showWait: its centre leaves the proposal for the person who signs in.
	showWait showcaseRole = iota
	// showToStart: its centre accepts; its provider has not started yet.
	showToStart
	// showToComplete: its centre accepts, its provider starts and has not completed.
	showToComplete
)

// answer is the centre's answer to the need's proposal ("" leaves it waiting).
func (r showcaseRole) answer() string {
	if r == showWait {
		return ""
	}
	return domain.AnswerAccept
}

// never is a step the play does not reach.
const never = 1 << 30

// serve sets when the provider starts and completes the accepted referral.
func (r showcaseRole) serve(sp *servicePlan, step int) {
	switch r {
	case showToStart:
		sp.startAt, sp.finishAt = never, never
	case showToComplete:
		sp.startAt, sp.finishAt = step+1, never
	}
}

// showcaseAction is a household the play registers at a set time for a showcase.
type showcaseAction struct {
	at       time.Time
	tier     int // the tier of the offer the need is for
	category string
	role     showcaseRole
}

// planShowcase plans the households that leave work in the inboxes the README
// advertises when the play ends at end: in the showcase community's inbox, one
// proposal in its deadline's last hours and one due later today (or, late at night,
// within the hour after midnight); in its street's, one proposal waiting; and the
// showcase provider has a referral to start, one to complete and one awaiting the
// centre. Times before the play's start are moved to just after it.
func (p *player) planShowcase(start, end time.Time) {
	community := p.w.Reference.Policy.Deadline(domain.TierCommunity)
	midnight := time.Date(end.In(cst).Year(), end.In(cst).Month(), end.In(cst).Day(), 0, 0, 0, 0, cst).AddDate(0, 0, 1)
	today := min(max(midnight.Sub(end)/2, 30*time.Minute), 10*time.Hour)
	acts := []showcaseAction{
		{end.Add(2*time.Hour - community), domain.TierCommunity, showcaseCategory, showWait},
		{end.Add(today - community), domain.TierCommunity, showcaseCategory, showWait},
		{end.Add(-30 * time.Hour), domain.TierStreet, showcaseStreetCategory, showToComplete},
		{end.Add(-8 * time.Hour), domain.TierStreet, showcaseStreetCategory, showToStart},
		{end.Add(-time.Hour), domain.TierStreet, showcaseStreetCategory, showWait},
	}
	for i := range acts {
		if first := start.Add(time.Minute); acts[i].at.Before(first) {
			acts[i].at = first
		}
		if acts[i].at.After(end) {
			acts[i].at = end
		}
	}
	sort.SliceStable(acts, func(i, j int) bool { return acts[i].at.Before(acts[j].at) })
	p.pending = acts
	p.showRng = rand.New(rand.NewPCG(p.cfg.Seed, 0x73686f77)) // "show": the play's own draws stay those of its seed
}

// showcaseUntil registers the showcase households due by at, each at its own time.
func (p *player) showcaseUntil(ctx context.Context, at time.Time) error {
	for len(p.pending) > 0 && !p.pending[0].at.After(at) {
		a := p.pending[0]
		p.pending = p.pending[1:]
		p.cfg.Clock.Set(a.at)
		if err := p.e.Tick(ctx, p.now()); err != nil {
			return fmt.Errorf("demo: tick: %w", err)
		}
		if err := p.settled(ctx); err != nil {
			return err
		}
		if err := p.roomFor(ctx, a); err != nil {
			return err
		}
		h := drawHousehold(p.showRng, []string{ShowcaseCommunity})
		h.needs = []needPlan{{category: a.category, urgency: domain.UrgencyHigh}}
		before := len(p.needs)
		if err := p.register(ctx, h); err != nil {
			return err
		}
		for _, n := range p.needs[before:] {
			p.showcase[n.id] = a.role
			p.closed[n.id] = true // not withdrawn by chance
		}
		if err := p.e.Settle(ctx); err != nil {
			return fmt.Errorf("demo: wait for the engine: %w", err)
		}
	}
	return nil
}

// roomFor makes a free place for a showcase need: the provider of the showcase offer
// adds one (or posts the offer again if it was withdrawn).
func (p *player) roomFor(ctx context.Context, a showcaseAction) error {
	area, prov := ShowcaseCommunity, ShowcaseStreet+"-volunteers"
	if a.tier == domain.TierStreet {
		area, prov = ShowcaseStreet, ShowcaseProvider
	}
	for i := range p.offers {
		o := &p.offers[i]
		if o.withdrawn || o.provider != prov || o.plan.Category != a.category || o.plan.Tier != a.tier || o.plan.Area != area {
			continue
		}
		o.capacity++
		if _, err := p.a.Commands.ChangeCapacity.Handle(ctx, o.id, o.capacity, meta(provider(prov))); err != nil {
			return p.refused(err, "raise the capacity of "+o.id)
		}
		p.t.CapacityRaised++
		return p.settled(ctx)
	}
	return p.post(ctx, prov, OfferPlan{Category: a.category, Capacity: 1, Tier: a.tier, Area: area})
}
