package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/entitlement"
)

// errAnswer refuses an answer to an application that is neither grant nor refuse.
var errAnswer = errors.New("must be grant or refuse")

// The status a household has with a programme, beside the domain's applied,
// granted and refused.
const (
	// EntitlementEligible means the rule admits the household and it has not applied.
	EntitlementEligible domain.EntitlementStatus = "eligible"
	// EntitlementNotEligible means the rule does not admit the household (as far as
	// its record tells) and it has not applied.
	EntitlementNotEligible domain.EntitlementStatus = "not_eligible"
)

// Entitlement is where a household stands with one programme of the catalogue.
type Entitlement struct {
	Programme domain.Programme         `json:"programme"`
	Status    domain.EntitlementStatus `json:"status"`
	// Eligible is what the programme's rule says of the household's record now.
	Eligible bool `json:"eligible"`
	// Because is the programme's reason in words, given when Eligible.
	Because *domain.Text `json:"because,omitempty"`
	// Note is a refusal's note.
	Note string `json:"note,omitempty"`
}

// Entitlements is a household's standing with every programme of the catalogue.
type Entitlements struct {
	HouseholdID string        `json:"household_id"`
	Version     int64         `json:"version"`
	Items       []Entitlement `json:"items"`
}

// ETagVersion is the household's version.
func (e Entitlements) ETagVersion() int64 { return e.Version }

// Entitlements returns, to those who may read the household, its standing with
// every programme of the catalogue in force, in catalogue order: computed from the
// household's events (its record and its applications) and the programmes' rules.
func (r Reads) Entitlements(ctx context.Context, householdID string, who domain.Principal) (Entitlements, error) {
	if !domain.ValidID(householdID) {
		return Entitlements{}, fmt.Errorf("household %q: %w", householdID, domain.ErrNotFound)
	}
	_, evs, err := r.cfg.Log.Find(ctx, domain.AggregateRef{Type: domain.AggregateHousehold, ID: householdID})
	if err != nil {
		return Entitlements{}, err
	}
	hh := foldHousehold(evs)
	if hh.Version == 0 {
		return Entitlements{}, fmt.Errorf("household %s: %w", householdID, domain.ErrNotFound)
	}
	if err := who.MayReadHousehold(community(r.cfg, hh.Community)); err != nil {
		return Entitlements{}, err
	}
	cat, err := r.cfg.catalogues.of(r.cfg.References.Current())
	if err != nil {
		return Entitlements{}, fmt.Errorf("the catalogue in force: %w", err)
	}
	out := Entitlements{HouseholdID: householdID, Version: hh.Version, Items: []Entitlement{}}
	for _, res := range cat.Evaluate(entitlement.FactsOf(hh)) {
		e := Entitlement{Programme: res.Programme, Eligible: res.Eligible, Status: EntitlementNotEligible}
		if res.Eligible {
			because := res.Programme.Because
			e.Because, e.Status = &because, EntitlementEligible
		}
		if s, ok := hh.Entitlements[res.Programme.Code]; ok {
			e.Status, e.Note = s.Status, s.Note
		}
		out.Items = append(out.Items, e)
	}
	return out, nil
}
