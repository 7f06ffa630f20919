package notification

import (
	"cmp"
	"container/heap"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tierlink/tierlink/domain"
)

// ReminderLead is how long before its deadline a proposal's second reminder goes.
const ReminderLead = 4 * time.Hour

// DigestHour is the hour of the district's day at which each node's digest goes.
const DigestHour = 8

// MaxDigestItems bounds the proposals a digest lists (it counts them all).
const MaxDigestItems = 100

// Reminder stages.
const (
	// StageHalf is the reminder sent when half the time to answer has passed.
	StageHalf = "half_deadline"
	// StageBefore is the reminder sent ReminderLead before the deadline.
	StageBefore = "before_deadline"
)

// ErrNoPartition means the state was made without a district.
var ErrNoPartition = errors.New("notification: a state needs its district")

// Config says whose log a State follows.
type Config struct {
	// Partition is the district whose log it is.
	Partition string
	// Zone is the district's time zone: digests go at DigestHour of its days.
	Zone *time.Location
}

// State is what a district's log has said so far that notifications need: the
// subscriptions, each need's household, area and live referral, each offer's
// provider and capacity, and the last tick. It is not safe for concurrent use.
type State struct {
	cfg      Config
	subs     []*domain.Subscription
	subIndex map[string]*domain.Subscription
	// needs holds the needs not yet closed (served or withdrawn ones are dropped);
	// proposed those among them whose referral waits for an answer.
	needs    map[string]*need
	proposed map[string]*need
	// reminders holds the next reminder time of each proposal, soonest first
	// (entries of proposals answered since are dropped when they come up).
	reminders reminderQueue
	offers    map[string]*offer
	lastTick  time.Time
	position  int64
}

type need struct {
	id, household, community, street, category string
	groups                                     []domain.TargetGroup
	tier                                       int
	status                                     domain.NeedStatus
	ref                                        *referral
}

type referral struct {
	id, offer          string
	tier               int
	proposed, deadline time.Time
	accepted           bool
	stage              int // reminders sent: 0, 1 (half) or 2 (before)
}

type offer struct {
	id, provider, category string
	eligibility            domain.Eligibility
	capacity, committed    int
	withdrawn              bool
}

// NewState returns the state before the first entry of a district's log.
func NewState(cfg Config) (*State, error) {
	if !domain.ValidCode(cfg.Partition) {
		return nil, ErrNoPartition
	}
	if cfg.Zone == nil {
		cfg.Zone = time.UTC
	}
	return &State{cfg: cfg, subIndex: map[string]*domain.Subscription{}, needs: map[string]*need{}, proposed: map[string]*need{},
		offers: map[string]*offer{}}, nil
}

// Position is the position of the last entry applied.
func (s *State) Position() int64 { return s.position }

// Subscription returns a subscription as the log last said it.
func (s *State) Subscription(id string) (domain.Subscription, bool) {
	sub, ok := s.subIndex[id]
	if !ok {
		return domain.Subscription{}, false
	}
	return *sub, true
}

// Apply applies a run of entries, in order, and returns what they imply. An entry
// at or before Position changes nothing; one without an event (dead-lettered)
// only moves the position.
func (s *State) Apply(entries []domain.Entry) (Output, error) {
	var out Output
	for _, x := range entries {
		if x.Position <= s.position {
			continue
		}
		s.position = x.Position
		if x.Event == nil {
			continue
		}
		if err := s.apply(x.Position, x.Event, &out); err != nil {
			return out, fmt.Errorf("notifications of position %d: %w", x.Position, err)
		}
	}
	return out, nil
}

// emitter builds the notifications of one entry.
type emitter struct {
	s        *State
	out      *Output
	position int64
	time     time.Time
	counts   map[string]int
}

