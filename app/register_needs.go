package app

import (
	"context"
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

// Handle opens the needs; a category the household has open already is refused
// with a *domain.DuplicateNeedError naming the open need.
func (h RegisterNeedsHandler) Handle(ctx context.Context, in RegisterNeedsInput, meta Meta) (RegisterNeedsResult, error) {
	specs := needSpecs(h.cfg, in.Needs)
	ref := domain.AggregateRef{Type: domain.AggregateHousehold, ID: in.HouseholdID}
	household := func(evs []domain.Event) domain.Household {
		var hh domain.Household
		for _, e := range evs {
			hh = hh.Evolve(e)
		}
		return hh
	}
	written, res, err := update(ctx, h.cfg, ref, meta, fingerprint("register_needs", in),
		func(evs []domain.Event) error {
			return meta.Principal.MayRegisterIn(community(h.cfg, household(evs).Community))
		},
		func(evs []domain.Event) ([]domain.Change, error) {
			return domain.DecideRegisterNeeds(household(evs), domain.RegisterNeeds{HouseholdID: in.HouseholdID, Needs: specs}, h.cfg.References.Current())
		})
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
