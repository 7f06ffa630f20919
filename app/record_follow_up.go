package app

import (
	"context"
	"fmt"

	"github.com/tierlink/tierlink/domain"
)

// FollowUpInput is the follow-up (回访) of a completed referral.
type FollowUpInput struct {
	Outcome      domain.FollowUpOutcome `json:"outcome"`
	Satisfaction int                    `json:"satisfaction"`
	Note         string                 `json:"note"`
}

// FollowUpResult says what a follow-up recorded: its outcome and, for a need not
// resolved, the need reopened (ReopenedAs) or the one of its category already open
// (OpenNeed).
type FollowUpResult struct {
	ReferralID string                 `json:"referral_id"`
	NeedID     string                 `json:"need_id"`
	Outcome    domain.FollowUpOutcome `json:"outcome"`
	ReopenedAs string                 `json:"reopened_as,omitempty"`
	OpenNeed   string                 `json:"open_need,omitempty"`
	// Version is the need's version after the follow-up.
	Version  int64 `json:"version"`
	Position int64 `json:"position"`
	Replayed bool  `json:"replayed"`
}

// FollowUpHandler records the follow-up of a completed referral.
type FollowUpHandler struct{ cfg Config }

// Handle records the follow-up on the referral's need, once; a need not resolved
// is reopened as a new need. The centres that may register the household's needs
// may send it; anyone else is refused before anything is replayed or decided, as
// a referral's answer is (answer_referral.go), with nothing of the referral said.
func (h FollowUpHandler) Handle(ctx context.Context, referralID string, in FollowUpInput, meta Meta) (FollowUpResult, error) {
	cfg := h.cfg
	if !domain.ValidID(referralID) {
		return FollowUpResult{}, fmt.Errorf("referral %q: %w", referralID, domain.ErrNotFound)
	}
	needID, ok, err := cfg.Referrals.NeedOfReferral(ctx, referralID)
	if err != nil {
		return FollowUpResult{}, fmt.Errorf("find the need of referral %s: %w", referralID, err)
	}
	if !ok {
		return FollowUpResult{}, fmt.Errorf("referral %s: %w", referralID, domain.ErrNotFound)
	}
	ref := domain.AggregateRef{Type: domain.AggregateNeed, ID: needID}
	written, res, err := update(ctx, cfg, ref, meta, fingerprint("follow_up", []any{referralID, in}),
		func(evs []domain.Event) error {
			if _, ok := domain.AddresseeOf(evs, referralID); !ok {
				return fmt.Errorf("referral %s: %w", referralID, domain.ErrNotFound)
			}
			return meta.Principal.MayRegisterIn(community(cfg, evolve(domain.Need{}, evs).Community))
		},
		func(evs []domain.Event) ([]domain.Change, error) {
			n := evolve(domain.Need{}, evs)
			var hh domain.Household
			if err := fold(ctx, cfg, domain.AggregateRef{Type: domain.AggregateHousehold, ID: n.HouseholdID},
				func(e domain.Event) { hh = hh.Evolve(e) }); err != nil {
				return nil, fmt.Errorf("read household %s: %w", n.HouseholdID, err)
			}
			return domain.DecideFollowUp(n, hh, domain.FollowUp{ReferralID: referralID, Outcome: in.Outcome,
				Satisfaction: in.Satisfaction, Note: in.Note, NewNeedID: cfg.NewID()})
		})
	if err != nil {
		return FollowUpResult{}, err
	}
	// The answer is built from the events written, so that a retry names the need
	// its first attempt reopened.
	for _, e := range written {
		if rec, ok := e.Payload.(domain.FollowUpRecorded); ok && e.Aggregate() == ref {
			return FollowUpResult{ReferralID: referralID, NeedID: needID, Outcome: rec.Outcome, ReopenedAs: rec.ReopenedAs,
				OpenNeed: rec.OpenNeed, Version: e.AggregateVersion, Position: res.LastPosition, Replayed: res.Duplicate}, nil
		}
	}
	return FollowUpResult{}, fmt.Errorf("%w: command %s recorded no follow-up on need %s", ErrCommandReused, meta.CommandID, needID)
}
