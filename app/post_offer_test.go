package app_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tierlink/tierlink/app"
	"github.com/tierlink/tierlink/domain"
)

func offer(capacity int) app.PostOfferInput {
	return app.PostOfferInput{Category: category, Capacity: capacity, ScopeTier: "street", ScopeArea: "huayang"}
}

func TestPostOffer(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	res, err := f.app.Commands.PostOffer.Handle(ctx, offer(3), as(provider, ""))
	if err != nil {
		t.Fatal(err)
	}
	f.then(0, "offer.posted")
	if res.OfferID == "" || res.District != district || res.Position != 1 {
		t.Fatalf("post %+v", res)
	}
	zero := offer(3)
	zero.ValidUntil = &time.Time{} // a client's default date
	var fe *domain.FieldError
	if _, err := f.app.Commands.PostOffer.Handle(ctx, zero, as(provider, "")); !errors.As(err, &fe) || fe.Field != "valid_until" {
		t.Fatalf("an offer until year 1: %v, want a field error", err)
	}
	f.then(0, "offer.posted")
}

func TestPostOfferRule(t *testing.T) {
	f := newFixture(t)
	post := func(capacity int) func(app.Meta) (any, error) {
		return func(meta app.Meta) (any, error) {
			return f.app.Commands.PostOffer.Handle(context.Background(), offer(capacity), meta)
		}
	}
	checkRule(t, f, rule{owner: provider, stranger: centre, send: post(3), other: post(4)})
	inTheNameOfAnother := offer(3)
	inTheNameOfAnother.Provider = "p1"
	if _, err := f.app.Commands.PostOffer.Handle(context.Background(), inTheNameOfAnother, as(rival, "")); !errors.Is(err, domain.ErrForbidden) {
		t.Fatalf("a provider posts in another's name: %v, want forbidden", err)
	}
}
