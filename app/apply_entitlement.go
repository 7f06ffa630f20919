package app

import (
	"context"
	"fmt"
	"sync"

	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/entitlement"
)

// EntitlementResult says where a household's application for a programme stands
// after a command.
type EntitlementResult struct {
	HouseholdID string                   `json:"household_id"`
	Programme   string                   `json:"programme"`
	Status      domain.EntitlementStatus `json:"status"`
	Version     int64                    `json:"version"`
	Position    int64                    `json:"position"`
	Replayed    bool                     `json:"replayed"`
}

// ApplyEntitlementHandler records a household's application for a programme.
type ApplyEntitlementHandler struct{ cfg Config }

// Handle records that the household applied for a programme of the catalogue in
// force; the centres that may register its needs may send it.
func (h ApplyEntitlementHandler) Handle(ctx context.Context, householdID, programme string, meta Meta) (EntitlementResult, error) {
	return onEntitlement(ctx, h.cfg, householdID, programme, domain.EntitlementApply, "", meta)
}

// onEntitlement runs an entitlement command on a household under the rule of
// idempotency.go: access first (the household's community never changes), then a
// retry's first answer, then the decision.
func onEntitlement(ctx context.Context, cfg Config, householdID, programme string, action domain.EntitlementAction, note string, meta Meta) (EntitlementResult, error) {
	ref := domain.AggregateRef{Type: domain.AggregateHousehold, ID: householdID}
	written, res, err := update(ctx, cfg, ref, meta, fingerprint(string(action)+"_entitlement", []string{householdID, programme, note}),
		func(evs []domain.Event) error {
			return meta.Principal.MayRegisterIn(community(cfg, foldHousehold(evs).Community))
		},
		func(evs []domain.Event) ([]domain.Change, error) {
			return domain.DecideEntitlement(foldHousehold(evs), programme, action, note, cfg.References.Current())
		})
	if err != nil {
		return EntitlementResult{}, err
	}
	out := EntitlementResult{HouseholdID: householdID, Programme: programme, Position: res.LastPosition, Replayed: res.Duplicate}
	for _, e := range written {
		if e.AggregateType != domain.AggregateHousehold || e.AggregateID != householdID {
			continue
		}
		switch e.Payload.(type) {
		case domain.EntitlementApplied:
			out.Status = domain.EntitlementStatusApplied
		case domain.EntitlementGranted:
			out.Status = domain.EntitlementStatusGranted
		case domain.EntitlementRefused:
			out.Status = domain.EntitlementStatusRefused
		default:
			continue
		}
		out.Version = e.AggregateVersion
	}
	if out.Status == "" {
		return out, fmt.Errorf("%w: %s", ErrCommandReused, meta.CommandID)
	}
	return out, nil
}

// foldHousehold returns a household's state from its events.
func foldHousehold(evs []domain.Event) domain.Household {
	var hh domain.Household
	for _, e := range evs {
		hh = hh.Evolve(e)
	}
	return hh
}

// catalogues compiles the catalogue of the reference data in force once per
// publication.
type catalogues struct {
	mu  sync.Mutex
	ref *domain.Reference
	cat *entitlement.Catalogue
	err error
}

// of returns the compiled catalogue of ref.
func (c *catalogues) of(ref *domain.Reference) (*entitlement.Catalogue, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ref != ref {
		c.ref = ref
		c.cat, c.err = entitlement.Compile(ref.Programmes())
	}
	return c.cat, c.err
}
