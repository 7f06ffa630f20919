package app_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tierlink/tierlink/app"
	"github.com/tierlink/tierlink/domain"
)

func TestChangeCapacity(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	p := f.givenProposal() // one unit of the offer's two is reserved
	before := f.head()
	res, err := f.app.Commands.ChangeCapacity.Handle(ctx, p.offer, 5, as(provider, ""))
	if err != nil {
		t.Fatal(err)
	}
	f.then(before, "offer.capacity_changed")
	if res.OfferID != p.offer || res.Version != 3 || res.Position != f.head() {
		t.Fatalf("change %+v", res)
	}
	if _, err := f.app.Commands.ChangeCapacity.Handle(ctx, p.offer, 0, as(provider, "")); err == nil {
		t.Fatal("capacity lowered below what is committed")
	}
	stale := as(provider, "")
	stale.IfMatch = 2
	if _, err := f.app.Commands.ChangeCapacity.Handle(ctx, p.offer, 4, stale); !errors.Is(err, app.ErrPreconditionFailed) {
		t.Fatalf("a stale If-Match: %v, want precondition failed", err)
	}
	f.then(before, "offer.capacity_changed")
}

func TestChangeCapacityRule(t *testing.T) {
	f := newFixture(t)
	offer := f.offer()
	change := func(capacity int) func(app.Meta) (any, error) {
		return func(meta app.Meta) (any, error) {
			return f.app.Commands.ChangeCapacity.Handle(context.Background(), offer, capacity, meta)
		}
	}
	checkRule(t, f, rule{owner: provider, stranger: rival, send: change(3), other: change(4)})
	if _, err := change(5)(as(centre, "")); !errors.Is(err, domain.ErrForbidden) {
		t.Fatalf("a centre changes an offer: %v, want forbidden", err)
	}
}
