package app

import (
	"context"
	"time"

	"github.com/tierlink/tierlink/domain"
)

// HouseholdResult says where a household stands after an adviser's command on it.
type HouseholdResult struct {
	HouseholdID string `json:"household_id"`
	// Hardship is the household's hardship score after the command (a visit leaves it as it was).
	Hardship int   `json:"hardship"`
	Version  int64 `json:"version"`
	Position int64 `json:"position"`
	Replayed bool  `json:"replayed"`
}

// VisitInput is a visit to record: who visited, how, when, and what was found.
type VisitInput struct {
	Visitor   string           `json:"visitor"`
	Kind      domain.VisitKind `json:"kind"`
	VisitedAt time.Time        `json:"visited_at"`
	Found     string           `json:"found"`
}

// RecordVisitHandler records an adviser's visit to (or call with) a household.
type RecordVisitHandler struct{ cfg Config }

// Handle records the visit; the centres that may register the household's needs
// may send it.
func (h RecordVisitHandler) Handle(ctx context.Context, householdID string, in VisitInput, meta Meta) (HouseholdResult, error) {
	return onHousehold(ctx, h.cfg, householdID, meta, fingerprint("record_visit", []any{householdID, in}),
		func(hh domain.Household) ([]domain.Change, error) {
			return domain.DecideVisit(hh, domain.Visit{Visitor: in.Visitor, Kind: in.Kind, VisitedAt: in.VisitedAt, Found: in.Found}, h.cfg.Now())
		})
}

// onHousehold runs an adviser's command on a household under the rule of
// idempotency.go: access first (the centres of the household's community, which
// never changes), then a retry's first answer, then the decision. Its answer, also
// to a retry, is the household as the command left it.
func onHousehold(ctx context.Context, cfg Config, householdID string, meta Meta, fp string,
	decide func(domain.Household) ([]domain.Change, error)) (HouseholdResult, error) {
	ref := domain.AggregateRef{Type: domain.AggregateHousehold, ID: householdID}
	var before []domain.Event
	written, res, err := update(ctx, cfg, ref, meta, fp,
		func(evs []domain.Event) error {
			before = evs
			return meta.Principal.MayRegisterIn(community(cfg, foldHousehold(evs).Community))
		},
		func(evs []domain.Event) ([]domain.Change, error) { return decide(foldHousehold(evs)) })
	if err != nil {
		return HouseholdResult{}, err
	}
	hh, err := asLeft(ref, before, written, meta, domain.Household.Evolve)
	if err != nil {
		return HouseholdResult{}, err
	}
	return HouseholdResult{HouseholdID: householdID, Hardship: hh.Hardship, Version: hh.Version,
		Position: res.LastPosition, Replayed: res.Duplicate}, nil
}
