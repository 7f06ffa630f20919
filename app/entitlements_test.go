package app_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/tierlink/tierlink/app"
	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/entitlement"
	"github.com/tierlink/tierlink/infra/reference"
)

// child registers a household with a child in difficulty who struggles at school.
func (f *fixture) child() string {
	f.t.Helper()
	res, err := f.app.Commands.RegisterHousehold.Handle(context.Background(), app.RegisterHouseholdInput{
		Community: community, TargetGroups: []domain.TargetGroup{domain.GroupChildDifficulty},
		Assessment: domain.Assessment{domain.DimEducation: 2},
		Needs:      []app.NeedInput{{Category: category}},
	}, as(centre, ""))
	if err != nil {
		f.t.Fatal(err)
	}
	return res.HouseholdID
}

func statuses(t *testing.T, f *fixture, hh string) map[string]domain.EntitlementStatus {
	t.Helper()
	got, err := f.app.Queries.Reads.Entitlements(context.Background(), hh, centre)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]domain.EntitlementStatus{}
	for _, e := range got.Items {
		out[e.Programme.Code] = e.Status
		if (e.Because != nil) != e.Eligible {
			t.Fatalf("%s: a reason is given exactly when eligible: %+v", e.Programme.Code, e)
		}
	}
	if len(got.Items) != 10 {
		t.Fatalf("every programme of the catalogue is listed, got %d", len(got.Items))
	}
	return out
}

func TestEntitlements(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	hh := f.child()
	s := statuses(t, f, hh)
	if s["education_assistance"] != app.EntitlementEligible || s["children_in_difficulty"] != app.EntitlementEligible ||
		s["subsistence_allowance"] != app.EntitlementNotEligible {
		t.Fatalf("statuses %v", s)
	}
	grant := func(p string) error {
		_, err := f.app.Commands.AnswerEntitlement.Handle(ctx, hh, p, domain.EntitlementGrant, "", as(centre, ""))
		return err
	}
	if err := grant("education_assistance"); !errors.Is(err, domain.ErrRefused) {
		t.Fatalf("granted before applying: %v, want refused", err)
	}
	if _, err := f.app.Commands.ApplyEntitlement.Handle(ctx, hh, "astrology", as(centre, "")); !errors.Is(err, domain.ErrNotFound) ||
		!errors.Is(err, domain.ErrUnknownProgramme) {
		t.Fatalf("applied for a programme not in the catalogue: %v", err)
	}
	before := f.head()
	res, err := f.app.Commands.ApplyEntitlement.Handle(ctx, hh, "education_assistance", as(centre, ""))
	if err != nil || res.Status != domain.EntitlementStatusApplied {
		t.Fatalf("apply %+v %v", res, err)
	}
	f.then(before, "entitlement.applied")
	if _, err := f.app.Commands.ApplyEntitlement.Handle(ctx, hh, "education_assistance", as(centre, "")); !errors.Is(err, domain.ErrRefused) {
		t.Fatalf("applied twice: %v, want refused", err)
	}
	// Applying for a programme the rule does not admit is the adviser's call.
	if _, err := f.app.Commands.ApplyEntitlement.Handle(ctx, hh, "housing_assistance", as(centre, "")); err != nil {
		t.Fatal(err)
	}
	if err := grant("education_assistance"); err != nil {
		t.Fatal(err)
	}
	refuse := func(note string) error {
		_, err := f.app.Commands.AnswerEntitlement.Handle(ctx, hh, "housing_assistance", domain.EntitlementRefuse, note, as(centre, ""))
		return err
	}
	if err := refuse(""); !errors.Is(err, domain.ErrInvalidCommand) {
		t.Fatalf("refused without a note: %v", err)
	}
	if err := refuse("not a local resident"); err != nil {
		t.Fatal(err)
	}
	s = statuses(t, f, hh)
	if s["education_assistance"] != domain.EntitlementStatusGranted || s["housing_assistance"] != domain.EntitlementStatusRefused ||
		s["children_in_difficulty"] != app.EntitlementEligible {
		t.Fatalf("statuses %v", s)
	}
	got, _ := f.app.Queries.Reads.Entitlements(ctx, hh, operator)
	i := slices.IndexFunc(got.Items, func(e app.Entitlement) bool { return e.Programme.Code == "housing_assistance" })
	if got.Items[i].Note != "not a local resident" {
		t.Fatalf("the refusal's note: %+v", got.Items[i])
	}
	if _, err := f.app.Commands.ApplyEntitlement.Handle(ctx, hh, "housing_assistance", as(centre, "")); err != nil {
		t.Fatalf("applying again after a refusal: %v", err)
	}
	for _, who := range []domain.Principal{otherCentre, provider} {
		if _, err := f.app.Queries.Reads.Entitlements(ctx, hh, who); !errors.Is(err, domain.ErrForbidden) {
			t.Fatalf("%s reads: %v, want forbidden", who, err)
		}
	}
	if _, err := f.app.Commands.ApplyEntitlement.Handle(ctx, hh, "children_in_difficulty", as(operator, "")); !errors.Is(err, domain.ErrForbidden) {
		t.Fatalf("an operator applies: %v, want forbidden", err)
	}
}

