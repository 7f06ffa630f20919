package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/tierlink/tierlink/domain"
)

// matchingActor is the actor of the matcher's events (matching.Actor; projections
// does not import the matcher).
const matchingActor = "system:matcher"

// Read models of the cases projection, besides NeedsModel.
const (
	// CasesName names the cases projection (its checkpoint and consumer group).
	CasesName = "cases"
	// HouseholdsModel holds a HouseholdView per household.
	HouseholdsModel = "households"
	// OffersModel holds an OfferView per offer.
	OffersModel = "offers"
	// ReferralsModel is the referral index: per referral id, the id of its need (the
	// id's bytes), by which a referral's commands, the inboxes and the providers'
	// lists find the need. Each read model has a namespace of its own, so that an id
	// of one is never read as another's (a need id is never a referral's key).
	// Read models built before it existed kept this index in NeedsModel under
	// "referral-<id>": their migration is a rebuild from the log (`tierlink
	// projections rebuild`, which serves from the old generation meanwhile and drops
	// it after); until then, referrals proposed before the upgrade are not found.
	ReferralsModel = "referrals"
	// referenceModel holds the latest policy read from the log.
	referenceModel = "reference"
)

// HouseholdView is a household as its centres read it; its needs are NeedViews.
type HouseholdView struct {
	ID           string               `json:"id"`
	Community    string               `json:"community"`
	Street       string               `json:"street"`
	District     string               `json:"district"`
	TargetGroups []domain.TargetGroup `json:"target_groups"`
	Assessment   domain.Assessment    `json:"assessment"`
	Hardship     int                  `json:"hardship"`
	RegisteredAt time.Time            `json:"registered_at"`
	NeedIDs      []string             `json:"need_ids"`
	// Helped is set once one of its needs got the service (for coverage).
	Helped bool `json:"helped,omitempty"`
	// Visits holds the latest visits recorded (at most MaxVisitsKept), oldest first.
	Visits []VisitView `json:"visits,omitempty"`
	// Assessments is the history of the hardship score: the registration's
	// assessment, then each reassessment, oldest first.
	Assessments []AssessmentView `json:"assessments,omitempty"`
	Version     int64            `json:"version"`
	Position    int64            `json:"position"`
}

// OfferView is an offer and where its units are: proposed (reserved, awaiting an
// answer), accepted, in service, completed, and free.
type OfferView struct {
	ID          string             `json:"id"`
	Provider    string             `json:"provider"`
	Category    string             `json:"category"`
	Scope       OfferScope         `json:"scope"`
	Eligibility domain.Eligibility `json:"eligibility"`
	ValidFrom   time.Time          `json:"valid_from"`
	ValidUntil  time.Time          `json:"valid_until,omitzero"`
	Status      domain.OfferStatus `json:"status"`
	Capacity    int                `json:"capacity"`
	Proposed    int                `json:"proposed"`
	Accepted    int                `json:"accepted"`
	InService   int                `json:"in_service"`
	Completed   int                `json:"completed"`
	Free        int                `json:"free"`
	// Referrals holds the stage of each live referral to the offer.
	Referrals map[string]string `json:"referrals,omitempty"`
	Version   int64             `json:"version"`
	Position  int64             `json:"position"`
}

// OfferScope is where an offer serves: a tier's area.
type OfferScope struct {
	Tier string `json:"tier"`
	Area string `json:"area"`
}

// Stages of a referral in an OfferView.
const (
	stageProposed  = "proposed"
	stageAccepted  = "accepted"
	stageInService = "in_service"
)

// count recomputes the offer's unit counts from its referrals.
func (o *OfferView) count() {
	o.Proposed, o.Accepted, o.InService = 0, 0, 0
	for _, st := range o.Referrals {
		switch st {
		case stageProposed:
			o.Proposed++
		case stageAccepted:
			o.Accepted++
		case stageInService:
			o.InService++
		}
	}
	o.Free = max(0, o.Capacity-o.Proposed-o.Accepted-o.InService-o.Completed)
	if o.Status != domain.OfferActive {
		o.Free = 0
	}
}

