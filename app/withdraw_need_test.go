package app_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tierlink/tierlink/app"
	"github.com/tierlink/tierlink/domain"
)

func TestWithdrawNeed(t *testing.T) {
	ctx := context.Background()
	t.Run("open", func(t *testing.T) {
		f := newFixture(t)
		_, need := f.household()
		before := f.head()
		res, err := f.app.Commands.WithdrawNeed.Handle(ctx, need, "", as(centre, ""))
		if err != nil {
			t.Fatal(err)
		}
		f.then(before, "need.withdrawn", "household.need_closed")
		if res.Status != domain.StatusWithdrawn {
			t.Fatalf("withdraw %+v", res)
		}
	})
	t.Run("proposed", func(t *testing.T) {
		f := newFixture(t)
		p := f.givenProposal()
		before := f.head()
		if _, err := f.app.Commands.WithdrawNeed.Handle(ctx, p.need, "moved away", as(centre, "")); err != nil {
			t.Fatal(err)
		}
		f.then(before, "need.withdrawn", "household.need_closed", "offer.unit_released")
	})
	t.Run("in service", func(t *testing.T) {
		f := newFixture(t)
		p := f.givenProposal()
		f.answer(p.referral, domain.AnswerAccept)
		f.start(p.referral)
		if _, err := f.app.Commands.WithdrawNeed.Handle(ctx, p.need, "", as(centre, "")); !errors.Is(err, domain.ErrRefused) {
			t.Fatalf("withdrawn in service: %v, want refused", err)
		}
	})
}

func TestWithdrawNeedRule(t *testing.T) {
	f := newFixture(t)
	_, need := f.household()
	withdraw := func(note string) func(app.Meta) (any, error) {
		return func(meta app.Meta) (any, error) {
			return f.app.Commands.WithdrawNeed.Handle(context.Background(), need, note, meta)
		}
	}
	checkRule(t, f, rule{owner: centre, stranger: otherCentre, send: withdraw("moved away"), other: withdraw("another note")})
	if _, err := withdraw("")(as(provider, "")); !errors.Is(err, domain.ErrForbidden) {
		t.Fatalf("a provider withdraws a need: %v, want forbidden", err)
	}
}
