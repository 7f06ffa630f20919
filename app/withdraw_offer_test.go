package app_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tierlink/tierlink/app"
	"github.com/tierlink/tierlink/domain"
)

func TestWithdrawOffer(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	offer := f.offer()
	before := f.head()
	res, err := f.app.Commands.WithdrawOffer.Handle(ctx, offer, as(provider, ""))
	if err != nil {
		t.Fatal(err)
	}
	f.then(before, "offer.withdrawn")
	if res.OfferID != offer || res.Version != 2 {
		t.Fatalf("withdraw %+v", res)
	}
	if _, err := f.app.Commands.WithdrawOffer.Handle(ctx, offer, as(provider, "")); !errors.Is(err, domain.ErrRefused) {
		t.Fatalf("withdrawn twice: %v, want refused", err)
	}
}

func TestWithdrawOfferRule(t *testing.T) {
	f := newFixture(t)
	offer, other := f.offer(), f.offer()
	withdraw := func(id string) func(app.Meta) (any, error) {
		return func(meta app.Meta) (any, error) {
			return f.app.Commands.WithdrawOffer.Handle(context.Background(), id, meta)
		}
	}
	checkRule(t, f, rule{owner: provider, stranger: rival, send: withdraw(offer), other: withdraw(other)})
}
