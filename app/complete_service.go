package app

import (
	"context"

	"github.com/tierlink/tierlink/domain"
)

// CompleteServiceHandler records that a provider completed the service, closing the loop.
type CompleteServiceHandler struct{ cfg Config }

// Handle marks the referral completed and closes the household's need.
func (h CompleteServiceHandler) Handle(ctx context.Context, referralID string, meta Meta) (ReferralResult, error) {
	return onReferral(ctx, h.cfg, referralID, meta, fingerprint("complete_service", referralID), mayServe(ctx, h.cfg, meta.Principal),
		func(c needContext) ([]domain.Change, error) {
			return domain.DecideCompleteService(c.need, c.household, referralID)
		})
}
