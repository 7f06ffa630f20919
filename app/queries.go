package app

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/projections"
)

// Views reads the read models of every district.
type Views interface {
	// Household finds a household's view in any district.
	Household(ctx context.Context, id string) (projections.HouseholdView, bool, error)
	// Offer finds an offer's view in any district.
	Offer(ctx context.Context, id string) (projections.OfferView, bool, error)
	// Needs returns a district's needs by id, in order; one not in the read model is nil.
	Needs(ctx context.Context, district string, ids []string) ([]*projections.NeedView, error)
	// Offers returns a district's offers by id, in order; one not in the read model is nil.
	Offers(ctx context.Context, district string, ids []string) ([]*projections.OfferView, error)
	// NeedsOfReferrals returns the id of each referral's need in a district, in
	// order ("" for a referral not in the read model).
	NeedsOfReferrals(ctx context.Context, district string, referralIDs []string) ([]string, error)
	// Page returns up to limit members of a district's index after a cursor.
	Page(ctx context.Context, district, index string, after Cursor, limit int) ([]Cursor, error)
	// Checkpoint returns the last log position the district's read models hold.
	Checkpoint(ctx context.Context, district string) (int64, error)
	// Latest returns the ids of the n members of a district's index with the highest scores.
	Latest(ctx context.Context, district, index string, n int) ([]string, error)
}

// Cursor is a position in an ordered list: the last member read and its score.
type Cursor struct {
	ID    string  `json:"i"`
	Score float64 `json:"s"`
}

// ErrBadCursor means a cursor was not one a list gave.
var ErrBadCursor = errors.New("bad cursor")

