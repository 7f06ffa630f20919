package app

import (
	"context"

	"github.com/tierlink/tierlink/domain"
)

// StartServiceHandler records that a provider started the service of a referral.
type StartServiceHandler struct{ cfg Config }

// Handle marks the accepted referral in service.
func (h StartServiceHandler) Handle(ctx context.Context, referralID string, meta Meta) (ReferralResult, error) {
	return onReferral(ctx, h.cfg, referralID, meta, fingerprint("start_service", referralID), mayServe(ctx, h.cfg, meta.Principal),
		func(c needContext) ([]domain.Change, error) { return domain.DecideStartService(c.need, referralID) })
}
