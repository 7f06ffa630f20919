package domain

import (
	"fmt"
	"maps"
	"slices"
	"sort"
)

// Dimension is one side of a household's situation that an assessment rates: the
// eight factors of the paper's comprehensive assessment (人口结构, 经济状况, 健康状况,
// 教育状况, 居住状况, 就业状况, 社会参与, 刚性支出).
type Dimension string

// The assessment dimensions.
const (
	DimStructure     Dimension = "household_structure"
	DimIncome        Dimension = "income"
	DimHealth        Dimension = "health"
	DimEducation     Dimension = "education"
	DimHousing       Dimension = "housing"
	DimEmployment    Dimension = "employment"
	DimParticipation Dimension = "social_participation"
	DimSpending      Dimension = "unavoidable_spending"
)

// dimensions lists every dimension in a fixed order.
var dimensions = [...]Dimension{DimStructure, DimIncome, DimHealth, DimEducation, DimHousing, DimEmployment, DimParticipation, DimSpending}

// AllDimensions returns every dimension in a fixed order.
func AllDimensions() []Dimension { return append([]Dimension(nil), dimensions[:]...) }

// AllTargetGroups returns every target group in a fixed order.
func AllTargetGroups() []TargetGroup { return append([]TargetGroup(nil), targetGroups[:]...) }

// MaxLevel is the highest level of a dimension: 0 means no difficulty, 4 severe.
const MaxLevel = 4

// Assessment rates each dimension from 0 (no difficulty) to MaxLevel (severe);
// a dimension left out counts as 0.
type Assessment map[Dimension]int

// TargetGroup is a group of the social-assistance rules a household belongs to.
type TargetGroup string

// The target groups.
const (
	GroupSubsistence     TargetGroup = "subsistence_allowance"
	GroupLowIncome       TargetGroup = "low_income"
	GroupExtremeHardship TargetGroup = "extreme_hardship"
	GroupElderly         TargetGroup = "elderly"
	GroupLivingAlone     TargetGroup = "living_alone"
	GroupDisabled        TargetGroup = "disabled"
	GroupSeriouslyIll    TargetGroup = "seriously_ill"
	GroupChildDifficulty TargetGroup = "child_in_difficulty"
	GroupSingleParent    TargetGroup = "single_parent"
	GroupUnemployed      TargetGroup = "unemployed_able_to_work"
	GroupNonLocal        TargetGroup = "non_local_resident"
)

// targetGroups lists every target group in a fixed order.
var targetGroups = [...]TargetGroup{GroupSubsistence, GroupLowIncome, GroupExtremeHardship, GroupElderly, GroupLivingAlone,
	GroupDisabled, GroupSeriouslyIll, GroupChildDifficulty, GroupSingleParent, GroupUnemployed, GroupNonLocal}

// HardshipWeights configures the hardship score.
type HardshipWeights struct {
	// Dimensions weighs each dimension (0 leaves it out of the score).
	Dimensions map[Dimension]int `json:"dimensions"`
	// AssessmentPoints is what a household rated MaxLevel on every weighed dimension scores.
	AssessmentPoints int `json:"assessment_points"`
	// Groups adds points for each target group the household belongs to...
	Groups map[TargetGroup]int `json:"groups"`
	// GroupCap ...up to this many points in all.
	GroupCap int `json:"group_cap"`
}

// Validate checks that the weights are known and make a score of 0 to 100.
func (w HardshipWeights) Validate() error {
	total := 0
	for d, v := range w.Dimensions {
		if !knownDimension(d) || v < 0 {
			return fmt.Errorf("%w: hardship weight of %q", ErrInvalidReference, d)
		}
		total += v
	}
	for g, v := range w.Groups {
		if !knownGroup(g) || v < 0 {
			return fmt.Errorf("%w: hardship points of group %q", ErrInvalidReference, g)
		}
	}
	if total == 0 || w.AssessmentPoints < 0 || w.GroupCap < 0 || w.AssessmentPoints+w.GroupCap > 100 {
		return fmt.Errorf("%w: hardship weights must weigh some dimension and give at most 100 points", ErrInvalidReference)
	}
	return nil
}

// HardshipScore is the documented, deterministic hardship score, 0 to 100:
//
//	round(AssessmentPoints × Σ weight(d)·level(d) / (MaxLevel × Σ weight(d)))
//	+ min(GroupCap, Σ points(g) over the household's target groups)
//
// in integer arithmetic (halves round up), so that every machine and every replay
// computes the same score.
func HardshipScore(a Assessment, groups []TargetGroup, w HardshipWeights) int {
	num, den := 0, 0
	for _, d := range dimensions {
		wd := w.Dimensions[d]
		num += wd * min(max(a[d], 0), MaxLevel)
		den += wd * MaxLevel
	}
	score := 0
	if den > 0 {
		score = (2*num*w.AssessmentPoints + den) / (2 * den)
	}
	bonus := 0
	for _, g := range dedupeGroups(groups) {
		bonus += w.Groups[g]
	}
	return min(100, score+min(bonus, w.GroupCap))
}

// CheckAssessment refuses unknown dimensions and levels out of range, every one
// of them (in the order of the dimensions' names).
func CheckAssessment(field string, a Assessment) error {
	var errs FieldErrors
	for _, d := range slices.Sorted(maps.Keys(a)) {
		switch level := a[d]; {
		case !knownDimension(d):
			errs.Add(fieldErrf(field+"/"+string(d), "is not an assessment dimension"))
		case level < 0 || level > MaxLevel:
			errs.Add(fieldErrf(field+"/"+string(d), "must be between 0 and %d", MaxLevel))
		}
	}
	return errs.Err()
}

// CheckTargetGroups refuses unknown or repeated target groups, every one of them.
func CheckTargetGroups(field string, groups []TargetGroup) error {
	var errs FieldErrors
	seen := map[TargetGroup]bool{}
	for i, g := range groups {
		switch {
		case !knownGroup(g):
			errs.Add(fieldErrf(fmt.Sprintf("%s/%d", field, i), "%q is not a target group", g))
		case seen[g]:
			errs.Add(fieldErrf(fmt.Sprintf("%s/%d", field, i), "%q is listed twice", g))
		}
		seen[g] = true
	}
	return errs.Err()
}

func dedupeGroups(groups []TargetGroup) []TargetGroup {
	out := append([]TargetGroup(nil), groups...)
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	k := 0
	for i, g := range out {
		if i == 0 || g != out[k-1] {
			out[k] = g
			k++
		}
	}
	return out[:k]
}

func knownDimension(d Dimension) bool {
	for _, x := range dimensions {
		if x == d {
			return true
		}
	}
	return false
}

func knownGroup(g TargetGroup) bool {
	for _, x := range targetGroups {
		if x == g {
			return true
		}
	}
	return false
}
