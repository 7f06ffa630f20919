package domain

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// fields returns the fields of a decision's field errors, in order.
func fields(err error) []string {
	var out []string
	for _, fe := range FieldErrorsOf(err) {
		out = append(out, fe.Field)
	}
	return out
}

// TestDecisionsTellEveryWrongField runs each decision with several wrong or missing
// fields: it refuses with every one of them, in the order of the command's fields,
// a missing one saying it is required; errors.Is and errors.As see them as before.
func TestDecisionsTellEveryWrongField(t *testing.T) {
	ref := testRef(t)
	for _, c := range []struct {
		name   string
		decide func() ([]Change, error)
		want   []string
		first  string // the first error's sentence
	}{
		{"a household", func() ([]Change, error) {
			return DecideRegisterHousehold(Household{}, RegisterHousehold{HouseholdID: "h", TargetGroups: []TargetGroup{"rich"},
				Assessment: Assessment{DimIncome: 9, "mood": 1}, Needs: []NeedSpec{{"n1", "", ""}, {"n2", "astrology", "soon"}}}, ref)
		}, []string{"community", "target_groups/0", "assessment/income", "assessment/mood", "needs/0/category", "needs/1/category", "needs/1/urgency"},
			"community is required"},
		{"a household without needs", func() ([]Change, error) {
			return DecideRegisterHousehold(Household{}, RegisterHousehold{HouseholdID: "h", Community: "c"}, ref)
		}, []string{"needs"}, "needs is required: list at least one need"},
		{"an offer", func() ([]Change, error) {
			return DecidePostOffer(Offer{}, PostOffer{OfferID: "o", Eligibility: Eligibility{TargetGroups: []TargetGroup{GroupElderly, GroupElderly}}}, ref)
		}, []string{"provider", "category", "capacity", "scope/tier", "eligibility/target_groups/1", "valid_from"}, "provider is required"},
		{"an offer's area", func() ([]Change, error) {
			return DecidePostOffer(Offer{}, PostOffer{OfferID: "o", Provider: "p", Category: "counselling", Capacity: 1,
				Scope: Scope{Tier: TierStreet}, ValidFrom: time.Unix(10, 0), ValidUntil: time.Unix(5, 0)}, ref)
		}, []string{"scope/area", "valid_until"}, "scope/area is required"},
		{"a capacity", func() ([]Change, error) {
			return DecideChangeCapacity(Offer{ID: "o", Version: 1, Status: OfferActive, Capacity: 2}, 0)
		}, []string{"capacity"}, "capacity is required: a whole number from 1 to 100000"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ch, err := c.decide()
			var fe *FieldError
			if ch != nil || !errors.Is(err, ErrInvalidCommand) || !errors.As(err, &fe) {
				t.Fatalf("%+v %v, want field errors", ch, err)
			}
			if got := fields(err); !slices.Equal(got, c.want) {
				t.Fatalf("fields %q, want %q (%v)", got, c.want, err)
			}
			if fe.Field != c.want[0] || fe.Error() != c.first {
				t.Fatalf("the first error %q (%s), want %q", fe.Error(), fe.Field, c.first)
			}
		})
	}
}

// TestFieldErrors: one error a field (the first), ordered by the request's members
// on demand, and the sentence of each.
func TestFieldErrors(t *testing.T) {
	var errs FieldErrors
	if errs.Err() != nil {
		t.Fatal("no errors is no error")
	}
	errs.Add(nil)
	errs.Add(fieldErrf("valid_until", "must be after valid_from"))
	errs.Add(FieldErrors{{Field: "scope/tier", Reason: errors.New(`"city" is not a tier`)}, {Field: "valid_until", Reason: errors.New("is later")}})
	errs.Add(required("capacity"))
	got := errs.InOrder("capacity", "scope", "valid_until")
	if f := fields(got); !slices.Equal(f, []string{"capacity", "scope/tier", "valid_until"}) {
		t.Fatalf("%q", f)
	}
	if s := got.Error(); s != `capacity is required; scope/tier: "city" is not a tier; valid_until must be after valid_from` {
		t.Fatalf("%s", s)
	}
	if f := fields(errs); !slices.Equal(f, []string{"valid_until", "scope/tier", "capacity"}) {
		t.Fatalf("InOrder changed the errors it was called on: %q", f)
	}
}
