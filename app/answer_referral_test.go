package app_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tierlink/tierlink/app"
	"github.com/tierlink/tierlink/domain"
)

func TestAnswerReferral(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		kind   string
		status domain.NeedStatus
		tier   int
		events []string
	}{
		{domain.AnswerAccept, domain.StatusAccepted, 1, []string{"need.referral_accepted"}},
		{domain.AnswerDecline, domain.StatusOpen, 1, []string{"need.referral_declined", "offer.unit_released"}},
		{domain.AnswerEscalate, domain.StatusOpen, 2, []string{"need.escalated", "offer.unit_released"}},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			f := newFixture(t)
			p := f.givenProposal()
			before := f.head()
			res, err := f.app.Commands.AnswerReferral.Handle(ctx, domain.Answer{ReferralID: p.referral, Kind: tc.kind, Reason: domain.DeclineReason("no_longer_needed")}, as(centre, ""))
			if err != nil {
				t.Fatal(err)
			}
			f.then(before, tc.events...)
			if res.NeedID != p.need || res.Status != tc.status || res.Tier != tc.tier || res.Position != f.head() || res.Replayed {
				t.Fatalf("answer %+v", res)
			}
		})
	}
}

func TestAnswerReferralRule(t *testing.T) {
	f := newFixture(t)
	p := f.givenProposal()
	answer := func(kind string) func(app.Meta) (any, error) {
		return func(meta app.Meta) (any, error) {
			return f.app.Commands.AnswerReferral.Handle(context.Background(), domain.Answer{ReferralID: p.referral, Kind: kind}, meta)
		}
	}
	checkRule(t, f, rule{owner: centre, stranger: otherCentre, send: answer(domain.AnswerAccept), other: answer(domain.AnswerEscalate)})
}

// TestAnswerReferralAccess: only the centre the referral was addressed to answers it.
func TestAnswerReferralAccess(t *testing.T) {
	f := newFixture(t)
	p := f.givenProposal()
	for _, who := range []domain.Principal{otherCentre, street, provider, operator} {
		_, err := f.app.Commands.AnswerReferral.Handle(context.Background(), domain.Answer{ReferralID: p.referral, Kind: domain.AnswerAccept}, as(who, ""))
		if !errors.Is(err, domain.ErrForbidden) {
			t.Errorf("%s answers: %v, want forbidden", who, err)
		}
	}
	if _, err := f.app.Commands.AnswerReferral.Handle(context.Background(), domain.Answer{ReferralID: "ref-none", Kind: domain.AnswerAccept}, as(centre, "")); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("an unknown referral: %v, want not found", err)
	}
}

// TestAnswerReferralRetryAfterTheNeedMoved: a retry gets the first answer whatever
// happened since, and passes the access check its first attempt passed.
func TestAnswerReferralRetryAfterTheNeedMoved(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	p := f.givenProposal()
	escalate := domain.Answer{ReferralID: p.referral, Kind: domain.AnswerEscalate}
	first, err := f.app.Commands.AnswerReferral.Handle(ctx, escalate, as(centre, "k"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.app.Commands.WithdrawNeed.Handle(ctx, p.need, "moved away", as(centre, "")); err != nil {
		t.Fatal(err)
	}
	before := f.head()
	again, err := f.app.Commands.AnswerReferral.Handle(ctx, escalate, as(centre, "k"))
	if err != nil {
		t.Fatal(err)
	}
	f.then(before)
	if !again.Replayed || again.Status != first.Status || again.Tier != 2 || again.Position != first.Position {
		t.Fatalf("retry %+v, first %+v", again, first)
	}
}
