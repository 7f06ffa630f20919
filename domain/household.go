package domain

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
)

// HouseholdRegistered records a household: its home community, the target groups
// it belongs to, its assessment and the hardship score computed from them. Names,
// phone numbers and ID numbers are not in events.
type HouseholdRegistered struct {
	Community    string        `json:"community"`
	Street       string        `json:"street"`
	District     string        `json:"district"`
	TargetGroups []TargetGroup `json:"target_groups"`
	Assessment   Assessment    `json:"assessment"`
	Hardship     int           `json:"hardship"`
}

// EventType names the event.
func (HouseholdRegistered) EventType() string { return "household.registered" }

// NeedsOpened records needs opened for a household, one per category.
type NeedsOpened struct {
	Needs []OpenedNeed `json:"needs"`
}

// OpenedNeed is one need of NeedsOpened.
type OpenedNeed struct {
	NeedID   string `json:"need_id"`
	Category string `json:"category"`
}

// EventType names the event.
func (NeedsOpened) EventType() string { return "household.needs_opened" }

// NeedClosed records that a household's need ended (withdrawn or served), so that
// a new need of its category may be opened.
type NeedClosed struct {
	NeedID   string `json:"need_id"`
	Category string `json:"category"`
}

// EventType names the event.
func (NeedClosed) EventType() string { return "household.need_closed" }

// Household is the state of one household, folded from its events.
type Household struct {
	ID           string
	Community    string
	Street       string
	District     string
	TargetGroups []TargetGroup
	Assessment   Assessment
	Hardship     int
	// OpenNeeds maps each category with an open need to that need's id.
	OpenNeeds map[string]string
	// Entitlements maps each programme the household applied for to where its
	// application stands.
	Entitlements map[string]EntitlementState
	Version      int64
}

// Evolve returns the state after one of the household's events.
func (h Household) Evolve(e Event) Household {
	switch p := e.Payload.(type) {
	case HouseholdRegistered:
		h.ID = e.AggregateID
		h.Community, h.Street, h.District = p.Community, p.Street, p.District
		h.TargetGroups = p.TargetGroups
		h.Assessment = p.Assessment
		h.Hardship = p.Hardship
		h.OpenNeeds = map[string]string{}
	case NeedsOpened:
		open := make(map[string]string, len(h.OpenNeeds)+len(p.Needs))
		for k, v := range h.OpenNeeds {
			open[k] = v
		}
		for _, n := range p.Needs {
			open[n.Category] = n.NeedID
		}
		h.OpenNeeds = open
	case NeedClosed:
		open := make(map[string]string, len(h.OpenNeeds))
		for k, v := range h.OpenNeeds {
			if v != p.NeedID {
				open[k] = v
			}
		}
		h.OpenNeeds = open
	case HouseholdReassessed:
		h.Assessment, h.Hardship = p.Assessment, p.Hardship
	case EntitlementApplied:
		h.Entitlements = h.withEntitlement(p.Programme, EntitlementState{Status: EntitlementStatusApplied})
	case EntitlementGranted:
		h.Entitlements = h.withEntitlement(p.Programme, EntitlementState{Status: EntitlementStatusGranted})
	case EntitlementRefused:
		h.Entitlements = h.withEntitlement(p.Programme, EntitlementState{Status: EntitlementStatusRefused, Note: p.Note})
	}
	h.Version = e.AggregateVersion
	return h
}

// NeedSpec is one need to register.
type NeedSpec struct {
	NeedID   string
	Category string
	Urgency  Urgency
}

// RegisterHousehold registers a new household in its community, with its
// assessment and its first needs.
type RegisterHousehold struct {
	HouseholdID  string
	Community    string
	TargetGroups []TargetGroup
	Assessment   Assessment
	Needs        []NeedSpec
}

// DuplicateNeedError refuses a need of a category the household has open already,
// naming the open need.
type DuplicateNeedError struct {
	Field    string
	Category string
	NeedID   string
}

// Error names the open need.
func (e *DuplicateNeedError) Error() string {
	return fmt.Sprintf("%s: the household has an open %s need already: %s", e.Field, e.Category, e.NeedID)
}

// Unwrap makes errors.Is(err, ErrDuplicateNeed) true.
func (e *DuplicateNeedError) Unwrap() error { return ErrDuplicateNeed }

