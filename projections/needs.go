// Package projections builds the read models people read from the log's events.
// Each read model keeps a checkpoint, written atomically with its documents, so
// that it applies each event at most once and can be rebuilt from the log.
package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/tierlink/tierlink/domain"
)

// Store keeps one partition's read-model documents and each model's checkpoint.
type Store interface {
	// Checkpoint returns the last position a model applied (0 if none).
	Checkpoint(ctx context.Context, model string) (int64, error)
	// Get returns a document of a model, and whether it exists.
	Get(ctx context.Context, model, id string) ([]byte, bool, error)
	// Commit writes documents and moves the checkpoint to position, atomically; it
	// writes nothing if the checkpoint is at or past position already.
	Commit(ctx context.Context, model string, position int64, docs map[string][]byte) error
}

// NeedsModel is the name of the need read model.
const NeedsModel = "needs"

// NeedView is the current state of one need, as people read it.
type NeedView struct {
	ID           string            `json:"id"`
	HouseholdID  string            `json:"household_id"`
	Community    string            `json:"community"`
	Street       string            `json:"street"`
	Category     string            `json:"category"`
	Status       domain.NeedStatus `json:"status"`
	Tier         int               `json:"tier"`
	RegisteredAt time.Time         `json:"registered_at"`
	Referral     *ReferralView     `json:"referral,omitempty"`
	Version      int64             `json:"version"`
	Position     int64             `json:"position"`
}

// ReferralView is a need's current referral and the matcher's reason for it.
type ReferralView struct {
	ID         string    `json:"id"`
	OfferID    string    `json:"offer_id"`
	Tier       int       `json:"tier"`
	Rule       string    `json:"rule"`
	Candidates int       `json:"candidates"`
	ProposedAt time.Time `json:"proposed_at"`
}

// EvolveNeed returns the view after one of the need's events, and whether it changed.
func EvolveNeed(v NeedView, e domain.Event, position int64) (NeedView, bool) {
	switch p := e.Payload.(type) {
	case domain.NeedRegistered:
		v = NeedView{
			ID: e.AggregateID, HouseholdID: p.HouseholdID, Community: p.Community, Street: p.Street,
			Category: p.Category, Status: domain.StatusOpen, Tier: domain.TierCommunity, RegisteredAt: e.Time,
		}
	case domain.ReferralProposed:
		v.Status = domain.StatusProposed
		v.Tier = p.Tier
		v.Referral = &ReferralView{ID: p.ReferralID, OfferID: p.OfferID, Tier: p.Tier, Rule: p.Rule, Candidates: p.Candidates, ProposedAt: e.Time}
	default:
		return v, false
	}
	v.Version = e.AggregateVersion
	v.Position = position
	return v, true
}

// Needs keeps the need read model of one partition.
type Needs struct {
	store Store
}

// NewNeeds returns the need projection over a store.
func NewNeeds(store Store) (*Needs, error) {
	if store == nil {
		return nil, fmt.Errorf("projections: nil store")
	}
	return &Needs{store: store}, nil
}

// Checkpoint returns the last position the projection applied.
func (n *Needs) Checkpoint(ctx context.Context) (int64, error) {
	return n.store.Checkpoint(ctx, NeedsModel)
}

// Handle applies the event at position pos (nil for a dead-lettered entry).
func (n *Needs) Handle(ctx context.Context, pos int64, e *domain.Event) error {
	var docs map[string][]byte
	if e != nil && e.AggregateType == domain.AggregateNeed {
		var cur NeedView
		b, ok, err := n.store.Get(ctx, NeedsModel, e.AggregateID)
		if err != nil {
			return err
		}
		if ok {
			if err := json.Unmarshal(b, &cur); err != nil {
				return fmt.Errorf("need view %s: %w", e.AggregateID, err)
			}
		}
		if next, changed := EvolveNeed(cur, *e, pos); changed {
			b, err := json.Marshal(next)
			if err != nil {
				return err
			}
			docs = map[string][]byte{e.AggregateID: b}
		}
	}
	return n.store.Commit(ctx, NeedsModel, pos, docs)
}