// InboxIndex names the index of the referrals awaiting a centre's answer, by
// deadline (overdue first).
func InboxIndex(tier int, area string) string {
	return "inbox:" + domain.TierName(tier) + ":" + area
}

// ProviderIndex names the index of the referrals to a provider's offers, by time proposed.
func ProviderIndex(provider string) string { return "provider:" + provider }

// DecisionsIndex names the index of the needs by the log position of the matcher's
// latest decision on each (for a dashboard's recent decisions).
const DecisionsIndex = "decisions"

// ProviderOffersIndex names the index of a provider's offers, by time posted.
func ProviderOffersIndex(provider string) string { return "offers-of:" + provider }

// WaitlistIndex names the index of the needs waitlisted in an area, highest
// priority first.
func WaitlistIndex(tier int, area string) string {
	return "waitlist:" + domain.TierName(tier) + ":" + area
}

// HeldIndex names the index of the needs held for an allocation round in an area,
// the round due soonest first (by its time, in ms). A held need is waiting, as a
// waitlisted one is, but it is not on the waitlist nor in the supply gap: supply
// that fits it exists, and the round shares it out. It is under its community,
// street and district, as on the waitlist, whatever the tier it is held at.
func HeldIndex(tier int, area string) string {
	return "held:" + domain.TierName(tier) + ":" + area
}

// Pseudonym is the household id a provider sees: the same for every referral of
// the household to that provider, and unlinkable across providers.
func Pseudonym(provider, householdID string) string { return domain.Pseudonym(provider, householdID) }

// Cases keeps the read models of one partition's cases: needs, the referral index,
// households, offers, the centres' inboxes, the providers' referrals and the
// waitlists. It applies a run of events in memory and commits what the run
// changed with the checkpoint, in one atomic write.
type Cases struct {
	store     Store
	partition string
	policy    *domain.Policy
	observer  LinkObserver
	// refs caches the watch rules and the compiled catalogue (watch.go).
	refs watchRefCache
}

// LinkObserver is told of each need linked for the first time, with its time to
// link (for a histogram; a rebuild has none, so that nothing is counted twice).
type LinkObserver interface {
	Linked(partition string, tier int, d time.Duration)
}

// Observe makes the projection tell o of each need linked from now on.
func (c *Cases) Observe(o LinkObserver) { c.observer = o }

// NewCases returns the cases projection of a partition over a store.
func NewCases(store Store, partition string) (*Cases, error) {
	if store == nil || partition == "" {
		return nil, fmt.Errorf("projections: cases need a store and a partition")
	}
	return &Cases{store: store, partition: partition}, nil
}

// Checkpoint returns the last position the projection applied.
func (c *Cases) Checkpoint(ctx context.Context) (int64, error) {
	return c.store.Checkpoint(ctx, CasesName)
}

// Handle applies one position.
func (c *Cases) Handle(ctx context.Context, pos int64, e *domain.Event) error {
	return c.Apply(ctx, []domain.Entry{{Position: pos, Event: e}})
}

// Apply applies a run of consecutive positions and commits their changes. When a
// rebuild switched the read models to another generation meanwhile, it applies the
// run again on that one (positions it holds already are skipped).
func (c *Cases) Apply(ctx context.Context, run []domain.Entry) error {
	for attempt := 0; ; attempt++ {
		err := c.apply1(ctx, run)
		if !errors.Is(err, ErrGenerationChanged) || attempt == 3 {
			return err
		}
		c.policy = nil // read it from the new generation
	}
}

