package app_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tierlink/tierlink/app"
	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/projections"
	"github.com/tierlink/tierlink/projections/projectionstest"
)

// overviewFixture plays households and needs around China midnight (UTC+8) through
// the cases projection and returns the fixture (its clock at 2026-11-29 09:00 UTC,
// 17:00 in China):
//   - hA registered 2026-11-28 23:50 China time (a1: proposed at the community
//     tier, accepted 2 h and started 12 h after registration: yesterday's cohort);
//   - hB registered 2026-11-29 00:05 China time, still 11-28 in UTC (b1: proposed at
//     the district tier, accepted after 4 h; b2 waitlisted);
//   - d1, e1, f1 registered today, proposed at the community tier and unanswered:
//     due in 5 h, in 30 h, and an hour overdue;
//   - hC registered 2026-11-20 (c1: accepted after 3 days, started after 5).
func overviewFixture(t *testing.T) *fixture {
	t.Helper()
	views := &memViews{Memory: projectionstest.NewMemory()}
	f := newFixtureReading(t, views)
	cases, err := projections.NewCases(views, district)
	if err != nil {
		t.Fatal(err)
	}
	var pos int64
	versions := map[string]int64{}
	play := func(kind, id string, at time.Time, p domain.Payload) {
		t.Helper()
		pos++
		versions[id]++
		e := domain.Event{Type: p.EventType(), AggregateType: kind, AggregateID: id, AggregateVersion: versions[id],
			Time: at, Actor: "system:matcher", Payload: p}
		if err := cases.Handle(context.Background(), pos, &e); err != nil {
			t.Fatal(err)
		}
	}
	utc := func(day, hour, minute int) time.Time { return time.Date(2026, 11, day, hour, minute, 0, 0, time.UTC) }
	household := func(id string, at time.Time) {
		play(domain.AggregateHousehold, id, at, domain.HouseholdRegistered{Community: community, Street: "huayang", District: district, Hardship: 50})
		play(domain.AggregateHousehold, id, at, domain.NeedsOpened{Needs: []domain.OpenedNeed{{NeedID: id + "-need"}}})
	}
	need := func(id, hh, cat string, at time.Time) {
		play(domain.AggregateNeed, id, at, domain.NeedRegistered{HouseholdID: hh, Community: community, Street: "huayang", Category: cat,
			Urgency: domain.UrgencyNormal, Hardship: 50})
	}
	propose := func(id string, tier int, at, due time.Time) {
		play(domain.AggregateNeed, id, at, domain.ReferralProposed{ReferralID: "r-" + id, OfferID: "o", Tier: tier, Rule: "best-candidate-at-tier",
			Candidates: 1, Deadline: due})
	}
	accept := func(id string, at time.Time) {
		play(domain.AggregateNeed, id, at, domain.ReferralAccepted{ReferralID: "r-" + id})
	}
	start := func(id string, at time.Time) {
		play(domain.AggregateNeed, id, at, domain.ServiceStarted{ReferralID: "r-" + id})
	}

	household("hC", utc(20, 2, 0))
	need("c1", "hC", "counselling", utc(20, 2, 0))
	propose("c1", domain.TierStreet, utc(20, 3, 0), utc(22, 3, 0))
	accept("c1", utc(23, 2, 0))
	start("c1", utc(25, 2, 0))

	household("hA", utc(28, 15, 45))
	need("a1", "hA", "counselling", utc(28, 15, 50))
	propose("a1", domain.TierCommunity, utc(28, 15, 55), utc(30, 15, 55))
	household("hB", utc(28, 16, 5))
	need("b1", "hB", "counselling", utc(28, 16, 10))
	need("b2", "hB", "meals", utc(28, 16, 10))
	play(domain.AggregateNeed, "b2", utc(28, 16, 11), domain.NeedWaitlisted{Reason: "no_supply"})
	propose("b1", domain.TierDistrict, utc(28, 16, 20), utc(30, 16, 20))
	accept("a1", utc(28, 17, 50))
	accept("b1", utc(28, 20, 10))
	for _, id := range []string{"d1", "e1", "f1"} {
		need(id, "hB", "counselling", utc(29, 1, 0))
	}
	propose("d1", domain.TierCommunity, utc(29, 1, 30), utc(29, 14, 0))
	propose("e1", domain.TierCommunity, utc(29, 1, 30), utc(30, 15, 0))
	propose("f1", domain.TierCommunity, utc(29, 1, 30), utc(29, 8, 0))
	start("a1", utc(29, 3, 50))
	return f
}

