package domain

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// VisitKind is how an adviser was in touch with a household.
type VisitKind string

// The kinds of visit.
const (
	VisitHome   VisitKind = "home"
	VisitPhone  VisitKind = "phone"
	VisitCentre VisitKind = "centre"
)

// CheckVisitKind refuses an unknown kind of visit.
func CheckVisitKind(field string, k VisitKind) error {
	switch k {
	case VisitHome, VisitPhone, VisitCentre:
		return nil
	}
	return fieldErrf(field, "%q is not a kind of visit (home, phone, centre)", k)
}

// Limits of a visit.
const (
	// MaxVisitorLength bounds the visitor's name, in characters.
	MaxVisitorLength = 100
	// MaxFoundLength bounds what a visit found, in bytes.
	MaxFoundLength = 2000
	// MaxVisitAge is how long after a visit it may still be recorded.
	MaxVisitAge = 90 * Day
	// visitClockSkew is how far ahead of the node's clock a visit may be dated.
	visitClockSkew = 10 * time.Minute
)

// HouseholdVisited records an adviser's visit to (or call with) a household: who
// visited, when, and what was found.
type HouseholdVisited struct {
	Visitor   string    `json:"visitor"`
	Kind      VisitKind `json:"kind"`
	VisitedAt time.Time `json:"visited_at"`
	Found     string    `json:"found"`
}

// EventType names the event.
func (HouseholdVisited) EventType() string { return "household.visited" }

// Visit is the command to record a visit.
type Visit struct {
	Visitor   string
	Kind      VisitKind
	VisitedAt time.Time
	Found     string
}

// DecideVisit records a visit made at most MaxVisitAge before now and not after
// it, naming every wrong field.
func DecideVisit(h Household, v Visit, now time.Time) ([]Change, error) {
	if h.Version == 0 {
		return nil, fmt.Errorf("household: %w", ErrNotFound)
	}
	var errs FieldErrors
	switch visitor := strings.TrimSpace(v.Visitor); {
	case visitor == "":
		errs.Add(required("visitor"))
	case utf8.RuneCountInString(visitor) > MaxVisitorLength:
		errs.Add(fieldErrf("visitor", "is longer than %d characters", MaxVisitorLength))
	}
	if v.Kind == "" {
		v.Kind = VisitHome
	}
	errs.Add(CheckVisitKind("kind", v.Kind))
	switch {
	case v.VisitedAt.IsZero():
		errs.Add(required("visited_at"))
	case v.VisitedAt.After(now.Add(visitClockSkew)):
		errs.Add(fieldErrf("visited_at", "is in the future"))
	case now.Sub(v.VisitedAt) > MaxVisitAge:
		errs.Add(fieldErrf("visited_at", "is more than %d days ago: record visits within %d days", MaxVisitAge/Day, MaxVisitAge/Day))
	}
	if len(v.Found) > MaxFoundLength {
		errs.Add(fieldErrf("found", "is longer than %d bytes", MaxFoundLength))
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return []Change{{
		Aggregate: AggregateRef{Type: AggregateHousehold, ID: h.ID}, ExpectedVersion: h.Version,
		Payloads: []Payload{HouseholdVisited{Visitor: strings.TrimSpace(v.Visitor), Kind: v.Kind, VisitedAt: v.VisitedAt.UTC(), Found: v.Found}},
	}}, nil
}

// HouseholdReassessed records a new assessment of a household, dated by the
// event, and the hardship score it gives; the matcher re-prioritises the
// household's waiting needs from it.
type HouseholdReassessed struct {
	Assessment Assessment `json:"assessment"`
	Hardship   int        `json:"hardship"`
	// Previous is the hardship score before.
	Previous int    `json:"previous"`
	Note     string `json:"note,omitempty"`
}

// EventType names the event.
func (HouseholdReassessed) EventType() string { return "household.reassessed" }

// DecideReassess records a new assessment: every dimension is rated anew (one left
// out counts as 0) and the hardship score is computed by the policy in force.
func DecideReassess(h Household, a Assessment, note string, ref *Reference) ([]Change, error) {
	if h.Version == 0 {
		return nil, fmt.Errorf("household: %w", ErrNotFound)
	}
	var errs FieldErrors
	errs.Add(CheckAssessment("assessment", a))
	errs.Add(CheckNote("note", note))
	if err := errs.Err(); err != nil {
		return nil, err
	}
	if a == nil {
		a = Assessment{}
	}
	return []Change{{
		Aggregate: AggregateRef{Type: AggregateHousehold, ID: h.ID}, ExpectedVersion: h.Version,
		Payloads: []Payload{HouseholdReassessed{
			Assessment: a, Hardship: HardshipScore(a, h.TargetGroups, ref.Policy.Hardship), Previous: h.Hardship, Note: note,
		}},
	}}, nil
}
