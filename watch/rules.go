package watch

import (
	"cmp"
	"slices"
	"time"

	"github.com/tierlink/tierlink/domain"
)

// Household holds the facts of one household that the watch rules read, folded
// from the log (projections.Watch keeps them current).
type Household struct {
	ID        string               `json:"id"`
	Community string               `json:"community"`
	Street    string               `json:"street"`
	District  string               `json:"district"`
	Groups    []domain.TargetGroup `json:"target_groups"`
	Hardship  int                  `json:"hardship"`
	// Registered is when the household was registered.
	Registered time.Time `json:"registered"`
	// LastContact is the latest of the registration, the visits' VisitedAt, the
	// needs opened, the reassessments and the follow-ups recorded.
	LastContact time.Time `json:"last_contact"`
	// LastAssessed is the registration's or the latest reassessment's time.
	LastAssessed time.Time `json:"last_assessed"`
	// LastVisit is the latest VisitedAt of the household's visits (zero if none).
	LastVisit time.Time `json:"last_visit,omitzero"`
	// Declines holds the times of the referrals declined for the household's needs
	// after LastContact, oldest first.
	Declines []time.Time `json:"declines,omitempty"`
	// Waiting holds the needs waiting without a live referral.
	Waiting []WaitingNeed `json:"waiting,omitempty"`
	// FollowUps holds the completed referrals whose follow-up is not recorded.
	FollowUps []PendingFollowUp `json:"follow_ups,omitempty"`
	// Unclaimed holds the programmes whose rule admits the household and which it
	// has not applied for.
	Unclaimed []UnclaimedProgramme `json:"unclaimed,omitempty"`
}

// WaitingNeed is a need waiting without a live referral; Since is its registration
// or, if later, the household's last visit.
type WaitingNeed struct {
	NeedID   string    `json:"need_id"`
	Category string    `json:"category"`
	Since    time.Time `json:"since"`
}

// PendingFollowUp is a completed referral awaiting its follow-up.
type PendingFollowUp struct {
	NeedID      string    `json:"need_id"`
	ReferralID  string    `json:"referral_id"`
	Category    string    `json:"category"`
	CompletedAt time.Time `json:"completed_at"`
}

// UnclaimedProgramme is a programme the household's record qualifies for and it has
// not applied for, since when the rule has admitted it without a break.
type UnclaimedProgramme struct {
	Programme string    `json:"programme"`
	Since     time.Time `json:"since"`
}

// kindOrder is each kind's place in a list.
var kindOrder = map[Kind]int{NotContacted: 0, NeedWaiting: 1, RepeatedDeclines: 2, ReassessmentDue: 3, FollowUpDue: 4, Unclaimed: 5}

// Kinds lists the kinds in the order a list shows them.
func Kinds() []Kind {
	return []Kind{NotContacted, NeedWaiting, RepeatedDeclines, ReassessmentDue, FollowUpDue, Unclaimed}
}

// candidates returns every reason the household's facts can give, each with the
// time from which it holds: a reason holds at t when its Since is not after t,
// until an event changes the facts.
func candidates(h Household, rules domain.Adviser) []Reason {
	var out []Reason
	if every, ok := rules.ContactEvery(h.Groups); ok && !h.LastContact.IsZero() {
		out = append(out, Reason{Kind: NotContacted, Since: h.LastContact.Add(every), Limit: int(every / domain.Day), Last: h.LastContact})
	}
	for _, n := range h.Waiting {
		out = append(out, Reason{Kind: NeedWaiting, Since: n.Since.Add(rules.WaitLimit()), Limit: rules.WaitDays,
			Last: n.Since, NeedID: n.NeedID, Category: n.Category})
	}
	if k := rules.Declines; k >= 1 {
		var after []time.Time
		for _, d := range h.Declines {
			if d.After(h.LastContact) {
				after = append(after, d)
			}
		}
		if len(after) >= k {
			out = append(out, Reason{Kind: RepeatedDeclines, Since: after[k-1], Limit: k, Count: len(after), Last: h.LastContact})
		}
	}
	if every := rules.ReassessEvery(h.Groups); every > 0 && !h.LastAssessed.IsZero() {
		out = append(out, Reason{Kind: ReassessmentDue, Since: h.LastAssessed.Add(every), Limit: int(every / domain.Day), Last: h.LastAssessed})
	}
	for _, f := range h.FollowUps {
		due := f.CompletedAt.Add(rules.FollowUpWithin())
		// On the list from the completion, so that the centre follows up before it is
		// late; Due says by when (the page marks it overdue after).
		out = append(out, Reason{Kind: FollowUpDue, Since: f.CompletedAt, Limit: rules.FollowUpDays, Last: f.CompletedAt, Due: due,
			NeedID: f.NeedID, Category: f.Category, ReferralID: f.ReferralID})
	}
	for _, u := range h.Unclaimed {
		out = append(out, Reason{Kind: Unclaimed, Since: u.Since, Programme: u.Programme})
	}
	return out
}

// Reasons returns why the household is on its centre's watch list at now (none if
// it is not), in the kinds' order (Kinds), then by Since, then by need, referral
// and programme.
func Reasons(h Household, rules domain.Adviser, now time.Time) []Reason {
	var out []Reason
	for _, r := range candidates(h, rules) {
		if !r.Since.After(now) {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b Reason) int {
		return cmp.Or(cmp.Compare(kindOrder[a.Kind], kindOrder[b.Kind]), a.Since.Compare(b.Since),
			cmp.Compare(a.NeedID, b.NeedID), cmp.Compare(a.ReferralID, b.ReferralID), cmp.Compare(a.Programme, b.Programme))
	})
	return out
}

// Due returns the earliest time at which Reasons is not empty, and the zero time
// if the facts give no reason at any time: Reasons(h, rules, t) is not empty
// exactly when Due is not zero and t is not before it.
func Due(h Household, rules domain.Adviser) time.Time {
	var due time.Time
	for _, r := range candidates(h, rules) {
		if due.IsZero() || r.Since.Before(due) {
			due = r.Since
		}
	}
	return due
}

// Item returns the household's item on a list at now, with its reasons.
func (h Household) Item(rules domain.Adviser, now time.Time) Item {
	groups := h.Groups
	if groups == nil {
		groups = []domain.TargetGroup{}
	}
	reasons := Reasons(h, rules, now)
	if reasons == nil {
		reasons = []Reason{}
	}
	return Item{HouseholdID: h.ID, Community: h.Community, Street: h.Street, Groups: groups, Hardship: h.Hardship, Reasons: reasons}
}
