package app

import (
	"context"

	"github.com/tierlink/tierlink/domain"
)

// AnswerReferralHandler takes a centre's answer: accept, decline (with a reason) or escalate.
type AnswerReferralHandler struct{ cfg Config }

// Handle applies the answer to the referral, at the time of the command. Only the
// centre the referral was addressed to may answer it, whatever became of it since.
func (h AnswerReferralHandler) Handle(ctx context.Context, a domain.Answer, meta Meta) (ReferralResult, error) {
	return onReferral(ctx, h.cfg, a.ReferralID, meta, fingerprint("answer_referral", a),
		func(n domain.Need, to domain.Addressee) error {
			return meta.Principal.MayAnswer(to.Tier, community(h.cfg, n.Community))
		},
		func(c needContext) ([]domain.Change, error) {
			return domain.DecideAnswer(c.need, c.offer, a, h.cfg.Now())
		})
}
