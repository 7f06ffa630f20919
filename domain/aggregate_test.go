package domain

import (
	"errors"
	"testing"
	"time"
)

func testRef(t *testing.T) *Reference {
	t.Helper()
	ref, err := NewReference([]DistrictNode{{Code: "d", Name: Text{"区", "D"}, Streets: []StreetNode{
		{Code: "s", Name: Text{"街", "S"}, Communities: []CommunityNode{{Code: "c", Name: Text{"社", "C"}, Capabilities: []string{"material_aid"}}}},
	}}}, []Category{
		{Code: "counselling", Group: GroupSupport, Label: Text{"心理疏导", "Counselling"}},
		{Code: "material_aid", Group: GroupBasic, Label: Text{"物资援助", "Material aid"}},
		{Code: "legal_aid", Group: GroupSupport, Label: Text{"法律援助", "Legal aid"}},
		{Code: "respite_care", Group: GroupCare, Label: Text{"喘息服务", "Respite care"}},
	}, testPolicy())
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

func TestRegisterHousehold(t *testing.T) {
	ref := testRef(t)
	cmd := RegisterHousehold{HouseholdID: "h", Community: "c", TargetGroups: []TargetGroup{GroupChildDifficulty},
		Assessment: Assessment{DimIncome: 4}, Needs: []NeedSpec{{"n1", "counselling", UrgencyHigh}, {"n2", "material_aid", ""}}}
	changes, err := DecideRegisterHousehold(Household{}, cmd, ref)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 3 || changes[0].Aggregate.Type != AggregateHousehold || changes[2].Aggregate.ID != "n2" {
		t.Fatalf("%+v", changes)
	}
	reg := changes[0].Payloads[0].(HouseholdRegistered)
	// income 4 of weight 3 over 4·8: 3·4/32·70 = 26.25 → 26, plus 15 for the child in difficulty
	if reg.Hardship != 41 {
		t.Fatalf("hardship %d, want 41", reg.Hardship)
	}
	if p := changes[1].Payloads[0].(NeedRegistered); p.Street != "s" || p.HouseholdID != "h" || p.Urgency != UrgencyHigh || p.Hardship != 41 {
		t.Fatalf("need payload %+v", p)
	}
	if p := changes[2].Payloads[0].(NeedRegistered); p.Urgency != UrgencyNormal {
		t.Fatalf("default urgency %q", p.Urgency)
	}

	bad := map[string]struct {
		cmd   RegisterHousehold
		field string
	}{
		"unknown community": {RegisterHousehold{HouseholdID: "h", Community: "x", Needs: cmd.Needs}, "community"},
		"no needs":          {RegisterHousehold{HouseholdID: "h", Community: "c"}, "needs"},
		"unknown category":  {RegisterHousehold{HouseholdID: "h", Community: "c", Needs: []NeedSpec{{"n", "astrology", ""}}}, "needs/0/category"},
		"same category":     {RegisterHousehold{HouseholdID: "h", Community: "c", Needs: []NeedSpec{{"n", "counselling", ""}, {"m", "counselling", ""}}}, "needs/1/category"},
		"bad urgency":       {RegisterHousehold{HouseholdID: "h", Community: "c", Needs: []NeedSpec{{"n", "counselling", "soon"}}}, "needs/0/urgency"},
		"bad group":         {RegisterHousehold{HouseholdID: "h", Community: "c", TargetGroups: []TargetGroup{"rich"}, Needs: cmd.Needs}, "target_groups/0"},
		"bad level":         {RegisterHousehold{HouseholdID: "h", Community: "c", Assessment: Assessment{DimHealth: 9}, Needs: cmd.Needs}, "assessment/health"},
		"bad id":            {RegisterHousehold{HouseholdID: "h h", Community: "c", Needs: cmd.Needs}, "household_id"},
	}
	for name, c := range bad {
		_, err := DecideRegisterHousehold(Household{}, c.cmd, ref)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != c.field || !errors.Is(err, ErrInvalidCommand) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := DecideRegisterHousehold(Household{Version: 1}, cmd, ref); !errors.Is(err, ErrAlreadyExists) {
		t.Errorf("existing household: %v", err)
	}
}

func TestSecondOpenNeedOfACategoryIsRefusedWithItsID(t *testing.T) {
	ref := testRef(t)
	changes, err := DecideRegisterHousehold(Household{}, RegisterHousehold{HouseholdID: "h", Community: "c", Needs: []NeedSpec{{"n1", "counselling", ""}}}, ref)
	if err != nil {
		t.Fatal(err)
	}
	h := Household{}
	for i, p := range changes[0].Payloads {
		h = h.Evolve(Event{AggregateID: "h", AggregateVersion: int64(i + 1), Payload: p})
	}
	_, err = DecideRegisterNeeds(h, RegisterNeeds{HouseholdID: "h", Needs: []NeedSpec{{"n2", "counselling", ""}}}, ref)
	var dup *DuplicateNeedError
	if !errors.As(err, &dup) || dup.NeedID != "n1" || !errors.Is(err, ErrDuplicateNeed) {
		t.Fatalf("second counselling need: %v", err)
	}
	more, err := DecideRegisterNeeds(h, RegisterNeeds{HouseholdID: "h", Needs: []NeedSpec{{"n3", "material_aid", UrgencyCritical}}}, ref)
	if err != nil || more[0].ExpectedVersion != h.Version || more[1].Payloads[0].(NeedRegistered).Urgency != UrgencyCritical {
		t.Fatalf("another category: %+v %v", more, err)
	}
	// Once n1 is closed, counselling may be needed again.
	h = h.Evolve(Event{AggregateVersion: h.Version + 1, Payload: NeedClosed{NeedID: "n1", Category: "counselling"}})
	if _, err := DecideRegisterNeeds(h, RegisterNeeds{HouseholdID: "h", Needs: []NeedSpec{{"n4", "counselling", ""}}}, ref); err != nil {
		t.Fatalf("after the need closed: %v", err)
	}
	if _, err := DecideRegisterNeeds(Household{}, RegisterNeeds{HouseholdID: "x", Needs: []NeedSpec{{"n5", "counselling", ""}}}, ref); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown household: %v", err)
	}
}

func TestProposeReferralReservesAndRefuses(t *testing.T) {
	ref := testRef(t)
	oc, err := DecidePostOffer(Offer{}, PostOffer{OfferID: "o", Provider: "p", Scope: Scope{TierCommunity, "c"}, Category: "counselling", Capacity: 1, ValidFrom: time.Unix(1, 0)}, ref)
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
	if n.Status != StatusProposed || o.Free() != 0 {
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
		if _, err := DecidePostOffer(Offer{}, PostOffer{OfferID: "o", Provider: "p", Scope: Scope{TierCommunity, "c"}, Category: "counselling", Capacity: capacity, ValidFrom: time.Unix(1, 0)}, ref); !errors.Is(err, ErrInvalidCommand) {
			t.Errorf("capacity %d accepted", capacity)
		}
	}
}
