package app_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tierlink/tierlink/app"
	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/reference"
)

func TestReassess(t *testing.T) {
	f := newFixture(t)
	hh, _ := f.household()
	ctx := context.Background()
	a := domain.Assessment{domain.DimIncome: 4, domain.DimHealth: 3}
	before := f.head()
	res, err := f.app.Commands.Reassess.Handle(ctx, hh, app.ReassessInput{Assessment: a, Note: "lost her job"}, as(centre, ""))
	if err != nil {
		t.Fatal(err)
	}
	f.then(before, "household.reassessed")
	ref, err := reference.Default()
	if err != nil {
		t.Fatal(err)
	}
	want := domain.HardshipScore(a, []domain.TargetGroup{domain.GroupLowIncome}, ref.Policy.Hardship)
	if res.Hardship != want || want == 0 || res.Version != 3 || res.HouseholdID != hh {
		t.Fatalf("reassess %+v, want hardship %d", res, want)
	}
	if _, err := f.app.Commands.Reassess.Handle(ctx, hh, app.ReassessInput{Assessment: domain.Assessment{"wealth": 2}}, as(centre, "")); !errors.As(err, new(domain.FieldErrors)) {
		t.Fatalf("an unknown dimension: %v", err)
	}
}

func TestReassessRule(t *testing.T) {
	f := newFixture(t)
	hh, _ := f.household()
	reassess := func(income int) func(app.Meta) (any, error) {
		return func(meta app.Meta) (any, error) {
			return f.app.Commands.Reassess.Handle(context.Background(), hh, app.ReassessInput{Assessment: domain.Assessment{domain.DimIncome: income}}, meta)
		}
	}
	checkRule(t, f, rule{owner: street, stranger: otherCentre, send: reassess(3), other: reassess(4)})
}
