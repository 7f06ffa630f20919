package app

import (
	"context"
	"fmt"

	"github.com/tierlink/tierlink/domain"
)

// ReferralResult says what a command on a referral or need did.
type ReferralResult struct {
	NeedID     string            `json:"need_id"`
	ReferralID string            `json:"referral_id,omitempty"`
	Status     domain.NeedStatus `json:"status"`
	Tier       int               `json:"tier"`
	Position   int64             `json:"position"`
	Replayed   bool              `json:"replayed"`
}

// needContext is a need with its live referral's offer and its household.
type needContext struct {
	need      domain.Need
	offer     domain.Offer
	household domain.Household
}

// onReferral runs a command on a referral: the referral's need is found by the
// index, and access is checked against whom the referral was addressed to.
func onReferral(ctx context.Context, cfg Config, referralID string, meta Meta, fp string,
	access func(domain.Need, domain.Addressee) error, decide func(needContext) ([]domain.Change, error)) (ReferralResult, error) {
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
	return onNeed(ctx, cfg, needID, meta, fp, func(n domain.Need, evs []domain.Event) error {
		to, ok := domain.AddresseeOf(evs, referralID)
		if !ok {
			return fmt.Errorf("referral %s: %w", referralID, domain.ErrNotFound)
		}
		return access(n, to)
	}, decide)
}

// onNeed loads a need, its offer and its household, checks access, decides, and
// appends in the need's partition (see update). Its answer, also to a retry, is
// the need as the command left it.
func onNeed(ctx context.Context, cfg Config, needID string, meta Meta, fp string,
	access func(domain.Need, []domain.Event) error, decide func(needContext) ([]domain.Change, error)) (ReferralResult, error) {
	ref := domain.AggregateRef{Type: domain.AggregateNeed, ID: needID}
	var before []domain.Event
	written, res, err := update(ctx, cfg, ref, meta, fp, func(evs []domain.Event) error {
		before = evs
		return access(evolve(domain.Need{}, evs), evs)
	}, func(evs []domain.Event) ([]domain.Change, error) {
		c := needContext{need: evolve(domain.Need{}, evs)}
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
	n, err := asLeft(ref, before, written, meta, domain.Need.Evolve)
	if err != nil {
		return ReferralResult{}, err
	}
	return ReferralResult{NeedID: needID, ReferralID: n.ReferralID, Status: n.Status, Tier: n.Tier, Position: res.LastPosition, Replayed: res.Duplicate}, nil
}

// asLeft folds an aggregate as a command left it: its events from before the
// command's first, then the command's own among those written (for a retry, the
// first attempt's), so that a retry is answered as the first attempt was.
func asLeft[S any](ref domain.AggregateRef, before, written []domain.Event, meta Meta, fold func(S, domain.Event) S) (S, error) {
	var s S
	var mine []domain.Event
	for _, e := range written {
		if e.Aggregate() == ref {
			mine = append(mine, e)
		}
	}
	if len(mine) == 0 {
		return s, fmt.Errorf("%w: command %s wrote nothing on %s %s", ErrCommandReused, meta.CommandID, ref.Type, ref.ID)
	}
	for _, e := range before {
		if e.AggregateVersion < mine[0].AggregateVersion {
			s = fold(s, e)
		}
	}
	for _, e := range mine {
		s = fold(s, e)
	}
	return s, nil
}

// evolve folds a need's events.
func evolve(n domain.Need, evs []domain.Event) domain.Need {
	for _, e := range evs {
		n = n.Evolve(e)
	}
	return n
}

// fold applies an aggregate's events, read from whichever partition holds them.
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

// mayServe allows the provider of the offer a referral proposed, whatever became
// of the referral since.
func mayServe(ctx context.Context, cfg Config, who domain.Principal) func(domain.Need, domain.Addressee) error {
	return func(_ domain.Need, to domain.Addressee) error {
		var o domain.Offer
		if err := fold(ctx, cfg, domain.AggregateRef{Type: domain.AggregateOffer, ID: to.OfferID}, func(e domain.Event) { o = o.Evolve(e) }); err != nil {
			return err
		}
		return who.MayManageOffer(o.Provider)
	}
}