func (c *Cases) apply1(ctx context.Context, run []domain.Entry) error {
	if len(run) == 0 {
		return nil
	}
	cp, err := c.Checkpoint(ctx)
	if err != nil {
		return err
	}
	if c.policy == nil {
		c.policy = &domain.Policy{}
		if b, ok, err := c.store.Get(ctx, referenceModel, "policy"); err != nil {
			return err
		} else if ok {
			if err := json.Unmarshal(b, c.policy); err != nil {
				return fmt.Errorf("stored policy: %w", err)
			}
		}
	}
	tx := &tx{ctx: ctx, store: c.store, docs: map[string]*cached{}}
	// Read the documents of the run's aggregates in one round trip per model.
	want := map[string][]string{}
	for _, x := range run {
		if x.Position <= cp || x.Event == nil {
			continue
		}
		if model := modelOf[x.Event.AggregateType]; model != "" {
			want[model] = append(want[model], x.Event.AggregateID)
		}
	}
	for model, ids := range want {
		if err := tx.prefetch(model, ids); err != nil {
			return err
		}
	}
	// And the watch documents of the run's households, in one more: the household
	// events' own, and those of the needs' (named by a registration, else by the
	// need's view just read).
	if err := tx.prefetch(WatchModel, c.householdsOf(tx, run, cp)); err != nil {
		return err
	}
	last := cp
	for _, x := range run {
		if x.Position <= cp {
			continue
		}
		last = x.Position
		if x.Event != nil {
			if err := c.applyAndWatch(tx, *x.Event, x.Position); err != nil {
				return fmt.Errorf("position %d: %w", x.Position, err)
			}
		}
	}
	if last <= cp {
		return nil
	}
	ch, err := tx.changes()
	if err != nil {
		return err
	}
	if err := c.store.Commit(ctx, CasesName, last, ch); err != nil {
		return err
	}
	for _, l := range tx.linked {
		c.observer.Linked(c.partition, l.tier, l.d)
	}
	return nil
}

// householdsOf lists the households whose watch documents a run's events touch.
func (c *Cases) householdsOf(tx *tx, run []domain.Entry, cp int64) []string {
	var out []string
	for _, x := range run {
		if x.Position <= cp || x.Event == nil {
			continue
		}
		switch e := x.Event; e.AggregateType {
		case domain.AggregateHousehold:
			out = append(out, e.AggregateID)
		case domain.AggregateNeed:
			if p, ok := e.Payload.(domain.NeedRegistered); ok {
				out = append(out, p.HouseholdID)
				continue
			}
			var n NeedView
			if ok, err := tx.get(NeedsModel, e.AggregateID, &n); err == nil && ok && n.HouseholdID != "" {
				out = append(out, n.HouseholdID)
			}
		}
	}
	return out
}

// linked is a need linked for the first time in a run.
type linked struct {
	tier int
	d    time.Duration
}

func (c *Cases) apply(tx *tx, e domain.Event, pos int64) error {
	switch e.AggregateType {
	case domain.AggregateReference:
		if p, ok := e.Payload.(domain.ReferencePublished); ok {
			if ref, err := p.Reference(); err == nil {
				c.policy = &ref.Policy
				return tx.put(referenceModel, "policy", ref.Policy)
			}
		}
	case domain.AggregateHousehold:
		return c.applyHousehold(tx, e, pos)
	case domain.AggregateOffer:
		return c.applyOffer(tx, e, pos)
	case domain.AggregateNeed:
		return c.applyNeed(tx, e, pos)
	}
	return nil
}

