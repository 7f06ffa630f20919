package domain

import "strconv"

// HouseholdRegistered records a household and its home community.
type HouseholdRegistered struct {
	Community string `json:"community"`
	Street    string `json:"street"`
	District  string `json:"district"`
}

// EventType names the event.
func (HouseholdRegistered) EventType() string { return "household.registered" }

// Household is the state of one household, folded from its events.
type Household struct {
	ID        string
	Community string
	Version   int64
}

// Evolve returns the state after one of the household's events.
func (h Household) Evolve(e Event) Household {
	switch p := e.Payload.(type) {
	case HouseholdRegistered:
		h.ID = e.AggregateID
		h.Community = p.Community
	}
	h.Version = e.AggregateVersion
	return h
}

// NeedSpec is one need registered together with its household.
type NeedSpec struct {
	NeedID   string
	Category string
}

// RegisterHousehold registers a new household in its community with its first needs.
type RegisterHousehold struct {
	HouseholdID string
	Community   string
	Needs       []NeedSpec
}

// DecideRegisterHousehold checks the command against the reference data and the
// (empty) household, and returns the household's and each need's first event.
func DecideRegisterHousehold(h Household, cmd RegisterHousehold, geo *Geography, tax *Taxonomy) ([]Change, error) {
	if err := checkID("household_id", cmd.HouseholdID); err != nil {
		return nil, err
	}
	if h.Version != 0 {
		return nil, ErrAlreadyExists
	}
	com, err := geo.Community(cmd.Community)
	if err != nil {
		return nil, fieldErr("community", err)
	}
	if len(cmd.Needs) == 0 {
		return nil, fieldErrf("needs", "at least one need is required")
	}
	if len(cmd.Needs) > MaxNeedsPerRequest {
		return nil, fieldErrf("needs", "at most %d needs in one request", MaxNeedsPerRequest)
	}
	changes := []Change{{
		Aggregate: AggregateRef{Type: AggregateHousehold, ID: cmd.HouseholdID},
		Payloads:  []Payload{HouseholdRegistered{Community: com.Code, Street: com.Street, District: com.District}},
	}}
	seen := map[string]int{}
	for i, n := range cmd.Needs {
		field := func(f string) string { return "needs/" + strconv.Itoa(i) + "/" + f }
		if err := checkID(field("need_id"), n.NeedID); err != nil {
			return nil, err
		}
		if _, err := tax.Category(n.Category); err != nil {
			return nil, fieldErr(field("category"), err)
		}
		if j, dup := seen[n.Category]; dup {
			return nil, fieldErrf(field("category"), "duplicates needs/%d: one open need per category", j)
		}
		seen[n.Category] = i
		changes = append(changes, Change{
			Aggregate: AggregateRef{Type: AggregateNeed, ID: n.NeedID},
			Payloads: []Payload{NeedRegistered{
				HouseholdID: cmd.HouseholdID, Community: com.Code, Street: com.Street, Category: n.Category,
			}},
		})
	}
	return changes, nil
}
