package reference

import (
	"errors"
	"testing"

	"github.com/tierlink/tierlink/domain"
)

func TestDefaultHasChangningAndTaxonomy(t *testing.T) {
	d, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	if got := len(d.Geography.Districts()[0].Streets); got != 10 {
		t.Fatalf("Changning has ten streets and a town in the sample, got %d nodes", got)
	}
	c, err := d.Geography.Community("xinhua-02")
	if err != nil || c.Street != "xinhua" || c.District != "changning" {
		t.Fatalf("community lookup: %+v %v", c, err)
	}
	if _, err := d.Taxonomy.Category("counselling"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Taxonomy.Category("astrology"); !errors.Is(err, domain.ErrUnknownCategory) {
		t.Fatalf("unknown category: %v", err)
	}
	if !c.CanLink("material_aid") || c.CanLink("respite_care") {
		t.Fatalf("capabilities of %s: %v", c.Code, c.Capabilities)
	}
	if d.Policy.Deadline(domain.TierStreet).Hours() != 72 {
		t.Fatalf("street deadline %v", d.Policy.Deadline(domain.TierStreet))
	}
	// The publication event round-trips to the same reference data.
	pub, err := d.Publication("changning")
	if err != nil {
		t.Fatal(err)
	}
	back, err := pub.Reference()
	if err != nil {
		t.Fatal(err)
	}
	if c2, _ := back.Geography.Community("xinhua-02"); !c2.CanLink("material_aid") || back.Policy.AgingPointsPerDay != d.Policy.AgingPointsPerDay {
		t.Fatalf("published reference differs: %+v", c2)
	}
}

func TestParseRefusesBadData(t *testing.T) {
	tax := []byte(`{"categories":[{"code":"a","group":"care","label":{"zh":"甲","en":"A"}}]}`)
	pol := policyJSON
	cases := map[string][]byte{
		"unknown field":      []byte(`{"districts":[],"extra":1}`),
		"bad code":           []byte(`{"districts":[{"code":"Bad Code","name":{"zh":"x","en":"x"},"streets":[]}]}`),
		"missing name":       []byte(`{"districts":[{"code":"d","name":{"zh":"x"},"streets":[]}]}`),
		"unknown capability": []byte(`{"districts":[{"code":"d","name":{"zh":"x","en":"x"},"streets":[{"code":"s","name":{"zh":"x","en":"x"},"communities":[{"code":"c","name":{"zh":"x","en":"x"},"capabilities":["nope"]}]}]}]}`),
		"duplicate":          []byte(`{"districts":[{"code":"d","name":{"zh":"x","en":"x"},"streets":[{"code":"d","name":{"zh":"x","en":"x"},"communities":[]}]}]}`),
	}
	for name, geo := range cases {
		if _, err := Parse(geo, tax, pol); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
