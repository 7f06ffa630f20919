package app

import (
	"context"

	"github.com/tierlink/tierlink/domain"
)

// WithdrawOfferHandler withdraws offers.
type WithdrawOfferHandler struct{ cfg Config }

// Handle withdraws the offer; the matcher cancels its live referrals.
func (h WithdrawOfferHandler) Handle(ctx context.Context, offerID string, meta Meta) (OfferChangeResult, error) {
	return changeOffer(ctx, h.cfg, offerID, meta, fingerprint("withdraw_offer", offerID), domain.DecideWithdrawOffer)
}
