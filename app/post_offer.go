package app

import (
	"context"
	"fmt"

	"github.com/tierlink/tierlink/domain"
)

// PostOfferInput is a provider's offer.
type PostOfferInput struct {
	Provider  string
	Community string
	Category  string
	Capacity  int
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
	cmd := domain.PostOffer{OfferID: h.cfg.NewID(), Provider: in.Provider, Community: in.Community, Category: in.Category, Capacity: in.Capacity}
	changes, err := domain.DecidePostOffer(domain.Offer{}, cmd, h.cfg.Reference)
	if err != nil {
		return PostOfferResult{}, err
	}
	com, _ := h.cfg.Reference.Geography.Community(in.Community)
	evs, res, err := execute(ctx, h.cfg, com.District, changes, meta, fingerprint("post_offer", in))
	if err != nil {
		return PostOfferResult{}, err
	}
	if len(evs) != 1 || evs[0].Type != (domain.OfferPosted{}).EventType() {
		return PostOfferResult{}, fmt.Errorf("%w: %s", ErrCommandReused, meta.CommandID)
	}
	return PostOfferResult{OfferID: evs[0].AggregateID, District: com.District, Position: res.LastPosition, Replayed: res.Duplicate}, nil
}
