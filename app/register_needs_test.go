package app_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tierlink/tierlink/app"
	"github.com/tierlink/tierlink/domain"
)

func needs(householdID string, categories ...string) app.RegisterNeedsInput {
	in := app.RegisterNeedsInput{HouseholdID: householdID}
	for _, c := range categories {
		in.Needs = append(in.Needs, app.NeedInput{Category: c})
	}
	return in
}

func TestRegisterNeeds(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	hh, open := f.household()
	before := f.head()
	res, err := f.app.Commands.RegisterNeeds.Handle(ctx, needs(hh, "counselling"), as(centre, ""))
	if err != nil {
		t.Fatal(err)
	}
	f.then(before, "household.needs_opened", "need.registered")
	if res.HouseholdID != hh || len(res.Needs) != 1 || res.Needs[0].Category != "counselling" {
		t.Fatalf("needs %+v", res)
	}
	_, err = f.app.Commands.RegisterNeeds.Handle(ctx, needs(hh, category), as(centre, ""))
	var dup *domain.DuplicateNeedError
	if !errors.As(err, &dup) || dup.NeedID != open {
		t.Fatalf("a second open need of a category: %v, want the open one named", err)
	}
	if _, err := f.app.Commands.RegisterNeeds.Handle(ctx, needs("nobody", "counselling"), as(centre, "")); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("an unknown household: %v, want not found", err)
	}
}

func TestRegisterNeedsRule(t *testing.T) {
	f := newFixture(t)
	hh, _ := f.household()
	open := func(c string) func(app.Meta) (any, error) {
		return func(meta app.Meta) (any, error) {
			return f.app.Commands.RegisterNeeds.Handle(context.Background(), needs(hh, c), meta)
		}
	}
	checkRule(t, f, rule{owner: centre, stranger: otherCentre, send: open("counselling"), other: open("legal_aid")})
}
