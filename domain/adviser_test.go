package domain

import (
	"errors"
	"testing"
	"time"
)

func TestAdviserValidate(t *testing.T) {
	if err := DefaultAdviser().Validate(); err != nil {
		t.Fatalf("the default rules: %v", err)
	}
	for _, c := range []struct {
		name   string
		change func(a *Adviser)
	}{
		{"an unknown contact group", func(a *Adviser) { a.ContactDays = map[TargetGroup]int{"astronaut": 30} }},
		{"contact every 0 days", func(a *Adviser) { a.ContactDays = map[TargetGroup]int{GroupElderly: 0} }},
		{"no \"*\" cycle", func(a *Adviser) { a.ReassessDays = map[string]int{string(GroupElderly): 90} }},
		{"an unknown reassessment group", func(a *Adviser) { a.ReassessDays = map[string]int{"*": 365, "astronaut": 30} }},
		{"a cycle too long", func(a *Adviser) { a.ReassessDays = map[string]int{"*": MaxAdviserDays + 1} }},
		{"wait 0 days", func(a *Adviser) { a.WaitDays = 0 }},
		{"0 declines", func(a *Adviser) { a.Declines = 0 }},
		{"101 declines", func(a *Adviser) { a.Declines = 101 }},
		{"follow up after 0 days", func(a *Adviser) { a.FollowUpDays = 0 }},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := DefaultAdviser()
			c.change(&a)
			if err := a.Validate(); !errors.Is(err, ErrInvalidReference) {
				t.Fatalf("%v, want invalid reference", err)
			}
		})
	}
}

func TestAdviserCycles(t *testing.T) {
	a := DefaultAdviser()
	for _, c := range []struct {
		groups   []TargetGroup
		contact  time.Duration
		watched  bool
		reassess time.Duration
	}{
		{nil, 0, false, 365 * Day},
		{[]TargetGroup{GroupLowIncome}, 0, false, 365 * Day},
		{[]TargetGroup{GroupElderly}, 90 * Day, true, 365 * Day},
		{[]TargetGroup{GroupElderly, GroupLivingAlone}, 30 * Day, true, 365 * Day},
		{[]TargetGroup{GroupDisabled, GroupChildDifficulty}, 30 * Day, true, 180 * Day},
		{[]TargetGroup{GroupSeriouslyIll, GroupLowIncome}, 30 * Day, true, 180 * Day},
	} {
		contact, watched := a.ContactEvery(c.groups)
		if contact != c.contact || watched != c.watched {
			t.Errorf("%v: contact every %v (%v), want %v (%v)", c.groups, contact, watched, c.contact, c.watched)
		}
		if got := a.ReassessEvery(c.groups); got != c.reassess {
			t.Errorf("%v: reassess every %v, want %v", c.groups, got, c.reassess)
		}
	}
	if a.FollowUpWithin() != 14*Day || a.WaitLimit() != 7*Day {
		t.Fatalf("follow up within %v, wait limit %v", a.FollowUpWithin(), a.WaitLimit())
	}
	if (Policy{}).AdviserRules().FollowUpDays != 14 {
		t.Fatal("a policy without adviser rules does not keep the default")
	}
	custom := Adviser{FollowUpDays: 3}
	if (Policy{Adviser: &custom}).AdviserRules().FollowUpWithin() != 3*Day {
		t.Fatal("a policy's adviser rules are not used")
	}
}
