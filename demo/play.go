package demo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/tierlink/tierlink/app"
	"github.com/tierlink/tierlink/domain"
)

// Engine is the running tierlink the demo plays on.
type Engine interface {
	// Application is the engine's use cases: the demo acts through them, under the
	// same rules as the API.
	Application() *app.Application
	// Tick writes the time into the log (answer deadlines are checked then).
	Tick(ctx context.Context, at time.Time) error
	// Settle returns once the matcher and the read models have caught up with the log.
	Settle(ctx context.Context) error
	// SettleMatcher returns once the matcher has caught up with the log.
	SettleMatcher(ctx context.Context) error
}

// Config says what to play.
type Config struct {
	Seed uint64
	// Days is how many days are played (default DefaultDays).
	Days int
	// HouseholdsPerDay is how many households a weekday registers in the district
	// (default 60; a weekend day a third of it).
	HouseholdsPerDay int
	// Clock, if set, is moved through the days, which end at End: make it with
	// NewClock(Start(End, Days)) and give the engine its Now. If nil, the days are
	// played at once and stamped with the engine's own time (the demo against a
	// running server), so that no answer deadline passes.
	Clock *Clock
	End   time.Time
	// Progress, if set, is told the totals after each day.
	Progress func(Totals)
	Logger   *slog.Logger
}

// Totals counts what the demo did.
type Totals struct {
	Day int `json:"day"`
	// Date is the China date of the day played (on a simulated clock).
	Date            string `json:"date,omitempty"`
	Days            int    `json:"days"`
	Providers       int    `json:"providers"`
	Offers          int    `json:"offers"`
	CapacityRaised  int    `json:"capacity_raised"`
	OffersWithdrawn int    `json:"offers_withdrawn"`
	Households      int    `json:"households"`
	Needs           int    `json:"needs"`
	NeedsWithdrawn  int    `json:"needs_withdrawn"`
	Accepted        int    `json:"accepted"`
	Declined        int    `json:"declined"`
	Escalated       int    `json:"escalated"`
	Unanswered      int    `json:"left_unanswered"`
	Started         int    `json:"started"`
	Completed       int    `json:"completed"`
	// The advisers' work: follow-ups (and the needs they reopened), visits,
	// reassessments, applications for programmes and those granted.
	FollowUps  int `json:"follow_ups"`
	Reopened   int `json:"reopened"`
	Visits     int `json:"visits"`
	Reassessed int `json:"reassessed"`
	Applied    int `json:"applied"`
	Granted    int `json:"granted"`
	// Refused counts commands the rules refused because someone else acted first
	// (a person using the demo while it plays).
	Refused int `json:"refused"`
}

// DefaultDays is how many days a play lasts unless told.
const DefaultDays = 14

// hours are the times of day (China Standard Time) at which the district acts.
var hours = []int{8, 10, 12, 14, 16}

var cst = time.FixedZone("CST", 8*3600)

// player is one play in progress.
type player struct {
	w     *World
	e     Engine
	a     *app.Application
	cfg   Config
	rng   *rand.Rand
	step  int
	t     Totals
	nodes []node
	// offers posted, by id; referrals seen in an inbox, with what their centre will
	// do; accepted referrals, with when their provider starts and completes them.
	offers   []postedOffer
	seen     map[string]*answerPlan
	accepted map[string]*servicePlan
	// needs registered, for an occasional withdrawal; those closed (in service,
	// completed or withdrawn) are not withdrawn; the accepted referral of each need.
	needs   []registeredNeed
	closed  map[string]bool
	accepts map[string]string
	// showcase holds what the play does so that the advertised inboxes have work
	// when it ends (showcase.go): the actions still to come, and the role of each
	// need registered for it.
	pending  []showcaseAction
	showRng  *rand.Rand
	showcase map[string]showcaseRole
	// the advisers' work (advise.go): their own draws, the households registered,
	// services completed awaiting follow-up, applications awaiting an answer.
	adv          *rand.Rand
	households   []advisedHousehold
	completed    []completedService
	applications []application
}

type node struct {
	tier int
	area string
}

type postedOffer struct {
	id        string
	provider  string
	capacity  int
	plan      OfferPlan
	withdrawn bool
}

type answerPlan struct {
	at   int
	kind string
	// reason is the decline's reason.
	reason domain.DeclineReason
}

type servicePlan struct {
	need, offer       string
	community         string
	provider          string
	startAt, finishAt int
	started           bool
}