func (s *State) apply(pos int64, e *domain.Event, out *Output) error {
	em := &emitter{s: s, out: out, position: pos, time: e.Time}
	switch p := e.Payload.(type) {
	case domain.SubscriptionCreated:
		sub := domain.Subscription{}.Evolve(*e)
		s.subs = append(s.subs, &sub)
		s.subIndex[sub.ID] = &sub
		out.Subscriptions = append(out.Subscriptions, view(sub))
	case domain.SubscriptionDeleted:
		if sub, ok := s.subIndex[e.AggregateID]; ok {
			*sub = sub.Evolve(*e)
			out.Subscriptions = append(out.Subscriptions, view(*sub))
			s.subs = slices.DeleteFunc(s.subs, func(x *domain.Subscription) bool { return x.ID == sub.ID })
		}
	case domain.RedeliveryRequested:
		out.Redeliveries = append(out.Redeliveries, Redelivery{Subscription: e.AggregateID, DeliveryID: p.DeliveryID})
	case domain.NeedRegistered:
		s.needs[e.AggregateID] = &need{id: e.AggregateID, household: p.HouseholdID, community: p.Community, street: p.Street,
			category: p.Category, groups: p.TargetGroups, tier: domain.TierCommunity, status: domain.StatusOpen}
	case domain.OfferPosted:
		s.offers[e.AggregateID] = &offer{id: e.AggregateID, provider: p.Provider, category: p.Category, eligibility: p.Eligibility, capacity: p.Capacity}
	case domain.OfferCapacityChanged:
		if o := s.offers[e.AggregateID]; o != nil {
			was := o.free()
			o.capacity = p.Capacity
			return em.offerLevel(o, was)
		}
	case domain.OfferWithdrawn:
		if o := s.offers[e.AggregateID]; o != nil {
			o.withdrawn = true
		}
	case domain.OfferUnitReserved:
		if o := s.offers[e.AggregateID]; o != nil {
			was := o.free()
			o.committed++
			return em.offerLevel(o, was)
		}
	case domain.OfferUnitReleased:
		if o := s.offers[e.AggregateID]; o != nil {
			o.committed--
		}
	case domain.ClockTicked:
		return em.tick(e.Time)
	default:
		if e.AggregateType == domain.AggregateNeed {
			err := em.needEvent(e)
			s.track(e.AggregateID)
			return err
		}
	}
	return nil
}

// track keeps the index of proposals waiting for an answer, and forgets a need
// once it is closed: served or withdrawn, nothing more is told of it.
func (s *State) track(id string) {
	n := s.needs[id]
	if n == nil {
		return
	}
	switch n.status {
	case domain.StatusCompleted, domain.StatusWithdrawn:
		delete(s.needs, id)
		delete(s.proposed, id)
	case domain.StatusProposed:
		s.proposed[id] = n
	default:
		delete(s.proposed, id)
	}
}

// view is the delivery's view of a subscription.
func view(sub domain.Subscription) Subscription {
	return Subscription{ID: sub.ID, Owner: sub.Owner, District: sub.District, URL: sub.URL, Kinds: sub.Kinds,
		Categories: sub.Categories, Salt: sub.Salt, Created: sub.Created, Deleted: sub.Deleted, Version: sub.Version}
}

func (o *offer) free() int { return o.capacity - o.committed }

