package projections

import (
	"time"

	"github.com/tierlink/tierlink/domain"
)

// MaxVisitsKept bounds the visits a household's view keeps, the latest ones (the
// log keeps them all).
const MaxVisitsKept = 50

// VisitView is a visit recorded to a household (domain.HouseholdVisited).
type VisitView struct {
	Visitor    string           `json:"visitor"`
	Kind       domain.VisitKind `json:"kind"`
	VisitedAt  time.Time        `json:"visited_at"`
	Found      string           `json:"found,omitempty"`
	RecordedAt time.Time        `json:"recorded_at"`
}

// AssessmentView is one dated assessment of a household: the registration's, or a
// reassessment's (domain.HouseholdReassessed).
type AssessmentView struct {
	At         time.Time         `json:"at"`
	Assessment domain.Assessment `json:"assessment"`
	Hardship   int               `json:"hardship"`
	// Previous is the score before (0 for the registration's).
	Previous int    `json:"previous"`
	Note     string `json:"note,omitempty"`
}

// FollowUpView is the follow-up (回访) of a need's completed referral
// (domain.FollowUpRecorded).
type FollowUpView struct {
	ReferralID   string                 `json:"referral_id"`
	At           time.Time              `json:"at"`
	Outcome      domain.FollowUpOutcome `json:"outcome"`
	Satisfaction int                    `json:"satisfaction"`
	Note         string                 `json:"note,omitempty"`
	// ReopenedAs names the need a "not resolved" outcome opened; OpenNeed the need
	// of the category that was open already, when none was opened.
	ReopenedAs string `json:"reopened_as,omitempty"`
	OpenNeed   string `json:"open_need,omitempty"`
}
