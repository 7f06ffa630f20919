package app

import (
	"context"
	"fmt"

	"github.com/tierlink/tierlink/domain"
)

// RegisterHouseholdInput is a household, its assessment and its first needs.
type RegisterHouseholdInput struct {
	Community    string
	TargetGroups []domain.TargetGroup
	Assessment   domain.Assessment
	Needs        []NeedInput
}

// NeedInput is one need to register: its category and urgency (default normal).
type NeedInput struct {
	Category string
	Urgency  domain.Urgency
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
	Hardship    int              `json:"hardship"`
	Needs       []RegisteredNeed `json:"needs"`
	Position    int64            `json:"position"`
	Replayed    bool             `json:"replayed"`
}

// RegisterHouseholdHandler registers a household with its needs.
type RegisterHouseholdHandler struct{ cfg Config }

// Handle registers the household and its needs in one atomic append.
func (h RegisterHouseholdHandler) Handle(ctx context.Context, in RegisterHouseholdInput, meta Meta) (RegisterHouseholdResult, error) {
	cmd := domain.RegisterHousehold{HouseholdID: h.cfg.NewID(), Community: in.Community, TargetGroups: in.TargetGroups, Assessment: in.Assessment}
	cmd.Needs = needSpecs(h.cfg, in.Needs)
	if c, err := h.cfg.References.Current().Geography.Community(in.Community); err == nil {
		if err := meta.Principal.MayRegisterIn(c); err != nil {
			return RegisterHouseholdResult{}, err
		}
	} else if meta.Principal.Role != domain.RoleCentre {
		return RegisterHouseholdResult{}, meta.Principal.MayRegisterIn(domain.Community{Code: in.Community})
	}
	com, _ := h.cfg.References.Current().Geography.Community(in.Community)
	evs, res, err := create(ctx, h.cfg, com.District, meta, fingerprint("register_household", in), func() ([]domain.Change, error) {
		return domain.DecideRegisterHousehold(domain.Household{}, cmd, h.cfg.References.Current())
	})
	if err != nil {
		return RegisterHouseholdResult{}, err
	}
	return householdResult(evs, com.District, res, meta.CommandID)
}

// householdResult reads what a registration created from its events.
func householdResult(evs []domain.Event, district string, res Appended, commandID string) (RegisterHouseholdResult, error) {
	out := RegisterHouseholdResult{District: district, Position: res.LastPosition, Replayed: res.Duplicate, Needs: []RegisteredNeed{}}
	for _, e := range evs {
		switch p := e.Payload.(type) {
		case domain.HouseholdRegistered:
			out.HouseholdID = e.AggregateID
			out.Hardship = p.Hardship
		case domain.NeedRegistered:
			out.Needs = append(out.Needs, RegisteredNeed{NeedID: e.AggregateID, Category: p.Category})
		}
	}
	if out.HouseholdID == "" {
		return out, fmt.Errorf("%w: %s", ErrCommandReused, commandID)
	}
	return out, nil
}

func needSpecs(cfg Config, in []NeedInput) []domain.NeedSpec {
	specs := make([]domain.NeedSpec, 0, len(in))
	for _, n := range in {
		specs = append(specs, domain.NeedSpec{NeedID: cfg.NewID(), Category: n.Category, Urgency: n.Urgency})
	}
	return specs
}
