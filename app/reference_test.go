package app_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tierlink/tierlink/app"
	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/reference"
)

func TestPublishReference(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ref, err := reference.Default()
	if err != nil {
		t.Fatal(err)
	}
	var in app.ReferenceInput
	for _, d := range ref.Geography.Districts() {
		if d.Code == district {
			in.District = d
		}
	}
	in.Categories, in.Policy = ref.Taxonomy.Categories(), ref.Policy
	for _, who := range []domain.Principal{centre, provider} {
		if _, err := f.app.Commands.PublishReference.Handle(ctx, district, in, as(who, "")); !errors.Is(err, domain.ErrForbidden) {
			t.Fatalf("%s publishes: %v, want forbidden", who, err)
		}
	}
	res, err := f.app.Commands.PublishReference.Handle(ctx, district, in, as(operator, ""))
	if err != nil || !res.Changed || res.Versions[district] != 1 {
		t.Fatalf("publish %+v %v", res, err)
	}
	f.then(0, "reference.published")
	res, err = f.app.Commands.PublishReference.Handle(ctx, district, in, as(operator, ""))
	if err != nil || res.Changed || res.Versions[district] != 1 {
		t.Fatalf("the same data again %+v %v", res, err)
	}
	f.then(0, "reference.published")
}
