package app_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tierlink/tierlink/app"
	"github.com/tierlink/tierlink/domain"
)

func TestRecordVisit(t *testing.T) {
	f := newFixture(t)
	hh, _ := f.household()
	ctx := context.Background()
	in := app.VisitInput{Visitor: "Wang Fang", VisitedAt: f.now.Add(-2 * time.Hour), Found: "the heating is broken"}
	before := f.head()
	res, err := f.app.Commands.RecordVisit.Handle(ctx, hh, in, as(street, ""))
	if err != nil {
		t.Fatal(err)
	}
	f.then(before, "household.visited")
	if res.HouseholdID != hh || res.Version != 3 || res.Replayed || res.Position != before+1 {
		t.Fatalf("visit %+v", res)
	}
	// The hardship score a visit answers is the household's, unchanged.
	reg, err := f.app.Commands.Reassess.Handle(ctx, hh, app.ReassessInput{Assessment: domain.Assessment{domain.DimIncome: 3}}, as(centre, ""))
	if err != nil {
		t.Fatal(err)
	}
	again, err := f.app.Commands.RecordVisit.Handle(ctx, hh, in, as(centre, ""))
	if err != nil || again.Hardship != reg.Hardship || again.Version != reg.Version+1 {
		t.Fatalf("a visit after a reassessment to %d: %+v %v", reg.Hardship, again, err)
	}
	// Bad input names every wrong field and writes nothing.
	before = f.head()
	_, err = f.app.Commands.RecordVisit.Handle(ctx, hh, app.VisitInput{Kind: "letter", VisitedAt: f.now.Add(time.Hour)}, as(centre, ""))
	var fe domain.FieldErrors
	if !errors.As(err, &fe) || len(fe) != 3 {
		t.Fatalf("a visit with no visitor, an unknown kind, in the future: %v", err)
	}
	if _, err := f.app.Commands.RecordVisit.Handle(ctx, "no-such-household", in, as(centre, "")); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("an unknown household: %v", err)
	}
	// With If-Match, the household must be at that version.
	m := as(centre, "")
	m.IfMatch = 2
	if _, err := f.app.Commands.RecordVisit.Handle(ctx, hh, in, m); !errors.Is(err, app.ErrPreconditionFailed) {
		t.Fatalf("a stale If-Match: %v", err)
	}
	f.then(before)
}

func TestRecordVisitRule(t *testing.T) {
	f := newFixture(t)
	hh, _ := f.household()
	visit := func(who string) func(app.Meta) (any, error) {
		return func(meta app.Meta) (any, error) {
			return f.app.Commands.RecordVisit.Handle(context.Background(), hh, app.VisitInput{Visitor: who, Kind: domain.VisitPhone, VisitedAt: f.now}, meta)
		}
	}
	checkRule(t, f, rule{owner: centre, stranger: otherCentre, send: visit("Wang"), other: visit("Li")})
	if _, err := visit("Wang")(as(provider, "")); !errors.Is(err, domain.ErrForbidden) {
		t.Fatalf("a provider recorded a visit: %v", err)
	}
}