func (c *Cases) applyHousehold(tx *tx, e domain.Event, pos int64) error {
	var h HouseholdView
	if _, err := tx.get(HouseholdsModel, e.AggregateID, &h); err != nil {
		return err
	}
	switch p := e.Payload.(type) {
	case domain.HouseholdRegistered:
		h = HouseholdView{ID: e.AggregateID, Community: p.Community, Street: p.Street, District: p.District,
			TargetGroups: p.TargetGroups, Assessment: p.Assessment, Hardship: p.Hardship, RegisteredAt: e.Time, NeedIDs: []string{},
			Assessments: []AssessmentView{{At: e.Time, Assessment: p.Assessment, Hardship: p.Hardship}}}
		c.count(tx, h.Community, h.Street, h.RegisteredAt, FieldHouseholds, 1)
	case domain.HouseholdVisited:
		h.Visits = visited(h.Visits, VisitView{Visitor: p.Visitor, Kind: p.Kind, VisitedAt: p.VisitedAt, Found: p.Found, RecordedAt: e.Time})
	case domain.HouseholdReassessed:
		h.Assessment, h.Hardship = p.Assessment, p.Hardship
		h.Assessments = append(h.Assessments, AssessmentView{At: e.Time, Assessment: p.Assessment, Hardship: p.Hardship, Previous: p.Previous, Note: p.Note})
		if err := c.reassessNeeds(tx, h, e, p); err != nil {
			return err
		}
	case domain.NeedsOpened:
		for _, n := range p.Needs {
			if !slices.Contains(h.NeedIDs, n.NeedID) {
				h.NeedIDs = append(h.NeedIDs, n.NeedID)
			}
		}
	default:
		// Any other event of the household (household.need_closed, and any added
		// later) changes nothing the view shows but its version: the view's version
		// is the household's, or a client that read it gets 412 on its next If-Match.
		if h.ID == "" {
			return nil
		}
	}
	h.Version, h.Position = e.AggregateVersion, pos
	return tx.put(HouseholdsModel, e.AggregateID, h)
}

func (c *Cases) applyOffer(tx *tx, e domain.Event, pos int64) error {
	var o OfferView
	if _, err := tx.get(OffersModel, e.AggregateID, &o); err != nil {
		return err
	}
	switch p := e.Payload.(type) {
	case domain.OfferPosted:
		o = OfferView{ID: e.AggregateID, Provider: p.Provider, Category: p.Category,
			Scope:       OfferScope{Tier: domain.TierName(p.Scope.Tier), Area: p.Scope.Area},
			Eligibility: p.Eligibility, ValidFrom: p.ValidFrom, ValidUntil: p.ValidUntil,
			Status: domain.OfferActive, Capacity: p.Capacity}
		tx.index(ProviderOffersIndex(p.Provider), e.AggregateID, float64(e.Time.UnixMilli()), false)
	case domain.OfferCapacityChanged:
		o.Capacity = p.Capacity
	case domain.OfferWithdrawn:
		o.Status = domain.OfferStatusWithdrawn
	case domain.OfferUnitReserved:
		if o.Referrals == nil {
			o.Referrals = map[string]string{}
		}
		o.Referrals[p.ReferralID] = stageProposed
	case domain.OfferUnitReleased:
		delete(o.Referrals, p.ReferralID)
	default:
		// Any other event of the offer moves only its version (see applyHousehold).
		if o.ID == "" {
			return nil
		}
	}
	o.count()
	o.Version, o.Position = e.AggregateVersion, pos
	return tx.put(OffersModel, e.AggregateID, o)
}

// stage moves a referral of an offer to a stage ("" ends it; "completed" counts it done).
func (c *Cases) stage(tx *tx, offerID, referralID, stage string) error {
	var o OfferView
	ok, err := tx.get(OffersModel, offerID, &o)
	if err != nil || !ok {
		return err
	}
	if _, live := o.Referrals[referralID]; !live {
		return nil
	}
	switch stage {
	case "":
		delete(o.Referrals, referralID)
	case "completed":
		delete(o.Referrals, referralID)
		o.Completed++
	default:
		o.Referrals[referralID] = stage
	}
	o.count()
	return tx.put(OffersModel, offerID, o)
}

