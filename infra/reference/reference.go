// Package reference loads the reference data shipped with tierlink: the geography
// (with each community's capability list), the service taxonomy, the matching
// policy and the catalogue of assistance programmes.
package reference

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"

	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/entitlement"
)

//go:embed geography.json
var geographyJSON []byte

//go:embed taxonomy.json
var taxonomyJSON []byte

//go:embed policy.json
var policyJSON []byte

//go:embed programmes.json
var programmesJSON []byte

// Default parses the embedded sample (Shanghai Changning), the taxonomy, the policy
// and the catalogue of assistance programmes.
func Default() (*domain.Reference, error) {
	ref, err := Parse(geographyJSON, taxonomyJSON, policyJSON)
	if err != nil {
		return nil, err
	}
	return WithProgrammes(ref, programmesJSON)
}

// WithProgrammes reads a catalogue document ({"programmes": [...]}), refusing
// unknown fields and any rule that does not compile, and returns ref with it.
func WithProgrammes(ref *domain.Reference, doc []byte) (*domain.Reference, error) {
	var c struct {
		Programmes []domain.Programme `json:"programmes"`
	}
	if err := strictUnmarshal(doc, &c); err != nil {
		return nil, fmt.Errorf("programmes: %w", err)
	}
	if _, err := entitlement.Compile(c.Programmes); err != nil {
		return nil, fmt.Errorf("programmes: %w", err)
	}
	next, err := ref.WithProgrammes(c.Programmes)
	if err != nil {
		return nil, fmt.Errorf("programmes: %w", err)
	}
	return next, nil
}

// Parse reads geography, taxonomy and policy documents, refusing unknown fields.
func Parse(geography, taxonomy, policy []byte) (*domain.Reference, error) {
	var g struct {
		Districts []domain.DistrictNode `json:"districts"`
	}
	if err := strictUnmarshal(geography, &g); err != nil {
		return nil, fmt.Errorf("geography: %w", err)
	}
	var t struct {
		Categories []domain.Category `json:"categories"`
	}
	if err := strictUnmarshal(taxonomy, &t); err != nil {
		return nil, fmt.Errorf("taxonomy: %w", err)
	}
	var p domain.Policy
	if err := strictUnmarshal(policy, &p); err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	ref, err := domain.NewReference(g.Districts, t.Categories, p)
	if err != nil {
		return nil, fmt.Errorf("reference data: %w", err)
	}
	return ref, nil
}

func strictUnmarshal(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
