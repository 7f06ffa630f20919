// Package projections builds the read models people read from the log's events.
// Each read model keeps a checkpoint, written atomically with its documents, so
// that it applies each event at most once and can be rebuilt from the log.
package projections

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tierlink/tierlink/domain"
)

// Store keeps one partition's read models: documents, ordered indexes, and each
// projection's checkpoint.
type Store interface {
	// Checkpoint returns the last position a projection applied (0 if none).
	Checkpoint(ctx context.Context, name string) (int64, error)
	// Get returns a document of a model, and whether it exists.
	Get(ctx context.Context, model, id string) ([]byte, bool, error)
	// GetMany returns documents of a model by id, in order; a missing one is nil.
	GetMany(ctx context.Context, model string, ids []string) ([][]byte, error)
	// Commit writes a run's changes and moves the projection's checkpoint to
	// position, atomically; it writes nothing if the checkpoint is at or past
	// position already.
	Commit(ctx context.Context, name string, position int64, ch Changes) error
}

// ErrGenerationChanged is wrapped by a Store's Commit refused because a rebuild made
// another generation of the read models current: the run is applied again on it.
var ErrGenerationChanged = errors.New("read models switched to another generation")

// Changes is what a run of events changed in the read models.
type Changes struct {
	Docs     []Doc
	Indexes  []IndexChange
	Counters []CounterChange
}

// CounterChange adds delta to a field of a named set of counters.
type CounterChange struct {
	Counters, Field string
	Delta           int64
}

// Doc is one document written.
type Doc struct {
	Model, ID string
	Body      []byte
}

// IndexChange adds a member to an ordered index with a score, or removes it.
type IndexChange struct {
	Index, Member string
	Score         float64
	Remove        bool
}

// Empty reports whether nothing changed.
func (c Changes) Empty() bool { return len(c.Docs) == 0 && len(c.Indexes) == 0 && len(c.Counters) == 0 }

// NeedsModel is the name of the need read model.
const NeedsModel = "needs"

// NeedView is the current state of one need, as people read it, with the story of
// the decisions taken on it and why.
type NeedView struct {
	ID           string               `json:"id"`
	HouseholdID  string               `json:"household_id"`
	Community    string               `json:"community"`
	Street       string               `json:"street"`
	Category     string               `json:"category"`
	Urgency      domain.Urgency       `json:"urgency"`
	Hardship     int                  `json:"hardship"`
	TargetGroups []domain.TargetGroup `json:"target_groups,omitempty"`
	Status       domain.NeedStatus    `json:"status"`
	Tier         int                  `json:"tier"`
	RegisteredAt time.Time            `json:"registered_at"`
	Referral     *ReferralView        `json:"referral,omitempty"`
	// Held, while the need is held for an allocation round (status held), says for
	// which round: its tier, when it is due, and the competition when it was held.
	Held *Hold `json:"held,omitempty"`
	// LinkedAt is when the need was first proposed an offer; Near, whether ever at
	// the community or street tier (supply near the household); Served, whether it
	// ever got the service (in service or completed). The indicators count them.
	LinkedAt *time.Time `json:"linked_at,omitempty"`
	Near     bool       `json:"near,omitempty"`
	Served   bool       `json:"served,omitempty"`
	Declined []string   `json:"declined_offers,omitempty"`
	// FollowUpDue, once the referral completed, is when its follow-up is due (by the
	// policy's follow_up_days); FollowUp is the follow-up once recorded.
	FollowUpDue time.Time     `json:"follow_up_due,omitzero"`
	FollowUp    *FollowUpView `json:"follow_up,omitempty"`
	// Reopens, on a need a follow-up reopened, names the need and referral that did
	// not resolve it, and why.
	Reopens  *domain.Reopening `json:"reopens,omitempty"`
	Steps    []Step            `json:"steps"`
	Version  int64             `json:"version"`
	Position int64             `json:"position"`
}

// ReferralView is a need's live referral and the matcher's reason for it.
type ReferralView struct {
	ID          string     `json:"id"`
	OfferID     string     `json:"offer_id"`
	Tier        int        `json:"tier"`
	Rule        string     `json:"rule"`
	Candidates  int        `json:"candidates"`
	Considered  []string   `json:"considered,omitempty"`
	ProposedAt  time.Time  `json:"proposed_at"`
	Deadline    time.Time  `json:"deadline,omitzero"`
	AcceptedAt  *time.Time `json:"accepted_at,omitempty"`
	StartedAt   *time.Time `json:"started_at,omitempty"`
	CompletedAt *time.Time `json:"completed_at,omitempty"`
	// Round, for a referral decided in an allocation round, says how it was won.
	Round *domain.RoundOutcome `json:"round,omitempty"`
}

