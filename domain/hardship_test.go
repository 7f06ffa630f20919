package domain

import (
	"math/rand/v2"
	"testing"
)

func testWeights() HardshipWeights {
	return HardshipWeights{
		Dimensions:       map[Dimension]int{DimIncome: 3, DimHealth: 2, DimHousing: 1, DimSpending: 2},
		AssessmentPoints: 70,
		Groups:           map[TargetGroup]int{GroupExtremeHardship: 20, GroupChildDifficulty: 15, GroupElderly: 5},
		GroupCap:         30,
	}
}

func TestHardshipScoreFormula(t *testing.T) {
	w := testWeights()
	cases := []struct {
		a      Assessment
		groups []TargetGroup
		want   int
	}{
		{Assessment{}, nil, 0},
		{Assessment{DimIncome: 4, DimHealth: 4, DimHousing: 4, DimSpending: 4}, nil, 70},
		// (3·2 + 2·1) / (4·8) × 70 = 17.5 → 18 (halves round up)
		{Assessment{DimIncome: 2, DimHealth: 1}, nil, 18},
		// unweighed dimensions do not count
		{Assessment{DimEducation: 4, DimParticipation: 4}, nil, 0},
		{Assessment{}, []TargetGroup{GroupChildDifficulty}, 15},
		{Assessment{}, []TargetGroup{GroupExtremeHardship, GroupChildDifficulty}, 30}, // capped at 30
		{Assessment{}, []TargetGroup{GroupElderly, GroupElderly}, 5},                  // a group counts once
		{Assessment{DimIncome: 4, DimHealth: 4, DimHousing: 4, DimSpending: 4}, []TargetGroup{GroupExtremeHardship, GroupChildDifficulty}, 100},
	}
	for i, c := range cases {
		if got := HardshipScore(c.a, c.groups, w); got != c.want {
			t.Errorf("case %d: score %d, want %d", i, got, c.want)
		}
	}
}

func TestHardshipScoreIsBoundedAndMonotonic(t *testing.T) {
	w := testWeights()
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 5000; i++ {
		a := Assessment{}
		for _, d := range AllDimensions() {
			a[d] = rng.IntN(MaxLevel + 1)
		}
		var groups []TargetGroup
		for _, g := range AllTargetGroups() {
			if rng.IntN(4) == 0 {
				groups = append(groups, g)
			}
		}
		s := HardshipScore(a, groups, w)
		if s < 0 || s > 100 {
			t.Fatalf("seed 1, case %d: score %d out of 0..100", i, s)
		}
		// Raising any level never lowers the score.
		d := AllDimensions()[rng.IntN(len(AllDimensions()))]
		if a[d] < MaxLevel {
			b := Assessment{}
			for k, v := range a {
				b[k] = v
			}
			b[d]++
			if s2 := HardshipScore(b, groups, w); s2 < s {
				t.Fatalf("seed 1, case %d: raising %s lowered the score from %d to %d", i, d, s, s2)
			}
		}
	}
}

func TestHardshipInputsChecked(t *testing.T) {
	if err := CheckAssessment("assessment", Assessment{"mood": 2}); err == nil {
		t.Error("unknown dimension accepted")
	}
	if err := CheckAssessment("assessment", Assessment{DimIncome: 5}); err == nil {
		t.Error("level 5 accepted")
	}
	if err := CheckTargetGroups("target_groups", []TargetGroup{"wealthy"}); err == nil {
		t.Error("unknown group accepted")
	}
	if err := CheckTargetGroups("target_groups", []TargetGroup{GroupElderly, GroupElderly}); err == nil {
		t.Error("repeated group accepted")
	}
	bad := testWeights()
	bad.AssessmentPoints = 90
	if bad.Validate() == nil {
		t.Error("weights giving more than 100 points accepted")
	}
	if testWeights().Validate() != nil {
		t.Error("good weights refused")
	}
}
