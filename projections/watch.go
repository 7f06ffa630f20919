package projections

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/entitlement"
	"github.com/tierlink/tierlink/watch"
)

// WatchModel holds a WatchDoc per household: the facts the watch rules read.
const WatchModel = "watch"

// watchAllIndex holds every household of the partition (score 0), for the sweep
// that re-scores them all when the adviser rules or the catalogue change.
const watchAllIndex = "watch-all"

// watchReferenceID is the document of referenceModel that holds the adviser rules
// and the catalogue the watch read model was last scored by.
const watchReferenceID = "watch"

// WatchIndex names the index of the households of an area that are or will be on
// its watch list, by the time they are due on it (watch.Due, in ms): those due at
// now are the members with a score up to now. A household is under its community,
// its street and its district; one whose facts give no reason at any time is in none.
func WatchIndex(tier int, area string) string {
	return "watch:" + domain.TierName(tier) + ":" + area
}

// TakeUpCounters names an area's take-up counters: per programme of the catalogue,
// fields "<programme>|eligible", "|applied", "|granted" and "|refused".
func TakeUpCounters(tier int, area string) string {
	return "takeup:" + domain.TierName(tier) + ":" + area
}

// Fields of the take-up counters, after "<programme>|".
const (
	// TakeUpEligible counts the households the programme's rule admits, or that
	// were granted it.
	TakeUpEligible = "eligible"
	// TakeUpApplied counts the households that applied (whatever their application
	// became).
	TakeUpApplied = "applied"
	// TakeUpGranted counts the households whose application was granted.
	TakeUpGranted = "granted"
	// TakeUpRefused counts the households whose application was refused.
	TakeUpRefused = "refused"
)

// WatchDoc is one household's watch facts, with what the projection needs to keep
// them: its assessment, its open needs and its applications (the eligibility
// rules' facts), what it counts for in take-up, and its due time.
type WatchDoc struct {
	watch.Household
	Assessment   domain.Assessment                   `json:"assessment"`
	OpenNeeds    map[string]string                   `json:"open_needs"`
	Applications map[string]domain.EntitlementStatus `json:"applications,omitempty"`
	TakeUp       map[string]takeUp                   `json:"take_up,omitempty"`
	Due          time.Time                           `json:"due,omitzero"`
}

// takeUp is what one household counts for in one programme's take-up.
type takeUp struct {
	Eligible bool `json:"e,omitempty"`
	Applied  bool `json:"a,omitempty"`
	Granted  bool `json:"g,omitempty"`
	Refused  bool `json:"r,omitempty"`
}

// watchReference is what the watch read model was scored by.
type watchReference struct {
	Adviser    domain.Adviser     `json:"adviser"`
	Programmes []domain.Programme `json:"programmes,omitempty"`
}

// IndexReader is a Store that lists an index's members; the watch projection
// needs it to re-score every household when the rules change.
type IndexReader interface {
	// IndexMembers returns every member of an index.
	IndexMembers(ctx context.Context, index string) ([]string, error)
}

// applyAndWatch applies an event to the cases' read models, then to the watch read model.
func (c *Cases) applyAndWatch(tx *tx, e domain.Event, pos int64) error {
	if err := c.apply(tx, e, pos); err != nil {
		return err
	}
	if err := c.watch(tx, e); err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	return nil
}

