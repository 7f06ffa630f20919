// Package watch computes the watch lists that a community centre's advisers work
// through (proactive discovery): which households to contact, reassess or follow
// up, and why, from facts folded from the log and the district's adviser rules
// (domain.Adviser). It is pure: the time is a parameter.
package watch

import (
	"time"

	"github.com/tierlink/tierlink/domain"
)

// Kind is why a household is on a watch list.
type Kind string

// The reasons, in the order a list shows them.
const (
	// NotContacted: a household of a watched group was not contacted for longer
	// than the policy's contact_days of its groups. Leaves on a visit, a need
	// registered, a reassessment or a follow-up.
	NotContacted Kind = "not_contacted"
	// NeedWaiting: a need has waited without a referral longer than wait_days since
	// it was registered or the household was last visited. Leaves when the need is
	// proposed, served or withdrawn, or on a visit (which restarts the clock).
	NeedWaiting Kind = "need_waiting"
	// RepeatedDeclines: declines referrals for the household's needs since it was
	// last contacted reached the policy's declines. Leaves on a contact.
	RepeatedDeclines Kind = "repeated_declines"
	// ReassessmentDue: the last assessment is older than the reassessment cycle of
	// the household's groups. Leaves on a reassessment.
	ReassessmentDue Kind = "reassessment_due"
	// FollowUpDue: a referral completed and its follow-up is not recorded: on the
	// list from the completion, due by completion + follow_up_days (overdue after).
	// Leaves when the follow-up is recorded.
	FollowUpDue Kind = "follow_up_due"
	// Unclaimed: the rule of a programme admits the household and it has not applied.
	// Leaves when it applies (or its record changes so that the rule no longer does).
	Unclaimed Kind = "unclaimed_entitlement"
)

// Reason is one reason a household is on the list, with what it is about.
type Reason struct {
	Kind Kind `json:"kind"`
	// Since is when the reason began to hold (when the household entered the list
	// for it).
	Since time.Time `json:"since"`
	// Limit is the policy's number of days (contact, waiting, reassessment or
	// follow-up), or of declines, that the reason passed.
	Limit int `json:"limit,omitempty"`
	// Count is the declines counted, for RepeatedDeclines.
	Count int `json:"count,omitempty"`
	// Last is the time counted from: the last contact, the need's registration or
	// last visit, the last assessment, the completion.
	Last time.Time `json:"last,omitzero"`
	// Due, for FollowUpDue, is when the follow-up is due.
	Due        time.Time `json:"due,omitzero"`
	NeedID     string    `json:"need_id,omitempty"`
	Category   string    `json:"category,omitempty"`
	ReferralID string    `json:"referral_id,omitempty"`
	Programme  string    `json:"programme,omitempty"`
}

// Item is one household on a watch list and every reason it is there.
type Item struct {
	HouseholdID string               `json:"household_id"`
	Community   string               `json:"community"`
	Street      string               `json:"street"`
	Groups      []domain.TargetGroup `json:"target_groups"`
	Hardship    int                  `json:"hardship"`
	Reasons     []Reason             `json:"reasons"`
}
