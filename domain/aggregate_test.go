package domain

import (
	"errors"
	"testing"
)

func testRef(t *testing.T) (*Geography, *Taxonomy) {
	t.Helper()
	geo, err := NewGeography([]DistrictNode{{Code: "d", Name: Text{"区", "D"}, Streets: []StreetNode{
		{Code: "s", Name: Text{"街", "S"}, Communities: []CommunityNode{{Code: "c", Name: Text{"社", "C"}}}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	tax, err := NewTaxonomy([]Category{
		{Code: "counselling", Group: GroupSupport, Label: Text{"心理疏导", "Counselling"}},
		{Code: "material_aid", Group: GroupBasic, Label: Text{"物资援助", "Material aid"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return geo, tax
}

func TestRegisterHousehold(t *testing.T) {
	geo, tax := testRef(t)
	cmd := RegisterHousehold{HouseholdID: "h", Community: "c", Needs: []NeedSpec{{"n1", "counselling"}, {"n2", "material_aid"}}}
	changes, err := DecideRegisterHousehold(Household{}, cmd, geo, tax)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 3 || changes[0].Aggregate.Type != AggregateHousehold || changes[2].Aggregate.ID != "n2" {
		t.Fatalf("%+v", changes)
	}
	if p := changes[1].Payloads[0].(NeedRegistered); p.Street != "s" || p.HouseholdID != "h" {
		t.Fatalf("need payload %+v", p)
	}

	bad := map[string]struct {
		cmd   RegisterHousehold
		field string
	}{
		"unknown community": {RegisterHousehold{HouseholdID: "h", Community: "x", Needs: cmd.Needs}, "community"},
		"no needs":          {RegisterHousehold{HouseholdID: "h", Community: "c"}, "needs"},
		"unknown category":  {RegisterHousehold{HouseholdID: "h", Community: "c", Needs: []NeedSpec{{"n", "astrology"}}}, "needs/0/category"},
		"same category":     {RegisterHousehold{HouseholdID: "h", Community: "c", Needs: []NeedSpec{{"n", "counselling"}, {"m", "counselling"}}}, "needs/1/category"},
		"bad id":            {RegisterHousehold{HouseholdID: "h h", Community: "c", Needs: cmd.Needs}, "household_id"},
	}
	for name, c := range bad {
		_, err := DecideRegisterHousehold(Household{}, c.cmd, geo, tax)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != c.field || !errors.Is(err, ErrInvalidCommand) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := DecideRegisterHousehold(Household{Version: 1}, cmd, geo, tax); !errors.Is(err, ErrAlreadyExists) {
		t.Errorf("existing household: %v", err)
	}
}

func TestProposeReferralReservesAndRefuses(t *testing.T) {
	geo, tax := testRef(t)
	oc, err := DecidePostOffer(Offer{}, PostOffer{OfferID: "o", Provider: "p", Community: "c", Category: "counselling", Capacity: 1}, geo, tax)
	if err != nil {
		t.Fatal(err)
	}
	o := Offer{}.Evolve(Event{AggregateID: "o", AggregateVersion: 1, Payload: oc[0].Payloads[0]})
	n := Need{}.Evolve(Event{AggregateID: "n", AggregateVersion: 1, Payload: NeedRegistered{HouseholdID: "h", Community: "c", Category: "counselling"}})
	changes, err := DecideProposeReferral(n, o, ProposeReferral{ReferralID: "r", Tier: TierCommunity})
	if err != nil {
		t.Fatal(err)
	}
	n = n.Evolve(Event{AggregateVersion: 2, Payload: changes[0].Payloads[0]})
	o = o.Evolve(Event{AggregateVersion: 2, Payload: changes[1].Payloads[0]})
	if n.Status != NeedReferred || o.Free() != 0 {
		t.Fatalf("after the proposal need %+v offer %+v", n, o)
	}
	n2 := Need{}.Evolve(Event{AggregateID: "n2", AggregateVersion: 1, Payload: NeedRegistered{Community: "c", Category: "counselling"}})
	if _, err := DecideProposeReferral(n2, o, ProposeReferral{ReferralID: "r2", Tier: TierCommunity}); !errors.Is(err, ErrRefused) {
		t.Fatalf("offer with no free unit: %v", err)
	}
	if _, err := DecideProposeReferral(n, o, ProposeReferral{ReferralID: "r3", Tier: TierCommunity}); !errors.Is(err, ErrRefused) {
		t.Fatalf("need already referred: %v", err)
	}
	for _, capacity := range []int{0, -1, MaxOfferCapacity + 1} {
		if _, err := DecidePostOffer(Offer{}, PostOffer{OfferID: "o", Provider: "p", Community: "c", Category: "counselling", Capacity: capacity}, geo, tax); !errors.Is(err, ErrInvalidCommand) {
			t.Errorf("capacity %d accepted", capacity)
		}
	}
}
