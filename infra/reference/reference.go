// Package reference loads the geography and service taxonomy shipped with tierlink.
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

// Data is the reference data a running tierlink works with.
type Data struct {
	Geography *domain.Geography
	Taxonomy  *domain.Taxonomy
}

// Default parses the embedded sample (Shanghai Changning) and the taxonomy.
func Default() (Data, error) {
	return Parse(geographyJSON, taxonomyJSON)
}

// Parse reads geography and taxonomy documents, refusing unknown fields.
func Parse(geography, taxonomy []byte) (Data, error) {
	var g struct {
		Districts []domain.DistrictNode `json:"districts"`
	}
	if err := strictUnmarshal(geography, &g); err != nil {
		return Data{}, fmt.Errorf("geography: %w", err)
	}
	geo, err := domain.NewGeography(g.Districts)
	if err != nil {
		return Data{}, fmt.Errorf("geography: %w", err)
	}
	var t struct {
		Categories []domain.Category `json:"categories"`
	}
	if err := strictUnmarshal(taxonomy, &t); err != nil {
		return Data{}, fmt.Errorf("taxonomy: %w", err)
	}
	tax, err := domain.NewTaxonomy(t.Categories)
	if err != nil {
		return Data{}, fmt.Errorf("taxonomy: %w", err)
	}
	return Data{Geography: geo, Taxonomy: tax}, nil
}

func strictUnmarshal(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
