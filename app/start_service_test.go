package app_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tierlink/tierlink/app"
	"github.com/tierlink/tierlink/domain"
)

func TestStartService(t *testing.T) {
	f := newFixture(t)
	p := f.givenProposal()
	ctx := context.Background()
	if _, err := f.app.Commands.StartService.Handle(ctx, p.referral, as(provider, "")); !errors.Is(err, domain.ErrRefused) {
		t.Fatalf("started before the centre accepted: %v, want refused", err)
	}
	f.answer(p.referral, domain.AnswerAccept)
	before := f.head()
	res, err := f.app.Commands.StartService.Handle(ctx, p.referral, as(provider, ""))
	if err != nil {
		t.Fatal(err)
	}
	f.then(before, "need.service_started")
	if res.Status != domain.StatusInService || res.ReferralID != p.referral {
		t.Fatalf("start %+v", res)
	}
}

func TestStartServiceRule(t *testing.T) {
	f := newFixture(t)
	p := f.givenProposal()
	f.answer(p.referral, domain.AnswerAccept)
	other := f.givenProposal() // a referral of the same provider
	f.answer(other.referral, domain.AnswerAccept)
	start := func(referralID string) func(app.Meta) (any, error) {
		return func(meta app.Meta) (any, error) {
			return f.app.Commands.StartService.Handle(context.Background(), referralID, meta)
		}
	}
	checkRule(t, f, rule{owner: provider, stranger: rival, send: start(p.referral), other: start(other.referral)})
	for _, who := range []domain.Principal{centre, operator} {
		if _, err := start(other.referral)(as(who, "")); !errors.Is(err, domain.ErrForbidden) {
			t.Errorf("%s starts: %v, want forbidden", who, err)
		}
	}
}
