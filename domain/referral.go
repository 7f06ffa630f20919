package domain

import (
	"errors"
	"fmt"
	"time"
)

// DeclineReason is the structured reason a centre gives for declining a referral.
type DeclineReason string

// Decline reasons.
const (
	DeclineNoLongerNeeded      DeclineReason = "no_longer_needed"
	DeclineNotSuitable         DeclineReason = "not_suitable"
	DeclineHouseholdRefused    DeclineReason = "household_refused"
	DeclineProviderUnreachable DeclineReason = "provider_unreachable"
	DeclineOther               DeclineReason = "other"
)

// CheckDeclineReason refuses a missing or unknown reason.
func CheckDeclineReason(field string, r DeclineReason) error {
	switch r {
	case DeclineNoLongerNeeded, DeclineNotSuitable, DeclineHouseholdRefused, DeclineProviderUnreachable, DeclineOther:
		return nil
	case "":
		return fieldErrf(field, "is required to decline: %s", declineReasons)
	}
	return fieldErrf(field, "%q is not a decline reason (%s)", r, declineReasons)
}

// declineReasons lists the decline reasons, for the errors that name them.
const declineReasons = "no_longer_needed, not_suitable, household_refused, provider_unreachable or other"

// CheckNote refuses a note longer than MaxNoteLength.
func CheckNote(field, note string) error {
	if len(note) > MaxNoteLength {
		return fieldErrf(field, "is longer than %d bytes", MaxNoteLength)
	}
	return nil
}

// MaxNoteLength bounds a free-text note on an answer.
const MaxNoteLength = 500

// ReferralAccepted records that the centre accepted the proposed referral.
type ReferralAccepted struct {
	ReferralID string `json:"referral_id"`
}

// EventType names the event.
func (ReferralAccepted) EventType() string { return "need.referral_accepted" }

// ReferralDeclined records the centre's decline, with its reason; the need is
// matched again at the same tier, without that offer.
type ReferralDeclined struct {
	ReferralID string        `json:"referral_id"`
	OfferID    string        `json:"offer_id"`
	Reason     DeclineReason `json:"reason"`
	Note       string        `json:"note,omitempty"`
}

// EventType names the event.
func (ReferralDeclined) EventType() string { return "need.referral_declined" }

// EndReason says why a live referral ended and gave its unit back: every
// OfferUnitReleased carries one, and a ReferralCancelled one of the Cancelled ones.
type EndReason string

// Reasons a live referral ends.
const (
	// EndDeclined: the centre declined it.
	EndDeclined EndReason = "declined"
	// EndEscalated: the centre escalated it.
	EndEscalated EndReason = "escalated"
	// EndNeedWithdrawn: its need was withdrawn.
	EndNeedWithdrawn EndReason = "need_withdrawn"
	// EndExpired: no answer by the deadline below the district; the need goes up a
	// tier (NeedEscalated with EscalatedExpired).
	EndExpired EndReason = "expired"
	// CancelledOfferWithdrawn: its offer was withdrawn; the need is matched again at its tier.
	CancelledOfferWithdrawn EndReason = "offer_withdrawn"
	// CancelledExpiredAtTop: no answer by the deadline at the district, the top tier;
	// the need is matched again there without that offer.
	CancelledExpiredAtTop EndReason = "expired_at_district"
)

// EscalationReason says why a need went up a tier.
type EscalationReason string

// Escalation reasons.
const (
	EscalatedNoSupply      EscalationReason = "no_supply_at_tier"
	EscalatedNotCapable    EscalationReason = "not_on_capability_list"
	EscalatedDeclined      EscalationReason = "declined"
	EscalatedExpired       EscalationReason = "expired"
	EscalatedByCentre      EscalationReason = "escalated_by_centre"
	WaitlistedNoSupplyLeft EscalationReason = "no_supply_at_any_tier"
	// EscalatedOutranked: an allocation round gave the units that fitted the need
	// to needs of higher priority (it goes up to the district and waits there).
	EscalatedOutranked EscalationReason = "outranked_in_round"
)

// NeedEscalated records that a need went up a tier, and why; a referral it had
// ends with it (ReferralID, when the centre escalated it or it expired).
type NeedEscalated struct {
	From       int              `json:"from"`
	To         int              `json:"to"`
	Reason     EscalationReason `json:"reason"`
	ReferralID string           `json:"referral_id,omitempty"`
}

// EventType names the event.
func (NeedEscalated) EventType() string { return "need.escalated" }

// NeedWaitlisted records that nothing at the district tier can serve the need now.
type NeedWaitlisted struct {
	Reason EscalationReason `json:"reason"`
}

// EventType names the event.
func (NeedWaitlisted) EventType() string { return "need.waitlisted" }

// NeedHeld records that supply fitting the need at its tier is scarce: the need is
// held for the allocation round due at Until, which weighs the needs competing for
// that supply together (docs/matching.md).
type NeedHeld struct {
	Tier  int       `json:"tier"`
	Until time.Time `json:"until"`
	// Competing counts the needs that competed for the supply when it was held
	// (this one included); Free the free units that fit it at its tier.
	Competing int `json:"competing"`
	Free      int `json:"free"`
}