// Hold is a need held for an allocation round (domain.NeedHeld): supply that fits
// it at Tier is scarce, so the round due at Until weighs together the Competing
// needs (this one included) for the Free units.
type Hold struct {
	Tier      int       `json:"tier"`
	Until     time.Time `json:"until"`
	Competing int       `json:"competing"`
	Free      int       `json:"free"`
}

// Step is one thing that happened to a need: who did what, when, and why. Detail
// says it in English; the other fields are its facts, for a reader to say it in its
// own language (documents written before they were kept have only Detail).
type Step struct {
	Time   time.Time `json:"time"`
	Actor  string    `json:"actor"`
	What   string    `json:"what"`
	Detail string    `json:"detail,omitempty"`
	// Tier is the tier a referral was proposed at, or a need escalated to; From the
	// tier it left.
	Tier       int        `json:"tier,omitempty"`
	From       int        `json:"from,omitempty"`
	Reason     string     `json:"reason,omitempty"`
	Offer      string     `json:"offer,omitempty"`
	Rule       string     `json:"rule,omitempty"`
	Candidates int        `json:"candidates,omitempty"`
	Due        *time.Time `json:"due,omitempty"`
	Urgency    string     `json:"urgency,omitempty"`
	Hardship   int        `json:"hardship,omitempty"`
	// Previous is a reassessed step's score before; Satisfaction a followed_up
	// step's; Need the need a follow-up reopened (or the open need of its
	// category), or on a registered step the need it reopens.
	Previous     int    `json:"previous,omitempty"`
	Satisfaction int    `json:"satisfaction,omitempty"`
	Need         string `json:"need,omitempty"`
	Note         string `json:"note,omitempty"`
	// Held is the hold of a "held" step; Round, the allocation round that decided a
	// "referral_proposed" step (none for a proposal made at once).
	Held  *Hold                `json:"held,omitempty"`
	Round *domain.RoundOutcome `json:"round,omitempty"`
}

// MaxSteps bounds a need's story in its view (the log keeps all of it).
const MaxSteps = 50

// lifecycle is the part of the view that the domain folds (domain.Need.Evolve):
// status, tier and declined offers.
func (v NeedView) lifecycle() domain.Need {
	return domain.Need{ID: v.ID, Status: v.Status, Tier: v.Tier, Declined: v.Declined, Version: v.Version}
}

