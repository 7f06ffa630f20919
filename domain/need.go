package domain

import (
	"fmt"
	"time"
)

// NeedRegistered records a household's need for one service category, with what
// matching needs of the household: where it lives, its hardship score and target
// groups (for eligibility), and the need's urgency.
type NeedRegistered struct {
	HouseholdID  string        `json:"household_id"`
	Community    string        `json:"community"`
	Street       string        `json:"street"`
	Category     string        `json:"category"`
	Urgency      Urgency       `json:"urgency"`
	Hardship     int           `json:"hardship"`
	TargetGroups []TargetGroup `json:"target_groups"`
	// Reopens, on a need reopened by a follow-up, names the need it reopens.
	Reopens *Reopening `json:"reopens,omitempty"`
}

// EventType names the event.
func (NeedRegistered) EventType() string { return "need.registered" }

// ReferralProposed records the matcher's proposal of an offer for a need, the
// deadline of the centre's answer, and why.
type ReferralProposed struct {
	ReferralID string `json:"referral_id"`
	OfferID    string `json:"offer_id"`
	Tier       int    `json:"tier"`
	Rule       string `json:"rule"`
	Candidates int    `json:"candidates"`
	// Considered lists the first candidates by rank, the chosen one first.
	Considered []string  `json:"considered,omitempty"`
	Deadline   time.Time `json:"deadline,omitzero"`
	// Round, for a proposal decided in an allocation round, says how it was won.
	Round *RoundOutcome `json:"round,omitempty"`
}

// RoundOutcome explains a proposal decided in an allocation round: how many needs
// competed for how many units, and why this one won.
type RoundOutcome struct {
	// Competing counts the needs weighed in the round; Units the free units shared.
	Competing int `json:"competing"`
	Units     int `json:"units"`
	// Priority is the need's priority in points at the round.
	Priority int `json:"priority"`
	// Overdue is set when it had waited past the policy's max_wait, which goes first.
	Overdue bool `json:"overdue,omitempty"`
	// Unserved counts the competitors left without a unit, and HighestUnserved is
	// the highest priority among them (0 when every competitor was served).
	Unserved        int `json:"unserved"`
	HighestUnserved int `json:"highest_unserved"`
}

// EventType names the event.
func (ReferralProposed) EventType() string { return "need.referral_proposed" }

// NeedStatus is the one state a need is in.
type NeedStatus string

// Need states: every need is in exactly one.
const (
	// StatusOpen: being matched at its tier.
	StatusOpen NeedStatus = "open"
	// StatusHeld: supply that fits it is scarce; it is held for the allocation
	// round that weighs the needs competing for that supply together (NeedHeld).
	StatusHeld NeedStatus = "held"
	// StatusWaitlisted: nothing at the district tier can serve it now.
	StatusWaitlisted NeedStatus = "waitlisted"
	// StatusProposed: a referral waits for the centre's answer.
	StatusProposed NeedStatus = "proposed"
	// StatusAccepted: the centre accepted the referral.
	StatusAccepted NeedStatus = "accepted"
	// StatusInService: the provider started the service.
	StatusInService NeedStatus = "in_service"
	// StatusCompleted: the provider completed the service; the loop is closed.
	StatusCompleted NeedStatus = "completed"
	// StatusWithdrawn: the need was withdrawn.
	StatusWithdrawn NeedStatus = "withdrawn"
)

// Tiers of linkage.
const (
	TierCommunity = 1
	TierStreet    = 2
	TierDistrict  = 3
)

// TierName names a tier: community, street or district.
func TierName(tier int) string {
	switch tier {
	case TierCommunity:
		return "community"
	case TierStreet:
		return "street"
	case TierDistrict:
		return "district"
	}
	return "tier " + fmt.Sprint(tier)
}

// ParseTier reads a tier's name.
func ParseTier(name string) (int, bool) {
	switch name {
	case "community":
		return TierCommunity, true
	case "street":
		return TierStreet, true
	case "district":
		return TierDistrict, true
	}
	return 0, false
}

// Need is the state of one need, folded from its events.
type Need struct {
	ID          string
	HouseholdID string
	Community   string
	Category    string
	Urgency     Urgency
	Status      NeedStatus
	Tier        int
	// ReferralID and OfferID name the live referral (proposed, accepted, in service
	// or completed), and Deadline its answer deadline; empty otherwise.
	ReferralID string
	OfferID    string
	Deadline   time.Time
	// Declined lists the offers declined for the need, which it is not matched to again.
	Declined []string
	// FollowedUp is set once the completed referral was followed up.
	FollowedUp bool
	Version    int64
}

// Evolve returns the state after one of the need's events.
func (n Need) Evolve(e Event) Need {
	endReferral := func() { n.ReferralID, n.OfferID, n.Deadline = "", "", time.Time{} }
	switch p := e.Payload.(type) {
	case NeedRegistered:
		n.ID = e.AggregateID
		n.HouseholdID = p.HouseholdID
		n.Community = p.Community
		n.Category = p.Category
		n.Urgency = p.Urgency
		n.Status = StatusOpen
		n.Tier = TierCommunity
	case ReferralProposed:
		n.Status = StatusProposed
		n.ReferralID, n.OfferID, n.Deadline = p.ReferralID, p.OfferID, p.Deadline
		n.Tier = max(n.Tier, p.Tier)
	case ReferralAccepted:
		n.Status = StatusAccepted
	case ServiceStarted:
		n.Status = StatusInService
	case ServiceCompleted:
		n.Status = StatusCompleted
	case ReferralDeclined:
		n.Status = StatusOpen
		n.Declined = append(append([]string(nil), n.Declined...), p.OfferID)
		endReferral()
	case ReferralCancelled:
		n.Status = StatusOpen
		n.Declined = append(append([]string(nil), n.Declined...), p.OfferID)
		endReferral()
	case NeedEscalated:
		n.Status = StatusOpen
		n.Tier = max(n.Tier, p.To)
		endReferral()
	case NeedHeld:
		n.Status = StatusHeld
		n.Tier = max(n.Tier, p.Tier)
	case NeedWaitlisted:
		n.Status = StatusWaitlisted
		n.Tier = TierDistrict
	case NeedWithdrawn:
		n.Status = StatusWithdrawn
		endReferral()
	case FollowUpRecorded:
		n.FollowedUp = true
	}
	n.Version = e.AggregateVersion
	return n
}
