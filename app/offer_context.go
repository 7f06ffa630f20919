package app

import (
	"context"
	"fmt"

	"github.com/tierlink/tierlink/domain"
)

// OfferChangeResult says where an offer's change landed in the log.
type OfferChangeResult struct {
	OfferID  string `json:"offer_id"`
	Version  int64  `json:"version"`
	Position int64  `json:"position"`
	Replayed bool   `json:"replayed"`
}

// changeOffer runs a command on an existing offer (see update): only its provider
// may change it. Its answer, also to a retry, is where the change landed and the
// offer's version after it.
func changeOffer(ctx context.Context, cfg Config, offerID string, meta Meta, fp string, decide func(domain.Offer) ([]domain.Change, error)) (OfferChangeResult, error) {
	ref := domain.AggregateRef{Type: domain.AggregateOffer, ID: offerID}
	offer := func(evs []domain.Event) domain.Offer {
		var o domain.Offer
		for _, e := range evs {
			o = o.Evolve(e)
		}
		return o
	}
	written, res, err := update(ctx, cfg, ref, meta, fp,
		func(evs []domain.Event) error { return meta.Principal.MayManageOffer(offer(evs).Provider) },
		func(evs []domain.Event) ([]domain.Change, error) { return decide(offer(evs)) })
	if err != nil {
		return OfferChangeResult{}, err
	}
	out := OfferChangeResult{OfferID: offerID, Position: res.LastPosition, Replayed: res.Duplicate}
	for _, e := range written {
		if e.Aggregate() == ref {
			out.Version = e.AggregateVersion
		}
	}
	if out.Version == 0 {
		return OfferChangeResult{}, fmt.Errorf("%w: command %s wrote nothing on offer %s", ErrCommandReused, meta.CommandID, offerID)
	}
	return out, nil
}
