package domain

import (
	"fmt"
	"slices"
	"time"
)

// Scope is the area an offer serves: one community, one street or the district.
// Its tier is the tier at which the offer is a candidate.
type Scope struct {
	Tier int    `json:"tier"`
	Area string `json:"area"`
}

// Eligibility says which households an offer may serve.
type Eligibility struct {
	// TargetGroups, if not empty, admits only households in at least one of them.
	TargetGroups []TargetGroup `json:"target_groups"`
	// LocalResidentsOnly refuses non-local residents (those with a residence permit).
	LocalResidentsOnly bool `json:"local_residents_only"`
}

// Admits reports whether a household of these target groups is eligible.
func (e Eligibility) Admits(groups []TargetGroup) bool {
	in := func(g TargetGroup) bool {
		for _, x := range groups {
			if x == g {
				return true
			}
		}
		return false
	}
	if e.LocalResidentsOnly && in(GroupNonLocal) {
		return false
	}
	if len(e.TargetGroups) == 0 {
		return true
	}
	for _, g := range e.TargetGroups {
		if in(g) {
			return true
		}
	}
	return false
}

// Ground returns the one target group that admitted a household of these groups:
// the first of the offer's listed groups, in the offer's order, that the household
// is in. It is false when the offer lists none (it is open to all) or the
// household is in none of them. A provider is shown this ground and no other of
// the household's groups (minimum necessary).
func (e Eligibility) Ground(groups []TargetGroup) (TargetGroup, bool) {
	for _, g := range e.TargetGroups {
		if slices.Contains(groups, g) {
			return g, true
		}
	}
	return "", false
}

// OfferPosted records a provider's offer of a service: its category, capacity (the
// households it can serve), scope, eligibility and validity.
type OfferPosted struct {
	Provider    string      `json:"provider"`
	Category    string      `json:"category"`
	Capacity    int         `json:"capacity"`
	Scope       Scope       `json:"scope"`
	District    string      `json:"district"`
	Eligibility Eligibility `json:"eligibility"`
	ValidFrom   time.Time   `json:"valid_from"`
	// ValidUntil is the zero time for an offer with no end.
	ValidUntil time.Time `json:"valid_until,omitzero"`
}

// EventType names the event.
func (OfferPosted) EventType() string { return "offer.posted" }

// OfferCapacityChanged records a provider's new capacity for an offer.
type OfferCapacityChanged struct {
	Capacity int `json:"capacity"`
}

// EventType names the event.
func (OfferCapacityChanged) EventType() string { return "offer.capacity_changed" }

// OfferWithdrawn records that the provider withdrew the offer.
type OfferWithdrawn struct{}

// EventType names the event.
func (OfferWithdrawn) EventType() string { return "offer.withdrawn" }

// OfferUnitReserved records that a proposed referral holds one unit of an offer.
type OfferUnitReserved struct {
	ReferralID string `json:"referral_id"`
	NeedID     string `json:"need_id"`
}

// EventType names the event.
func (OfferUnitReserved) EventType() string { return "offer.unit_reserved" }

// OfferStatus is the one state an offer is in.
type OfferStatus string

// Offer states.
const (
	OfferActive          OfferStatus = "active"
	OfferStatusWithdrawn OfferStatus = "withdrawn"
)

// Offer is the state of one offer, folded from its events.
type Offer struct {
	ID          string
	Provider    string
	Category    string
	Capacity    int
	Scope       Scope
	Eligibility Eligibility
	ValidFrom   time.Time
	ValidUntil  time.Time
	Status      OfferStatus
	// Committed counts the units held by referrals: proposed, accepted, in service
	// or completed (an offer's capacity is the households it can serve).
	Committed int
	Version   int64
}

// Free is the capacity not yet committed to a referral.
func (o Offer) Free() int { return o.Capacity - o.Committed }

// Evolve returns the state after one of the offer's events.
func (o Offer) Evolve(e Event) Offer {
	switch p := e.Payload.(type) {
	case OfferPosted:
		o.ID = e.AggregateID
		o.Provider = p.Provider
		o.Category = p.Category
		o.Capacity = p.Capacity
		o.Scope = p.Scope
		o.Eligibility = p.Eligibility
		o.ValidFrom, o.ValidUntil = p.ValidFrom, p.ValidUntil
		o.Status = OfferActive
	case OfferCapacityChanged:
		o.Capacity = p.Capacity
	case OfferWithdrawn:
		o.Status = OfferStatusWithdrawn
	case OfferUnitReserved:
		o.Committed++
	case OfferUnitReleased:
		o.Committed--
	}
	o.Version = e.AggregateVersion
	return o
}

// PostOffer posts a new offer.
type PostOffer struct {
	OfferID     string
	Provider    string
	Category    string
	Capacity    int
	Scope       Scope
	Eligibility Eligibility
	ValidFrom   time.Time
	ValidUntil  time.Time
}