// Encode returns the cursor as an opaque string ("" for the start).
func (c Cursor) Encode() string {
	if c.ID == "" {
		return ""
	}
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// MaxCursorLength bounds a cursor's length (openapi.yaml declares it).
const MaxCursorLength = 512

// ParseCursor reads a cursor a list gave ("" is the start).
func ParseCursor(s string) (Cursor, error) {
	var c Cursor
	if s == "" {
		return c, nil
	}
	if len(s) > MaxCursorLength {
		return Cursor{}, fmt.Errorf("%w: it is longer than %d characters; pass back the next_cursor of the previous page", ErrBadCursor, MaxCursorLength)
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(b, &c) != nil || c.ID == "" {
		return Cursor{}, fmt.Errorf("%w: pass back the next_cursor of the previous page", ErrBadCursor)
	}
	return c, nil
}

// Page limits.
const (
	DefaultPageSize = 50
	MaxPageSize     = 200
)

// Page is one page of a list, with the cursor of the next ("" at the end).
type Page[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// PageRequest asks for a page.
type PageRequest struct {
	After Cursor
	Limit int
}

func (r PageRequest) limit() (int, error) {
	switch {
	case r.Limit == 0:
		return DefaultPageSize, nil
	case r.Limit < 1 || r.Limit > MaxPageSize:
		return 0, &domain.FieldError{Field: "limit", Reason: fmt.Errorf("%d is not from 1 to %d", r.Limit, MaxPageSize)}
	}
	return r.Limit, nil
}

// CaseView is a household with all its needs: what its centres read.
type CaseView struct {
	Household projections.HouseholdView `json:"household"`
	Needs     []projections.NeedView    `json:"needs"`
}

// InboxItem is a referral awaiting a centre's answer, with the matcher's reasons.
type InboxItem struct {
	ReferralID  string                   `json:"referral_id"`
	Deadline    time.Time                `json:"deadline"`
	Overdue     bool                     `json:"overdue"`
	Need        projections.NeedView     `json:"need"`
	Referral    projections.ReferralView `json:"referral"`
	OfferID     string                   `json:"offer_id"`
	HouseholdID string                   `json:"household_id"`
}

// ProviderReferral is what a provider sees of a referral to one of its offers, by
// the rule of minimum necessary. Until the centre accepts, the provider decides
// nothing, so it sees only what its own capacity is reserved for: the referral, its
// offer, the category, tier, status, when it was proposed and the centre's
// deadline. From acceptance it serves, so it also sees the household's pseudonym,
// its community (whose centre holds the contact) and the one eligibility ground that
// admitted it (domain.Eligibility.Ground). A referral the need has left ("ended")
// shows no household at all. Never names, contacts, the assessment, the hardship
// score, the household's other groups or its other needs.
type ProviderReferral struct {
	ReferralID string            `json:"referral_id"`
	OfferID    string            `json:"offer_id,omitempty"`
	Category   string            `json:"category"`
	Tier       int               `json:"tier,omitempty"`
	Status     domain.NeedStatus `json:"status"`
	ProposedAt time.Time         `json:"proposed_at,omitzero"`
	Deadline   time.Time         `json:"deadline,omitzero"`
	// From acceptance on:
	Household string             `json:"household,omitempty"` // a pseudonym, the same for this provider only
	Community string             `json:"community,omitempty"`
	Ground    domain.TargetGroup `json:"eligibility_ground,omitempty"` // none for an offer open to all
	Accepted  *time.Time         `json:"accepted_at,omitempty"`
	Started   *time.Time         `json:"started_at,omitempty"`
	Completed *time.Time         `json:"completed_at,omitempty"`
}

// Reads holds the read use cases.
type Reads struct {
	cfg   Config
	views Views
}

// Case returns a household with its needs to those who may read it.
func (r Reads) Case(ctx context.Context, householdID string, who domain.Principal) (CaseView, error) {
	if !domain.ValidID(householdID) {
		return CaseView{}, fmt.Errorf("household %q: %w", householdID, domain.ErrNotFound)
	}
	h, ok, err := r.views.Household(ctx, householdID)
	if err != nil {
		return CaseView{}, err
	}
	if !ok {
		return CaseView{}, fmt.Errorf("household %s: %w", householdID, domain.ErrNotFound)
	}
	if err := who.MayReadHousehold(community(r.cfg, h.Community)); err != nil {
		return CaseView{}, err
	}
	out := CaseView{Household: h, Needs: []projections.NeedView{}}
	needs, err := r.views.Needs(ctx, h.District, h.NeedIDs)
	if err != nil {
		return CaseView{}, err
	}
	for _, n := range needs {
		if n != nil { // else registered, not yet in the read model
			out.Needs = append(out.Needs, *n)
		}
	}
	return out, nil
}

// Offer returns an offer's view to operators, centres and its provider.
func (r Reads) Offer(ctx context.Context, offerID string, who domain.Principal) (projections.OfferView, error) {
	if !domain.ValidID(offerID) {
		return projections.OfferView{}, fmt.Errorf("offer %q: %w", offerID, domain.ErrNotFound)
	}
	o, ok, err := r.views.Offer(ctx, offerID)
	if err != nil {
		return projections.OfferView{}, err
	}
	if !ok {
		return projections.OfferView{}, fmt.Errorf("offer %s: %w", offerID, domain.ErrNotFound)
	}
	return o, who.MayReadOffer(o.Provider)
}

// node checks a node's tier and area and returns its district.
func (r Reads) node(tierName, area string) (int, string, error) {
	tier, ok := domain.ParseTier(tierName)
	if !ok {
		return 0, "", &domain.FieldError{Field: "tier", Reason: fmt.Errorf("%q is not community, street or district", tierName)}
	}
	district, err := r.cfg.References.Current().Geography.DistrictOf(tier, area)
	if err != nil {
		return 0, "", fmt.Errorf("%s %s: %w", tierName, area, domain.ErrNotFound)
	}
	return tier, district, nil
}

// needsOf reads the needs of a page of members whose ids are referral ids (via the
// referral index) or need ids.
func (r Reads) needsOf(ctx context.Context, district string, ids []string, byReferral bool) ([]*projections.NeedView, error) {
	needIDs := ids
	if byReferral {
		var err error
		if needIDs, err = r.views.NeedsOfReferrals(ctx, district, ids); err != nil {
			return nil, err
		}
	}
	return r.views.Needs(ctx, district, needIDs)
}

// pageOf reads a page of a district's index: the members' ids, and the cursor of
// the next page ("" at the end).
func (r Reads) pageOf(ctx context.Context, district, index string, page PageRequest) ([]string, string, error) {
	limit, err := page.limit()
	if err != nil {
		return nil, "", err
	}
	members, err := r.views.Page(ctx, district, index, page.After, limit)
	if err != nil {
		return nil, "", err
	}
	ids := make([]string, len(members))
	for i, m := range members {
		ids[i] = m.ID
	}
	return ids, nextCursor(members, limit), nil
}

func nextCursor(members []Cursor, limit int) string {
	if len(members) < limit {
		return ""
	}
	return members[len(members)-1].Encode()
}

// Inbox returns the referrals awaiting a node's answer, overdue first, to the
// node's centre and those above it, and operators.
func (r Reads) Inbox(ctx context.Context, tierName, area string, page PageRequest, who domain.Principal) (Page[InboxItem], error) {
	tier, district, err := r.node(tierName, area)
	if err != nil {
		return Page[InboxItem]{}, err
	}
	if err := who.MayReadArea(r.cfg.References.Current().Geography, tier, area); err != nil {
		return Page[InboxItem]{}, err
	}
	ids, next, err := r.pageOf(ctx, district, projections.InboxIndex(tier, area), page)
	if err != nil {
		return Page[InboxItem]{}, err
	}
	needs, err := r.needsOf(ctx, district, ids, true)
	if err != nil {
		return Page[InboxItem]{}, err
	}
	now := r.cfg.Now()
	out := Page[InboxItem]{Items: []InboxItem{}, NextCursor: next}
	for i, n := range needs {
		if n == nil || n.Referral == nil || n.Referral.ID != ids[i] {
			continue // answered since the index was read
		}
		out.Items = append(out.Items, InboxItem{ReferralID: ids[i], Deadline: n.Referral.Deadline, Overdue: n.Referral.Deadline.Before(now),
			Need: *n, Referral: *n.Referral, OfferID: n.Referral.OfferID, HouseholdID: n.HouseholdID})
	}
	return out, nil
}

// Waitlist returns the needs waitlisted in a node's area (nothing at any tier can
// serve them now), highest priority first; the needs held for an allocation round
// are listed by Held.
func (r Reads) Waitlist(ctx context.Context, tierName, area string, page PageRequest, who domain.Principal) (Page[projections.NeedView], error) {
	return r.needsIn(ctx, tierName, area, page, who, projections.WaitlistIndex,
		func(n *projections.NeedView) bool { return n.Status == domain.StatusWaitlisted })
}

// Held returns the needs held for an allocation round in a node's area, the round
// due soonest first, to the node's centre and those above it, and operators. A held
// need waits as a waitlisted one does, but not on the waitlist: supply that fits it
// exists, and its round shares it out (projections.HeldIndex).
func (r Reads) Held(ctx context.Context, tierName, area string, page PageRequest, who domain.Principal) (Page[projections.NeedView], error) {
	return r.needsIn(ctx, tierName, area, page, who, projections.HeldIndex,
		func(n *projections.NeedView) bool { return n.Status == domain.StatusHeld && n.Held != nil })
}

// needsIn pages through one of a node's need indexes, to those who may read the
// node's area, keeping the needs still in the state the index lists (a view may be
// ahead of its index).
func (r Reads) needsIn(ctx context.Context, tierName, area string, page PageRequest, who domain.Principal,
	index func(tier int, area string) string, keep func(*projections.NeedView) bool) (Page[projections.NeedView], error) {
	tier, district, err := r.node(tierName, area)
	if err != nil {
		return Page[projections.NeedView]{}, err
	}
	if err := who.MayReadArea(r.cfg.References.Current().Geography, tier, area); err != nil {
		return Page[projections.NeedView]{}, err
	}
	ids, next, err := r.pageOf(ctx, district, index(tier, area), page)
	if err != nil {
		return Page[projections.NeedView]{}, err
	}
	needs, err := r.needsOf(ctx, district, ids, false)
	if err != nil {
		return Page[projections.NeedView]{}, err
	}
	out := Page[projections.NeedView]{Items: []projections.NeedView{}, NextCursor: next}
	for _, n := range needs {
		if n != nil && keep(n) {
			out.Items = append(out.Items, *n)
		}
	}
	return out, nil
}

// ProviderReferrals returns what a provider sees of the referrals to its offers in
// a district, newest last.
func (r Reads) ProviderReferrals(ctx context.Context, provider, district string, page PageRequest, who domain.Principal) (Page[ProviderReferral], error) {
	if err := who.MayReadProvider(provider); err != nil {
		return Page[ProviderReferral]{}, err
	}
	if _, err := r.cfg.References.Current().Geography.DistrictOf(domain.TierDistrict, district); err != nil {
		return Page[ProviderReferral]{}, &domain.FieldError{Field: "district", Reason: err}
	}
	ids, next, err := r.pageOf(ctx, district, projections.ProviderIndex(provider), page)
	if err != nil {
		return Page[ProviderReferral]{}, err
	}
	needs, err := r.needsOf(ctx, district, ids, true)
	if err != nil {
		return Page[ProviderReferral]{}, err
	}
	offers := map[string]*projections.OfferView{}
	out := Page[ProviderReferral]{Items: []ProviderReferral{}, NextCursor: next}
	for i, n := range needs {
		if n == nil {
			continue
		}
		// A referral the need has left: the provider no longer serves it and sees
		// nothing of the household.
		item := ProviderReferral{ReferralID: ids[i], Category: n.Category, Status: "ended"}
		if n.Referral != nil && n.Referral.ID == ids[i] {
			ref := n.Referral
			item.Tier, item.Status = ref.Tier, n.Status
			item.OfferID, item.ProposedAt, item.Deadline = ref.OfferID, ref.ProposedAt, ref.Deadline
			served := n.Status == domain.StatusAccepted || n.Status == domain.StatusInService || n.Status == domain.StatusCompleted
			if ref.AcceptedAt != nil && served {
				o, err := r.offerOf(ctx, offers, ref.OfferID)
				if err != nil {
					return Page[ProviderReferral]{}, err
				}
				item.Household, item.Community = projections.Pseudonym(provider, n.HouseholdID), n.Community
				if o != nil {
					item.Ground, _ = o.Eligibility.Ground(n.TargetGroups)
				}
				item.Accepted, item.Started, item.Completed = ref.AcceptedAt, ref.StartedAt, ref.CompletedAt
			}
		}
		out.Items = append(out.Items, item)
	}
	return out, nil
}

// offerOf reads an offer's view once per page (nil if it is not in the read model).
func (r Reads) offerOf(ctx context.Context, seen map[string]*projections.OfferView, id string) (*projections.OfferView, error) {
	if o, ok := seen[id]; ok {
		return o, nil
	}
	v, ok, err := r.views.Offer(ctx, id)
	if err != nil {
		return nil, err
	}
	if !ok {
		seen[id] = nil
		return nil, nil
	}
	seen[id] = &v
	return &v, nil
}

// Districts lists the districts' codes.
func (r Reads) Districts() []string {
	var out []string
	for _, d := range r.cfg.References.Current().Geography.Districts() {
		out = append(out, d.Code)
	}
	return out
}

// ETagVersion is the household's version, for If-Match.
func (c CaseView) ETagVersion() int64 { return c.Household.Version }

// HistoryEntry is one event of a household's story: who did what, when.
type HistoryEntry struct {
	Time      time.Time `json:"time"`
	Actor     string    `json:"actor"`
	Aggregate string    `json:"aggregate"` // "household/<id>" or "need/<id>"
	Version   int64     `json:"version"`
	Event     string    `json:"event"`
	CommandID string    `json:"command_id"`
}

// MaxHistory bounds a household's history in one answer.
const MaxHistory = 2000

// History returns everything that happened to a household and its needs, from the
// log, in order, to those who may read the household.
func (r Reads) History(ctx context.Context, householdID string, who domain.Principal) ([]HistoryEntry, error) {
	ref := domain.AggregateRef{Type: domain.AggregateHousehold, ID: householdID}
	if !domain.ValidID(householdID) {
		return nil, fmt.Errorf("household %q: %w", householdID, domain.ErrNotFound)
	}
	_, evs, err := r.cfg.Log.Find(ctx, ref)
	if err != nil {
		return nil, err
	}
	var hh domain.Household
	var needs []string
	for _, e := range evs {
		hh = hh.Evolve(e)
		if p, ok := e.Payload.(domain.NeedsOpened); ok {
			for _, n := range p.Needs {
				needs = append(needs, n.NeedID)
			}
		}
	}
	if hh.Version == 0 {
		return nil, fmt.Errorf("household %s: %w", householdID, domain.ErrNotFound)
	}
	if err := who.MayReadHousehold(community(r.cfg, hh.Community)); err != nil {
		return nil, err
	}
	all := slices.Clone(evs)
	for _, id := range needs {
		_, nevs, err := r.cfg.Log.Find(ctx, domain.AggregateRef{Type: domain.AggregateNeed, ID: id})
		if err != nil {
			return nil, err
		}
		all = append(all, nevs...)
	}
	// Events of one command share a time; the stable sort keeps each aggregate's order.
	slices.SortStableFunc(all, func(a, b domain.Event) int { return a.Time.Compare(b.Time) })
	out := make([]HistoryEntry, 0, min(len(all), MaxHistory))
	for _, e := range all[:min(len(all), MaxHistory)] {
		out = append(out, HistoryEntry{Time: e.Time, Actor: e.Actor, Aggregate: e.AggregateType + "/" + e.AggregateID,
			Version: e.AggregateVersion, Event: e.Type, CommandID: e.CommandID})
	}
	return out, nil
}

// Reference returns a district's reference data: its geography with zh and en
// names and the communities' capability lists, the service taxonomy and the policy
// (answer deadlines, hardship weights). Anyone signed in may read it.
func (r Reads) Reference(_ context.Context, district string, _ domain.Principal) (domain.ReferencePublished, error) {
	pub, err := r.cfg.References.Current().Publication(district)
	if err != nil {
		return domain.ReferencePublished{}, fmt.Errorf("district %q: %w", district, domain.ErrNotFound)
	}
	return pub, nil
}

// ProviderOffers returns a provider's offers in a district, oldest first, to the
// provider and operators.
func (r Reads) ProviderOffers(ctx context.Context, provider, district string, page PageRequest, who domain.Principal) (Page[projections.OfferView], error) {
	if err := who.MayReadProvider(provider); err != nil {
		return Page[projections.OfferView]{}, err
	}
	ids, next, err := r.pageOf(ctx, district, projections.ProviderOffersIndex(provider), page)
	if err != nil {
		return Page[projections.OfferView]{}, err
	}
	offers, err := r.views.Offers(ctx, district, ids)
	if err != nil {
		return Page[projections.OfferView]{}, err
	}
	out := Page[projections.OfferView]{Items: []projections.OfferView{}, NextCursor: next}
	for _, o := range offers {
		if o != nil {
			out.Items = append(out.Items, *o)
		}
	}
	return out, nil
}

// Hardship computes the hardship score of an assessment and target groups by the
// policy in force, as registering the household would (for a form that shows it
// as it is filled in).
func (r Reads) Hardship(a domain.Assessment, groups []domain.TargetGroup) (int, error) {
	if err := domain.CheckAssessment("assessment", a); err != nil {
		return 0, err
	}
	if err := domain.CheckTargetGroups("target_groups", groups); err != nil {
		return 0, err
	}
	return domain.HardshipScore(a, groups, r.cfg.References.Current().Policy.Hardship), nil
}

// Checkpoint returns the last log position a district's read models hold: it moves
// when they change, for pages that update themselves.
func (r Reads) Checkpoint(ctx context.Context, district string) (int64, error) {
	return r.views.Checkpoint(ctx, district)
}

// RecentDecisions returns the needs the matcher decided on last in an area, newest
// first, with their steps (what it decided and why), to operators and the centres
// whose node holds the area.
func (r Reads) RecentDecisions(ctx context.Context, tierName, area string, n int, who domain.Principal) ([]projections.NeedView, error) {
	tier, district, err := r.node(tierName, area)
	if err != nil {
		return nil, err
	}
	if err := who.MayReadArea(r.cfg.References.Current().Geography, tier, area); err != nil {
		return nil, err
	}
	// Read more than n: the index is the district's, the area may be smaller.
	ids, err := r.views.Latest(ctx, district, projections.DecisionsIndex, 10*n)
	if err != nil {
		return nil, err
	}
	needs, err := r.needsOf(ctx, district, ids, false)
	if err != nil {
		return nil, err
	}
	geo := r.cfg.References.Current().Geography
	out := []projections.NeedView{}
	for _, v := range needs {
		if v == nil || len(out) == n {
			continue
		}
		if c, err := geo.Community(v.Community); err == nil && c.AreaOf(tier) == area {
			out = append(out, *v)
		}
	}
	return out, nil
}
