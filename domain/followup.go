package domain

import (
	"fmt"
	"strings"
)

// FollowUpOutcome is what a follow-up (回访) found of a completed service.
type FollowUpOutcome string

// The outcomes of a follow-up.
const (
	OutcomeResolved    FollowUpOutcome = "resolved"
	OutcomePartly      FollowUpOutcome = "partly"
	OutcomeNotResolved FollowUpOutcome = "not_resolved"
)

// CheckOutcome refuses a missing or unknown outcome.
func CheckOutcome(field string, o FollowUpOutcome) error {
	switch o {
	case OutcomeResolved, OutcomePartly, OutcomeNotResolved:
		return nil
	case "":
		return required(field)
	}
	return fieldErrf(field, "%q is not an outcome (resolved, partly, not_resolved)", o)
}

// FollowUpRecorded records the follow-up of a completed referral: the outcome, the
// household's satisfaction (1 to 5) and a note. A need not resolved is reopened as
// a new need of its category (ReopenedAs), unless the household has one open
// already (OpenNeed).
type FollowUpRecorded struct {
	ReferralID   string          `json:"referral_id"`
	OfferID      string          `json:"offer_id"`
	Outcome      FollowUpOutcome `json:"outcome"`
	Satisfaction int             `json:"satisfaction"`
	Note         string          `json:"note,omitempty"`
	ReopenedAs   string          `json:"reopened_as,omitempty"`
	OpenNeed     string          `json:"open_need,omitempty"`
}

// EventType names the event.
func (FollowUpRecorded) EventType() string { return "need.followed_up" }

// Reopening links a need reopened by a follow-up to the need and referral that
// did not resolve it, with the follow-up's reason.
type Reopening struct {
	NeedID     string `json:"need_id"`
	ReferralID string `json:"referral_id"`
	Reason     string `json:"reason"`
}

// FollowUp is the command to record a follow-up.
type FollowUp struct {
	ReferralID   string
	Outcome      FollowUpOutcome
	Satisfaction int
	Note         string
	// NewNeedID is the id a need not resolved is reopened as.
	NewNeedID string
}

// DecideFollowUp records the follow-up of the need's completed referral, once. A
// need not resolved is reopened: a new need of the same category and urgency,
// registered with the household's hardship now and a link to this one, which the
// matcher matches from the community tier. (A new need rather than the same one,
// because a need's tier never goes down and its completed referral stays what
// happened; the reopened need starts where every need starts.)
func DecideFollowUp(n Need, h Household, cmd FollowUp) ([]Change, error) {
	switch {
	case n.Version == 0 || h.Version == 0:
		return nil, fmt.Errorf("need: %w", ErrNotFound)
	case cmd.ReferralID == "" || cmd.ReferralID != n.ReferralID || n.Status != StatusCompleted:
		return nil, fmt.Errorf("%w: referral %s is not completed: only a completed referral can be followed up", ErrRefused, cmd.ReferralID)
	case n.FollowedUp:
		return nil, fmt.Errorf("%w: referral %s was followed up already", ErrRefused, cmd.ReferralID)
	}
	var errs FieldErrors
	errs.Add(CheckOutcome("outcome", cmd.Outcome))
	if cmd.Satisfaction < 1 || cmd.Satisfaction > 5 {
		errs.Add(fieldErrf("satisfaction", "must be 1 (very dissatisfied) to 5 (very satisfied)"))
	}
	errs.Add(CheckNote("note", cmd.Note))
	if cmd.Outcome == OutcomeNotResolved && strings.TrimSpace(cmd.Note) == "" {
		errs.Add(fieldErrf("note", "is required when the need was not resolved: say why, for the need reopened"))
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	rec := FollowUpRecorded{ReferralID: n.ReferralID, OfferID: n.OfferID, Outcome: cmd.Outcome, Satisfaction: cmd.Satisfaction, Note: cmd.Note}
	var more []Change
	if cmd.Outcome == OutcomeNotResolved {
		if open, ok := h.OpenNeeds[n.Category]; ok {
			rec.OpenNeed = open
		} else {
			if err := checkID("new_need_id", cmd.NewNeedID); err != nil {
				return nil, err
			}
			rec.ReopenedAs = cmd.NewNeedID
			more = []Change{
				{Aggregate: AggregateRef{Type: AggregateHousehold, ID: h.ID}, ExpectedVersion: h.Version,
					Payloads: []Payload{NeedsOpened{Needs: []OpenedNeed{{NeedID: cmd.NewNeedID, Category: n.Category}}}}},
				{Aggregate: AggregateRef{Type: AggregateNeed, ID: cmd.NewNeedID},
					Payloads: []Payload{NeedRegistered{
						HouseholdID: h.ID, Community: h.Community, Street: h.Street, Category: n.Category,
						Urgency: n.Urgency, Hardship: h.Hardship, TargetGroups: h.TargetGroups,
						Reopens: &Reopening{NeedID: n.ID, ReferralID: n.ReferralID, Reason: cmd.Note},
					}}},
			}
		}
	}
	return append([]Change{{Aggregate: AggregateRef{Type: AggregateNeed, ID: n.ID}, ExpectedVersion: n.Version,
		Payloads: []Payload{rec}}}, more...), nil
}