type registeredNeed struct {
	id, community string
}

// Play plays the demo on the engine: the providers post their offers, then day by
// day households are registered, centres answer the matcher's proposals (some
// decline, escalate or let the deadline pass), providers start and complete what
// was accepted, new offers arrive and capacities change.
func Play(ctx context.Context, e Engine, w *World, cfg Config) (Totals, error) {
	if cfg.Days == 0 {
		cfg.Days = DefaultDays
	}
	if cfg.HouseholdsPerDay == 0 {
		cfg.HouseholdsPerDay = 60
	}
	if cfg.Days < 1 || cfg.Days > 366 || cfg.HouseholdsPerDay < 1 || cfg.HouseholdsPerDay > 100_000 {
		return Totals{}, fmt.Errorf("demo: days from 1 to 366 and households per day from 1 to 100000, got %d and %d", cfg.Days, cfg.HouseholdsPerDay)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	p := &player{w: w, e: e, a: e.Application(), cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, 0x706c6179)), // "play"
		seen: map[string]*answerPlan{}, accepted: map[string]*servicePlan{}, closed: map[string]bool{}, accepts: map[string]string{}, showcase: map[string]showcaseRole{},
		adv: rand.New(rand.NewPCG(cfg.Seed, 0x61647669))} // "advi"
	p.t.Days, p.t.Providers = cfg.Days, len(w.Providers)
	for _, d := range w.Reference.Geography.Districts() {
		p.nodes = append(p.nodes, node{domain.TierDistrict, d.Code})
		for _, s := range d.Streets {
			p.nodes = append(p.nodes, node{domain.TierStreet, s.Code})
			for _, c := range s.Communities {
				p.nodes = append(p.nodes, node{domain.TierCommunity, c.Code})
			}
		}
	}
	var end, first time.Time
	if cfg.Clock != nil {
		end = cfg.End
		start := Start(end, cfg.Days)
		if cfg.Clock.Now().After(start) {
			return Totals{}, fmt.Errorf("demo: the clock reads %v, past the play's start %v: make it with NewClock(Start(end, days))", cfg.Clock.Now(), start)
		}
		cfg.Clock.Set(start)
		first = start
	}
	if err := p.postStandingOffers(ctx); err != nil {
		return p.t, err
	}
	if cfg.Clock != nil {
		p.planShowcase(first, end)
	}
	communities := w.Communities()
	for day := 0; day < cfg.Days; day++ {
		date := first.AddDate(0, 0, day)
		weekend := cfg.Clock != nil && (date.Weekday() == time.Saturday || date.Weekday() == time.Sunday)
		arrivals := cfg.HouseholdsPerDay
		if weekend {
			arrivals /= 3
		}
		times := stepTimes(date, end, day == cfg.Days-1)
		for i, at := range times {
			if cfg.Clock != nil {
				if err := p.showcaseUntil(ctx, at); err != nil {
					return p.t, err
				}
				cfg.Clock.Set(at)
			}
			if err := p.e.Tick(ctx, p.now()); err != nil {
				return p.t, fmt.Errorf("demo: tick: %w", err)
			}
			if err := p.settled(ctx); err != nil {
				return p.t, err
			}
			n := arrivals / len(hours)
			if i < arrivals%len(hours) {
				n++
			}
			for range n {
				if err := p.register(ctx, drawHousehold(p.rng, communities)); err != nil {
					return p.t, err
				}
			}
			if err := p.supplyChanges(ctx, weekend); err != nil {
				return p.t, err
			}
			if err := p.serve(ctx); err != nil {
				return p.t, err
			}
			if err := p.e.Settle(ctx); err != nil {
				return p.t, fmt.Errorf("demo: wait for the engine: %w", err)
			}
			if err := p.answer(ctx, weekend); err != nil {
				return p.t, err
			}
			if i == len(times)-1 && !weekend {
				if err := p.advise(ctx); err != nil {
					return p.t, err
				}
			}
			if err := p.e.Settle(ctx); err != nil {
				return p.t, fmt.Errorf("demo: wait for the engine: %w", err)
			}
			p.step++
		}
		if cfg.Progress != nil {
			p.t.Day = day + 1
			if cfg.Clock != nil {
				p.t.Date = date.Format(time.DateOnly)
			}
			cfg.Progress(p.t)
		}
	}
	if cfg.Clock != nil {
		if err := p.showcaseUntil(ctx, end); err != nil {
			return p.t, err
		}
		cfg.Clock.Set(end)
		if err := p.e.Tick(ctx, end); err != nil {
			return p.t, fmt.Errorf("demo: tick: %w", err)
		}
		if err := p.e.Settle(ctx); err != nil {
			return p.t, fmt.Errorf("demo: wait for the engine: %w", err)
		}
	}
	p.t.Day = cfg.Days
	return p.t, nil
}

