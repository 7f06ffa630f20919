package app

import (
	"context"

	"github.com/tierlink/tierlink/domain"
)

// WithdrawNeedHandler withdraws needs.
type WithdrawNeedHandler struct{ cfg Config }

// Handle withdraws the need; a proposed or accepted referral is cancelled.
func (h WithdrawNeedHandler) Handle(ctx context.Context, needID, note string, meta Meta) (ReferralResult, error) {
	return onNeed(ctx, h.cfg, needID, meta, fingerprint("withdraw_need", []string{needID, note}),
		func(n domain.Need, _ []domain.Event) error {
			return meta.Principal.MayRegisterIn(community(h.cfg, n.Community))
		},
		func(c needContext) ([]domain.Change, error) {
			return domain.DecideWithdrawNeed(c.need, c.offer, c.household, note)
		})
}
