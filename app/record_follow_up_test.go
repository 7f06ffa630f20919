package app_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tierlink/tierlink/app"
	"github.com/tierlink/tierlink/domain"
)

// completed is a need whose referral completed.
func (f *fixture) completed() proposed {
	f.t.Helper()
	p := f.givenProposal()
	f.answer(p.referral, domain.AnswerAccept)
	f.start(p.referral)
	if _, err := f.app.Commands.CompleteService.Handle(context.Background(), p.referral, as(provider, "")); err != nil {
		f.t.Fatal(err)
	}
	return p
}

func TestRecordFollowUp(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	p := f.givenProposal()
	notResolved := app.FollowUpInput{Outcome: domain.OutcomeNotResolved, Satisfaction: 2, Note: "the food parcels stopped"}
	if _, err := f.app.Commands.RecordFollowUp.Handle(ctx, p.referral, notResolved, as(centre, "")); !errors.Is(err, domain.ErrRefused) {
		t.Fatalf("followed up before completion: %v, want refused", err)
	}
	f.answer(p.referral, domain.AnswerAccept)
	f.start(p.referral)
	if _, err := f.app.Commands.CompleteService.Handle(ctx, p.referral, as(provider, "")); err != nil {
		t.Fatal(err)
	}
	if _, err := f.app.Commands.RecordFollowUp.Handle(ctx, p.referral, app.FollowUpInput{Outcome: domain.OutcomeNotResolved, Satisfaction: 6},
		as(centre, "")); !errors.As(err, new(domain.FieldErrors)) {
		t.Fatalf("satisfaction 6 and no note: %v", err)
	}
	before := f.head()
	res, err := f.app.Commands.RecordFollowUp.Handle(ctx, p.referral, notResolved, as(centre, "fu-1"))
	if err != nil {
		t.Fatal(err)
	}
	f.then(before, "need.followed_up", "household.needs_opened", "need.registered")
	if res.NeedID != p.need || res.ReferralID != p.referral || res.Outcome != domain.OutcomeNotResolved || res.ReopenedAs == "" ||
		res.ReopenedAs == p.need || res.OpenNeed != "" || res.Replayed {
		t.Fatalf("follow-up %+v", res)
	}
	// The reopened need is registered with a link to the one it reopens.
	_, evs, err := f.log.FindAggregate(ctx, []string{district}, domain.AggregateRef{Type: domain.AggregateNeed, ID: res.ReopenedAs})
	if err != nil || len(evs) != 1 {
		t.Fatalf("reopened need: %v %v", evs, err)
	}
	if reg := evs[0].Payload.(domain.NeedRegistered); reg.Reopens == nil || reg.Reopens.NeedID != p.need || reg.Category != category {
		t.Fatalf("reopened need registered %+v", reg)
	}
	// A retry, after the reopened need moved on, names the same need, replayed.
	if _, err := f.app.Commands.WithdrawNeed.Handle(ctx, res.ReopenedAs, "", as(centre, "")); err != nil {
		t.Fatal(err)
	}
	again, err := f.app.Commands.RecordFollowUp.Handle(ctx, p.referral, notResolved, as(centre, "fu-1"))
	if err != nil || again.ReopenedAs != res.ReopenedAs || !again.Replayed || again.Version != res.Version {
		t.Fatalf("retry %+v %v, first %+v", again, err, res)
	}
	// Once only.
	if _, err := f.app.Commands.RecordFollowUp.Handle(ctx, p.referral, notResolved, as(centre, "")); !errors.Is(err, domain.ErrRefused) {
		t.Fatalf("followed up twice: %v", err)
	}
}

func TestFollowUpWithANeedOpenAlready(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	p := f.completed()
	reg, err := f.app.Commands.RegisterNeeds.Handle(ctx, app.RegisterNeedsInput{HouseholdID: p.household, Needs: []app.NeedInput{{Category: category}}}, as(centre, ""))
	if err != nil {
		t.Fatal(err)
	}
	before := f.head()
	res, err := f.app.Commands.RecordFollowUp.Handle(ctx, p.referral, app.FollowUpInput{Outcome: domain.OutcomeNotResolved, Satisfaction: 1, Note: "still hungry"}, as(centre, ""))
	if err != nil {
		t.Fatal(err)
	}
	f.then(before, "need.followed_up")
	if res.ReopenedAs != "" || res.OpenNeed != reg.Needs[0].NeedID {
		t.Fatalf("follow-up %+v, want open need %s", res, reg.Needs[0].NeedID)
	}
}

func TestRecordFollowUpRule(t *testing.T) {
	f := newFixture(t)
	ps := []proposed{f.completed(), f.completed()}
	followUp := func(meta app.Meta) (any, error) {
		return f.app.Commands.RecordFollowUp.Handle(context.Background(), ps[0].referral, app.FollowUpInput{Outcome: domain.OutcomeResolved, Satisfaction: 5}, meta)
	}
	other := func(meta app.Meta) (any, error) {
		return f.app.Commands.RecordFollowUp.Handle(context.Background(), ps[0].referral, app.FollowUpInput{Outcome: domain.OutcomePartly, Satisfaction: 4}, meta)
	}
	checkRule(t, f, rule{owner: centre, stranger: otherCentre, send: followUp, other: other})
	// The provider that served it does not follow it up; an unknown referral is not found.
	if _, err := f.app.Commands.RecordFollowUp.Handle(context.Background(), ps[1].referral, app.FollowUpInput{Outcome: domain.OutcomeResolved, Satisfaction: 5},
		as(provider, "")); !errors.Is(err, domain.ErrForbidden) {
		t.Fatalf("the provider followed up: %v", err)
	}
	if _, err := f.app.Commands.RecordFollowUp.Handle(context.Background(), "ref-none", app.FollowUpInput{Outcome: domain.OutcomeResolved, Satisfaction: 5},
		as(centre, "")); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("an unknown referral: %v", err)
	}
}
