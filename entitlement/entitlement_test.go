package entitlement_test

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/entitlement"
	"github.com/tierlink/tierlink/infra/reference"
)

func catalogue(t testing.TB) *entitlement.Catalogue {
	t.Helper()
	ref, err := reference.Default()
	if err != nil {
		t.Fatal(err)
	}
	c, err := entitlement.Compile(ref.Programmes())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func eligible(c *entitlement.Catalogue, h entitlement.Household) []string {
	out := []string{}
	for _, r := range c.Evaluate(h) {
		if r.Err != nil {
			panic(r.Err)
		}
		if r.Eligible {
			out = append(out, r.Programme.Code)
		}
	}
	return out
}

// TestDefaultCatalogue evaluates the default catalogue for a table of households.
func TestDefaultCatalogue(t *testing.T) {
	c := catalogue(t)
	type a = map[string]int
	cases := []struct {
		name string
		h    entitlement.Household
		want []string
	}{
		{"no difficulty", entitlement.Household{}, []string{}},
		{"local, income severe", entitlement.Household{Assessment: a{"income": 4}},
			[]string{"subsistence_allowance"}},
		{"non-local, income severe: no dibao", entitlement.Household{Groups: []string{"non_local_resident"}, Assessment: a{"income": 4}},
			[]string{}},
		{"already on dibao", entitlement.Household{Groups: []string{"subsistence_allowance"}, Assessment: a{"income": 4}},
			[]string{}},
		{"income serious", entitlement.Household{Assessment: a{"income": 3}},
			[]string{"low_income_family"}},
		{"elderly alone, no income, no supporter", entitlement.Household{Groups: []string{"elderly", "living_alone"}, Assessment: a{"income": 4, "household_structure": 4}},
			[]string{"subsistence_allowance", "extreme_hardship_support"}},
		{"dibao, ill", entitlement.Household{Groups: []string{"subsistence_allowance", "seriously_ill"}, Assessment: a{"health": 3}},
			[]string{"medical_assistance"}},
		{"spending-driven poverty", entitlement.Household{Hardship: 65, Assessment: a{"health": 4, "unavoidable_spending": 3}},
			[]string{"medical_assistance", "temporary_assistance"}},
		{"non-local, sudden spending", entitlement.Household{Groups: []string{"non_local_resident"}, Assessment: a{"unavoidable_spending": 4}},
			[]string{"temporary_assistance"}},
		{"child in difficulty, schooling", entitlement.Household{Groups: []string{"child_in_difficulty"}, Assessment: a{"education": 2}},
			[]string{"education_assistance", "children_in_difficulty"}},
		{"low income, poor housing", entitlement.Household{Groups: []string{"low_income"}, Assessment: a{"housing": 3}},
			[]string{"housing_assistance"}},
		{"non-local low income, poor housing", entitlement.Household{Groups: []string{"low_income", "non_local_resident"}, Assessment: a{"housing": 4}},
			[]string{}},
		{"unemployed", entitlement.Household{Groups: []string{"unemployed_able_to_work"}},
			[]string{"employment_assistance"}},
		{"elderly, employment rated", entitlement.Household{Groups: []string{"elderly"}, Assessment: a{"employment": 4}},
			[]string{}},
		{"disabled on dibao", entitlement.Household{Groups: []string{"disabled", "subsistence_allowance"}},
			[]string{"disability_subsidies"}},
		{"severely disabled", entitlement.Household{Groups: []string{"disabled"}, Assessment: a{"health": 4}},
			[]string{"disability_subsidies"}},
		{"single parent, income serious", entitlement.Household{Groups: []string{"single_parent"}, Assessment: a{"income": 3}},
			[]string{"low_income_family", "children_in_difficulty"}},
		{"the paper's child whose father died", entitlement.Household{Groups: []string{"child_in_difficulty", "single_parent", "low_income"},
			Hardship: 70, Assessment: a{"income": 3, "education": 3, "health": 2, "unavoidable_spending": 3}},
			[]string{"temporary_assistance", "education_assistance", "children_in_difficulty"}},
	}
	for _, tc := range cases {
		if got := eligible(c, tc.h); !slices.Equal(got, tc.want) {
			t.Errorf("%s: eligible for %v, want %v", tc.name, got, tc.want)
		}
	}
}

func programme(code, rule string) domain.Programme {
	x := domain.Text{Zh: "甲", En: "A"}
	return domain.Programme{Code: code, Name: x, Department: x, HowToApply: x, Because: x, Rule: rule}
}

func TestCompileRefusesBadRules(t *testing.T) {
	cases := []struct {
		rule, where, says string
	}{
		{"income >= ", "1:11", "Syntax error"},
		{"salary > 3", "1:1", "undeclared reference to 'salary'"},
		{"income >= 3 &&\n  wealth < 2", "2:3", "undeclared reference to 'wealth'"},
		{"income + 1", "1:1", "must be true or false"},
		{"groups == 3", "1:8", "no matching overload"},
		{"  ", "1:1", "is empty"},
	}
	for _, tc := range cases {
		_, err := entitlement.Compile([]domain.Programme{programme("ok", "true"), programme("bad", tc.rule)})
		var re *entitlement.RuleError
		if !errors.As(err, &re) || !errors.Is(err, entitlement.ErrBadRule) {
			t.Fatalf("%q: not refused as a bad rule: %v", tc.rule, err)
		}
		if re.Programme != "bad" || re.Index != 1 || re.Field() != "programmes/1/rule" {
			t.Errorf("%q: names %s at %d (%s)", tc.rule, re.Programme, re.Index, re.Field())
		}
		if !strings.Contains(err.Error(), "programme bad: rule at "+tc.where+": ") || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%q: %v, want the place %s and %q", tc.rule, err, tc.where, tc.says)
		}
	}
}