// watchRef reads the rules the watch read model is scored by (the defaults and no
// catalogue before any publication) and the compiled catalogue. Both are decoded
// and compiled once per version of the stored document, not once per event.
func (c *Cases) watchRef(tx *tx) (watchReference, *entitlement.Catalogue, error) {
	doc, err := tx.doc(referenceModel, watchReferenceID)
	if err != nil {
		return watchReference{}, nil, err
	}
	if err := doc.encode(); err != nil {
		return watchReference{}, nil, err
	}
	rc := &c.refs
	rc.Lock()
	defer rc.Unlock()
	if rc.cat != nil && bytes.Equal(doc.raw, rc.raw) && (doc.raw != nil) == rc.found {
		return rc.ref, rc.cat, nil
	}
	var ref watchReference
	if doc.raw == nil {
		ref.Adviser = domain.DefaultAdviser()
	} else if err := json.Unmarshal(doc.raw, &ref); err != nil { // into a zero value: maps are not merged
		return watchReference{}, nil, fmt.Errorf("stored watch reference: %w", err)
	}
	cat, err := entitlement.Compile(ref.Programmes)
	if err != nil {
		return watchReference{}, nil, fmt.Errorf("catalogue: %w", err)
	}
	rc.raw, rc.found, rc.ref, rc.cat = bytes.Clone(doc.raw), doc.raw != nil, ref, cat
	return ref, cat, nil
}

// watchRefCache holds the last watch reference a projection decoded and its
// compiled catalogue (it changes with a publication, rarely). The rules it holds
// are shared: callers do not change them.
type watchRefCache struct {
	sync.Mutex
	raw   []byte
	found bool
	ref   watchReference
	cat   *entitlement.Catalogue
}

func (c *Cases) watch(tx *tx, e domain.Event) error {
	switch e.AggregateType {
	case domain.AggregateReference:
		return c.watchReference(tx, e)
	case domain.AggregateHousehold:
		return c.watchHousehold(tx, e)
	case domain.AggregateNeed:
		return c.watchNeed(tx, e)
	}
	return nil
}

// watchReference re-scores every household of the partition when a publication
// changed the adviser rules or the catalogue. It is rare (an operator publishes
// reference data a few times a year) and costs one read, one rule evaluation and
// one write per household of the partition, in the run's one commit.
func (c *Cases) watchReference(tx *tx, e domain.Event) error {
	p, ok := e.Payload.(domain.ReferencePublished)
	if !ok {
		return nil
	}
	ref, err := p.Reference()
	if err != nil {
		return nil // the cases projection ignores it too
	}
	old, _, err := c.watchRef(tx)
	if err != nil {
		return err
	}
	next := watchReference{Adviser: ref.Policy.AdviserRules(), Programmes: ref.Programmes()}
	a, _ := json.Marshal(old)
	b, _ := json.Marshal(next)
	if bytes.Equal(a, b) {
		return nil
	}
	if err := tx.put(referenceModel, watchReferenceID, next); err != nil {
		return err
	}
	_, cat, err := c.watchRef(tx)
	if err != nil {
		return err
	}
	ids, err := tx.members(watchAllIndex)
	if err != nil {
		return err
	}
	if err := tx.prefetch(WatchModel, ids); err != nil {
		return err
	}
	for _, id := range ids {
		var d WatchDoc
		if ok, err := tx.get(WatchModel, id, &d); err != nil {
			return err
		} else if !ok {
			continue
		}
		c.rescore(tx, &d, next.Adviser, cat, e.Time, true)
		if err := tx.put(WatchModel, id, d); err != nil {
			return err
		}
	}
	return nil
}

