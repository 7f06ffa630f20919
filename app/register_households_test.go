package app_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tierlink/tierlink/app"
	"github.com/tierlink/tierlink/domain"
)

func TestRegisterHouseholds(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	other := household(category)
	other.Community = "huayang-02"
	batch := []app.RegisterHouseholdInput{household(category), {Community: "nowhere"}, other}
	out, err := f.app.Commands.RegisterHouseholds.Handle(ctx, batch, as(street, "k"))
	if err != nil {
		t.Fatal(err)
	}
	if out[0].Err != nil || out[1].Err == nil || out[2].Err != nil || out[0].Result.Replayed {
		t.Fatalf("outcomes %+v", out)
	}
	f.then(0, "household.registered", "household.needs_opened", "need.registered", "household.registered", "household.needs_opened", "need.registered")
	again, err := f.app.Commands.RegisterHouseholds.Handle(ctx, batch, as(street, "k"))
	if err != nil {
		t.Fatal(err)
	}
	if !again[0].Result.Replayed || again[0].Result.HouseholdID != out[0].Result.HouseholdID || again[2].Result.HouseholdID != out[2].Result.HouseholdID {
		t.Fatalf("the retried batch %+v, first %+v", again, out)
	}
	if _, err := f.app.Commands.RegisterHouseholds.Handle(ctx, batch[:1], as(street, "k")); !errors.Is(err, app.ErrCommandReused) {
		t.Fatalf("another batch under the key: %v, want ErrCommandReused", err)
	}
	f.then(0, "household.registered", "household.needs_opened", "need.registered", "household.registered", "household.needs_opened", "need.registered")
}

// TestRegisterHouseholdsAccess: a centre registers in the communities its node
// holds; the others of the batch go ahead.
func TestRegisterHouseholdsAccess(t *testing.T) {
	f := newFixture(t)
	other := household(category)
	other.Community = "huayang-02"
	out, err := f.app.Commands.RegisterHouseholds.Handle(context.Background(), []app.RegisterHouseholdInput{household(category), other}, as(centre, ""))
	if err != nil {
		t.Fatal(err)
	}
	if out[0].Err != nil || !errors.Is(out[1].Err, domain.ErrForbidden) {
		t.Fatalf("outcomes %+v", out)
	}
	f.then(0, "household.registered", "household.needs_opened", "need.registered")
}
