package app

import (
	"context"
	"fmt"

	"github.com/tierlink/tierlink/domain"
)

// RegisterHouseholdInput is a household and the categories of its first needs.
type RegisterHouseholdInput struct {
	Community  string
	Categories []string
}

// RegisteredNeed is one need created by a registration.
type RegisteredNeed struct {
	NeedID   string `json:"need_id"`
	Category string `json:"category"`
}

// RegisterHouseholdResult names what a registration created.
type RegisterHouseholdResult struct {
	HouseholdID string           `json:"household_id"`
	District    string           `json:"district"`
	Needs       []RegisteredNeed `json:"needs"`
	Position    int64            `json:"position"`
	Replayed    bool             `json:"replayed"`
}

// RegisterHouseholdHandler registers a household with its needs.
type RegisterHouseholdHandler struct{ cfg Config }

// Handle registers the household and its needs in one atomic append.
func (h RegisterHouseholdHandler) Handle(ctx context.Context, in RegisterHouseholdInput, meta Meta) (RegisterHouseholdResult, error) {
	cmd := domain.RegisterHousehold{HouseholdID: h.cfg.NewID(), Community: in.Community}
	for _, c := range in.Categories {
		cmd.Needs = append(cmd.Needs, domain.NeedSpec{NeedID: h.cfg.NewID(), Category: c})
	}
	changes, err := domain.DecideRegisterHousehold(domain.Household{}, cmd, h.cfg.Geography, h.cfg.Taxonomy)
	if err != nil {
		return RegisterHouseholdResult{}, err
	}
	com, _ := h.cfg.Geography.Community(in.Community)
	evs, res, err := execute(ctx, h.cfg, com.District, changes, meta, fingerprint("register_household", in))
	if err != nil {
		return RegisterHouseholdResult{}, err
	}
	out := RegisterHouseholdResult{District: com.District, Position: res.LastPosition, Replayed: res.Duplicate, Needs: []RegisteredNeed{}}
	for _, e := range evs {
		switch p := e.Payload.(type) {
		case domain.HouseholdRegistered:
			out.HouseholdID = e.AggregateID
		case domain.NeedRegistered:
			out.Needs = append(out.Needs, RegisteredNeed{NeedID: e.AggregateID, Category: p.Category})
		}
	}
	if out.HouseholdID == "" {
		return out, fmt.Errorf("%w: %s", ErrCommandReused, meta.CommandID)
	}
	return out, nil
}
