package app

import (
	"context"
	"fmt"

	"github.com/tierlink/tierlink/domain"
)

// ReferralIndex finds the need a referral belongs to.
type ReferralIndex interface {
	NeedOfReferral(ctx context.Context, referralID string) (needID string, ok bool, err error)
}

// ReferralResult says what a command on a referral or need did.
type ReferralResult struct {
	NeedID     string            `json:"need_id"`
	ReferralID string            `json:"referral_id,omitempty"`
	Status     domain.NeedStatus `json:"status"`
	Tier       int               `json:"tier"`
	Position   int64             `json:"position"`
	Replayed   bool              `json:"replayed"`
}

// AnswerReferralHandler takes a centre's answer: accept, decline (with a reason) or escalate.
type AnswerReferralHandler struct{ cfg Config }

// Handle applies the answer to the referral, at the time of the command.
func (h AnswerReferralHandler) Handle(ctx context.Context, a domain.Answer, meta Meta) (ReferralResult, error) {
	return onReferral(ctx, h.cfg, a.ReferralID, meta, fingerprint("answer_referral", a), func(c needContext) ([]domain.Change, error) {
		// A referral that is no longer the need's live one is refused as such
		// (409), whoever answers: it was addressed to a node the need has left.
		if c.need.ReferralID == a.ReferralID {
			if err := meta.Principal.MayAnswer(c.need, community(h.cfg, c.need.Community)); err != nil {
				return nil, err
			}
		}
		return domain.DecideAnswer(c.need, c.offer, a, h.cfg.Now())
	})
}

// StartServiceHandler records that a provider started the service of a referral.
type StartServiceHandler struct{ cfg Config }

// Handle marks the accepted referral in service.
func (h StartServiceHandler) Handle(ctx context.Context, referralID string, meta Meta) (ReferralResult, error) {
	return onReferral(ctx, h.cfg, referralID, meta, fingerprint("start_service", referralID), func(c needContext) ([]domain.Change, error) {
		if err := mayServe(meta.Principal, c, referralID); err != nil {
			return nil, err
		}
		return domain.DecideStartService(c.need, referralID)
	})
}

// mayServe allows the provider of the referral's offer. A referral that is no
// longer the need's live one (cancelled, declined, expired) has no offer to check
// against: it is refused as ended, not forbidden, whoever asks (the caller named it
// by its unguessable id).
func mayServe(who domain.Principal, c needContext, referralID string) error {
	if c.need.ReferralID != referralID {
		return fmt.Errorf("referral %s is no longer live: %w", referralID, domain.ErrRefused)
	}
	return who.MayManageOffer(c.offer.Provider)
}

// CompleteServiceHandler records that a provider completed the service, closing the loop.
type CompleteServiceHandler struct{ cfg Config }

// Handle marks the referral completed and closes the household's need.
func (h CompleteServiceHandler) Handle(ctx context.Context, referralID string, meta Meta) (ReferralResult, error) {
	return onReferral(ctx, h.cfg, referralID, meta, fingerprint("complete_service", referralID), func(c needContext) ([]domain.Change, error) {
		if err := mayServe(meta.Principal, c, referralID); err != nil {
			return nil, err
		}
		return domain.DecideCompleteService(c.need, c.household, referralID)
	})
}

// WithdrawNeedHandler withdraws needs.
type WithdrawNeedHandler struct{ cfg Config }

// Handle withdraws the need; a proposed or accepted referral is cancelled.
func (h WithdrawNeedHandler) Handle(ctx context.Context, needID, note string, meta Meta) (ReferralResult, error) {
	return onNeed(ctx, h.cfg, needID, meta, fingerprint("withdraw_need", []string{needID, note}), func(c needContext) ([]domain.Change, error) {
		if err := meta.Principal.MayRegisterIn(community(h.cfg, c.need.Community)); err != nil {
			return nil, err
		}
		return domain.DecideWithdrawNeed(c.need, c.offer, c.household, note)
	})
}

// needContext is a need with its live referral's offer and its household.
type needContext struct {
	need      domain.Need
	offer     domain.Offer
	household domain.Household
}

func onReferral(ctx context.Context, cfg Config, referralID string, meta Meta, fp string, decide func(needContext) ([]domain.Change, error)) (ReferralResult, error) {
	if !domain.ValidID(referralID) {
		return ReferralResult{}, fmt.Errorf("referral %q: %w", referralID, domain.ErrNotFound)
	}
	needID, ok, err := cfg.Referrals.NeedOfReferral(ctx, referralID)
	if err != nil {
		return ReferralResult{}, err
	}
	if !ok {
		return ReferralResult{}, fmt.Errorf("referral %s: %w", referralID, domain.ErrNotFound)
	}
	return onNeed(ctx, cfg, needID, meta, fp, decide)
}

// onNeed loads a need, its offer and its household, decides, and appends in the
// need's partition, deciding again if another command changed them first.
func onNeed(ctx context.Context, cfg Config, needID string, meta Meta, fp string, decide func(needContext) ([]domain.Change, error)) (ReferralResult, error) {
	var c needContext
	written, res, err := update(ctx, cfg, domain.AggregateRef{Type: domain.AggregateNeed, ID: needID}, meta, fp, func(evs []domain.Event) ([]domain.Change, error) {
		c = needContext{}
		for _, e := range evs {
			c.need = c.need.Evolve(e)
		}
		if c.need.Version == 0 {
			return nil, fmt.Errorf("need %s: %w", needID, domain.ErrNotFound)
		}
		if c.need.OfferID != "" {
			if err := fold(ctx, cfg, domain.AggregateRef{Type: domain.AggregateOffer, ID: c.need.OfferID}, func(e domain.Event) { c.offer = c.offer.Evolve(e) }); err != nil {
				return nil, err
			}
		}
		if err := fold(ctx, cfg, domain.AggregateRef{Type: domain.AggregateHousehold, ID: c.need.HouseholdID}, func(e domain.Event) { c.household = c.household.Evolve(e) }); err != nil {
			return nil, err
		}
		return decide(c)
	})
	if err != nil {
		return ReferralResult{}, err
	}
	if c.need.Version == 0 { // a replayed command answered before deciding: read the need as it is
		if err := fold(ctx, cfg, domain.AggregateRef{Type: domain.AggregateNeed, ID: needID}, func(e domain.Event) { c.need = c.need.Evolve(e) }); err != nil {
			return ReferralResult{}, err
		}
	}
	out := ReferralResult{NeedID: needID, ReferralID: c.need.ReferralID, Status: c.need.Status, Tier: c.need.Tier, Position: res.LastPosition, Replayed: res.Duplicate}
	n := c.need
	for _, e := range written {
		if e.AggregateType == domain.AggregateNeed && e.AggregateID == needID {
			n = n.Evolve(e)
		}
	}
	if !res.Duplicate {
		out.Status, out.Tier = n.Status, n.Tier
	}
	return out, nil
}

func fold(ctx context.Context, cfg Config, ref domain.AggregateRef, apply func(domain.Event)) error {
	_, evs, err := cfg.Log.Find(ctx, ref)
	if err != nil {
		return err
	}
	for _, e := range evs {
		apply(e)
	}
	return nil
}
