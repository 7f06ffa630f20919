package app_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tierlink/tierlink/app"
	"github.com/tierlink/tierlink/domain"
)

func TestCompleteService(t *testing.T) {
	f := newFixture(t)
	p := f.givenProposal()
	f.answer(p.referral, domain.AnswerAccept)
	ctx := context.Background()
	if _, err := f.app.Commands.CompleteService.Handle(ctx, p.referral, as(provider, "")); !errors.Is(err, domain.ErrRefused) {
		t.Fatalf("completed before it started: %v, want refused", err)
	}
	f.start(p.referral)
	before := f.head()
	res, err := f.app.Commands.CompleteService.Handle(ctx, p.referral, as(provider, ""))
	if err != nil {
		t.Fatal(err)
	}
	f.then(before, "need.service_completed", "household.need_closed")
	if res.Status != domain.StatusCompleted || res.NeedID != p.need {
		t.Fatalf("complete %+v", res)
	}
}

func TestCompleteServiceRule(t *testing.T) {
	f := newFixture(t)
	var referrals []string
	for range 2 {
		p := f.givenProposal()
		f.answer(p.referral, domain.AnswerAccept)
		f.start(p.referral)
		referrals = append(referrals, p.referral)
	}
	complete := func(referralID string) func(app.Meta) (any, error) {
		return func(meta app.Meta) (any, error) {
			return f.app.Commands.CompleteService.Handle(context.Background(), referralID, meta)
		}
	}
	checkRule(t, f, rule{owner: provider, stranger: rival, send: complete(referrals[0]), other: complete(referrals[1])})
}