// members lists an index's members as committed, with the run's changes to it.
func (t *tx) members(index string) ([]string, error) {
	r, ok := t.store.(IndexReader)
	if !ok {
		return nil, fmt.Errorf("the read-model store cannot list index %s", index)
	}
	ids, err := r.IndexMembers(t.ctx, index)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", index, err)
	}
	set := map[string]bool{}
	for _, id := range ids {
		set[id] = true
	}
	for _, ch := range t.indexes {
		if ch.Index == index {
			set[ch.Member] = !ch.Remove
		}
	}
	out := make([]string, 0, len(set))
	for id, in := range set {
		if in {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out, nil
}

func (c *Cases) watchHousehold(tx *tx, e domain.Event) error {
	var d WatchDoc
	if _, err := tx.get(WatchModel, e.AggregateID, &d); err != nil {
		return err
	}
	facts := true // whether the eligibility rules' facts may have changed
	switch p := e.Payload.(type) {
	case domain.HouseholdRegistered:
		d = WatchDoc{Household: watch.Household{ID: e.AggregateID, Community: p.Community, Street: p.Street, District: p.District,
			Groups: p.TargetGroups, Hardship: p.Hardship, Registered: e.Time, LastContact: e.Time, LastAssessed: e.Time},
			Assessment: p.Assessment, OpenNeeds: map[string]string{}}
		tx.index(watchAllIndex, e.AggregateID, 0, false)
	case domain.NeedsOpened:
		contact(&d, e.Time)
		if d.OpenNeeds == nil {
			d.OpenNeeds = map[string]string{}
		}
		for _, n := range p.Needs {
			d.OpenNeeds[n.Category] = n.NeedID
		}
	case domain.NeedClosed:
		for cat, id := range d.OpenNeeds {
			if id == p.NeedID {
				delete(d.OpenNeeds, cat)
			}
		}
	case domain.HouseholdVisited:
		facts = false
		contact(&d, p.VisitedAt)
		if p.VisitedAt.After(d.LastVisit) {
			d.LastVisit = p.VisitedAt
		}
		for i := range d.Waiting {
			if d.LastVisit.After(d.Waiting[i].Since) {
				d.Waiting[i].Since = d.LastVisit
			}
		}
	case domain.HouseholdReassessed:
		contact(&d, e.Time)
		if e.Time.After(d.LastAssessed) {
			d.LastAssessed = e.Time
		}
		d.Assessment, d.Hardship = p.Assessment, p.Hardship
	case domain.EntitlementApplied:
		d.apply(p.Programme, domain.EntitlementStatusApplied)
	case domain.EntitlementGranted:
		d.apply(p.Programme, domain.EntitlementStatusGranted)
	case domain.EntitlementRefused:
		d.apply(p.Programme, domain.EntitlementStatusRefused)
	default:
		return nil
	}
	if d.ID == "" {
		return nil
	}
	ref, cat, err := c.watchRef(tx)
	if err != nil {
		return err
	}
	c.rescore(tx, &d, ref.Adviser, cat, e.Time, facts)
	return tx.put(WatchModel, d.ID, d)
}

func (d *WatchDoc) apply(programme string, s domain.EntitlementStatus) {
	if d.Applications == nil {
		d.Applications = map[string]domain.EntitlementStatus{}
	}
	d.Applications[programme] = s
}

// contact records a contact at t: the declines before it no longer count.
func contact(d *WatchDoc, t time.Time) {
	if t.After(d.LastContact) {
		d.LastContact = t
	}
	d.Declines = slices.DeleteFunc(d.Declines, func(x time.Time) bool { return !x.After(d.LastContact) })
}

func (c *Cases) watchNeed(tx *tx, e domain.Event) error {
	var n NeedView
	if ok, err := tx.get(NeedsModel, e.AggregateID, &n); err != nil || !ok || n.HouseholdID == "" {
		return err
	}
	var d WatchDoc
	if ok, err := tx.get(WatchModel, n.HouseholdID, &d); err != nil || !ok {
		return err
	}
	switch p := e.Payload.(type) {
	case domain.ReferralDeclined:
		if e.Time.After(d.LastContact) {
			d.Declines = append(d.Declines, e.Time)
		}
	case domain.ServiceCompleted:
		d.FollowUps = append(d.FollowUps, watch.PendingFollowUp{NeedID: n.ID, ReferralID: p.ReferralID, Category: n.Category, CompletedAt: e.Time})
	case domain.FollowUpRecorded:
		contact(&d, e.Time)
		d.FollowUps = slices.DeleteFunc(d.FollowUps, func(f watch.PendingFollowUp) bool { return f.ReferralID == p.ReferralID })
	}
	// A need waits while it is open, held or waitlisted: without a live referral.
	waiting := n.Status == domain.StatusOpen || n.Status == domain.StatusHeld || n.Status == domain.StatusWaitlisted
	i := slices.IndexFunc(d.Waiting, func(w watch.WaitingNeed) bool { return w.NeedID == n.ID })
	switch {
	case waiting && i < 0:
		since := n.RegisteredAt
		if d.LastVisit.After(since) {
			since = d.LastVisit
		}
		d.Waiting = append(d.Waiting, watch.WaitingNeed{NeedID: n.ID, Category: n.Category, Since: since})
	case !waiting && i >= 0:
		d.Waiting = slices.Delete(d.Waiting, i, i+1)
	}
	ref, cat, err := c.watchRef(tx)
	if err != nil {
		return err
	}
	c.rescore(tx, &d, ref.Adviser, cat, e.Time, false)
	return tx.put(WatchModel, d.ID, d)
}

// rescore brings a household's unclaimed programmes (when its facts or the
// catalogue may have changed), its take-up counters and its place in the watch
// indexes up to date.
func (c *Cases) rescore(tx *tx, d *WatchDoc, rules domain.Adviser, cat *entitlement.Catalogue, at time.Time, facts bool) {
	if facts {
		since := map[string]time.Time{}
		for _, u := range d.Unclaimed {
			since[u.Programme] = u.Since
		}
		d.Unclaimed = nil
		next := map[string]takeUp{}
		for _, r := range cat.Evaluate(entitlement.FactsOf(d.domainHousehold())) {
			code := r.Programme.Code
			s, applied := d.Applications[code]
			t := takeUp{Eligible: r.Eligible || s == domain.EntitlementStatusGranted, Applied: applied,
				Granted: s == domain.EntitlementStatusGranted, Refused: s == domain.EntitlementStatusRefused}
			if t != (takeUp{}) {
				next[code] = t
			}
			if r.Eligible && !applied {
				from, ok := since[code]
				if !ok {
					from = at
				}
				d.Unclaimed = append(d.Unclaimed, watch.UnclaimedProgramme{Programme: code, Since: from})
			}
		}
		c.countTakeUp(tx, d, d.TakeUp, next)
		d.TakeUp = next
		if len(next) == 0 {
			d.TakeUp = nil
		}
	}
	due := watch.Due(d.Household, rules)
	if due.Equal(d.Due) {
		return
	}
	d.Due = due
	for tier := domain.TierCommunity; tier <= domain.TierDistrict; tier++ {
		tx.index(WatchIndex(tier, c.watchArea(d, tier)), d.ID, float64(due.UnixMilli()), due.IsZero())
	}
}

func (c *Cases) watchArea(d *WatchDoc, tier int) string {
	switch tier {
	case domain.TierCommunity:
		return d.Community
	case domain.TierStreet:
		return d.Street
	}
	return c.partition
}

// countTakeUp moves a household's take-up counts from before to after.
func (c *Cases) countTakeUp(tx *tx, d *WatchDoc, before, after map[string]takeUp) {
	for _, code := range sortedKeys(before, after) {
		b, a := before[code], after[code]
		for _, f := range []struct {
			field string
			b, a  bool
		}{{TakeUpEligible, b.Eligible, a.Eligible}, {TakeUpApplied, b.Applied, a.Applied},
			{TakeUpGranted, b.Granted, a.Granted}, {TakeUpRefused, b.Refused, a.Refused}} {
			if f.a == f.b {
				continue
			}
			delta := int64(1)
			if f.b {
				delta = -1
			}
			for tier := domain.TierCommunity; tier <= domain.TierDistrict; tier++ {
				tx.add(TakeUpCounters(tier, c.watchArea(d, tier)), code+"|"+f.field, delta)
			}
		}
	}
}

func sortedKeys(a, b map[string]takeUp) []string {
	var out []string
	for k := range a {
		out = append(out, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// domainHousehold is the household as the entitlement package reads its facts.
func (d *WatchDoc) domainHousehold() domain.Household {
	return domain.Household{ID: d.ID, Community: d.Community, Street: d.Street, District: d.District,
		TargetGroups: d.Groups, Assessment: d.Assessment, Hardship: d.Hardship, OpenNeeds: d.OpenNeeds}
}