// TestEvaluateNeverPanics evaluates random rules that compile over random households.
func TestEvaluateNeverPanics(t *testing.T) {
	rnd := rand.New(rand.NewPCG(16, 1))
	facts := []string{"income", "health", "hardship", "housing", "education", "employment", "household_structure"}
	groups := domain.AllTargetGroups()
	atom := func() string {
		switch rnd.IntN(5) {
		case 0:
			return facts[rnd.IntN(len(facts))] + []string{" >= ", " < ", " == ", " != "}[rnd.IntN(4)] + string(rune('0'+rnd.IntN(5)))
		case 1:
			return `"` + string(groups[rnd.IntN(len(groups))]) + `" in groups`
		case 2:
			return "nonlocal"
		case 3:
			return "size(groups) > " + string(rune('0'+rnd.IntN(3)))
		default:
			return "100 / (" + facts[rnd.IntN(len(facts))] + " - 1) > 3" // divides by zero for some households
		}
	}
	var ps []domain.Programme
	for i := range 50 {
		rule := atom()
		for range rnd.IntN(4) {
			rule = "(" + rule + ")" + []string{" && ", " || "}[rnd.IntN(2)] + "!(" + atom() + ")"
		}
		ps = append(ps, programme("p"+string(rune('a'+i%26))+string(rune('a'+i/26)), rule))
	}
	c, err := entitlement.Compile(ps)
	if err != nil {
		t.Fatal(err)
	}
	for range 500 {
		h := entitlement.Household{Hardship: rnd.IntN(101), Assessment: map[string]int{}}
		for _, f := range facts {
			h.Assessment[f] = rnd.IntN(5)
		}
		for _, g := range groups {
			if rnd.IntN(4) == 0 {
				h.Groups = append(h.Groups, string(g))
			}
		}
		for _, r := range c.Evaluate(h) {
			if r.Err != nil && r.Eligible {
				t.Fatalf("%s: eligible despite %v", r.Programme.Code, r.Err)
			}
		}
	}
}

func FuzzEvaluate(f *testing.F) {
	f.Add("income >= 3", 3, 50, "low_income")
	f.Add(`"disabled" in groups && health >= 4`, 4, 0, "disabled")
	f.Add("100 / income > 2", 0, 10, "")
	f.Fuzz(func(t *testing.T, rule string, level, hardship int, group string) {
		c, err := entitlement.Compile([]domain.Programme{programme("p", rule)})
		if err != nil {
			return
		}
		h := entitlement.Household{Groups: []string{group}, Hardship: hardship,
			Assessment: map[string]int{"income": level, "health": level}}
		_ = c.Evaluate(h)
	})
}
