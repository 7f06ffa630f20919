package domain

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

// evolver is an aggregate that folds its events.
type evolver[S any] interface{ Evolve(Event) S }

// given folds the payloads into an aggregate of a type and id, as the log would
// hold them (versions 1, 2, …).
func given[S evolver[S]](id string, payloads ...Payload) S {
	var s S
	for i, p := range payloads {
		s = s.Evolve(Event{AggregateID: id, AggregateVersion: int64(i + 1), Payload: p})
	}
	return s
}

// then checks a decision: the payloads of its changes, in order, or the error it
// must wrap.
func then(t *testing.T, changes []Change, err error, want ...any) {
	t.Helper()
	if len(want) == 1 {
		if target, ok := want[0].(error); ok {
			if !errors.Is(err, target) {
				t.Fatalf("got %v (changes %+v), want an error wrapping %v", err, changes, target)
			}
			return
		}
	}
	if err != nil {
		t.Fatalf("refused: %v", err)
	}
	var got []any
	for _, c := range changes {
		for _, p := range c.Payloads {
			got = append(got, p)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("events %+v, want %+v", got, want)
	}
}

var scenarioT0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

// TestHouseholdScenarios: given a household's events, when a command, then its events.
func TestHouseholdScenarios(t *testing.T) {
	ref := testRef(t)
	registered := HouseholdRegistered{Community: "c", Street: "s", District: "d"}
	t.Run("a new category opens a need", func(t *testing.T) {
		h := given[Household]("h", registered, NeedsOpened{Needs: []OpenedNeed{{NeedID: "n1", Category: "counselling"}}})
		ch, err := DecideRegisterNeeds(h, RegisterNeeds{HouseholdID: "h", Needs: []NeedSpec{{NeedID: "n2", Category: "legal_aid"}}}, ref)
		if err != nil || len(ch) < 2 || ch[0].Aggregate.ID != "h" || ch[0].ExpectedVersion != 2 {
			t.Fatalf("changes %+v, %v", ch, err)
		}
		then(t, ch[:1], nil, NeedsOpened{Needs: []OpenedNeed{{NeedID: "n2", Category: "legal_aid"}}})
	})
	t.Run("an open category is a duplicate", func(t *testing.T) {
		h := given[Household]("h", registered, NeedsOpened{Needs: []OpenedNeed{{NeedID: "n1", Category: "counselling"}}})
		ch, err := DecideRegisterNeeds(h, RegisterNeeds{HouseholdID: "h", Needs: []NeedSpec{{NeedID: "n2", Category: "counselling"}}}, ref)
		var dup *DuplicateNeedError
		if !errors.As(err, &dup) || dup.NeedID != "n1" || ch != nil {
			t.Fatalf("%v %+v, want the open need n1 named", err, ch)
		}
	})
	t.Run("a closed need's category opens again", func(t *testing.T) {
		h := given[Household]("h", registered, NeedsOpened{Needs: []OpenedNeed{{NeedID: "n1", Category: "counselling"}}},
			NeedClosed{NeedID: "n1", Category: "counselling"})
		ch, err := DecideRegisterNeeds(h, RegisterNeeds{HouseholdID: "h", Needs: []NeedSpec{{NeedID: "n2", Category: "counselling"}}}, ref)
		then(t, ch[:1], err, NeedsOpened{Needs: []OpenedNeed{{NeedID: "n2", Category: "counselling"}}})
	})
	t.Run("no household", func(t *testing.T) {
		ch, err := DecideRegisterNeeds(Household{}, RegisterNeeds{HouseholdID: "h", Needs: []NeedSpec{{NeedID: "n2", Category: "legal_aid"}}}, ref)
		then(t, ch, err, ErrNotFound)
	})
}

// TestOfferScenarios: given an offer's events, when a command, then its events.
func TestOfferScenarios(t *testing.T) {
	posted := OfferPosted{Provider: "p", Category: "counselling", Capacity: 2, Scope: Scope{TierStreet, "s"}, District: "d", ValidFrom: scenarioT0}
	reserved := OfferUnitReserved{ReferralID: "r1", NeedID: "n1"}
	t.Run("capacity raised", func(t *testing.T) {
		ch, err := DecideChangeCapacity(given[Offer]("o", posted, reserved), 5)
		then(t, ch, err, OfferCapacityChanged{Capacity: 5})
	})
	t.Run("capacity lowered to what is committed", func(t *testing.T) {
		ch, err := DecideChangeCapacity(given[Offer]("o", posted, reserved), 1)
		then(t, ch, err, OfferCapacityChanged{Capacity: 1})
	})
	t.Run("capacity lowered below what is committed", func(t *testing.T) {
		ch, err := DecideChangeCapacity(given[Offer]("o", posted, reserved, OfferUnitReserved{ReferralID: "r2", NeedID: "n2"}), 1)
		var fe *FieldError
		if !errors.As(err, &fe) || ch != nil {
			t.Fatalf("%v %+v, want a field error", err, ch)
		}
	})
	t.Run("a released unit counts no more", func(t *testing.T) {
		o := given[Offer]("o", posted, reserved, OfferUnitReleased{ReferralID: "r1", NeedID: "n1", Reason: EndDeclined})
		ch, err := DecideChangeCapacity(o, 1)
		then(t, ch, err, OfferCapacityChanged{Capacity: 1})
		if o.Free() != 2 {
			t.Fatalf("%d free, want 2", o.Free())
		}
	})
	t.Run("withdrawn", func(t *testing.T) {
		ch, err := DecideWithdrawOffer(given[Offer]("o", posted))
		then(t, ch, err, OfferWithdrawn{})
	})
	t.Run("withdrawn twice", func(t *testing.T) {
		ch, err := DecideWithdrawOffer(given[Offer]("o", posted, OfferWithdrawn{}))
		then(t, ch, err, ErrRefused)
	})
}

// TestNeedScenarios: given a need's events, when an answer or a service step, then
// its events.
func TestNeedScenarios(t *testing.T) {
	registered := NeedRegistered{HouseholdID: "h", Community: "c", Street: "s", Category: "counselling", Urgency: UrgencyNormal}
	proposed := ReferralProposed{ReferralID: "r1", OfferID: "o", Tier: TierCommunity, Deadline: scenarioT0.Add(48 * time.Hour)}
	offer := given[Offer]("o", OfferPosted{Provider: "p", Category: "counselling", Capacity: 1, Scope: Scope{TierCommunity, "c"}, ValidFrom: scenarioT0},
		OfferUnitReserved{ReferralID: "r1", NeedID: "n"})
	answer := func(kind string, reason DeclineReason) Answer {
		return Answer{ReferralID: "r1", Kind: kind, Reason: reason}
	}
	t.Run("accepted", func(t *testing.T) {
		ch, err := DecideAnswer(given[Need]("n", registered, proposed), offer, answer(AnswerAccept, ""), scenarioT0)
		then(t, ch, err, ReferralAccepted{ReferralID: "r1"})
	})
	t.Run("declined", func(t *testing.T) {
		ch, err := DecideAnswer(given[Need]("n", registered, proposed), offer, answer(AnswerDecline, DeclineNotSuitable), scenarioT0)
		then(t, ch, err, ReferralDeclined{ReferralID: "r1", OfferID: "o", Reason: DeclineNotSuitable},
			OfferUnitReleased{ReferralID: "r1", NeedID: "n", Reason: EndDeclined})
	})
	t.Run("escalated", func(t *testing.T) {
		ch, err := DecideAnswer(given[Need]("n", registered, proposed), offer, answer(AnswerEscalate, ""), scenarioT0)
		then(t, ch, err, NeedEscalated{From: TierCommunity, To: TierStreet, Reason: EscalatedByCentre, ReferralID: "r1"},
			OfferUnitReleased{ReferralID: "r1", NeedID: "n", Reason: EndEscalated})
	})
	t.Run("answered after its deadline", func(t *testing.T) {
		ch, err := DecideAnswer(given[Need]("n", registered, proposed), offer, answer(AnswerAccept, ""), scenarioT0.Add(48*time.Hour))
		then(t, ch, err, ErrRefused)
	})
	t.Run("answered twice", func(t *testing.T) {
		ch, err := DecideAnswer(given[Need]("n", registered, proposed, ReferralAccepted{ReferralID: "r1"}), offer, answer(AnswerAccept, ""), scenarioT0)
		then(t, ch, err, ErrRefused)
	})
	t.Run("started once accepted", func(t *testing.T) {
		ch, err := DecideStartService(given[Need]("n", registered, proposed, ReferralAccepted{ReferralID: "r1"}), "r1")
		then(t, ch, err, ServiceStarted{ReferralID: "r1"})
	})
	t.Run("not started before it is accepted", func(t *testing.T) {
		ch, err := DecideStartService(given[Need]("n", registered, proposed), "r1")
		then(t, ch, err, ErrRefused)
	})
}
