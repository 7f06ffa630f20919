package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/tierlink/tierlink/app"
	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/reference"
	"github.com/tierlink/tierlink/projections"
	"github.com/tierlink/tierlink/projections/projectionstest"
	"github.com/tierlink/tierlink/watch"
)

// Household reads a household's view from the memory (any district).
func (m *memViews) Household(_ context.Context, id string) (projections.HouseholdView, bool, error) {
	var h projections.HouseholdView
	b, ok := m.Docs[projections.HouseholdsModel+"/"+id]
	if !ok {
		return h, false, nil
	}
	return h, true, json.Unmarshal(b, &h)
}

// WatchDocs reads households' watch facts from the memory.
func (m *memViews) WatchDocs(_ context.Context, _ string, ids []string) ([]*projections.WatchDoc, error) {
	out := make([]*projections.WatchDoc, len(ids))
	for i, id := range ids {
		if b, ok := m.Docs[projections.WatchModel+"/"+id]; ok {
			var d projections.WatchDoc
			if err := json.Unmarshal(b, &d); err != nil {
				return nil, err
			}
			out[i] = &d
		}
	}
	return out, nil
}

// watchFixture plays three households into the read models: h1 in huayang-01,
// elderly and living alone, unemployed, not contacted for 40 days (not contacted;
// employment assistance unclaimed); h2 in huayang-02, registered yesterday (on no
// list); h3 in huayang-02, with a need waiting for 10 days (need waiting).
func watchFixture(t *testing.T) (*fixture, *memViews) {
	views := &memViews{Memory: projectionstest.NewMemory()}
	f := newFixtureReading(t, views)
	cases, err := projections.NewCases(views, district)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := reference.Default()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ref.Publication(district)
	if err != nil {
		t.Fatal(err)
	}
	var pos int64
	versions := map[string]int64{}
	play := func(typ, id string, at time.Time, p domain.Payload) {
		pos++
		versions[typ+id]++
		e := domain.Event{Type: p.EventType(), AggregateType: typ, AggregateID: id, AggregateVersion: versions[typ+id],
			Time: at, Actor: "test", Payload: p}
		if err := cases.Handle(context.Background(), pos, &e); err != nil {
			t.Fatal(err)
		}
	}
	day := domain.Day
	play(domain.AggregateReference, district, f.now.Add(-50*day), pub)
	reg := func(id, com string, at time.Time, groups ...domain.TargetGroup) {
		play(domain.AggregateHousehold, id, at, domain.HouseholdRegistered{Community: com, Street: "huayang", District: district,
			TargetGroups: groups, Assessment: domain.Assessment{}, Hardship: 40})
	}
	reg("h1", community, f.now.Add(-40*day), domain.GroupElderly, domain.GroupLivingAlone, domain.GroupUnemployed)
	reg("h2", "huayang-02", f.now.Add(-day))
	reg("h3", "huayang-02", f.now.Add(-10*day))
	play(domain.AggregateHousehold, "h3", f.now.Add(-10*day), domain.NeedsOpened{Needs: []domain.OpenedNeed{{NeedID: "n3", Category: category}}})
	play(domain.AggregateNeed, "n3", f.now.Add(-10*day), domain.NeedRegistered{HouseholdID: "h3", Community: "huayang-02", Street: "huayang",
		Category: category, Urgency: domain.UrgencyNormal, Hardship: 40})
	return f, views
}

func kindsOf(rs []watch.Reason) []watch.Kind {
	var out []watch.Kind
	for _, r := range rs {
		out = append(out, r.Kind)
	}
	return out
}