// Start returns when a play of days days that ends at end starts: midnight China
// Standard Time of its first day, before anyone acts. The last day is end's own
// China day, whatever the hour (see stepTimes).
func Start(end time.Time, days int) time.Time {
	e := end.In(cst)
	if days == 0 {
		days = DefaultDays
	}
	return time.Date(e.Year(), e.Month(), e.Day(), 0, 0, 0, 0, cst).AddDate(0, 0, 1-max(days, 1))
}

// stepTimes returns when the district acts on a day that starts at date (midnight
// CST): at the office hours; on the play's last day, which ends at end, the steps
// the hours would put after end are spread over the part of the day that has
// passed, the last at end, so that the last day is always the present one and its
// work is fresh (at 01:52 the district has worked through the night; at 12:30 from
// 08:00 to 12:30). Against a running server (a zero date) the steps are at once.
func stepTimes(date, end time.Time, last bool) []time.Time {
	out := make([]time.Time, len(hours))
	for i, h := range hours {
		out[i] = date.Add(time.Duration(h) * time.Hour)
	}
	if date.IsZero() || !last || !out[len(out)-1].After(end) {
		return out
	}
	from := date.Add(time.Duration(hours[0]) * time.Hour)
	if end.Sub(from) < time.Hour {
		from = date // before the office opens: through the night, from midnight
	}
	span := end.Sub(from)
	for i := range out {
		out[i] = from.Add(span * time.Duration(i) / time.Duration(len(out)-1))
	}
	return out
}

func (p *player) now() time.Time {
	if p.cfg.Clock != nil {
		return p.cfg.Clock.Now()
	}
	return time.Now()
}

// settled waits, on a simulated clock, for the matcher to answer the command just
// appended, so that the log's order (and so the play) is the same for a seed;
// against a running server, where nothing is replayed, commands go at once. (The
// read models are waited for before the inboxes are read.)
func (p *player) settled(ctx context.Context) error {
	if p.cfg.Clock == nil {
		return nil
	}
	if err := p.e.SettleMatcher(ctx); err != nil {
		return fmt.Errorf("demo: wait for the matcher: %w", err)
	}
	return nil
}

// meta names who acts: the demo acting as the principal.
func meta(who domain.Principal) app.Meta {
	return app.Meta{Principal: who, Actor: "demo/" + who.String()}
}

func centre(tier int, area string) domain.Principal {
	return domain.Principal{Role: domain.RoleCentre, Tier: tier, Area: area}
}

func provider(id string) domain.Principal {
	return domain.Principal{Role: domain.RoleProvider, Provider: id}
}

// refused reports an error of the rules (someone else acted first); anything else
// stops the demo.
func (p *player) refused(err error, what string) error {
	if errors.Is(err, domain.ErrRefused) || errors.Is(err, domain.ErrNotFound) || errors.Is(err, app.ErrConflict) || errors.Is(err, domain.ErrDuplicateNeed) {
		p.t.Refused++
		p.cfg.Logger.Debug("demo: refused", "what", what, "err", err)
		return nil
	}
	return fmt.Errorf("demo: %s: %w", what, err)
}

func (p *player) post(ctx context.Context, prov string, o OfferPlan) error {
	res, err := p.a.Commands.PostOffer.Handle(ctx, app.PostOfferInput{Provider: prov, Category: o.Category, Capacity: o.Capacity,
		ScopeTier: domain.TierName(o.Tier), ScopeArea: o.Area, Eligibility: o.Eligibility}, meta(provider(prov)))
	if err != nil {
		return p.refused(err, "post an offer of "+prov)
	}
	p.offers = append(p.offers, postedOffer{id: res.OfferID, provider: prov, capacity: o.Capacity, plan: o})
	p.t.Offers++
	return p.settled(ctx)
}

