package reference

import (
	"errors"
	"strings"
	"testing"

	"github.com/tierlink/tierlink/entitlement"
)

func TestDefaultCatalogueCompilesAndPublishes(t *testing.T) {
	ref, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	ps := ref.Programmes()
	if len(ps) != 10 {
		t.Fatalf("the default catalogue has the issue's ten programmes, got %d", len(ps))
	}
	if _, err := entitlement.Compile(ps); err != nil {
		t.Fatal(err)
	}
	pub, err := ref.Publication("changning")
	if err != nil {
		t.Fatal(err)
	}
	back, err := pub.Reference()
	if err != nil || len(back.Programmes()) != 10 {
		t.Fatalf("the publication carries the catalogue: %v %d", err, len(back.Programmes()))
	}
}

func TestWithProgrammesRefusesBadRules(t *testing.T) {
	ref, err := Parse(geographyJSON, taxonomyJSON, policyJSON)
	if err != nil {
		t.Fatal(err)
	}
	doc := `{"programmes":[{"code":"p","name":{"zh":"甲","en":"A"},"department":{"zh":"甲","en":"A"},
		"how_to_apply":{"zh":"甲","en":"A"},"because":{"zh":"甲","en":"A"},"rule":"salary > 3"}]}`
	_, err = WithProgrammes(ref, []byte(doc))
	if !errors.Is(err, entitlement.ErrBadRule) || !strings.Contains(err.Error(), "programme p: rule at 1:1") {
		t.Fatalf("an unknown fact is refused with its place: %v", err)
	}
	if _, err := WithProgrammes(ref, []byte(`{"programmes":[],"extra":1}`)); err == nil {
		t.Fatal("unknown field accepted")
	}
}