// EventType names the event.
func (NeedHeld) EventType() string { return "need.held" }

// ServiceStarted records that the provider started the service.
type ServiceStarted struct {
	ReferralID string `json:"referral_id"`
}

// EventType names the event.
func (ServiceStarted) EventType() string { return "need.service_started" }

// ServiceCompleted records that the provider completed the service: the loop is closed.
type ServiceCompleted struct {
	ReferralID string `json:"referral_id"`
}

// EventType names the event.
func (ServiceCompleted) EventType() string { return "need.service_completed" }

// NeedWithdrawn records that the need was withdrawn; a live referral is cancelled.
type NeedWithdrawn struct {
	ReferralID string `json:"referral_id,omitempty"`
	Note       string `json:"note,omitempty"`
}

// EventType names the event.
func (NeedWithdrawn) EventType() string { return "need.withdrawn" }

// ReferralCancelled records that a live referral ended because its offer was
// withdrawn, or its deadline passed at the district tier; the need is matched again
// at its tier, without that offer.
type ReferralCancelled struct {
	ReferralID string    `json:"referral_id"`
	OfferID    string    `json:"offer_id"`
	Reason     EndReason `json:"reason"`
}

// EventType names the event.
func (ReferralCancelled) EventType() string { return "need.referral_cancelled" }

// OfferUnitReleased records that a referral gave its unit back: declined,
// escalated, expired, cancelled or withdrawn.
type OfferUnitReleased struct {
	ReferralID string    `json:"referral_id"`
	NeedID     string    `json:"need_id"`
	Reason     EndReason `json:"reason"`
}

// EventType names the event.
func (OfferUnitReleased) EventType() string { return "offer.unit_released" }

// Answer is a centre's answer to a proposed referral.
type Answer struct {
	ReferralID string
	// Kind is accept, decline or escalate.
	Kind   string
	Reason DeclineReason
	Note   string
}

// Answer kinds.
const (
	AnswerAccept   = "accept"
	AnswerDecline  = "decline"
	AnswerEscalate = "escalate"
)

// Answers the rules refuse, each returned wrapped with ErrRefused, so that a reader
// can tell the person what to do.
var (
	// ErrAnswerTooLate: the referral's answer deadline has passed; its need moves on.
	ErrAnswerTooLate = errors.New("the answer deadline has passed")
	// ErrEscalateAtTop: a referral at the district, the top tier, cannot be escalated.
	ErrEscalateAtTop = errors.New("a referral at the district, the top tier, cannot be escalated; decline it instead")
)

// DecideAnswer applies a centre's answer to the need's proposed referral. Accept
// keeps the unit; decline and escalate give it back to the offer. The referral
// must be the need's current one, still waiting for its answer, and the deadline
// must not have passed (now is the time of the command).
func DecideAnswer(n Need, o Offer, a Answer, now time.Time) ([]Change, error) {
	if err := n.checkReferral(a.ReferralID, StatusProposed); err != nil {
		return nil, err
	}
	if !n.Deadline.IsZero() && !now.Before(n.Deadline) {
		return nil, fmt.Errorf("%w: %w: referral %s expired at %s; its need goes to the next tier", ErrRefused, ErrAnswerTooLate, a.ReferralID, n.Deadline.Format(time.RFC3339))
	}
	var errs FieldErrors
	if a.Kind == AnswerDecline {
		errs.Add(CheckDeclineReason("reason", a.Reason))
	}
	errs.Add(CheckNote("note", a.Note))
	if err := errs.Err(); err != nil {
		return nil, err
	}
	needRef := AggregateRef{Type: AggregateNeed, ID: n.ID}
	release := func(reason EndReason) Change {
		return Change{Aggregate: AggregateRef{Type: AggregateOffer, ID: n.OfferID}, ExpectedVersion: o.Version,
			Payloads: []Payload{OfferUnitReleased{ReferralID: a.ReferralID, NeedID: n.ID, Reason: reason}}}
	}
	switch a.Kind {
	case AnswerAccept:
		return []Change{{Aggregate: needRef, ExpectedVersion: n.Version, Payloads: []Payload{ReferralAccepted{ReferralID: a.ReferralID}}}}, nil
	case AnswerDecline:
		if o.ID != n.OfferID {
			return nil, fmt.Errorf("offer %s: %w", n.OfferID, ErrNotFound)
		}
		return []Change{
			{Aggregate: needRef, ExpectedVersion: n.Version, Payloads: []Payload{ReferralDeclined{ReferralID: a.ReferralID, OfferID: n.OfferID, Reason: a.Reason, Note: a.Note}}},
			release(EndDeclined),
		}, nil
	case AnswerEscalate:
		if n.Tier >= TierDistrict {
			return nil, fmt.Errorf("%w: %w", ErrRefused, ErrEscalateAtTop)
		}
		if o.ID != n.OfferID {
			return nil, fmt.Errorf("offer %s: %w", n.OfferID, ErrNotFound)
		}
		return []Change{
			{Aggregate: needRef, ExpectedVersion: n.Version, Payloads: []Payload{NeedEscalated{From: n.Tier, To: n.Tier + 1, Reason: EscalatedByCentre, ReferralID: a.ReferralID}}},
			release(EndEscalated),
		}, nil
	}
	return nil, fieldErrf("answer", "%q is not an answer (accept, decline, escalate)", a.Kind)
}

