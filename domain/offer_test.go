package domain

import (
	"errors"
	"testing"
	"time"
)

func postedOffer(t *testing.T, ref *Reference, capacity int) Offer {
	t.Helper()
	ch, err := DecidePostOffer(Offer{}, PostOffer{OfferID: "o", Provider: "p", Scope: Scope{TierStreet, "s"}, Category: "counselling",
		Capacity: capacity, ValidFrom: time.Unix(100, 0)}, ref)
	if err != nil {
		t.Fatal(err)
	}
	return Offer{}.Evolve(Event{AggregateID: "o", AggregateVersion: 1, Payload: ch[0].Payloads[0]})
}

func TestOfferScopeValidity(t *testing.T) {
	ref := testRef(t)
	o := postedOffer(t, ref, 2)
	if o.Scope != (Scope{TierStreet, "s"}) || o.Status != OfferActive {
		t.Fatalf("%+v", o)
	}
	for name, cmd := range map[string]PostOffer{
		"street code as community": {OfferID: "o", Provider: "p", Scope: Scope{TierCommunity, "s"}, Category: "counselling", Capacity: 1, ValidFrom: time.Unix(1, 0)},
		"unknown district":         {OfferID: "o", Provider: "p", Scope: Scope{TierDistrict, "x"}, Category: "counselling", Capacity: 1, ValidFrom: time.Unix(1, 0)},
		"ends before it starts":    {OfferID: "o", Provider: "p", Scope: Scope{TierDistrict, "d"}, Category: "counselling", Capacity: 1, ValidFrom: time.Unix(10, 0), ValidUntil: time.Unix(5, 0)},
		"no start":                 {OfferID: "o", Provider: "p", Scope: Scope{TierDistrict, "d"}, Category: "counselling", Capacity: 1},
		"provider with spaces":     {OfferID: "o", Provider: "a b", Scope: Scope{TierDistrict, "d"}, Category: "counselling", Capacity: 1, ValidFrom: time.Unix(1, 0)},
	} {
		if _, err := DecidePostOffer(Offer{}, cmd, ref); !errors.Is(err, ErrInvalidCommand) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestCapacityNeverBelowCommitted(t *testing.T) {
	ref := testRef(t)
	o := postedOffer(t, ref, 3)
	o = o.Evolve(Event{AggregateVersion: 2, Payload: OfferUnitReserved{ReferralID: "r1", NeedID: "n1"}})
	o = o.Evolve(Event{AggregateVersion: 3, Payload: OfferUnitReserved{ReferralID: "r2", NeedID: "n2"}})
	if _, err := DecideChangeCapacity(o, 1); !errors.Is(err, ErrInvalidCommand) {
		t.Fatalf("lowered below the 2 committed: %v", err)
	}
	ch, err := DecideChangeCapacity(o, 2)
	if err != nil || ch[0].ExpectedVersion != 3 {
		t.Fatalf("lowered to what is committed: %+v %v", ch, err)
	}
	o = o.Evolve(Event{AggregateVersion: 4, Payload: ch[0].Payloads[0]})
	if o.Free() != 0 {
		t.Fatalf("free %d", o.Free())
	}
	if _, err := DecideChangeCapacity(o, 10); err != nil {
		t.Fatalf("raised: %v", err)
	}
	w, err := DecideWithdrawOffer(o)
	if err != nil {
		t.Fatal(err)
	}
	o = o.Evolve(Event{AggregateVersion: 5, Payload: w[0].Payloads[0]})
	if _, err := DecideChangeCapacity(o, 5); !errors.Is(err, ErrRefused) {
		t.Fatalf("capacity of a withdrawn offer: %v", err)
	}
	if _, err := DecideWithdrawOffer(o); !errors.Is(err, ErrRefused) {
		t.Fatalf("withdrawn twice: %v", err)
	}
}

func TestEligibility(t *testing.T) {
	any := Eligibility{}
	elderly := Eligibility{TargetGroups: []TargetGroup{GroupElderly, GroupDisabled}}
	local := Eligibility{LocalResidentsOnly: true}
	cases := []struct {
		e      Eligibility
		groups []TargetGroup
		want   bool
	}{
		{any, nil, true},
		{elderly, nil, false},
		{elderly, []TargetGroup{GroupDisabled}, true},
		{local, []TargetGroup{GroupNonLocal}, false},
		{local, []TargetGroup{GroupLowIncome}, true},
	}
	for i, c := range cases {
		if c.e.Admits(c.groups) != c.want {
			t.Errorf("case %d: %+v admits %v = %v", i, c.e, c.groups, !c.want)
		}
	}
}

// TestGround checks the one group shown to a provider: the first of the offer's
// groups, in the offer's order, that the household is in; none for an offer open
// to all.
func TestGround(t *testing.T) {
	all := Eligibility{TargetGroups: []TargetGroup{GroupDisabled, GroupElderly, GroupLowIncome}}
	cases := []struct {
		e      Eligibility
		groups []TargetGroup
		want   TargetGroup
	}{
		{all, []TargetGroup{GroupLowIncome, GroupElderly, GroupDisabled}, GroupDisabled},
		{all, []TargetGroup{GroupLowIncome, GroupElderly}, GroupElderly},
		{all, []TargetGroup{GroupLowIncome}, GroupLowIncome},
		{all, []TargetGroup{GroupNonLocal}, ""},
		{Eligibility{}, []TargetGroup{GroupElderly}, ""},
	}
	for i, c := range cases {
		got, ok := c.e.Ground(c.groups)
		if got != c.want || ok != (c.want != "") {
			t.Errorf("case %d: ground of %v under %v = %q %v, want %q", i, c.groups, c.e.TargetGroups, got, ok, c.want)
		}
	}
}
