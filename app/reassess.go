package app

import (
	"context"

	"github.com/tierlink/tierlink/domain"
)

// ReassessInput is a new assessment of a household, with the adviser's note.
type ReassessInput struct {
	Assessment domain.Assessment `json:"assessment"`
	Note       string            `json:"note"`
}

// ReassessHandler records a new assessment of a household; the matcher
// re-prioritises its waiting needs by the hardship score it gives.
type ReassessHandler struct{ cfg Config }

// Handle records the assessment, scored by the policy in force; the centres that
// may register the household's needs may send it.
func (h ReassessHandler) Handle(ctx context.Context, householdID string, in ReassessInput, meta Meta) (HouseholdResult, error) {
	return onHousehold(ctx, h.cfg, householdID, meta, fingerprint("reassess", []any{householdID, in}),
		func(hh domain.Household) ([]domain.Change, error) {
			return domain.DecideReassess(hh, in.Assessment, in.Note, h.cfg.References.Current())
		})
}