func (p *player) postStandingOffers(ctx context.Context) error {
	for _, prov := range p.w.Providers {
		for _, o := range prov.Offers {
			if err := p.post(ctx, prov.ID, o); err != nil {
				return err
			}
		}
	}
	if err := p.e.Settle(ctx); err != nil {
		return fmt.Errorf("demo: wait for the engine: %w", err)
	}
	return nil
}

func (p *player) register(ctx context.Context, h householdPlan) error {
	in := app.RegisterHouseholdInput{Community: h.community, TargetGroups: h.groups, Assessment: h.assessment}
	for _, n := range h.needs {
		in.Needs = append(in.Needs, app.NeedInput{Category: n.category, Urgency: n.urgency})
	}
	res, err := p.a.Commands.RegisterHousehold.Handle(ctx, in, meta(centre(domain.TierCommunity, h.community)))
	if err != nil {
		return p.refused(err, "register a household of "+h.community)
	}
	p.t.Households++
	p.t.Needs += len(res.Needs)
	p.households = append(p.households, advisedHousehold{id: res.HouseholdID, community: h.community, assessment: h.assessment})
	for _, n := range res.Needs {
		p.needs = append(p.needs, registeredNeed{id: n.NeedID, community: h.community})
	}
	return p.settled(ctx)
}

// supplyChanges: on a weekday, now and then a provider posts a new offer like one
// of its own, raises a capacity, or (rarely) withdraws an offer; and a household
// now and then no longer needs what it asked for.
func (p *player) supplyChanges(ctx context.Context, weekend bool) error {
	if weekend || len(p.offers) == 0 {
		return nil
	}
	if p.rng.IntN(3) == 0 {
		o := p.offers[p.rng.IntN(len(p.offers))]
		plan := o.plan
		plan.Capacity = capacity(p.rng, plan.Category)
		if err := p.post(ctx, o.provider, plan); err != nil {
			return err
		}
	}
	if p.rng.IntN(4) == 0 {
		o := &p.offers[p.rng.IntN(len(p.offers))]
		if o.withdrawn {
			return nil // a withdrawn offer's capacity is not changed
		}
		o.capacity += 1 + p.rng.IntN(3)
		if _, err := p.a.Commands.ChangeCapacity.Handle(ctx, o.id, o.capacity, meta(provider(o.provider))); err != nil {
			return p.refused(err, "raise the capacity of "+o.id)
		}
		p.t.CapacityRaised++
		if err := p.settled(ctx); err != nil {
			return err
		}
	}
	if p.rng.IntN(40) == 0 {
		o := &p.offers[p.rng.IntN(len(p.offers))]
		if o.withdrawn {
			return nil
		}
		o.withdrawn = true
		if _, err := p.a.Commands.WithdrawOffer.Handle(ctx, o.id, meta(provider(o.provider))); err != nil {
			return p.refused(err, "withdraw "+o.id)
		}
		p.t.OffersWithdrawn++
		for id, s := range p.accepted {
			if s.offer == o.id {
				delete(p.accepted, id) // cancelled with the offer
			}
		}
		if err := p.settled(ctx); err != nil {
			return err
		}
	}
	if p.rng.IntN(6) == 0 && len(p.needs) > 0 {
		n := p.needs[p.rng.IntN(len(p.needs))]
		if p.closed[n.id] {
			return nil // already closed: the household has nothing to withdraw
		}
		if _, err := p.a.Commands.WithdrawNeed.Handle(ctx, n.id, "no longer needed", meta(centre(domain.TierCommunity, n.community))); err != nil {
			return p.refused(err, "withdraw need "+n.id)
		}
		p.t.NeedsWithdrawn++
		p.closed[n.id] = true
		delete(p.accepted, p.accepts[n.id]) // its provider will not start what was cancelled
		return p.settled(ctx)
	}
	return nil
}

