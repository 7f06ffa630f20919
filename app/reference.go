package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"

	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/entitlement"
)

// ReferenceInput is new reference data for a district: its tree (names, streets,
// communities, capability lists), and the taxonomy and policy of every district.
type ReferenceInput struct {
	District   domain.DistrictNode `json:"district"`
	Categories []domain.Category   `json:"categories"`
	Policy     domain.Policy       `json:"policy"`
	// Providers is the district's optional provider directory; the names pages show.
	Providers []domain.ProviderNode `json:"providers,omitempty"`
	// Programmes is the catalogue of assistance programmes of every district, each
	// rule a CEL expression over a household's facts; left out (null), the
	// catalogue in force stays.
	Programmes []domain.Programme `json:"programmes,omitempty"`
}

// ReferenceResult says where new reference data was published.
type ReferenceResult struct {
	Changed  bool             `json:"changed"`
	Versions map[string]int64 `json:"versions"`
	Replayed bool             `json:"replayed"`
}

// PublishReferenceHandler publishes an operator's reference data.
type PublishReferenceHandler struct{ cfg Config }

// Handle checks the new reference data against the rules and against what is in
// force (no code in use may go or move), then publishes it: the district's tree to
// its log, and the taxonomy and policy to every district's log. Nodes put it in
// force within seconds; the matcher reads it from the log.
func (h PublishReferenceHandler) Handle(ctx context.Context, district string, in ReferenceInput, meta Meta) (ReferenceResult, error) {
	if err := meta.Principal.MayManageReference(); err != nil {
		return ReferenceResult{}, err
	}
	cur := h.cfg.References.Current()
	if err := checkReferenceInput(district, in); err != nil {
		return ReferenceResult{}, err
	}
	var districts []domain.DistrictNode
	providers := map[string][]domain.ProviderNode{}
	found := false
	for _, d := range cur.Geography.Districts() {
		providers[d.Code] = cur.Providers(d.Code)
		if d.Code == district {
			d, found = in.District, true
			providers[d.Code] = in.Providers
		}
		districts = append(districts, d)
	}
	if !found {
		return ReferenceResult{}, fmt.Errorf("district %s: %w", district, domain.ErrNotFound)
	}
	next, err := domain.NewReference(districts, in.Categories, in.Policy)
	if err != nil {
		// The parts were checked on their own: what is left is how they fit together.
		return ReferenceResult{}, &domain.FieldError{Field: "district", Reason: err}
	}
	if next, err = next.WithProviders(providers); err != nil {
		return ReferenceResult{}, &domain.FieldError{Field: "providers", Reason: err}
	}
	programmes := in.Programmes
	if programmes == nil {
		programmes = cur.Programmes()
	}
	if next, err = next.WithProgrammes(programmes); err != nil {
		return ReferenceResult{}, err
	}
	if err := cur.CheckSuccessor(next); err != nil {
		return ReferenceResult{}, err
	}
	out := ReferenceResult{Versions: map[string]int64{}}
	fp := fingerprint("publish_reference", in)
	for _, d := range districts {
		pub, err := next.Publication(d.Code)
		if err != nil {
			return ReferenceResult{}, err
		}
		ref := domain.AggregateRef{Type: domain.AggregateReference, ID: d.Code}
		partition, evs, err := h.cfg.Log.Find(ctx, ref)
		if err != nil {
			return ReferenceResult{}, err
		}
		if partition == "" {
			partition = d.Code
		}
		version := int64(len(evs))
		m := meta.Resolved(h.cfg.NewID)
		m.CommandID += ":" + d.Code // one command per district, each retried alone
		if written, _, ok, err := previous(ctx, h.cfg, partition, m, fp); err != nil {
			return ReferenceResult{}, fmt.Errorf("publish to %s: %w", d.Code, err)
		} else if ok && len(written) > 0 {
			out.Changed, out.Replayed = true, true
			out.Versions[d.Code] = written[len(written)-1].AggregateVersion
			continue
		}
		if len(evs) > 0 && samePublication(evs[len(evs)-1].Payload, pub) {
			out.Versions[d.Code] = version
			continue
		}
		_, res, err := execute(ctx, h.cfg, partition, []domain.Change{{Aggregate: ref, ExpectedVersion: version, Payloads: []domain.Payload{pub}}}, m, fp)
		if err != nil {
			return ReferenceResult{}, fmt.Errorf("publish to %s: %w", d.Code, err)
		}
		out.Changed = true
		out.Replayed = out.Replayed || res.Duplicate
		out.Versions[d.Code] = version + 1
		if res.Duplicate {
			out.Versions[d.Code] = version
		}
	}
	return out, nil
}

// checkReferenceInput checks each part of new reference data on its own (the
// district's tree, the categories, the policy), and returns the field errors of
// every part that is missing or wrong.
func checkReferenceInput(district string, in ReferenceInput) error {
	var errs domain.FieldErrors
	switch {
	case reflect.ValueOf(in.District).IsZero():
		errs.Add(&domain.FieldError{Field: "district", Reason: errors.New("is required")})
	case in.District.Code == "":
		errs.Add(&domain.FieldError{Field: "district/code", Reason: errors.New("is required")})
	case in.District.Code != district:
		errs.Add(&domain.FieldError{Field: "district/code", Reason: fmt.Errorf("%q is not the district of the path (%s)", in.District.Code, district)})
	default:
		if _, err := domain.NewGeography([]domain.DistrictNode{in.District}); err != nil {
			errs.Add(&domain.FieldError{Field: "district", Reason: err})
		}
	}
	var tax *domain.Taxonomy
	if len(in.Categories) == 0 {
		errs.Add(&domain.FieldError{Field: "categories", Reason: errors.New("is required")})
	} else if t, err := domain.NewTaxonomy(in.Categories); err != nil {
		errs.Add(&domain.FieldError{Field: "categories", Reason: err})
	} else {
		tax = t
	}
	switch err := in.Policy.Validate(); {
	case reflect.ValueOf(in.Policy).IsZero():
		errs.Add(&domain.FieldError{Field: "policy", Reason: errors.New("is required")})
	case err != nil:
		errs.Add(&domain.FieldError{Field: "policy", Reason: err})
	case in.Policy.Allocation != nil && tax != nil:
		known := func(c string) bool { _, err := tax.Category(c); return err == nil }
		if err := in.Policy.Allocation.Validate(known); err != nil {
			errs.Add(&domain.FieldError{Field: "policy/allocation", Reason: err})
		}
	}
	if in.Programmes != nil {
		errs.Add(domain.CheckProgrammes(in.Programmes))
		if _, err := entitlement.Compile(in.Programmes); err != nil {
			for _, e := range ruleErrors(err) {
				errs.Add(&domain.FieldError{Field: e.Field(), Reason: e})
			}
		}
	}
	return errs.Err()
}

// ruleErrors returns the *entitlement.RuleError of each programme a compile refused.
func ruleErrors(err error) []*entitlement.RuleError {
	if re, ok := err.(*entitlement.RuleError); ok {
		return []*entitlement.RuleError{re}
	}
	var out []*entitlement.RuleError
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			out = append(out, ruleErrors(e)...)
		}
	}
	return out
}

func samePublication(a domain.Payload, b domain.ReferencePublished) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return errors.Join(err1, err2) == nil && string(x) == string(y)
}