func (c *Cases) applyNeed(tx *tx, e domain.Event, pos int64) error {
	var before NeedView
	if _, err := tx.get(NeedsModel, e.AggregateID, &before); err != nil {
		return err
	}
	after, changed := EvolveNeed(before, e, pos)
	if !changed {
		return nil
	}
	if _, ok := e.Payload.(domain.ServiceCompleted); ok {
		after.FollowUpDue = e.Time.Add(c.policy.AdviserRules().FollowUpWithin())
	}
	if p, ok := e.Payload.(domain.FollowUpRecorded); ok {
		if err := c.followedUp(tx, after, e, p); err != nil {
			return err
		}
	}
	if err := tx.put(NeedsModel, e.AggregateID, after); err != nil {
		return err
	}
	area := func(v NeedView, tier int) string {
		switch tier {
		case domain.TierCommunity:
			return v.Community
		case domain.TierStreet:
			return v.Street
		}
		return c.partition
	}
	// The inbox holds a referral while it awaits an answer.
	if b := before.Referral; b != nil && before.Status == domain.StatusProposed &&
		(after.Status != domain.StatusProposed || after.Referral == nil || after.Referral.ID != b.ID) {
		tx.index(InboxIndex(b.Tier, area(before, b.Tier)), b.ID, 0, true)
	}
	if a := after.Referral; a != nil && after.Status == domain.StatusProposed && (before.Referral == nil || before.Referral.ID != a.ID) {
		tx.index(InboxIndex(a.Tier, area(after, a.Tier)), a.ID, float64(a.Deadline.UnixMilli()), false)
		tx.putRaw(ReferralsModel, a.ID, []byte(e.AggregateID))
		var o OfferView
		if ok, err := tx.get(OffersModel, a.OfferID, &o); err != nil {
			return err
		} else if ok {
			tx.index(ProviderIndex(o.Provider), a.ID, float64(a.ProposedAt.UnixMilli()), false)
		}
	}
	c.indicate(tx, before, after, e)
	// The held indexes hold a need under its community, street and district while it
	// is held for an allocation round, by the round's time (held again, it moves).
	if after.Held != nil && (before.Held == nil || !before.Held.Until.Equal(after.Held.Until)) {
		for tier := domain.TierCommunity; tier <= domain.TierDistrict; tier++ {
			tx.index(HeldIndex(tier, area(after, tier)), e.AggregateID, float64(after.Held.Until.UnixMilli()), false)
		}
	}
	if before.Held != nil && after.Held == nil {
		for tier := domain.TierCommunity; tier <= domain.TierDistrict; tier++ {
			tx.index(HeldIndex(tier, area(after, tier)), e.AggregateID, 0, true)
		}
	}
	if e.Actor == matchingActor {
		tx.index(DecisionsIndex, e.AggregateID, float64(pos), false)
	}
	// The offer's units follow the referral's stage.
	switch p := e.Payload.(type) {
	case domain.ReferralAccepted:
		if after.Referral != nil {
			return c.stage(tx, after.Referral.OfferID, p.ReferralID, stageAccepted)
		}
	case domain.ServiceStarted:
		if after.Referral != nil {
			return c.stage(tx, after.Referral.OfferID, p.ReferralID, stageInService)
		}
	case domain.ServiceCompleted:
		if after.Referral != nil {
			return c.stage(tx, after.Referral.OfferID, p.ReferralID, "completed")
		}
	}
	// The waitlists hold a need under its community, street and district while it
	// waits with no supply at any tier; the supply gap counts it. A held need is not
	// in either: supply that fits it exists (HeldIndex).
	waiting := func(v NeedView) bool { return v.Status == domain.StatusWaitlisted }
	if waiting(before) != waiting(after) {
		delta := int64(1)
		if !waiting(after) {
			delta = -1
		}
		tx.add(GapCounters(c.partition), after.Street+"|"+after.Category, delta)
		key := c.policy.PriorityKey(after.Hardship, after.Urgency, after.RegisteredAt)
		for tier := domain.TierCommunity; tier <= domain.TierDistrict; tier++ {
			tx.index(WaitlistIndex(tier, area(after, tier)), e.AggregateID, -float64(key), !waiting(after))
		}
	}
	return nil
}

