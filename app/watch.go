package app

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/projections"
	"github.com/tierlink/tierlink/watch"
)

// WatchViews reads the watch read model of a district.
type WatchViews interface {
	// WatchDocs returns households' watch facts by id, in order; one not in the
	// read model is nil.
	WatchDocs(ctx context.Context, district string, ids []string) ([]*projections.WatchDoc, error)
	// Count returns how many members an index has with a score from min to max.
	Count(ctx context.Context, district, index string, min, max float64) (int64, error)
}

// WatchPage is one page of a node's watch list: the households due on it at At,
// earliest due first, with every reason each is there.
type WatchPage struct {
	Tier string    `json:"tier"`
	Area string    `json:"area"`
	At   time.Time `json:"at"`
	// Total is how many households are on the list at At.
	Total int          `json:"total"`
	Items []watch.Item `json:"items"`
	// Next is the cursor of the next page ("" at the end).
	Next string `json:"next_cursor,omitempty"`
}

// WatchCounts is how many households are on the watch lists of a node and of
// each street and community under it, at At.
type WatchCounts struct {
	Tier string          `json:"tier"`
	Area string          `json:"area"`
	At   time.Time       `json:"at"`
	Rows []WatchCountRow `json:"rows"`
}

// WatchCountRow is one node's watch list in numbers: the households on it, and by
// kind the households with a reason of that kind.
type WatchCountRow struct {
	Tier       string             `json:"tier"`
	Area       string             `json:"area"`
	Households int                `json:"households"`
	ByKind     map[watch.Kind]int `json:"by_kind"`
}

// watchOf finds a node's tier and district, checks that who may read it, and
// returns the watch read model.
func (r Reads) watchOf(who domain.Principal, tierName, area string) (int, string, WatchViews, error) {
	tier, district, err := r.node(tierName, area)
	if err != nil {
		return 0, "", nil, err
	}
	if err := who.MayReadArea(r.cfg.References.Current().Geography, tier, area); err != nil {
		return 0, "", nil, err
	}
	wv, ok := r.views.(WatchViews)
	if !ok {
		return 0, "", nil, fmt.Errorf("app: the read models have no watch lists")
	}
	return tier, district, wv, nil
}

// scoreOf is a time as the watch indexes score it.
func scoreOf(t time.Time) float64 { return float64(t.UnixMilli()) }

// Watchlist returns a page of a node's watch list at the present time: the
// households of its area due on it, earliest due first, each with its reasons
// (package watch), to operators and the centres whose node holds the area.
func (r Reads) Watchlist(ctx context.Context, who domain.Principal, tierName, area string, after string, limit int) (WatchPage, error) {
	tier, district, wv, err := r.watchOf(who, tierName, area)
	if err != nil {
		return WatchPage{}, err
	}
	limit, err = PageRequest{Limit: limit}.limit()
	if err != nil {
		return WatchPage{}, err
	}
	cursor, err := ParseCursor(after)
	if err != nil {
		return WatchPage{}, err
	}
	now := r.cfg.Now()
	index := projections.WatchIndex(tier, area)
	total, err := wv.Count(ctx, district, index, math.Inf(-1), scoreOf(now))
	if err != nil {
		return WatchPage{}, fmt.Errorf("watch list %s %s: %w", tierName, area, err)
	}
	out := WatchPage{Tier: tierName, Area: area, At: now, Total: int(total), Items: []watch.Item{}}
	// One more than the page, to know whether another page is due.
	members, err := r.views.Page(ctx, district, index, cursor, limit+1)
	if err != nil {
		return WatchPage{}, fmt.Errorf("watch list %s %s: %w", tierName, area, err)
	}
	var due []Cursor
	for _, m := range members {
		if m.Score <= scoreOf(now) {
			due = append(due, m)
		}
	}
	if len(due) > limit {
		due = due[:limit]
		out.Next = due[limit-1].Encode()
	}
	items, err := r.watchItems(ctx, wv, district, due, now)
	if err != nil {
		return WatchPage{}, err
	}
	out.Items = append(out.Items, items...)
	return out, nil
}

// watchItems reads the households of index members and returns those with a
// reason at now (a household whose facts changed since the index was read may
// have none).
func (r Reads) watchItems(ctx context.Context, wv WatchViews, district string, members []Cursor, now time.Time) ([]watch.Item, error) {
	if len(members) == 0 {
		return nil, nil
	}
	ids := make([]string, len(members))
	for i, m := range members {
		ids[i] = m.ID
	}
	docs, err := wv.WatchDocs(ctx, district, ids)
	if err != nil {
		return nil, fmt.Errorf("watch facts: %w", err)
	}
	rules := r.cfg.References.Current().Policy.AdviserRules()
	var out []watch.Item
	for _, d := range docs {
		if d == nil {
			continue
		}
		if it := d.Item(rules, now); len(it.Reasons) > 0 {
			out = append(out, it)
		}
	}
	return out, nil
}