// TestOverviewOfASpan reads the headline figures of each span, and the span before
// it, at a district, a street and a community: the days are China days (a need
// registered at 00:10 China time is today's though its UTC date is yesterday's),
// the times to accept and to start are the percentiles of their histograms, and a
// span with no registration reads zero.
func TestOverviewOfASpan(t *testing.T) {
	f := overviewFixture(t)
	base := f.now
	h := func(hours float64) time.Duration { return time.Duration(hours * float64(time.Hour)).Round(time.Minute) }
	type figures struct {
		days, households, helped, demand, near, served int64
		accept, start                                  [2]time.Duration // p50, p90; zero: none
	}
	for _, c := range []struct {
		name         string
		now          time.Time
		span, month  string
		tier, area   string
		cur, prev    figures
		from, prevTo string // China dates
		refusedField string
	}{
		{name: "today", span: "today", cur: figures{days: 1, households: 1, demand: 5, near: 3, accept: [2]time.Duration{h(3.5), h(3.9)}},
			prev: figures{days: 1, households: 1, helped: 1, demand: 1, near: 1, served: 1, accept: [2]time.Duration{h(1.5), h(1.9)}, start: [2]time.Duration{h(10), h(11.6)}},
			from: "2026-11-29", prevTo: "2026-11-29"},
		{name: "today, half an hour after China midnight", now: time.Date(2026, 11, 28, 16, 30, 0, 0, time.UTC), span: "today",
			cur:  figures{days: 1, households: 1, demand: 5, near: 3, accept: [2]time.Duration{h(3.5), h(3.9)}},
			prev: figures{days: 1, households: 1, helped: 1, demand: 1, near: 1, served: 1, accept: [2]time.Duration{h(1.5), h(1.9)}, start: [2]time.Duration{h(10), h(11.6)}},
			from: "2026-11-29", prevTo: "2026-11-29"},
		{name: "7 days, the default", span: "", cur: figures{days: 7, households: 2, helped: 1, demand: 6, near: 4, served: 1,
			accept: [2]time.Duration{h(2), h(3.8)}, start: [2]time.Duration{h(10), h(11.6)}},
			prev: figures{days: 7, households: 1, helped: 1, demand: 1, near: 1, served: 1, accept: [2]time.Duration{h(60), h(69.6)}, start: [2]time.Duration{h(108), h(117.6)}},
			from: "2026-11-23", prevTo: "2026-11-23"},
		{name: "30 days: nothing before", span: "30d", cur: figures{days: 30, households: 3, helped: 2, demand: 7, near: 5, served: 2,
			accept: [2]time.Duration{h(3.5), h(64.8)}, start: [2]time.Duration{h(12), h(115.2)}},
			prev: figures{days: 30}, from: "2026-10-31", prevTo: "2026-10-31"},
		{name: "this month, against the first 29 days of the last", span: "month", cur: figures{days: 29, households: 3, helped: 2, demand: 7, near: 5, served: 2,
			accept: [2]time.Duration{h(3.5), h(64.8)}, start: [2]time.Duration{h(12), h(115.2)}},
			prev: figures{days: 29}, from: "2026-11-01", prevTo: "2026-10-30"},
		{name: "a past month, with no data", span: "month", month: "2026-10", cur: figures{days: 31}, prev: figures{days: 30},
			from: "2026-10-01", prevTo: "2026-10-01"},
		{name: "a street", span: "7d", tier: "street", area: "huayang", cur: figures{days: 7, households: 2, helped: 1, demand: 6, near: 4, served: 1,
			accept: [2]time.Duration{h(2), h(3.8)}, start: [2]time.Duration{h(10), h(11.6)}},
			prev: figures{days: 7, households: 1, helped: 1, demand: 1, near: 1, served: 1, accept: [2]time.Duration{h(60), h(69.6)}, start: [2]time.Duration{h(108), h(117.6)}},
			from: "2026-11-23", prevTo: "2026-11-23"},
		{name: "another community: no data", span: "7d", tier: "community", area: "huayang-02", cur: figures{days: 7}, prev: figures{days: 7},
			from: "2026-11-23", prevTo: "2026-11-23"},
		{name: "a month not begun", span: "month", month: "2026-12", refusedField: "month"},
		{name: "an unknown span", span: "week", refusedField: "span"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f.now = base
			if !c.now.IsZero() {
				f.now = c.now
			}
			tier, area := c.tier, c.area
			if tier == "" {
				tier, area = "district", district
			}
			o, err := f.app.Queries.Reads.Overview(context.Background(), app.OverviewRequest{Tier: tier, Area: area, Span: c.span, Month: c.month}, operator)
			if c.refusedField != "" {
				var fe *domain.FieldError
				if !errors.As(err, &fe) || fe.Field != c.refusedField {
					t.Fatalf("overview: %v, want a field error on %s", err, c.refusedField)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			day := func(t time.Time) string { return t.In(projections.Zone).Format(time.DateOnly) }
			if day(o.Current.From) != c.from || day(o.Previous.To) != c.prevTo {
				t.Errorf("current from %s, previous to %s; want %s, %s", day(o.Current.From), day(o.Previous.To), c.from, c.prevTo)
			}
			if day(o.Current.To) != day(f.now.AddDate(0, 0, 1)) && c.month == "" {
				t.Errorf("current to %s: want tomorrow's start", day(o.Current.To))
			}
			for _, p := range []struct {
				name string
				got  app.Figures
				want figures
			}{{"current", o.Current, c.cur}, {"previous", o.Previous, c.prev}} {
				g, w := p.got, p.want
				got := figures{days: int64(g.Days), households: g.Households, helped: g.Helped, demand: g.All.Demand, near: g.All.Near, served: g.All.Served,
					accept: [2]time.Duration{g.All.Accept.P50.Round(time.Minute), g.All.Accept.P90.Round(time.Minute)},
					start:  [2]time.Duration{g.All.Start.P50.Round(time.Minute), g.All.Start.P90.Round(time.Minute)}}
				if got != w {
					t.Errorf("%s: %+v, want %+v", p.name, got, w)
				}
				if w.demand > 0 && g.All.Accessibility != float64(w.near)/float64(w.demand) {
					t.Errorf("%s: accessibility %v, want %d/%d", p.name, g.All.Accessibility, w.near, w.demand)
				}
				if w.demand == 0 && (g.All.Accessibility != 0 || g.All.Obtainment != 0 || g.Coverage != 0 || g.All.Accept.Count != 0) {
					t.Errorf("%s: no data, but %+v", p.name, g)
				}
			}
		})
	}
}

// TestDueWithinADay counts the referrals awaiting an answer by their deadline: one
// past it (overdue), one due within 24 hours, one due later.
func TestDueWithinADay(t *testing.T) {
	f := overviewFixture(t)
	for _, c := range []struct {
		tier, area       string
		overdue, dueSoon int64
	}{{"district", district, 1, 1}, {"community", community, 1, 1}, {"community", "huayang-02", 0, 0}} {
		ind, err := f.app.Queries.Reads.Indicators(context.Background(), app.IndicatorRequest{Tier: c.tier, Area: c.area, Period: "day"}, operator)
		if err != nil {
			t.Fatal(err)
		}
		if ind.Overdue != c.overdue || ind.DueSoon != c.dueSoon {
			t.Errorf("%s %s: %d overdue, %d due within 24 h; want %d, %d", c.tier, c.area, ind.Overdue, ind.DueSoon, c.overdue, c.dueSoon)
		}
	}
}
