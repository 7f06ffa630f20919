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

// The dates an offer may be given: from EarliestOfferTime (inclusive) to
// LatestOfferTime (exclusive). Earlier is a mistake, such as the zero time
// 0001-01-01T00:00:00Z, which encoding/json reads from a client's default date and
// which would otherwise mean "no end"; later is absurd for a social service (an offer
// with no end leaves valid_until out). The bounds are fixed dates, not relative to
// now, so that a retried command is judged as its first attempt was.
var (
	EarliestOfferTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	LatestOfferTime   = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
)

// checkOfferTime refuses a date given for an offer outside the bounds.
func checkOfferTime(field string, t *time.Time) error {
	if t == nil || (!t.Before(EarliestOfferTime) && t.Before(LatestOfferTime)) {
		return nil
	}
	reason := fmt.Errorf("%s is not from %s to %s", t.UTC().Format(time.RFC3339),
		EarliestOfferTime.Format(time.DateOnly), LatestOfferTime.Format(time.DateOnly))
	if field == "valid_until" {
		reason = fmt.Errorf("%w; leave valid_until out for an offer with no end", reason)
	}
	return &domain.FieldError{Field: field, Reason: reason}
}

// offerFields are the members of an offer, in the order of the API's documents.
var offerFields = []string{"provider", "category", "capacity", "scope", "eligibility", "valid_from", "valid_until"}

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
	// The checks of the input as sent, then the decision's: a request is refused
	// with every wrong field at once.
	var errs domain.FieldErrors
	tier, ok := domain.ParseTier(in.ScopeTier)
	if !ok && in.ScopeTier != "" {
		errs.Add(&domain.FieldError{Field: "scope/tier", Reason: fmt.Errorf("%q is not a tier (community, street, district)", in.ScopeTier)})
	}
	errs.Add(checkOfferTime("valid_from", in.ValidFrom))
	errs.Add(checkOfferTime("valid_until", in.ValidUntil))
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
	if len(errs) > 0 {
		_, err := domain.DecidePostOffer(domain.Offer{}, cmd, h.cfg.References.Current())
		errs.Add(domain.FieldErrorsOf(err).Err())
		return PostOfferResult{}, errs.InOrder(offerFields...)
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
