package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/tierlink/tierlink/domain"
)

// RegisterNeedsInput names a registered household and its new needs.
type RegisterNeedsInput struct {
	HouseholdID string
	Needs       []NeedInput
}

// RegisterNeedsResult names the needs created.
type RegisterNeedsResult struct {
	HouseholdID string           `json:"household_id"`
	Needs       []RegisteredNeed `json:"needs"`
	Position    int64            `json:"position"`
	Replayed    bool             `json:"replayed"`
}

// RegisterNeedsHandler opens more needs for a household.
type RegisterNeedsHandler struct{ cfg Config }

// maxConflictRetries bounds how often a command is decided again on fresh state
// after another command changed its household first.
const maxConflictRetries = 3

// Handle opens the needs; a category the household has open already is refused
// with a *domain.DuplicateNeedError naming the open need.
func (h RegisterNeedsHandler) Handle(ctx context.Context, in RegisterNeedsInput, meta Meta) (RegisterNeedsResult, error) {
	if !domain.ValidID(in.HouseholdID) {
		return RegisterNeedsResult{}, fmt.Errorf("household %q: %w", in.HouseholdID, domain.ErrNotFound)
	}
	specs := needSpecs(h.cfg, in.Needs)
	fp := fingerprint("register_needs", in)
	for attempt := 0; ; attempt++ {
		partition, evs, err := h.cfg.Log.Find(ctx, domain.AggregateRef{Type: domain.AggregateHousehold, ID: in.HouseholdID})
		if err != nil {
			return RegisterNeedsResult{}, err
		}
		var hh domain.Household
		for _, e := range evs {
			hh = hh.Evolve(e)
		}
		changes, err := domain.DecideRegisterNeeds(hh, domain.RegisterNeeds{HouseholdID: in.HouseholdID, Needs: specs}, h.cfg.Reference)
		if err != nil {
			return RegisterNeedsResult{}, err
		}
		written, res, err := execute(ctx, h.cfg, partition, changes, meta, fp)
		if errors.Is(err, ErrConflict) && attempt < maxConflictRetries {
			continue // another command changed the household first: decide again
		}
		if err != nil {
			return RegisterNeedsResult{}, err
		}
		out := RegisterNeedsResult{HouseholdID: in.HouseholdID, Position: res.LastPosition, Replayed: res.Duplicate, Needs: []RegisteredNeed{}}
		for _, e := range written {
			if p, ok := e.Payload.(domain.NeedRegistered); ok {
				out.Needs = append(out.Needs, RegisteredNeed{NeedID: e.AggregateID, Category: p.Category})
			}
		}
		if len(out.Needs) == 0 {
			return out, fmt.Errorf("%w: %s", ErrCommandReused, meta.CommandID)
		}
		return out, nil
	}
}
