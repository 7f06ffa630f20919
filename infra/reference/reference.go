// Package reference loads the reference data shipped with tierlink: the geography
// (with each community's capability list), the service taxonomy and the matching
// policy.
package reference

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"

	"github.com/tierlink/tierlink/domain"
)

//go:embed geography.json
var geographyJSON []byte

//go:embed taxonomy.json
var taxonomyJSON []byte

//go:embed policy.json
var policyJSON []byte

// Default parses the embedded sample (Shanghai Changning), the taxonomy and the policy.
func Default() (*domain.Reference, error) {
	return Parse(geographyJSON, taxonomyJSON, policyJSON)
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