// HouseholdWatch returns why a household is on its centre's watch list now (an
// empty list if it is not), to those who may read the household.
func (r Reads) HouseholdWatch(ctx context.Context, who domain.Principal, householdID string) ([]watch.Reason, error) {
	if !domain.ValidID(householdID) {
		return nil, fmt.Errorf("household %q: %w", householdID, domain.ErrNotFound)
	}
	h, ok, err := r.views.Household(ctx, householdID)
	if err != nil {
		return nil, fmt.Errorf("household %s: %w", householdID, err)
	}
	if !ok {
		return nil, fmt.Errorf("household %s: %w", householdID, domain.ErrNotFound)
	}
	if err := who.MayReadHousehold(community(r.cfg, h.Community)); err != nil {
		return nil, err
	}
	wv, ok := r.views.(WatchViews)
	if !ok {
		return nil, fmt.Errorf("app: the read models have no watch lists")
	}
	docs, err := wv.WatchDocs(ctx, h.District, []string{householdID})
	if err != nil {
		return nil, fmt.Errorf("watch facts of household %s: %w", householdID, err)
	}
	out := []watch.Reason{}
	if docs[0] != nil {
		out = append(out, watch.Reasons(docs[0].Household, r.cfg.References.Current().Policy.AdviserRules(), r.cfg.Now())...)
	}
	return out, nil
}

// watchSweepPage is how many households' facts WatchCounts reads at a time.
const watchSweepPage = 500

// watchSweepSlack is how many more members than counted WatchCounts reads, for
// households that came due between the count and the range.
const watchSweepSlack = 100

// WatchCounts returns, at the present time, how many households are on the watch
// list of a node and of each street and community under it, and by kind. The
// households are counted by index (the members due by now, one count per node);
// the kinds by reading once the facts of the households due on the node's own list
// and computing their reasons, so its cost grows with the households due, not with
// all the households of the area.
func (r Reads) WatchCounts(ctx context.Context, who domain.Principal, tierName, area string) (WatchCounts, error) {
	tier, district, wv, err := r.watchOf(who, tierName, area)
	if err != nil {
		return WatchCounts{}, err
	}
	now := r.cfg.Now()
	out := WatchCounts{Tier: tierName, Area: area, At: now, Rows: []WatchCountRow{}}
	rows := map[[2]string]*WatchCountRow{}
	for _, n := range r.nodesIn(tier, area) {
		c, err := wv.Count(ctx, district, projections.WatchIndex(n.tier, n.area), math.Inf(-1), scoreOf(now))
		if err != nil {
			return WatchCounts{}, fmt.Errorf("watch counts of %s %s: %w", domain.TierName(n.tier), n.area, err)
		}
		out.Rows = append(out.Rows, WatchCountRow{Tier: domain.TierName(n.tier), Area: n.area, Households: int(c), ByKind: map[watch.Kind]int{}})
	}
	for i := range out.Rows {
		rows[[2]string{out.Rows[i].Tier, out.Rows[i].Area}] = &out.Rows[i]
	}
	// The households due on the node, in one range of the index (its count is the
	// node's row, first): a cursor's pages would skip, at every page, the members
	// tied on the cursor's score, which are many where households were registered
	// together. Their facts are read in chunks.
	due, err := r.views.Page(ctx, district, projections.WatchIndex(tier, area), Cursor{}, out.Rows[0].Households+watchSweepSlack)
	if err != nil {
		return WatchCounts{}, fmt.Errorf("watch counts of %s %s: %w", tierName, area, err)
	}
	for len(due) > 0 && due[len(due)-1].Score > scoreOf(now) {
		due = due[:len(due)-1]
	}
	for start := 0; start < len(due); start += watchSweepPage {
		items, err := r.watchItems(ctx, wv, district, due[start:min(start+watchSweepPage, len(due))], now)
		if err != nil {
			return WatchCounts{}, err
		}
		for _, it := range items {
			for _, row := range []*WatchCountRow{rows[[2]string{domain.TierName(domain.TierCommunity), it.Community}],
				rows[[2]string{domain.TierName(domain.TierStreet), it.Street}], rows[[2]string{domain.TierName(domain.TierDistrict), district}]} {
				if row == nil {
					continue
				}
				seen := map[watch.Kind]bool{}
				for _, rs := range it.Reasons {
					if !seen[rs.Kind] {
						seen[rs.Kind] = true
						row.ByKind[rs.Kind]++
					}
				}
			}
		}
	}
	return out, nil
}

// takeUpRows reads an area's take-up counters, in catalogue order.
func takeUpRows(ps []domain.Programme, counters map[string]int64) []TakeUpRow {
	out := make([]TakeUpRow, 0, len(ps))
	for _, p := range ps {
		f := func(field string) int64 { return counters[p.Code+"|"+field] }
		row := TakeUpRow{Programme: p.Code, Eligible: f(projections.TakeUpEligible), Applied: f(projections.TakeUpApplied),
			Granted: f(projections.TakeUpGranted), Refused: f(projections.TakeUpRefused)}
		if row.Eligible > 0 {
			row.Rate = float64(row.Granted) / float64(row.Eligible)
		}
		out = append(out, row)
	}
	return out
}
