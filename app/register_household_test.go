package app_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tierlink/tierlink/app"
	"github.com/tierlink/tierlink/domain"
)

func household(needs ...string) app.RegisterHouseholdInput {
	in := app.RegisterHouseholdInput{Community: community, TargetGroups: []domain.TargetGroup{domain.GroupElderly}}
	for _, c := range needs {
		in.Needs = append(in.Needs, app.NeedInput{Category: c})
	}
	return in
}

func TestRegisterHousehold(t *testing.T) {
	f := newFixture(t)
	res, err := f.app.Commands.RegisterHousehold.Handle(context.Background(), household(category, "counselling"), as(centre, ""))
	if err != nil {
		t.Fatal(err)
	}
	f.then(0, "household.registered", "household.needs_opened", "need.registered", "need.registered")
	if res.District != district || res.HouseholdID == "" || len(res.Needs) != 2 || res.Needs[1].Category != "counselling" || res.Position != 4 {
		t.Fatalf("registration %+v", res)
	}
	var fe *domain.FieldError
	if _, err := f.app.Commands.RegisterHousehold.Handle(context.Background(), household(category, category), as(centre, "")); !errors.As(err, &fe) || fe.Field != "needs/1/category" {
		t.Fatalf("two needs of one category: %v, want a field error", err)
	}
	f.then(0, "household.registered", "household.needs_opened", "need.registered", "need.registered")
}

func TestRegisterHouseholdRule(t *testing.T) {
	f := newFixture(t)
	register := func(in app.RegisterHouseholdInput) func(app.Meta) (any, error) {
		return func(meta app.Meta) (any, error) {
			return f.app.Commands.RegisterHousehold.Handle(context.Background(), in, meta)
		}
	}
	checkRule(t, f, rule{owner: centre, stranger: otherCentre, send: register(household(category)), other: register(household("counselling"))})
	if _, err := register(household(category))(as(provider, "")); !errors.Is(err, domain.ErrForbidden) {
		t.Fatalf("a provider registers a household: %v, want forbidden", err)
	}
}

// TestRegisterHouseholdKeyOfAnother: a key belongs to the principal that used it;
// another principal's command under the same key is its own command.
func TestRegisterHouseholdKeyOfAnother(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	first, err := f.app.Commands.RegisterHousehold.Handle(ctx, household(category), as(centre, "k"))
	if err != nil {
		t.Fatal(err)
	}
	second, err := f.app.Commands.RegisterHousehold.Handle(ctx, household(category), as(street, "k"))
	if err != nil {
		t.Fatal(err)
	}
	if second.Replayed || second.HouseholdID == first.HouseholdID {
		t.Fatalf("the street's command under the community's key was taken for its retry: %+v", second)
	}
}
