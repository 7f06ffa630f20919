package app

import (
	"context"
	"fmt"

	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/projections"
)

// NeedHandler reads a need's current state.
type NeedHandler struct {
	views NeedViews
	refs  ReferenceSource
}

// Handle returns the need's view, or domain.ErrNotFound, to those who may read its household.
func (h NeedHandler) Handle(ctx context.Context, id string, who domain.Principal) (projections.NeedView, error) {
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
	c, _ := h.refs.Current().Geography.Community(v.Community)
	if err := who.MayReadHousehold(c); err != nil {
		return projections.NeedView{}, err
	}
	return v, nil
}