// DecidePostOffer checks the command against the reference data and the (empty)
// offer. A command with wrong fields is refused with FieldErrors naming every one
// of them.
func DecidePostOffer(o Offer, cmd PostOffer, ref *Reference) ([]Change, error) {
	if err := checkID("offer_id", cmd.OfferID); err != nil {
		return nil, err
	}
	if o.Version != 0 {
		return nil, ErrAlreadyExists
	}
	var errs FieldErrors
	switch {
	case cmd.Provider == "":
		errs.Add(required("provider"))
	case !ValidID(cmd.Provider) || len(cmd.Provider) > MaxProviderIDLength:
		errs.Add(fieldErrf("provider", "must be 1 to %d letters, digits, '-', '_', '.' or ':'", MaxProviderIDLength))
	}
	if _, err := ref.Taxonomy.Category(cmd.Category); cmd.Category == "" {
		errs.Add(required("category"))
	} else if err != nil {
		errs.Add(fieldErr("category", err))
	}
	errs.Add(CheckCapacity("capacity", cmd.Capacity))
	district, err := ref.Geography.DistrictOf(cmd.Scope.Tier, cmd.Scope.Area)
	switch {
	case cmd.Scope.Tier == 0:
		errs.Add(fieldErrf("scope/tier", "is required: community, street or district"))
	case cmd.Scope.Tier < TierCommunity || cmd.Scope.Tier > TierDistrict:
		errs.Add(fieldErrf("scope/tier", "must be community, street or district"))
	case cmd.Scope.Area == "":
		errs.Add(required("scope/area"))
	case err != nil:
		errs.Add(fieldErr("scope/area", err))
	}
	errs.Add(CheckTargetGroups("eligibility/target_groups", cmd.Eligibility.TargetGroups))
	if cmd.ValidFrom.IsZero() {
		errs.Add(required("valid_from"))
	}
	if !cmd.ValidUntil.IsZero() && !cmd.ValidUntil.After(cmd.ValidFrom) {
		errs.Add(fieldErrf("valid_until", "must be after valid_from"))
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	groups := cmd.Eligibility.TargetGroups
	if groups == nil {
		groups = []TargetGroup{}
	}
	return []Change{{
		Aggregate: AggregateRef{Type: AggregateOffer, ID: cmd.OfferID},
		Payloads: []Payload{OfferPosted{
			Provider: cmd.Provider, Category: cmd.Category, Capacity: cmd.Capacity,
			Scope: cmd.Scope, District: district,
			Eligibility: Eligibility{TargetGroups: groups, LocalResidentsOnly: cmd.Eligibility.LocalResidentsOnly},
			ValidFrom:   cmd.ValidFrom.UTC(), ValidUntil: cmd.ValidUntil.UTC(),
		}},
	}}, nil
}

// CheckCapacity refuses a capacity outside 1 to MaxOfferCapacity; 0 is the value
// of a capacity left out, and is said to be required.
func CheckCapacity(field string, capacity int) error {
	switch {
	case capacity == 0:
		return fieldErrf(field, "is required: a whole number from 1 to %d", MaxOfferCapacity)
	case capacity < 1 || capacity > MaxOfferCapacity:
		return fieldErrf(field, "must be between 1 and %d", MaxOfferCapacity)
	}
	return nil
}

// DecideChangeCapacity raises or lowers an offer's capacity, never below what is
// committed to referrals.
func DecideChangeCapacity(o Offer, capacity int) ([]Change, error) {
	if o.Version == 0 {
		return nil, fmt.Errorf("offer: %w", ErrNotFound)
	}
	if o.Status != OfferActive {
		return nil, fmt.Errorf("%w: offer %s is %s", ErrRefused, o.ID, o.Status)
	}
	if err := CheckCapacity("capacity", capacity); err != nil {
		return nil, err
	}
	if capacity < o.Committed {
		return nil, fieldErrf("capacity", "cannot be below the %d units committed to referrals", o.Committed)
	}
	if capacity == o.Capacity {
		return nil, fieldErrf("capacity", "is %d already", capacity)
	}
	return []Change{{
		Aggregate: AggregateRef{Type: AggregateOffer, ID: o.ID}, ExpectedVersion: o.Version,
		Payloads: []Payload{OfferCapacityChanged{Capacity: capacity}},
	}}, nil
}

// DecideWithdrawOffer withdraws an active offer. (Cancelling its live referrals
// is the matcher's, which reads the withdrawal.)
func DecideWithdrawOffer(o Offer) ([]Change, error) {
	if o.Version == 0 {
		return nil, fmt.Errorf("offer: %w", ErrNotFound)
	}
	if o.Status != OfferActive {
		return nil, fmt.Errorf("%w: offer %s is %s", ErrRefused, o.ID, o.Status)
	}
	return []Change{{
		Aggregate: AggregateRef{Type: AggregateOffer, ID: o.ID}, ExpectedVersion: o.Version,
		Payloads: []Payload{OfferWithdrawn{}},
	}}, nil
}