// EvolveNeed returns the view after one of the need's events, and whether it changed
// (an event it does not know moves only the view's version). Its status, tier and
// declined offers are the domain's fold (domain.Need.Evolve); the rest is the story.
// (It is long as one plain switch with a short case per event kind, the story's
// wording beside the fact it tells; split, the cases would be read apart.)
func EvolveNeed(v NeedView, e domain.Event, position int64) (NeedView, bool) {
	at := e.Time
	step := Step{Time: at, Actor: e.Actor, What: strings.TrimPrefix(e.Type, "need.")}
	before := v.lifecycle()
	switch p := e.Payload.(type) {
	case domain.NeedRegistered:
		before = domain.Need{}
		v = NeedView{
			ID: e.AggregateID, HouseholdID: p.HouseholdID, Community: p.Community, Street: p.Street,
			Category: p.Category, Urgency: p.Urgency, Hardship: p.Hardship, TargetGroups: p.TargetGroups,
			RegisteredAt: at,
		}
		step.Detail = fmt.Sprintf("urgency %s, hardship %d", p.Urgency, p.Hardship)
		step.Urgency, step.Hardship = string(p.Urgency), p.Hardship
		if r := p.Reopens; r != nil {
			reopens := *r
			v.Reopens = &reopens
			step.Detail += fmt.Sprintf("; reopens need %s, whose referral %s did not resolve it: %s", r.NeedID, r.ReferralID, r.Reason)
			step.Note, step.Need = r.Reason, r.NeedID
		}
	case domain.ReferralProposed:
		v.Referral = &ReferralView{ID: p.ReferralID, OfferID: p.OfferID, Tier: p.Tier, Rule: p.Rule, Candidates: p.Candidates,
			Considered: p.Considered, ProposedAt: at, Deadline: p.Deadline, Round: p.Round}
		if v.LinkedAt == nil {
			v.LinkedAt = &at
		}
		v.Near = v.Near || p.Tier <= domain.TierStreet
		step.Detail = fmt.Sprintf("offer %s at the %s tier, by rule %s, first of %d candidates; answer due %s",
			p.OfferID, domain.TierName(p.Tier), p.Rule, p.Candidates, p.Deadline.Format(time.RFC3339))
		if r := p.Round; r != nil {
			step.Detail += fmt.Sprintf("; allocation round: %d needs competed for %d units, priority %d", r.Competing, r.Units, r.Priority)
			if r.Unserved > 0 {
				step.Detail += fmt.Sprintf(" (%d left without a unit, the highest at %d)", r.Unserved, r.HighestUnserved)
			}
			if r.Overdue {
				step.Detail += ", overdue: it had waited past the maximum wait, so it went first"
			}
		}
		due := p.Deadline
		step.Tier, step.Offer, step.Rule, step.Candidates, step.Due = p.Tier, p.OfferID, p.Rule, p.Candidates, &due
		step.Round = p.Round
	case domain.ReferralAccepted:
		if v.Referral != nil {
			v.Referral.AcceptedAt = &at
		}
	case domain.ServiceStarted:
		v.Served = true
		if v.Referral != nil {
			v.Referral.StartedAt = &at
		}
	case domain.ServiceCompleted:
		v.Served = true
		if v.Referral != nil {
			v.Referral.CompletedAt = &at
		}
	case domain.ReferralDeclined:
		v.Referral = nil
		step.Detail = fmt.Sprintf("offer %s declined: %s", p.OfferID, p.Reason)
		if p.Note != "" {
			step.Detail += " (" + p.Note + ")"
		}
		step.Offer, step.Reason, step.Note = p.OfferID, string(p.Reason), p.Note
	case domain.ReferralCancelled:
		v.Referral = nil
		step.Detail = fmt.Sprintf("offer %s: %s", p.OfferID, p.Reason)
		step.Offer, step.Reason = p.OfferID, string(p.Reason)
	case domain.NeedEscalated:
		v.Referral = nil
		step.Detail = fmt.Sprintf("from the %s to the %s tier: %s", domain.TierName(p.From), domain.TierName(p.To), p.Reason)
		step.From, step.Tier, step.Reason = p.From, p.To, string(p.Reason)
	case domain.NeedHeld:
		hold := Hold{Tier: p.Tier, Until: p.Until, Competing: p.Competing, Free: p.Free}
		v.Held = &hold
		step.Detail = fmt.Sprintf("held at the %s tier for the allocation round due %s: %d needs compete for %d free units",
			domain.TierName(p.Tier), p.Until.Format(time.RFC3339), p.Competing, p.Free)
		step.Tier, step.Held = p.Tier, &hold
	case domain.NeedWaitlisted:
		step.Detail = string(p.Reason)
		step.Reason = string(p.Reason)
	case domain.NeedWithdrawn:
		v.Referral = nil
		step.Detail, step.Note = p.Note, p.Note
	case domain.FollowUpRecorded:
		v.FollowUp = &FollowUpView{ReferralID: p.ReferralID, At: at, Outcome: p.Outcome, Satisfaction: p.Satisfaction, Note: p.Note,
			ReopenedAs: p.ReopenedAs, OpenNeed: p.OpenNeed}
		step.Detail = fmt.Sprintf("referral %s: %s, satisfaction %d of 5", p.ReferralID, p.Outcome, p.Satisfaction)
		switch {
		case p.ReopenedAs != "":
			step.Detail += "; reopened as need " + p.ReopenedAs
		case p.OpenNeed != "":
			step.Detail += "; need " + p.OpenNeed + " of the category is open already"
		}
		if p.Note != "" {
			step.Detail += " (" + p.Note + ")"
		}
		step.Offer, step.Reason, step.Note = p.OfferID, string(p.Outcome), p.Note
		step.Satisfaction, step.Need = p.Satisfaction, p.ReopenedAs+p.OpenNeed
	default:
		// Any other event of the need moves only the view's version: a view's
		// version is its need's after every event, so that If-Match agrees.
		if v.ID == "" || e.AggregateVersion == v.Version {
			return v, false
		}
		v.Version, v.Position = e.AggregateVersion, position
		return v, true
	}
	life := before.Evolve(e)
	v.Status, v.Tier, v.Declined = life.Status, life.Tier, life.Declined
	if v.Status != domain.StatusHeld {
		v.Held = nil // the round decided it, or something else did first
	}
	v.Steps = append(v.Steps, step)
	if len(v.Steps) > MaxSteps {
		v.Steps = append(v.Steps[:1:1], v.Steps[len(v.Steps)-MaxSteps+1:]...)
	}
	v.Version = e.AggregateVersion
	v.Position = position
	return v, true
}
