package app

import (
	"context"

	"github.com/tierlink/tierlink/domain"
)

// AnswerEntitlementHandler records the department's answer to a household's
// application: granted, or refused with a note.
type AnswerEntitlementHandler struct{ cfg Config }

// Handle records the answer (domain.EntitlementGrant or domain.EntitlementRefuse)
// to a pending application; a refusal needs a note.
func (h AnswerEntitlementHandler) Handle(ctx context.Context, householdID, programme string, answer domain.EntitlementAction, note string, meta Meta) (EntitlementResult, error) {
	if answer != domain.EntitlementGrant && answer != domain.EntitlementRefuse {
		return EntitlementResult{}, &domain.FieldError{Field: "answer", Reason: errAnswer}
	}
	return onEntitlement(ctx, h.cfg, householdID, programme, answer, note, meta)
}
