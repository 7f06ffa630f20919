package demo_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/tierlink/tierlink/app"
	"github.com/tierlink/tierlink/demo"
	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/node"
	"github.com/tierlink/tierlink/infra/node/nodetest"
	"github.com/tierlink/tierlink/infra/redistest"
)

// Whatever the hour the demo starts, its last day is the present China day (not a
// day repeated), and the inboxes the README advertises have work waiting: the
// community's proposals (one in its deadline's last hours, one due today, or within
// the hour after midnight late at night), its street's, and the provider's
// referrals to start, to complete and awaiting the centre. Started at 01:52 the
// community inbox was empty and "day 14/14" repeated day 13.
func TestDemoEndsAtThePresentWhateverTheHour(t *testing.T) {
	if testing.Short() {
		t.Skip("plays the demo at four hours on real Redis")
	}
	cst := time.FixedZone("CST", 8*3600)
	for _, hm := range [][2]int{{1, 52}, {8, 0}, {12, 30}, {23, 59}} {
		end := time.Date(2026, 12, 2, hm[0], hm[1], 0, 0, cst)
		t.Run(end.Format("15:04"), func(t *testing.T) {
			const seed, days = 3, 3
			w := world(t, seed)
			srv := redistest.Real(t)
			clock := demo.NewClock(demo.Start(end, days))
			n, stop := nodetest.Run(t, node.Config{Client: srv.Client(t), Consumer: "demo-present", Reference: w.Reference,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), TickInterval: -1, Clock: clock.Now, NewID: clock.IDs(seed)})
			defer stop()
			ctx := context.Background()
			var progress []demo.Totals
			totals, err := demo.Play(ctx, n, w, demo.Config{Seed: seed, Days: days, HouseholdsPerDay: 20, Clock: clock, End: end,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Progress: func(t demo.Totals) { progress = append(progress, t) }})
			if err != nil {
				t.Fatal(err)
			}
			if totals.Refused != 0 {
				t.Errorf("%d commands refused", totals.Refused)
			}
			if len(progress) != days {
				t.Fatalf("%d days reported, want %d", len(progress), days)
			}
			for i, p := range progress {
				want := end.AddDate(0, 0, i+1-days).Format(time.DateOnly)
				if p.Date != want {
					t.Errorf("day %d is %s, want %s", i+1, p.Date, want)
				}
				if i > 0 && p.Households == progress[i-1].Households {
					t.Errorf("day %d (%s) registered nobody: it repeats the day before (%+v)", i+1, p.Date, p)
				}
			}
			if !clock.Now().Equal(end) {
				t.Errorf("the clock reads %v after the play, want %v", clock.Now(), end)
			}
			reads := n.Application().Queries.Reads
			inbox := func(tier int, area string) []app.InboxItem {
				page, err := reads.Inbox(ctx, domain.TierName(tier), area, app.PageRequest{Limit: app.MaxPageSize},
					domain.Principal{Role: domain.RoleCentre, Tier: tier, Area: area})
				if err != nil {
					t.Fatal(err)
				}
				return page.Items
			}
			com := inbox(domain.TierCommunity, demo.ShowcaseCommunity)
			soon, today := 0, 0
			midnight := time.Date(2026, 12, 3, 0, 0, 0, 0, cst)
			for _, it := range com {
				left := it.Deadline.Sub(end)
				switch {
				case left <= 4*time.Hour:
					soon++
				case it.Deadline.Before(midnight) || (end.Hour() >= 20 && left <= 24*time.Hour):
					today++
				}
			}
			if soon == 0 || soon+today < 2 {
				deadlines := []string{}
				for _, it := range com {
					deadlines = append(deadlines, it.Deadline.In(cst).Format("01-02 15:04"))
				}
				t.Errorf("the community inbox has %d proposals (deadlines %v): want one overdue or in its last hours and one due today", len(com), deadlines)
			}
			if st := inbox(domain.TierStreet, demo.ShowcaseStreet); len(st) == 0 {
				t.Error("the street inbox is empty")
			}
			refs, err := reads.ProviderReferrals(ctx, demo.ShowcaseProvider, demo.District, app.PageRequest{Limit: app.MaxPageSize},
				domain.Principal{Role: domain.RoleProvider, Provider: demo.ShowcaseProvider})
			if err != nil {
				t.Fatal(err)
			}
			status := map[domain.NeedStatus]int{}
			for _, r := range refs.Items {
				status[r.Status]++
			}
			for _, s := range []domain.NeedStatus{domain.StatusAccepted, domain.StatusInService, domain.StatusProposed} {
				if status[s] == 0 {
					t.Errorf("the provider has no referral %s (%v)", s, status)
				}
			}
		})
	}
}