// indicate counts what a need's event changed for the indicators, in the need's
// registration cohort (its community, street and district, its day, week and month).
func (c *Cases) indicate(tx *tx, before, after NeedView, e domain.Event) {
	cat := "|" + after.Category
	count := func(field string) { c.count(tx, after.Community, after.Street, after.RegisteredAt, field+cat, 1) }
	if before.ID == "" && after.ID != "" {
		count(FieldDemand)
	}
	if before.LinkedAt == nil && after.LinkedAt != nil {
		count(FieldLinked)
		count(LinkBucket(after.LinkedAt.Sub(after.RegisteredAt)))
		if c.observer != nil && after.Referral != nil {
			tx.linked = append(tx.linked, linked{tier: after.Referral.Tier, d: after.LinkedAt.Sub(after.RegisteredAt)})
		}
	}
	if !before.Near && after.Near {
		count(FieldNear)
	}
	if p, ok := e.Payload.(domain.NeedEscalated); ok {
		count(FieldEscalatedFrom + domain.TierName(p.From))
	}
	// Time to accept: the need's first acceptance (a need accepted again after its
	// referral ended is not counted twice); time to start: when it was first served.
	if _, ok := e.Payload.(domain.ReferralAccepted); ok && !before.Served && !acceptedBefore(before) {
		count(FieldAccepted)
		count(AcceptBucket(e.Time.Sub(after.RegisteredAt)))
	}
	if !before.Served && after.Served {
		count(FieldStarted)
		count(StartBucket(e.Time.Sub(after.RegisteredAt)))
		count(FieldServed)
		var h HouseholdView
		if ok, err := tx.get(HouseholdsModel, after.HouseholdID, &h); err == nil && ok && !h.Helped {
			h.Helped = true
			if tx.put(HouseholdsModel, h.ID, h) == nil {
				c.count(tx, h.Community, h.Street, h.RegisteredAt, FieldHelped, 1)
			}
		}
	}
}

// acceptedBefore reports whether a need's story, before an event, holds an
// acceptance (its referral's AcceptedAt is no witness: the event's fold sets it on
// the referral the view before shares).
func acceptedBefore(v NeedView) bool {
	return slices.ContainsFunc(v.Steps, func(s Step) bool { return s.What == stepAccepted })
}

// stepAccepted is the What of an acceptance's step.
var stepAccepted = strings.TrimPrefix(domain.ReferralAccepted{}.EventType(), "need.")

// count adds to a field of the indicator counters of a community, its street and its
// district, for the day, week and month of at.
func (c *Cases) count(tx *tx, community, street string, at time.Time, field string, delta int64) {
	for _, p := range Periods(at) {
		tx.add(IndicatorCounters(domain.TierCommunity, community, p), field, delta)
		tx.add(IndicatorCounters(domain.TierStreet, street, p), field, delta)
		tx.add(IndicatorCounters(domain.TierDistrict, c.partition, p), field, delta)
	}
}

// modelOf is the read model of each aggregate type's documents.
var modelOf = map[string]string{
	domain.AggregateNeed: NeedsModel, domain.AggregateHousehold: HouseholdsModel, domain.AggregateOffer: OffersModel,
}