// needEvent handles an event of a need aggregate.
func (em *emitter) needEvent(e *domain.Event) error {
	n := em.s.needs[e.AggregateID]
	if n == nil {
		return nil
	}
	switch p := e.Payload.(type) {
	case domain.ReferralProposed:
		n.tier, n.status = p.Tier, domain.StatusProposed
		n.ref = &referral{id: p.ReferralID, offer: p.OfferID, tier: p.Tier, proposed: e.Time, deadline: p.Deadline}
		if !p.Deadline.IsZero() {
			half, _, _ := ReminderTimes(e.Time, p.Deadline)
			heap.Push(&em.s.reminders, reminderAt{at: half, need: n, referral: p.ReferralID})
		}
		return em.referral(domain.KindReferralProposed, n, "")
	case domain.ReferralAccepted:
		n.status = domain.StatusAccepted
		if n.ref != nil {
			n.ref.accepted = true
		}
		return em.referral(domain.KindReferralAccepted, n, "")
	case domain.ReferralDeclined:
		n.status = domain.StatusOpen
		err := em.referral(domain.KindReferralDeclined, n, string(p.Reason))
		n.ref = nil
		return err
	case domain.NeedEscalated:
		n.tier, n.status = p.To, domain.StatusOpen
		var err error
		if p.ReferralID != "" && n.ref != nil {
			kind := domain.KindReferralEscalated
			if p.Reason == domain.EscalatedExpired {
				kind = domain.KindReferralExpired
			}
			err = em.referral(kind, n, string(p.Reason))
		}
		n.ref = nil
		return err
	case domain.ReferralCancelled:
		n.status = domain.StatusOpen
		kind := domain.KindReferralCancelled
		if p.Reason == domain.CancelledExpiredAtTop {
			kind = domain.KindReferralExpired
		}
		err := em.referral(kind, n, string(p.Reason))
		n.ref = nil
		return err
	case domain.NeedWithdrawn:
		n.status = domain.StatusWithdrawn
		var err error
		if p.ReferralID != "" && n.ref != nil {
			err = em.referral(domain.KindReferralCancelled, n, string(domain.EndNeedWithdrawn))
		}
		n.ref = nil
		return err
	case domain.NeedWaitlisted:
		n.tier, n.status = domain.TierDistrict, domain.StatusWaitlisted
		return em.needNotice(domain.KindNeedWaitlisted, n, string(p.Reason))
	case domain.NeedHeld:
		n.tier, n.status = p.Tier, domain.StatusHeld
	case domain.ServiceStarted:
		n.status = domain.StatusInService
		return em.referral(domain.KindReferralStarted, n, "")
	case domain.ServiceCompleted:
		n.status = domain.StatusCompleted
		if err := em.referral(domain.KindReferralCompleted, n, ""); err != nil {
			return err
		}
		return em.needNotice(domain.KindNeedServed, n, "")
	}
	return nil
}

// areaOf is the need's area at a tier.
func (em *emitter) areaOf(n *need, tier int) string {
	switch tier {
	case domain.TierCommunity:
		return n.community
	case domain.TierStreet:
		return n.street
	}
	return em.s.cfg.Partition
}

// covers reports whether a centre's node holds the need's household.
func (em *emitter) covers(p domain.Principal, n *need) bool {
	return p.Role == domain.RoleCentre && em.areaOf(n, p.Tier) == p.Area
}

// tell sends a kind of notification about a category to each live subscription
// that asked for it, with what say tells that subscription (none where say
// reports false: the subscriber may not read it).
func (em *emitter) tell(kind, category, key string, say func(sub *domain.Subscription) (any, bool)) error {
	for _, sub := range em.s.subs {
		if !sub.Wants(kind, category) {
			continue
		}
		if data, ok := say(sub); ok {
			if err := em.emit(sub, kind, key, data); err != nil {
				return err
			}
		}
	}
	return nil
}

// referral notifies every subscription that may read a referral of an event of it.
func (em *emitter) referral(kind string, n *need, reason string) error {
	if n.ref == nil {
		return nil
	}
	o := em.s.offers[n.ref.offer]
	return em.tell(kind, n.category, n.ref.id, func(sub *domain.Subscription) (any, bool) {
		switch sub.Owner.Role {
		case domain.RoleOperator:
			return em.referralData(n, o, reason), true
		case domain.RoleCentre:
			return em.referralData(n, o, reason), em.covers(sub.Owner, n)
		case domain.RoleProvider:
			if o != nil && o.provider == sub.Owner.Provider {
				return em.providerData(kind, n, o), true
			}
		}
		return nil, false
	})
}

// ReferralData is what a centre or an operator is told of a referral.
type ReferralData struct {
	ReferralID  string    `json:"referral_id"`
	NeedID      string    `json:"need_id"`
	HouseholdID string    `json:"household_id"`
	Category    string    `json:"category"`
	Tier        string    `json:"tier"`
	Community   string    `json:"community"`
	Street      string    `json:"street"`
	OfferID     string    `json:"offer_id"`
	Provider    string    `json:"provider,omitempty"`
	Deadline    time.Time `json:"deadline,omitzero"`
	Reason      string    `json:"reason,omitempty"`
}

