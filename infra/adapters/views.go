package adapters

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tierlink/tierlink/app"
	"github.com/tierlink/tierlink/infra/viewstore"
	"github.com/tierlink/tierlink/projections"
)

// NeedViews adapts the read models of every district to app.NeedViews and
// app.ReferralIndex.
type NeedViews struct{ Views *viewstore.Set }

// FindNeed finds a need's view in any district.
func (v NeedViews) FindNeed(ctx context.Context, id string) (projections.NeedView, bool, error) {
	if strings.HasPrefix(id, legacyReferralPrefix) {
		return projections.NeedView{}, false, nil // no need has such an id: the server makes them
	}
	return find[projections.NeedView](ctx, v.Views, projections.NeedsModel, id)
}

// NeedOfReferral returns the id of a referral's need.
func (v NeedViews) NeedOfReferral(ctx context.Context, referralID string) (string, bool, error) {
	b, ok, err := v.Views.Find(ctx, projections.ReferralsModel, referralID)
	if err == nil && !ok {
		b, ok, err = v.Views.Find(ctx, projections.NeedsModel, legacyReferralPrefix+referralID)
	}
	return string(b), ok, err
}

// legacyReferralPrefix names the referral index's documents as read models built
// before the index had a model of its own kept them, in the needs model. A referral
// proposed before an upgrade is found there until the read models are rebuilt
// (tierlink projections rebuild), so that its inbox and its answers keep working.
const legacyReferralPrefix = "referral-"

// ReadViews adapts the read models of every district to app.Views, for the queries.
type ReadViews struct{ Views *viewstore.Set }

// Household finds a household's view in any district.
func (v ReadViews) Household(ctx context.Context, id string) (projections.HouseholdView, bool, error) {
	return find[projections.HouseholdView](ctx, v.Views, projections.HouseholdsModel, id)
}

// Offer finds an offer's view in any district.
func (v ReadViews) Offer(ctx context.Context, id string) (projections.OfferView, bool, error) {
	return find[projections.OfferView](ctx, v.Views, projections.OffersModel, id)
}

// Needs returns a district's needs by id, in order; one not in the read model is nil.
func (v ReadViews) Needs(ctx context.Context, district string, ids []string) ([]*projections.NeedView, error) {
	docs, err := v.docs(ctx, district, projections.NeedsModel, ids)
	if err != nil {
		return nil, err
	}
	return decodeAll[projections.NeedView](docs, projections.NeedsModel, ids)
}

// Offers returns a district's offers by id, in order; one not in the read model is nil.
func (v ReadViews) Offers(ctx context.Context, district string, ids []string) ([]*projections.OfferView, error) {
	docs, err := v.docs(ctx, district, projections.OffersModel, ids)
	if err != nil {
		return nil, err
	}
	return decodeAll[projections.OfferView](docs, projections.OffersModel, ids)
}

// NeedsOfReferrals returns the id of each referral's need in a district, in order
// ("" for one not in the read model), a referral also at its legacy key.
func (v ReadViews) NeedsOfReferrals(ctx context.Context, district string, referralIDs []string) ([]string, error) {
	s, err := v.Views.Store(district)
	if err != nil {
		return nil, err
	}
	docs, err := s.GetMany(ctx, projections.ReferralsModel, referralIDs)
	if err != nil {
		return nil, err
	}
	var missing []int
	var legacy []string
	for i, d := range docs {
		if d == nil {
			missing, legacy = append(missing, i), append(legacy, legacyReferralPrefix+referralIDs[i])
		}
	}
	if len(missing) > 0 {
		old, err := s.GetMany(ctx, projections.NeedsModel, legacy)
		if err != nil {
			return nil, err
		}
		for j, i := range missing {
			docs[i] = old[j]
		}
	}
	out := make([]string, len(docs))
	for i, d := range docs {
		out[i] = string(d)
	}
	return out, nil
}

// docs reads documents of a model in a district, in order (nil for a missing one).
func (v ReadViews) docs(ctx context.Context, district, model string, ids []string) ([][]byte, error) {
	s, err := v.Views.Store(district)
	if err != nil {
		return nil, err
	}
	return s.GetMany(ctx, model, ids)
}

// find reads and decodes a document of a model in whichever district holds it.
func find[T any](ctx context.Context, views *viewstore.Set, model, id string) (T, bool, error) {
	var out T
	b, ok, err := views.Find(ctx, model, id)
	if err != nil || !ok {
		return out, false, err
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return out, false, fmt.Errorf("%s view %s: %w", model, id, err)
	}
	return out, true, nil
}

// decodeAll decodes documents read in order (nil stays nil).
func decodeAll[T any](docs [][]byte, model string, ids []string) ([]*T, error) {
	out := make([]*T, len(docs))
	for i, d := range docs {
		if d == nil {
			continue
		}
		var v T
		if err := json.Unmarshal(d, &v); err != nil {
			return nil, fmt.Errorf("%s view %s: %w", model, ids[i], err)
		}
		out[i] = &v
	}
	return out, nil
}

// Page returns up to limit members of a district's index after a cursor.
func (v ReadViews) Page(ctx context.Context, district, index string, after app.Cursor, limit int) ([]app.Cursor, error) {
	s, err := v.Views.Store(district)
	if err != nil {
		return nil, err
	}
	ms, err := s.Range(ctx, index, viewstore.Member{ID: after.ID, Score: after.Score}, limit)
	if err != nil {
		return nil, err
	}
	out := make([]app.Cursor, len(ms))
	for i, m := range ms {
		out[i] = app.Cursor{ID: m.ID, Score: m.Score}
	}
	return out, nil
}

// Checkpoint returns the position a district's read models have applied.
func (v ReadViews) Checkpoint(ctx context.Context, district string) (int64, error) {
	s, err := v.Views.Store(district)
	if err != nil {
		return 0, err
	}
	return s.Checkpoint(ctx, projections.CasesName)
}

// Latest returns the ids of a district's index with the n highest scores.
func (v ReadViews) Latest(ctx context.Context, district, index string, n int) ([]string, error) {
	s, err := v.Views.Store(district)
	if err != nil {
		return nil, err
	}
	return s.Latest(ctx, index, n)
}

// Counters returns a district's sets of counters by name, in order.
func (v ReadViews) Counters(ctx context.Context, district string, names []string) ([]map[string]int64, error) {
	s, err := v.Views.Store(district)
	if err != nil {
		return nil, err
	}
	return s.Counters(ctx, names)
}

// Count returns how many members a district's index has with a score from min to max.
func (v ReadViews) Count(ctx context.Context, district, index string, min, max float64) (int64, error) {
	s, err := v.Views.Store(district)
	if err != nil {
		return 0, err
	}
	return s.Count(ctx, index, min, max)
}

// WatchDocs returns households' watch facts in a district by id, in order; one not
// in the read model is nil.
func (v ReadViews) WatchDocs(ctx context.Context, district string, ids []string) ([]*projections.WatchDoc, error) {
	docs, err := v.docs(ctx, district, projections.WatchModel, ids)
	if err != nil {
		return nil, err
	}
	return decodeAll[projections.WatchDoc](docs, projections.WatchModel, ids)
}