func TestEntitlementRule(t *testing.T) {
	f := newFixture(t)
	hh := f.child()
	apply := func(p string) func(app.Meta) (any, error) {
		return func(meta app.Meta) (any, error) {
			return f.app.Commands.ApplyEntitlement.Handle(context.Background(), hh, p, meta)
		}
	}
	checkRule(t, f, rule{owner: centre, stranger: otherCentre, send: apply("education_assistance"), other: apply("children_in_difficulty")})
	f = newFixture(t)
	hh = f.child()
	if _, err := apply("education_assistance")(as(centre, "")); err != nil {
		t.Fatal(err)
	}
	answer := func(a domain.EntitlementAction, note string) func(app.Meta) (any, error) {
		return func(meta app.Meta) (any, error) {
			return f.app.Commands.AnswerEntitlement.Handle(context.Background(), hh, "education_assistance", a, note, meta)
		}
	}
	checkRule(t, f, rule{owner: centre, stranger: provider, send: answer(domain.EntitlementRefuse, "income above the line"),
		other: answer(domain.EntitlementGrant, "")})
}

func TestPublishRefusesBadCatalogue(t *testing.T) {
	f := newFixture(t)
	ref, err := reference.Default()
	if err != nil {
		t.Fatal(err)
	}
	var in app.ReferenceInput
	for _, d := range ref.Geography.Districts() {
		if d.Code == district {
			in.District = d
		}
	}
	in.Categories, in.Policy = ref.Taxonomy.Categories(), ref.Policy
	in.Programmes = ref.Programmes()
	in.Programmes[3].Rule = "health >= 3 &&\n wealth < 2"
	in.Programmes[5].Rule = "education + 1"
	_, err = f.app.Commands.PublishReference.Handle(context.Background(), district, in, as(operator, ""))
	var fes domain.FieldErrors
	if !errors.As(err, &fes) || len(fes) != 2 || fes[0].Field != "programmes/3/rule" || fes[1].Field != "programmes/5/rule" ||
		!errors.Is(err, entitlement.ErrBadRule) || !strings.Contains(err.Error(), "programme medical_assistance: rule at 2:2") {
		t.Fatalf("a bad catalogue: %v", err)
	}
	f.then(0)
	// Leaving the catalogue out keeps the one in force; dropping a programme is refused.
	in.Programmes = nil
	if _, err := f.app.Commands.PublishReference.Handle(context.Background(), district, in, as(operator, "")); err != nil {
		t.Fatal(err)
	}
	in.Programmes = ref.Programmes()[1:]
	_, err = f.app.Commands.PublishReference.Handle(context.Background(), district, in, as(operator, ""))
	if !errors.As(err, &fes) || fes[0].Field != "programmes" || !strings.Contains(err.Error(), "subsistence_allowance") {
		t.Fatalf("a programme gone: %v", err)
	}
}