func (em *emitter) referralData(n *need, o *offer, reason string) ReferralData {
	d := ReferralData{ReferralID: n.ref.id, NeedID: n.id, HouseholdID: n.household, Category: n.category,
		Tier: domain.TierName(n.ref.tier), Community: n.community, Street: n.street, OfferID: n.ref.offer, Reason: reason}
	if o != nil {
		d.Provider = o.provider
	}
	if !n.ref.accepted {
		d.Deadline = n.ref.deadline
	}
	return d
}

// ProviderReferralData is what a provider is told of a referral to its offer: the
// minimum necessary. Before the centre accepted, nothing of the household; from then
// on its pseudonym (the one the provider's pages show), its community and the one
// eligibility ground that admitted it. Never the centre's reasons or notes.
type ProviderReferralData struct {
	ReferralID string    `json:"referral_id"`
	OfferID    string    `json:"offer_id"`
	Category   string    `json:"category"`
	Tier       string    `json:"tier"`
	Deadline   time.Time `json:"deadline,omitzero"`
	Household  string    `json:"household,omitempty"`
	Community  string    `json:"community,omitempty"`
	Ground     string    `json:"ground,omitempty"`
}

func (em *emitter) providerData(kind string, n *need, o *offer) ProviderReferralData {
	d := ProviderReferralData{ReferralID: n.ref.id, OfferID: n.ref.offer, Category: n.category, Tier: domain.TierName(n.ref.tier)}
	if !n.ref.accepted {
		if kind == domain.KindReferralProposed {
			d.Deadline = n.ref.deadline
		}
		return d
	}
	switch kind {
	case domain.KindReferralAccepted, domain.KindReferralStarted, domain.KindReferralCompleted:
		d.Household, d.Community = domain.Pseudonym(o.provider, n.household), n.community
		if g, ok := o.eligibility.Ground(n.groups); ok {
			d.Ground = string(g)
		}
	}
	return d
}

// NeedData is what a centre or an operator is told of a need.
type NeedData struct {
	NeedID      string `json:"need_id"`
	HouseholdID string `json:"household_id"`
	Category    string `json:"category"`
	Tier        string `json:"tier"`
	Community   string `json:"community"`
	Street      string `json:"street"`
	Reason      string `json:"reason,omitempty"`
}

// needNotice notifies the centres and operators that may read a need.
func (em *emitter) needNotice(kind string, n *need, reason string) error {
	d := NeedData{NeedID: n.id, HouseholdID: n.household, Category: n.category, Tier: domain.TierName(n.tier),
		Community: n.community, Street: n.street, Reason: reason}
	return em.tell(kind, n.category, "need/"+n.id, func(sub *domain.Subscription) (any, bool) {
		return d, sub.Owner.Role == domain.RoleOperator || em.covers(sub.Owner, n)
	})
}

// OfferData is what is told of an offer's free capacity.
type OfferData struct {
	OfferID   string `json:"offer_id"`
	Provider  string `json:"provider"`
	Category  string `json:"category"`
	Capacity  int    `json:"capacity"`
	Committed int    `json:"committed"`
	Free      int    `json:"free"`
}

// LowMark is the free capacity at or below which an offer of a capacity runs low: a
// fifth of it, at least one unit.
func LowMark(capacity int) int { return max(1, capacity/5) }

// offerLevel notifies when an offer's free capacity falls to its low mark or to none.
func (em *emitter) offerLevel(o *offer, was int) error {
	now := o.free()
	if o.withdrawn || now >= was {
		return nil
	}
	kind := ""
	switch {
	case now <= 0 && was > 0:
		kind = domain.KindOfferExhausted
	case now <= LowMark(o.capacity) && was > LowMark(o.capacity):
		kind = domain.KindOfferRunningLow
	default:
		return nil
	}
	d := OfferData{OfferID: o.id, Provider: o.provider, Category: o.category, Capacity: o.capacity, Committed: o.committed, Free: max(0, now)}
	return em.tell(kind, o.category, "offer/"+o.id, func(sub *domain.Subscription) (any, bool) {
		return d, sub.Owner.Role != domain.RoleProvider || sub.Owner.Provider == o.provider
	})
}

// Message is the JSON document POSTed for a notification.
type Message struct {
	ID           string    `json:"id"`
	Kind         string    `json:"kind"`
	Subscription string    `json:"subscription"`
	District     string    `json:"district"`
	Position     int64     `json:"position"`
	OccurredAt   time.Time `json:"occurred_at"`
	Data         any       `json:"data"`
}

