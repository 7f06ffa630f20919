package domain

import (
	"fmt"
	"time"
)

// Adviser holds a district's rules for its community assistance advisers: when a
// household must be contacted or reassessed, when a waiting need or repeated
// declines call for a look, and when a completed referral is followed up. The
// watch lists (package watch) are computed from the log by these rules.
type Adviser struct {
	// ContactDays holds, per target group, how many days a household of the group may
	// go without contact (a visit, a need registered, a reassessment, a follow-up)
	// before it is on its centre's watch list; a household of several groups takes
	// the shortest. Groups not listed are not watched for contact.
	ContactDays map[TargetGroup]int `json:"contact_days"`
	// ReassessDays holds, per target group ("*" for every other group and for
	// households of none), the cycle of reassessment in days; a household takes the
	// shortest cycle among its groups.
	ReassessDays map[string]int `json:"reassess_days"`
	// WaitDays is how many days a need may wait without a referral (open, held or
	// waitlisted) before it is on the list.
	WaitDays int `json:"wait_days"`
	// Declines is how many referrals declined for one household's needs since it was
	// last contacted put it on the list.
	Declines int `json:"declines"`
	// FollowUpDays is how many days after a referral completes its follow-up (回访)
	// is due to the household's centre.
	FollowUpDays int `json:"follow_up_days"`
}

// MaxAdviserDays bounds every day count of the adviser rules.
const MaxAdviserDays = 3650

// DefaultAdviser returns the rules a policy without an adviser section keeps:
// monthly contact with households that live alone, are in extreme hardship,
// seriously ill or have a child in difficulty, every two months for the disabled
// and every quarter for the elderly; yearly reassessment (half-yearly for children
// in difficulty and the seriously ill); needs waiting a week; two declines; and a
// follow-up within 14 days.
func DefaultAdviser() Adviser {
	return Adviser{
		ContactDays: map[TargetGroup]int{
			GroupExtremeHardship: 30, GroupLivingAlone: 30, GroupSeriouslyIll: 30, GroupChildDifficulty: 30,
			GroupDisabled: 60, GroupElderly: 90,
		},
		ReassessDays: map[string]int{"*": 365, string(GroupChildDifficulty): 180, string(GroupSeriouslyIll): 180},
		WaitDays:     7, Declines: 2, FollowUpDays: 14,
	}
}

// Validate checks that every group is known and every day count is 1 to MaxAdviserDays.
func (a Adviser) Validate() error {
	days := func(what string, d int) error {
		if d < 1 || d > MaxAdviserDays {
			return fmt.Errorf("%w: adviser %s must be 1 to %d days", ErrInvalidReference, what, MaxAdviserDays)
		}
		return nil
	}
	for g, d := range a.ContactDays {
		if !knownGroup(g) {
			return fmt.Errorf("%w: adviser contact_days name an unknown target group %q", ErrInvalidReference, g)
		}
		if err := days("contact_days of "+string(g), d); err != nil {
			return err
		}
	}
	if _, ok := a.ReassessDays["*"]; !ok {
		return fmt.Errorf("%w: adviser reassess_days must give \"*\", the cycle of every other group", ErrInvalidReference)
	}
	for g, d := range a.ReassessDays {
		if g != "*" && !knownGroup(TargetGroup(g)) {
			return fmt.Errorf("%w: adviser reassess_days name an unknown target group %q", ErrInvalidReference, g)
		}
		if err := days("reassess_days of "+g, d); err != nil {
			return err
		}
	}
	if err := days("wait_days", a.WaitDays); err != nil {
		return err
	}
	if a.Declines < 1 || a.Declines > 100 {
		return fmt.Errorf("%w: adviser declines must be 1 to 100", ErrInvalidReference)
	}
	return days("follow_up_days", a.FollowUpDays)
}

// AdviserRules returns the policy's adviser rules, or DefaultAdviser when it sets none.
func (p Policy) AdviserRules() Adviser {
	if p.Adviser == nil {
		return DefaultAdviser()
	}
	return *p.Adviser
}

// Day is the length of the adviser rules' days.
const Day = 24 * time.Hour

// ContactEvery returns how long a household of these groups may go without
// contact, and false when none of its groups is watched for contact.
func (a Adviser) ContactEvery(groups []TargetGroup) (time.Duration, bool) {
	best := 0
	for _, g := range groups {
		if d, ok := a.ContactDays[g]; ok && (best == 0 || d < best) {
			best = d
		}
	}
	return time.Duration(best) * Day, best > 0
}

// ReassessEvery returns the reassessment cycle of a household of these groups:
// the shortest among its groups' cycles and "*"'s for a group not listed.
func (a Adviser) ReassessEvery(groups []TargetGroup) time.Duration {
	best := 0
	take := func(d int) {
		if d > 0 && (best == 0 || d < best) {
			best = d
		}
	}
	if len(groups) == 0 {
		take(a.ReassessDays["*"])
	}
	for _, g := range groups {
		if d, ok := a.ReassessDays[string(g)]; ok {
			take(d)
		} else {
			take(a.ReassessDays["*"])
		}
	}
	return time.Duration(best) * Day
}

// FollowUpWithin is how long after a completion its follow-up is due.
func (a Adviser) FollowUpWithin() time.Duration { return time.Duration(a.FollowUpDays) * Day }

// WaitLimit is how long a need may wait without a referral before it is watched.
func (a Adviser) WaitLimit() time.Duration { return time.Duration(a.WaitDays) * Day }
