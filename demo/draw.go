package demo

import (
	"math/rand/v2"
	"slices"

	"github.com/tierlink/tierlink/domain"
)

// Household is a household in need as the demo draws one: its community, target
// groups, assessment and needs.
type Household struct {
	Community  string
	Groups     []domain.TargetGroup
	Assessment domain.Assessment
	Needs      []NeedPlan
}

// NeedPlan is one need of a drawn household.
type NeedPlan struct {
	Category string
	Urgency  domain.Urgency
}

// DrawHousehold draws a household of one of communities with the demo's shares of
// target groups, assessments, needs and urgencies (what the demo's play registers).
func DrawHousehold(rng *rand.Rand, communities []string) Household {
	h := drawHousehold(rng, communities)
	out := Household{Community: h.community, Groups: h.groups, Assessment: h.assessment}
	for _, n := range h.needs {
		out.Needs = append(out.Needs, NeedPlan{Category: n.category, Urgency: n.urgency})
	}
	return out
}

// TypicalCapacity is the typical capacity of one offer of a category in the demo
// (material aid is plentiful per offer, respite care and counselling come one by one).
func TypicalCapacity(category string) int { return max(1, supply[category]) }

// GroupsNeeding lists, in a fixed order, the target groups whose households commonly
// need a category: the groups an offer of it restricted to target groups would name.
func GroupsNeeding(category string) []domain.TargetGroup {
	var out []domain.TargetGroup
	for _, g := range domain.AllTargetGroups() {
		if slices.Contains(needsOf[g], category) {
			out = append(out, g)
		}
	}
	return out
}
