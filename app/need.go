package app

import (
	"context"
	"fmt"

	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/projections"
)

// NeedHandler reads a need's current state.
type NeedHandler struct{ views NeedViews }

// Handle returns the need's view, or domain.ErrNotFound.
func (h NeedHandler) Handle(ctx context.Context, id string) (projections.NeedView, error) {
	if !domain.ValidID(id) {
		return projections.NeedView{}, fmt.Errorf("need %q: %w", id, domain.ErrNotFound)
	}
	v, ok, err := h.views.FindNeed(ctx, id)
	if err != nil {
		return projections.NeedView{}, err
	}
	if !ok {
		return projections.NeedView{}, fmt.Errorf("need %s: %w", id, domain.ErrNotFound)
	}
	return v, nil
}
