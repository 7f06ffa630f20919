package app

import (
	"context"
	"fmt"
	"time"

	"github.com/tierlink/tierlink/domain"
)

// PostOfferInput is a provider's offer.
type PostOfferInput struct {
	Provider string
	Category string
	Capacity int
	// ScopeTier names the tier the offer serves: community, street or district.
	ScopeTier string
	// ScopeArea is the code of the community, street or district served.
	ScopeArea   string
	Eligibility domain.Eligibility
	// ValidFrom defaults to now; ValidUntil to no end.
	ValidFrom  *time.Time
	ValidUntil *time.Time
}

// PostOfferResult names the offer created.
type PostOfferResult struct {
	OfferID  string `json:"offer_id"`
	District string `json:"district"`
	Position int64  `json:"position"`
	Replayed bool   `json:"replayed"`
}

// PostOfferHandler posts offers.
type PostOfferHandler struct{ cfg Config }

// Handle posts the offer.
func (h PostOfferHandler) Handle(ctx context.Context, in PostOfferInput, meta Meta) (PostOfferResult, error) {
	fp := fingerprint("post_offer", in) // as sent: a retry's defaults differ (the clock moves)
	if meta.Principal.Role == domain.RoleProvider && in.Provider == "" {
		in.Provider = meta.Principal.Provider // a provider posts its own offers
	}
	if err := meta.Principal.MayManageOffer(in.Provider); err != nil {
		return PostOfferResult{}, err
	}
	tier, ok := domain.ParseTier(in.ScopeTier)
	if !ok {
		return PostOfferResult{}, &domain.FieldError{Field: "scope/tier", Reason: fmt.Errorf("%q is not a tier (community, street, district)", in.ScopeTier)}
	}
	cmd := domain.PostOffer{
		OfferID: h.cfg.NewID(), Provider: in.Provider, Category: in.Category, Capacity: in.Capacity,
		Scope: domain.Scope{Tier: tier, Area: in.ScopeArea}, Eligibility: in.Eligibility, ValidFrom: h.cfg.Now(),
	}
	if in.ValidFrom != nil {
		cmd.ValidFrom = *in.ValidFrom
	}
	if in.ValidUntil != nil {
		cmd.ValidUntil = *in.ValidUntil
	}
	district, _ := h.cfg.References.Current().Geography.DistrictOf(tier, in.ScopeArea)
	evs, res, err := create(ctx, h.cfg, district, meta, fp, func() ([]domain.Change, error) {
		return domain.DecidePostOffer(domain.Offer{}, cmd, h.cfg.References.Current())
	})
	if err != nil {
		return PostOfferResult{}, err
	}
	if len(evs) != 1 || evs[0].Type != (domain.OfferPosted{}).EventType() {
		return PostOfferResult{}, fmt.Errorf("%w: %s", ErrCommandReused, meta.CommandID)
	}
	return PostOfferResult{OfferID: evs[0].AggregateID, District: district, Position: res.LastPosition, Replayed: res.Duplicate}, nil
}