// emit adds one notification for a subscription.
func (em *emitter) emit(sub *domain.Subscription, kind, key string, data any) error {
	if em.counts == nil {
		em.counts = map[string]int{}
	}
	c := sub.ID + "\x00" + kind
	id := deliveryID(em.s.cfg.Partition, em.position, sub.ID, kind, em.counts[c])
	em.counts[c]++
	body, err := json.Marshal(Message{ID: id, Kind: kind, Subscription: sub.ID, District: em.s.cfg.Partition,
		Position: em.position, OccurredAt: em.time.UTC(), Data: data})
	if err != nil {
		return fmt.Errorf("encode %s for subscription %s: %w", kind, sub.ID, err)
	}
	em.out.Notifications = append(em.out.Notifications, Notification{DeliveryID: id, Subscription: sub.ID, Kind: kind,
		Key: key, Position: em.position, Time: em.time.UTC(), Body: body})
	return nil
}

// ReminderTimes returns when a proposal's reminders go: half-way to its deadline,
// and ReminderLead before it when that is later (second is false otherwise).
func ReminderTimes(proposed, deadline time.Time) (half, before time.Time, second bool) {
	half = proposed.Add(deadline.Sub(proposed) / 2)
	before = deadline.Add(-ReminderLead)
	return half, before, before.After(half)
}

// RemindersDue returns how many of a proposal's reminders are due at a time (0, 1
// or 2): the ones a tick at that time has sent, or would send.
func RemindersDue(proposed, deadline, now time.Time) int {
	if deadline.IsZero() {
		return 0
	}
	half, before, second := ReminderTimes(proposed, deadline)
	switch {
	case second && !now.Before(before):
		return 2
	case !now.Before(half):
		return 1
	}
	return 0
}

// ReminderData is what a reminder says of a proposal that waits on a node.
type ReminderData struct {
	Stage       string    `json:"stage"`
	ReferralID  string    `json:"referral_id"`
	NeedID      string    `json:"need_id"`
	HouseholdID string    `json:"household_id"`
	Category    string    `json:"category"`
	Tier        string    `json:"tier"`
	Area        string    `json:"area"`
	Community   string    `json:"community"`
	Deadline    time.Time `json:"deadline"`
}

// tick sends the reminders and, at the first tick at or after DigestHour of a
// district day, the digests.
func (em *emitter) tick(now time.Time) error {
	s := em.s
	last := s.lastTick
	s.lastTick = now
	var due []*need
	for len(s.reminders) > 0 && !s.reminders[0].at.After(now) {
		r := heap.Pop(&s.reminders).(reminderAt)
		n := r.need
		if s.proposed[n.id] != n || n.ref == nil || n.ref.id != r.referral || n.ref.accepted || !now.Before(n.ref.deadline) {
			continue // answered, ended or past its deadline since
		}
		if RemindersDue(n.ref.proposed, n.ref.deadline, now) > n.ref.stage && !slices.Contains(due, n) {
			due = append(due, n)
		}
	}
	slices.SortFunc(due, func(a, b *need) int { return cmp.Compare(a.ref.id, b.ref.id) })
	for _, n := range due {
		stage := RemindersDue(n.ref.proposed, n.ref.deadline, now)
		n.ref.stage = stage
		if _, before, second := ReminderTimes(n.ref.proposed, n.ref.deadline); stage == 1 && second {
			heap.Push(&s.reminders, reminderAt{at: before, need: n, referral: n.ref.id})
		}
		name := StageHalf
		if stage == 2 {
			name = StageBefore
		}
		area := em.areaOf(n, n.ref.tier)
		d := ReminderData{Stage: name, ReferralID: n.ref.id, NeedID: n.id, HouseholdID: n.household, Category: n.category,
			Tier: domain.TierName(n.ref.tier), Area: area, Community: n.community, Deadline: n.ref.deadline}
		err := em.tell(domain.KindReminder, n.category, n.ref.id, func(sub *domain.Subscription) (any, bool) {
			o := sub.Owner
			return d, o.Role == domain.RoleOperator || o.Role == domain.RoleCentre && o.Tier == n.ref.tier && o.Area == area
		})
		if err != nil {
			return err
		}
	}
	if last.IsZero() {
		return nil
	}
	local := now.In(s.cfg.Zone)
	at := time.Date(local.Year(), local.Month(), local.Day(), DigestHour, 0, 0, 0, s.cfg.Zone)
	if !last.Before(at) || now.Before(at) {
		return nil
	}
	return em.digests(now, local.Format(time.DateOnly))
}