// TestWatchlistReads reads the watch lists, a household's reasons and the counts
// as each principal: the households due now, earliest due first, paged; a centre
// its own node and those below; a provider never.
func TestWatchlistReads(t *testing.T) {
	f, _ := watchFixture(t)
	reads := f.app.Queries.Reads
	ctx := context.Background()
	for _, c := range []struct {
		name       string
		who        domain.Principal
		tier, area string
		want       []string
		refused    bool
	}{
		{name: "an operator, the district", who: operator, tier: "district", area: district, want: []string{"h1", "h3"}},
		{name: "the street centre", who: street, tier: "street", area: "huayang", want: []string{"h1", "h3"}},
		{name: "the street centre, a community below", who: street, tier: "community", area: "huayang-02", want: []string{"h3"}},
		{name: "the community centre", who: centre, tier: "community", area: community, want: []string{"h1"}},
		{name: "another community's centre", who: otherCentre, tier: "community", area: community, refused: true},
		{name: "a community centre, its street", who: centre, tier: "street", area: "huayang", refused: true},
		{name: "a provider", who: provider, tier: "district", area: district, refused: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			page, err := reads.Watchlist(ctx, c.who, c.tier, c.area, "", 0)
			if c.refused {
				if !errors.Is(err, domain.ErrForbidden) {
					t.Fatalf("watch list: %v, want forbidden", err)
				}
				_, err = reads.WatchCounts(ctx, c.who, c.tier, c.area)
				if !errors.Is(err, domain.ErrForbidden) {
					t.Fatalf("watch counts: %v, want forbidden", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, it := range page.Items {
				got = append(got, it.HouseholdID)
			}
			if !slices.Equal(got, c.want) || page.Total != len(c.want) || page.Next != "" || !page.At.Equal(f.now) {
				t.Errorf("page %+v, want %v", page, c.want)
			}
		})
	}
	page, err := reads.Watchlist(ctx, operator, "district", district, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if k := kindsOf(page.Items[0].Reasons); !slices.Equal(k, []watch.Kind{watch.NotContacted, watch.Unclaimed}) {
		t.Errorf("h1's reasons %v", k)
	}
	if r := page.Items[0].Reasons[1]; r.Programme != "employment_assistance" {
		t.Errorf("h1's unclaimed programme %+v", r)
	}
	if k := kindsOf(page.Items[1].Reasons); !slices.Equal(k, []watch.Kind{watch.NeedWaiting}) || page.Items[1].Reasons[0].NeedID != "n3" {
		t.Errorf("h3's reasons %+v", page.Items[1].Reasons)
	}

	// Paged one at a time.
	first, err := reads.Watchlist(ctx, operator, "district", district, "", 1)
	if err != nil || len(first.Items) != 1 || first.Items[0].HouseholdID != "h1" || first.Next == "" || first.Total != 2 {
		t.Fatalf("first page %+v %v", first, err)
	}
	second, err := reads.Watchlist(ctx, operator, "district", district, first.Next, 1)
	if err != nil || len(second.Items) != 1 || second.Items[0].HouseholdID != "h3" || second.Next != "" {
		t.Fatalf("second page %+v %v", second, err)
	}
	if _, err := reads.Watchlist(ctx, operator, "district", district, "nonsense", 1); !errors.Is(err, app.ErrBadCursor) {
		t.Errorf("a bad cursor: %v", err)
	}
	var fe *domain.FieldError
	if _, err := reads.Watchlist(ctx, operator, "district", district, "", app.MaxPageSize+1); !errors.As(err, &fe) || fe.Field != "limit" {
		t.Errorf("a bad limit: %v", err)
	}
	if _, err := reads.Watchlist(ctx, operator, "district", "nowhere", "", 0); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("an unknown area: %v", err)
	}

	// Later, h2's reassessment comes due too (a year after its registration).
	f.now = f.now.Add(365 * domain.Day)
	if page, err := reads.Watchlist(ctx, operator, "community", "huayang-02", "", 0); err != nil || page.Total != 2 {
		t.Errorf("a year later: %+v %v", page, err)
	}
}

// TestHouseholdWatch reads one household's reasons, as Entitlements allows.
func TestHouseholdWatch(t *testing.T) {
	f, _ := watchFixture(t)
	reads := f.app.Queries.Reads
	ctx := context.Background()
	rs, err := reads.HouseholdWatch(ctx, street, "h3")
	if err != nil || !slices.Equal(kindsOf(rs), []watch.Kind{watch.NeedWaiting}) {
		t.Fatalf("h3: %+v %v", rs, err)
	}
	if rs, err := reads.HouseholdWatch(ctx, operator, "h2"); err != nil || rs == nil || len(rs) != 0 {
		t.Errorf("h2: %+v %v, want an empty list", rs, err)
	}
	if _, err := reads.HouseholdWatch(ctx, centre, "h3"); !errors.Is(err, domain.ErrForbidden) {
		t.Errorf("another community's household: %v", err)
	}
	if _, err := reads.HouseholdWatch(ctx, provider, "h3"); !errors.Is(err, domain.ErrForbidden) {
		t.Errorf("a provider: %v", err)
	}
	if _, err := reads.HouseholdWatch(ctx, operator, "nobody"); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("an unknown household: %v", err)
	}
}

// TestWatchCounts counts the households due on each node under a street, and by kind.
func TestWatchCounts(t *testing.T) {
	f, _ := watchFixture(t)
	got, err := f.app.Queries.Reads.WatchCounts(context.Background(), street, "street", "huayang")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]app.WatchCountRow{}
	for _, r := range got.Rows {
		rows[r.Tier+":"+r.Area] = r
	}
	if got.Rows[0].Tier != "street" || len(rows) < 3 {
		t.Fatalf("rows %+v", got.Rows)
	}
	want := map[string]app.WatchCountRow{
		"street:huayang":       {Households: 2, ByKind: map[watch.Kind]int{watch.NotContacted: 1, watch.Unclaimed: 1, watch.NeedWaiting: 1}},
		"community:huayang-01": {Households: 1, ByKind: map[watch.Kind]int{watch.NotContacted: 1, watch.Unclaimed: 1}},
		"community:huayang-02": {Households: 1, ByKind: map[watch.Kind]int{watch.NeedWaiting: 1}},
		"community:huayang-03": {Households: 0, ByKind: map[watch.Kind]int{}},
	}
	for k, w := range want {
		r := rows[k]
		if r.Households != w.Households || len(r.ByKind) != len(w.ByKind) {
			t.Errorf("%s: %+v, want %+v", k, r, w)
		}
		for kind, n := range w.ByKind {
			if r.ByKind[kind] != n {
				t.Errorf("%s %s: %d, want %d", k, kind, r.ByKind[kind], n)
			}
		}
	}
}

// TestTakeUpInIndicators reads the take-up of the catalogue's programmes in the
// indicators: h1 is eligible for employment assistance and has not applied.
func TestTakeUpInIndicators(t *testing.T) {
	f, _ := watchFixture(t)
	ind, err := f.app.Queries.Reads.Indicators(context.Background(), app.IndicatorRequest{Tier: "district", Area: district, Period: "day"}, operator)
	if err != nil {
		t.Fatal(err)
	}
	if len(ind.TakeUp) != 10 || ind.TakeUp[0].Programme != "subsistence_allowance" {
		t.Fatalf("take-up rows %+v", ind.TakeUp)
	}
	for _, r := range ind.TakeUp {
		want := int64(0)
		if r.Programme == "employment_assistance" {
			want = 1
		}
		if r.Eligible != want || r.Applied != 0 || r.Rate != 0 {
			t.Errorf("take-up %+v", r)
		}
	}
}