// DecideStartService records the start of the service of an accepted referral.
func DecideStartService(n Need, referralID string) ([]Change, error) {
	if err := n.checkReferral(referralID, StatusAccepted); err != nil {
		return nil, err
	}
	return []Change{{Aggregate: AggregateRef{Type: AggregateNeed, ID: n.ID}, ExpectedVersion: n.Version,
		Payloads: []Payload{ServiceStarted{ReferralID: referralID}}}}, nil
}

// DecideCompleteService closes the loop: the service is done and the household
// may need the category again.
func DecideCompleteService(n Need, h Household, referralID string) ([]Change, error) {
	if err := n.checkReferral(referralID, StatusInService); err != nil {
		return nil, err
	}
	return []Change{
		{Aggregate: AggregateRef{Type: AggregateNeed, ID: n.ID}, ExpectedVersion: n.Version, Payloads: []Payload{ServiceCompleted{ReferralID: referralID}}},
		{Aggregate: AggregateRef{Type: AggregateHousehold, ID: h.ID}, ExpectedVersion: h.Version, Payloads: []Payload{NeedClosed{NeedID: n.ID, Category: n.Category}}},
	}, nil
}

// DecideWithdrawNeed withdraws a need that is not served yet; a referral proposed
// or accepted is cancelled and its unit given back.
func DecideWithdrawNeed(n Need, o Offer, h Household, note string) ([]Change, error) {
	if n.Version == 0 {
		return nil, fmt.Errorf("need: %w", ErrNotFound)
	}
	if err := CheckNote("note", note); err != nil {
		return nil, err
	}
	switch n.Status {
	case StatusInService, StatusCompleted, StatusWithdrawn:
		return nil, fmt.Errorf("%w: need %s is %s", ErrRefused, n.ID, n.Status)
	}
	w := NeedWithdrawn{Note: note}
	changes := []Change{}
	if n.Status == StatusProposed || n.Status == StatusAccepted {
		if o.ID != n.OfferID {
			return nil, fmt.Errorf("offer %s: %w", n.OfferID, ErrNotFound)
		}
		w.ReferralID = n.ReferralID
		changes = append(changes, Change{Aggregate: AggregateRef{Type: AggregateOffer, ID: o.ID}, ExpectedVersion: o.Version,
			Payloads: []Payload{OfferUnitReleased{ReferralID: n.ReferralID, NeedID: n.ID, Reason: EndNeedWithdrawn}}})
	}
	return append([]Change{
		{Aggregate: AggregateRef{Type: AggregateNeed, ID: n.ID}, ExpectedVersion: n.Version, Payloads: []Payload{w}},
		{Aggregate: AggregateRef{Type: AggregateHousehold, ID: h.ID}, ExpectedVersion: h.Version, Payloads: []Payload{NeedClosed{NeedID: n.ID, Category: n.Category}}},
	}, changes...), nil
}

// checkReferral refuses a command on a referral that is not the need's current one
// in the expected state. The caller was checked to be the referral's addressee; the
// refusal still names only the referral the caller gave, never the need's other
// referrals or its present state.
func (n Need) checkReferral(referralID string, want NeedStatus) error {
	switch {
	case n.Version == 0:
		return fmt.Errorf("need: %w", ErrNotFound)
	case referralID == "" || referralID != n.ReferralID:
		return fmt.Errorf("%w: referral %s has ended: %s", ErrRefused, referralID, stepNeeds[want])
	case n.Status != want:
		return fmt.Errorf("%w: referral %s is not %s: %s", ErrRefused, referralID, want, stepNeeds[want])
	}
	return nil
}

// stepNeeds says which referrals a step applies to.
var stepNeeds = map[NeedStatus]string{
	StatusProposed:  "only a proposed referral awaiting its answer can be accepted, declined or escalated",
	StatusAccepted:  "only an accepted referral can be started",
	StatusInService: "only a referral in service can be completed",
}

// Addressee is whom a referral was addressed to: the centre of the need's
// community at the tier it was proposed at, and the provider of its offer.
type Addressee struct {
	Tier    int
	OfferID string
}

// AddresseeOf finds a referral among a need's events. Whom a referral was
// addressed to never changes, so access to it is checked the same way before and
// after it was answered, ended or replaced.
func AddresseeOf(needEvents []Event, referralID string) (Addressee, bool) {
	for _, e := range needEvents {
		if p, ok := e.Payload.(ReferralProposed); ok && p.ReferralID == referralID && referralID != "" {
			return Addressee{Tier: p.Tier, OfferID: p.OfferID}, true
		}
	}
	return Addressee{}, false
}