// DecideRegisterHousehold checks the command against the reference data and the
// (empty) household, computes the hardship score, and returns the household's
// events and each need's first event. A command with wrong fields is refused with
// FieldErrors naming every one of them.
func DecideRegisterHousehold(h Household, cmd RegisterHousehold, ref *Reference) ([]Change, error) {
	if err := checkID("household_id", cmd.HouseholdID); err != nil {
		return nil, err
	}
	if h.Version != 0 {
		return nil, ErrAlreadyExists
	}
	var errs FieldErrors
	com, err := ref.Geography.Community(cmd.Community)
	switch {
	case cmd.Community == "":
		errs.Add(required("community"))
	case err != nil:
		errs.Add(fieldErr("community", err))
	}
	errs.Add(CheckTargetGroups("target_groups", cmd.TargetGroups))
	errs.Add(CheckAssessment("assessment", cmd.Assessment))
	if len(cmd.Needs) == 0 {
		errs.Add(noNeeds())
	}
	groups := cmd.TargetGroups
	if groups == nil {
		groups = []TargetGroup{}
	}
	assessment := cmd.Assessment
	if assessment == nil {
		assessment = Assessment{}
	}
	reg := HouseholdRegistered{
		Community: com.Code, Street: com.Street, District: com.District,
		TargetGroups: groups, Assessment: assessment,
		Hardship: HardshipScore(assessment, groups, ref.Policy.Hardship),
	}
	h = h.Evolve(Event{AggregateID: cmd.HouseholdID, AggregateVersion: 1, Payload: reg})
	opened, needs, err := openNeeds(h, cmd.Needs, ref, errs)
	if err != nil {
		return nil, err
	}
	return append([]Change{{
		Aggregate: AggregateRef{Type: AggregateHousehold, ID: cmd.HouseholdID},
		Payloads:  []Payload{reg, opened},
	}}, needs...), nil
}

// noNeeds is the error of a registration without needs.
func noNeeds() error { return fieldErrf("needs", "is required: list at least one need") }

// RegisterNeeds opens more needs for a registered household.
type RegisterNeeds struct {
	HouseholdID string
	Needs       []NeedSpec
}

// DecideRegisterNeeds refuses a need of a category the household has open (with the
// open need's id) and returns the household's and each new need's events.
func DecideRegisterNeeds(h Household, cmd RegisterNeeds, ref *Reference) ([]Change, error) {
	if h.Version == 0 {
		return nil, fmt.Errorf("household %s: %w", cmd.HouseholdID, ErrNotFound)
	}
	if len(cmd.Needs) == 0 {
		return nil, noNeeds()
	}
	opened, needs, err := openNeeds(h, cmd.Needs, ref, nil)
	if err != nil {
		return nil, err
	}
	return append([]Change{{
		Aggregate:       AggregateRef{Type: AggregateHousehold, ID: h.ID},
		ExpectedVersion: h.Version,
		Payloads:        []Payload{opened},
	}}, needs...), nil
}

// openNeeds checks needs against the taxonomy and the household's open needs. The
// field errors found before (errs) and those of the needs are returned together;
// only a request whose every field is right is refused for a need of a category
// the household has open.
func openNeeds(h Household, specs []NeedSpec, ref *Reference, errs FieldErrors) (NeedsOpened, []Change, error) {
	if len(specs) > MaxNeedsPerRequest {
		errs.Add(fieldErrf("needs", "must list at most %d needs in one request", MaxNeedsPerRequest))
		return NeedsOpened{}, nil, errs
	}
	opened := NeedsOpened{}
	var (
		changes []Change
		dup     error
	)
	seen := map[string]int{}
	for i, n := range specs {
		field := func(f string) string { return "needs/" + strconv.Itoa(i) + "/" + f }
		errs.Add(checkID(field("need_id"), n.NeedID))
		_, err := ref.Taxonomy.Category(n.Category)
		switch j, twice := seen[n.Category]; {
		case n.Category == "":
			errs.Add(required(field("category")))
		case err != nil:
			errs.Add(fieldErr(field("category"), err))
		case twice:
			errs.Add(fieldErrf(field("category"), "duplicates needs/%d: one open need per category", j))
		default:
			seen[n.Category] = i
			if id, open := h.OpenNeeds[n.Category]; open && dup == nil {
				dup = &DuplicateNeedError{Field: field("category"), Category: n.Category, NeedID: id}
			}
		}
		urgency := n.Urgency
		if urgency == "" {
			urgency = UrgencyNormal
		}
		errs.Add(CheckUrgency(field("urgency"), urgency))
		opened.Needs = append(opened.Needs, OpenedNeed{NeedID: n.NeedID, Category: n.Category})
		changes = append(changes, Change{
			Aggregate: AggregateRef{Type: AggregateNeed, ID: n.NeedID},
			Payloads: []Payload{NeedRegistered{
				HouseholdID: h.ID, Community: h.Community, Street: h.Street, Category: n.Category,
				Urgency: urgency, Hardship: h.Hardship, TargetGroups: h.TargetGroups,
			}},
		})
	}
	if err := errs.Err(); err != nil {
		return NeedsOpened{}, nil, err
	}
	if dup != nil {
		return NeedsOpened{}, nil, dup
	}
	return opened, changes, nil
}

// Pseudonym is the household id a provider sees: the same for every referral of
// the household to that provider, and unlinkable across providers.
func Pseudonym(provider, householdID string) string {
	sum := sha256.Sum256([]byte("tierlink/pseudonym/" + provider + "/" + householdID))
	return "hh-" + hex.EncodeToString(sum[:8])
}
