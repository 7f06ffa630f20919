package app

import (
	"context"

	"github.com/tierlink/tierlink/domain"
)

// ChangeCapacityHandler raises or lowers an offer's capacity.
type ChangeCapacityHandler struct{ cfg Config }

// Handle sets the offer's capacity, never below what is committed to referrals.
func (h ChangeCapacityHandler) Handle(ctx context.Context, offerID string, capacity int, meta Meta) (OfferChangeResult, error) {
	return changeOffer(ctx, h.cfg, offerID, meta, fingerprint("change_capacity", []any{offerID, capacity}), func(o domain.Offer) ([]domain.Change, error) {
		return domain.DecideChangeCapacity(o, capacity)
	})
}