// prefetch reads documents not yet read, in one call.
func (t *tx) prefetch(model string, ids []string) error {
	var missing []string
	seen := map[string]bool{}
	for _, id := range ids {
		if _, ok := t.docs[model+"\x00"+id]; !ok && !seen[id] {
			seen[id] = true
			missing = append(missing, id)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	bodies, err := t.store.GetMany(t.ctx, model, missing)
	if err != nil {
		return err
	}
	for i, id := range missing {
		t.docs[model+"\x00"+id] = &cached{model: model, id: id, raw: bodies[i]}
	}
	return nil
}

// tx gathers a run's changes: each document read once and written once, index
// changes in order.
type tx struct {
	ctx      context.Context
	store    Store
	docs     map[string]*cached
	linked   []linked // told to the observer once the run is committed
	order    []string
	indexes  []IndexChange
	counters map[[2]string]int64
	corder   [][2]string
}

// add adds delta to a counter field; a run's additions to one field are summed.
func (t *tx) add(counters, field string, delta int64) {
	k := [2]string{counters, field}
	if t.counters == nil {
		t.counters = map[[2]string]int64{}
	}
	if _, ok := t.counters[k]; !ok {
		t.corder = append(t.corder, k)
	}
	t.counters[k] += delta
}

type cached struct {
	model, id string
	raw       []byte // the document as read or last written, encoded; nil if none or not yet encoded
	// val is the document last written in the run, not yet encoded (a pointer): a
	// need registered, escalated twice and waitlisted in one run is decoded and
	// encoded once, not four times.
	val   reflect.Value
	dirty bool
}

func (t *tx) doc(model, id string) (*cached, error) {
	k := model + "\x00" + id
	if c, ok := t.docs[k]; ok {
		return c, nil
	}
	b, found, err := t.store.Get(t.ctx, model, id)
	if err != nil {
		return nil, err
	}
	c := &cached{model: model, id: id}
	if found {
		c.raw = b
	}
	t.docs[k] = c
	return c, nil
}

// get decodes a document into v (a pointer); it reports whether the document exists.
// A document written earlier in the run is copied from what was written: a shallow
// copy, whose maps, slices and pointed-to values are those kept, so a caller that
// changes any of them must put the document back (every apply does: it gets,
// changes, and puts, or returns before changing anything).
func (t *tx) get(model, id string, v any) (bool, error) {
	c, err := t.doc(model, id)
	if err != nil {
		return false, err
	}
	if c.val.IsValid() {
		if dst := reflect.ValueOf(v).Elem(); dst.Type() == c.val.Elem().Type() {
			dst.Set(c.val.Elem())
			return true, nil
		}
		if err := c.encode(); err != nil {
			return false, err
		}
	}
	if c.raw == nil {
		return false, nil
	}
	return true, json.Unmarshal(c.raw, v)
}

// put writes a document (a value, not a pointer); it is encoded once, when the run
// is committed.
func (t *tx) put(model, id string, v any) error {
	t.putRaw(model, id, nil)
	p := reflect.New(reflect.TypeOf(v))
	p.Elem().Set(reflect.ValueOf(v))
	t.docs[model+"\x00"+id].val = p
	return nil
}

// encode encodes a document written in the run.
func (c *cached) encode() error {
	if !c.val.IsValid() {
		return nil
	}
	b, err := json.Marshal(c.val.Interface())
	if err != nil {
		return fmt.Errorf("encode %s %s: %w", c.model, c.id, err)
	}
	c.raw, c.val = b, reflect.Value{}
	return nil
}

// putRaw writes a document's bytes as they are.
func (t *tx) putRaw(model, id string, b []byte) {
	k := model + "\x00" + id
	c, ok := t.docs[k]
	if !ok {
		c = &cached{model: model, id: id}
		t.docs[k] = c
	}
	if !c.dirty {
		t.order = append(t.order, k)
	}
	c.raw, c.val, c.dirty = b, reflect.Value{}, true
}

// index adds (or removes) a member of an ordered index.
func (t *tx) index(name, member string, score float64, remove bool) {
	t.indexes = append(t.indexes, IndexChange{Index: name, Member: member, Score: score, Remove: remove})
}

// changes returns what the run wrote.
func (t *tx) changes() (Changes, error) {
	var ch Changes
	for _, k := range t.order {
		c := t.docs[k]
		if err := c.encode(); err != nil {
			return Changes{}, err
		}
		ch.Docs = append(ch.Docs, Doc{Model: c.model, ID: c.id, Body: c.raw})
	}
	ch.Indexes = t.indexes
	for _, k := range t.corder {
		if d := t.counters[k]; d != 0 {
			ch.Counters = append(ch.Counters, CounterChange{Counters: k[0], Field: k[1], Delta: d})
		}
	}
	return ch, nil
}

// ETagVersion is the household's version, for If-Match.
func (h HouseholdView) ETagVersion() int64 { return h.Version }

// ETagVersion is the offer's version, for If-Match.
func (o OfferView) ETagVersion() int64 { return o.Version }

// ETagVersion is the need's version, for If-Match.
func (v NeedView) ETagVersion() int64 { return v.Version }
