package domain

import (
	"fmt"
	"maps"
	"strings"
)

// EntitlementApplied records that a household applied, with its centre's help,
// for a programme of the catalogue.
type EntitlementApplied struct {
	Programme string `json:"programme"`
}

// EventType names the event.
func (EntitlementApplied) EventType() string { return "entitlement.applied" }

// EntitlementGranted records that the department granted a household's application.
type EntitlementGranted struct {
	Programme string `json:"programme"`
}

// EventType names the event.
func (EntitlementGranted) EventType() string { return "entitlement.granted" }

// EntitlementRefused records that the department refused a household's
// application, with a note saying why.
type EntitlementRefused struct {
	Programme string `json:"programme"`
	Note      string `json:"note"`
}

// EventType names the event.
func (EntitlementRefused) EventType() string { return "entitlement.refused" }

// EntitlementStatus is where a household stands with a programme.
type EntitlementStatus string

// The statuses of a household's application.
const (
	EntitlementStatusApplied EntitlementStatus = "applied"
	EntitlementStatusGranted EntitlementStatus = "granted"
	EntitlementStatusRefused EntitlementStatus = "refused"
)

// EntitlementState is where a household's application for one programme stands.
type EntitlementState struct {
	Status EntitlementStatus
	// Note is the refusal's note.
	Note string
}

// withEntitlement returns a copy of the household's entitlements with one set.
func (h Household) withEntitlement(programme string, s EntitlementState) map[string]EntitlementState {
	out := maps.Clone(h.Entitlements)
	if out == nil {
		out = map[string]EntitlementState{}
	}
	out[programme] = s
	return out
}

// EntitlementAction is what a command does to a household's application.
type EntitlementAction string

// The entitlement actions.
const (
	EntitlementApply  EntitlementAction = "apply"
	EntitlementGrant  EntitlementAction = "grant"
	EntitlementRefuse EntitlementAction = "refuse"
)

// DecideEntitlement applies for a programme of the catalogue in force (again after
// a refusal, never while an application is pending or granted), or records the
// department's answer (grant, or refuse with a note) to a pending application.
func DecideEntitlement(h Household, programme string, action EntitlementAction, note string, ref *Reference) ([]Change, error) {
	if h.Version == 0 {
		return nil, fmt.Errorf("household: %w", ErrNotFound)
	}
	if _, err := ref.Programme(programme); err != nil {
		return nil, fmt.Errorf("programme %q: %w: %w", programme, ErrNotFound, err)
	}
	cur, applied := h.Entitlements[programme]
	var p Payload
	switch action {
	case EntitlementApply:
		if applied && cur.Status != EntitlementStatusRefused {
			return nil, fmt.Errorf("%w: the household's application for %s is %s already", ErrRefused, programme, cur.Status)
		}
		if err := CheckNote("note", note); err != nil {
			return nil, err
		}
		p = EntitlementApplied{Programme: programme}
	case EntitlementGrant, EntitlementRefuse:
		if !applied || cur.Status != EntitlementStatusApplied {
			state := "was not applied for"
			if applied {
				state = "is " + string(cur.Status) + " already"
			}
			return nil, fmt.Errorf("%w: %s %s: answer only a pending application", ErrRefused, programme, state)
		}
		if err := CheckNote("note", note); err != nil {
			return nil, err
		}
		p = EntitlementGranted{Programme: programme}
		if action == EntitlementRefuse {
			if strings.TrimSpace(note) == "" {
				return nil, required("note")
			}
			p = EntitlementRefused{Programme: programme, Note: note}
		}
	default:
		return nil, fieldErrf("action", "must be apply, grant or refuse, not %q", action)
	}
	return []Change{{
		Aggregate:       AggregateRef{Type: AggregateHousehold, ID: h.ID},
		ExpectedVersion: h.Version,
		Payloads:        []Payload{p},
	}}, nil
}