// reminderAt is when a proposal's next reminder is due.
type reminderAt struct {
	at       time.Time
	need     *need
	referral string
}

// reminderQueue orders reminders by time, then referral (container/heap).
type reminderQueue []reminderAt

func (q reminderQueue) Len() int { return len(q) }
func (q reminderQueue) Less(i, j int) bool {
	return q[i].at.Before(q[j].at) || q[i].at.Equal(q[j].at) && q[i].referral < q[j].referral
}
func (q reminderQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *reminderQueue) Push(x any)   { *q = append(*q, x.(reminderAt)) }
func (q *reminderQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

// Waiting is one proposal a digest lists.
type Waiting struct {
	ReferralID  string    `json:"referral_id"`
	NeedID      string    `json:"need_id"`
	HouseholdID string    `json:"household_id"`
	Category    string    `json:"category"`
	Tier        string    `json:"tier"`
	Deadline    time.Time `json:"deadline,omitzero"`
}

// DigestData is a node's daily digest: the proposals that wait on its answer
// (soonest deadline first, at most MaxDigestItems), and how many of its households'
// needs are held for a round or waitlisted. An operator's covers the district and
// lists the proposals waiting at every tier.
type DigestData struct {
	Date       string    `json:"date"`
	Tier       string    `json:"tier"`
	Area       string    `json:"area"`
	Waiting    []Waiting `json:"waiting"`
	Total      int       `json:"waiting_total"`
	Held       int       `json:"held"`
	Waitlisted int       `json:"waitlisted"`
}

// digests sends each subscription that asked for it its node's digest.
func (em *emitter) digests(now time.Time, date string) error {
	s := em.s
	var live []*need
	for _, n := range s.needs {
		if n.status == domain.StatusHeld || n.status == domain.StatusWaitlisted || (n.status == domain.StatusProposed && n.ref != nil) {
			live = append(live, n)
		}
	}
	slices.SortFunc(live, func(a, b *need) int { return cmp.Compare(a.id, b.id) })
	return em.tell(domain.KindDigest, "", "digest", func(sub *domain.Subscription) (any, bool) {
		o := sub.Owner
		d := DigestData{Date: date, Tier: domain.TierName(domain.TierDistrict), Area: s.cfg.Partition, Waiting: []Waiting{}}
		switch o.Role {
		case domain.RoleCentre:
			d.Tier, d.Area = domain.TierName(o.Tier), o.Area
		case domain.RoleOperator:
		default:
			return nil, false
		}
		for _, n := range live {
			if len(sub.Categories) > 0 && !slices.Contains(sub.Categories, n.category) {
				continue
			}
			if o.Role == domain.RoleCentre && !em.covers(o, n) {
				continue
			}
			switch n.status {
			case domain.StatusHeld:
				d.Held++
			case domain.StatusWaitlisted:
				d.Waitlisted++
			case domain.StatusProposed:
				if o.Role == domain.RoleCentre && n.ref.tier != o.Tier {
					continue // it waits on another node's answer
				}
				d.Total++
				d.Waiting = append(d.Waiting, Waiting{ReferralID: n.ref.id, NeedID: n.id, HouseholdID: n.household,
					Category: n.category, Tier: domain.TierName(n.ref.tier), Deadline: n.ref.deadline})
			}
		}
		slices.SortFunc(d.Waiting, func(a, b Waiting) int {
			return cmp.Or(a.Deadline.Compare(b.Deadline), cmp.Compare(a.ReferralID, b.ReferralID))
		})
		if len(d.Waiting) > MaxDigestItems {
			d.Waiting = d.Waiting[:MaxDigestItems]
		}
		return d, true
	})
}