// serve has providers start and complete the accepted referrals that are due.
func (p *player) serve(ctx context.Context) error {
	ids := make([]string, 0, len(p.accepted))
	for id := range p.accepted {
		ids = append(ids, id)
	}
	sort.Strings(ids) // a map's order is random; the play must not be
	for _, id := range ids {
		s := p.accepted[id]
		switch {
		case !s.started && p.step >= s.startAt:
			if _, err := p.a.Commands.StartService.Handle(ctx, id, meta(provider(s.provider))); err != nil {
				delete(p.accepted, id)
				if err := p.refused(err, "start "+id); err != nil {
					return err
				}
				continue
			}
			s.started = true
			p.t.Started++
			p.closed[s.need] = true // in service: the household no longer withdraws it
			if err := p.settled(ctx); err != nil {
				return err
			}
		case s.started && p.step >= s.finishAt:
			delete(p.accepted, id)
			if _, err := p.a.Commands.CompleteService.Handle(ctx, id, meta(provider(s.provider))); err != nil {
				if err := p.refused(err, "complete "+id); err != nil {
					return err
				}
				continue
			}
			p.t.Completed++
			p.closed[s.need] = true
			p.completed = append(p.completed, completedService{referral: id, community: s.community, step: p.step})
			if err := p.settled(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

// answer reads every centre's inbox: a proposal seen for the first time gets its
// fate (most are accepted within a few hours; some declined, some escalated, some
// left until the deadline passes); those due are answered. At weekends a skeleton
// shift answers a third of what is due; the rest waits for Monday, or expires.
func (p *player) answer(ctx context.Context, weekend bool) error {
	providerOf := map[string]string{}
	for _, o := range p.offers {
		providerOf[o.id] = o.provider
	}
	// Every inbox is read before anyone answers, so that what a centre sees does not
	// depend on how far the read models got with the answers of others.
	inboxes := make([][]app.InboxItem, len(p.nodes))
	for i, n := range p.nodes {
		who := centre(n.tier, n.area)
		page := app.PageRequest{Limit: app.MaxPageSize}
		for {
			got, err := p.a.Queries.Reads.Inbox(ctx, domain.TierName(n.tier), n.area, page, who)
			if err != nil {
				return fmt.Errorf("demo: inbox of %s: %w", n.area, err)
			}
			inboxes[i] = append(inboxes[i], got.Items...)
			if got.NextCursor == "" {
				break
			}
			if page.After, err = app.ParseCursor(got.NextCursor); err != nil {
				return fmt.Errorf("demo: inbox of %s: %w", n.area, err)
			}
		}
	}
	for i, n := range p.nodes {
		who := centre(n.tier, n.area)
		for _, it := range inboxes[i] {
			plan, ok := p.seen[it.ReferralID]
			if role, mine := p.showcase[it.Need.ID]; !ok && mine {
				plan = &answerPlan{at: p.step, kind: role.answer()}
				p.seen[it.ReferralID], ok = plan, true
			}
			if !ok {
				plan = &answerPlan{at: p.step + p.rng.IntN(3), kind: domain.AnswerAccept}
				switch r := p.rng.IntN(100); {
				case r < 10:
					plan.kind = domain.AnswerDecline
					reasons := []domain.DeclineReason{domain.DeclineNotSuitable, domain.DeclineHouseholdRefused, domain.DeclineProviderUnreachable, domain.DeclineNoLongerNeeded}
					plan.reason = reasons[p.rng.IntN(len(reasons))]
				case r < 16 && n.tier < domain.TierDistrict:
					plan.kind = domain.AnswerEscalate
				case r < 24:
					plan.kind = "" // left unanswered: it expires
					p.t.Unanswered++
				}
				p.seen[it.ReferralID] = plan
			}
			_, mine := p.showcase[it.Need.ID]
			if plan.kind == "" || p.step < plan.at || (!mine && weekend && p.rng.IntN(3) != 0) {
				continue
			}
			a := domain.Answer{ReferralID: it.ReferralID, Kind: plan.kind, Reason: plan.reason}
			if plan.kind == domain.AnswerDecline && plan.reason == domain.DeclineNoLongerNeeded {
				a.Note = "the household found help elsewhere"
			}
			if _, err := p.a.Commands.AnswerReferral.Handle(ctx, a, meta(who)); err != nil {
				if err := p.refused(err, "answer "+it.ReferralID); err != nil {
					return err
				}
				continue
			}
			switch plan.kind {
			case domain.AnswerAccept:
				p.t.Accepted++
				start := p.step + 1 + p.rng.IntN(5)
				sp := &servicePlan{need: it.Need.ID, offer: it.OfferID, community: it.Need.Community, provider: providerOf[it.OfferID], startAt: start, finishAt: start + 3 + p.rng.IntN(20)}
				if role, mine := p.showcase[it.Need.ID]; mine {
					role.serve(sp, p.step)
				}
				p.accepted[it.ReferralID] = sp
				p.accepts[it.Need.ID] = it.ReferralID
			case domain.AnswerDecline:
				p.t.Declined++
			case domain.AnswerEscalate:
				p.t.Escalated++
			}
			if err := p.settled(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}
