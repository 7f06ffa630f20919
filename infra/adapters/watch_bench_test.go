package adapters_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tierlink/tierlink/app"
	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/adapters"
	"github.com/tierlink/tierlink/infra/eventlog/applog"
	"github.com/tierlink/tierlink/infra/eventlog/memlog"
	"github.com/tierlink/tierlink/infra/redistest"
	"github.com/tierlink/tierlink/infra/reference"
	"github.com/tierlink/tierlink/infra/viewstore"
	"github.com/tierlink/tierlink/projections"
)

type refs struct{ ref *domain.Reference }

func (r refs) Current() *domain.Reference { return r.ref }

// watchReads projects n households of changning into the read models of a Redis of
// the benchmark's own, spread over the district's 185 communities: half living
// alone and not contacted for 40 days (due on the watch lists), half registered
// yesterday (due on none). It returns the reads over them.
func watchReads(b *testing.B, n int) app.Reads {
	ctx := context.Background()
	client := redistest.Real(b).Client(b)
	ref, err := reference.Default()
	if err != nil {
		b.Fatal(err)
	}
	const district = "changning"
	set, err := viewstore.NewSet(client, []string{district})
	if err != nil {
		b.Fatal(err)
	}
	store, err := set.Store(district)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	pub, err := ref.Publication(district)
	if err != nil {
		b.Fatal(err)
	}
	var coms []domain.Community
	for _, s := range ref.Geography.Districts()[0].Streets {
		for _, c := range s.Communities {
			coms = append(coms, domain.Community{Code: c.Code, Street: s.Code})
		}
	}
	cases, err := projections.NewCases(store, district)
	if err != nil {
		b.Fatal(err)
	}
	run := []domain.Entry{{Position: 1, Event: &domain.Event{Type: pub.EventType(), AggregateType: domain.AggregateReference, AggregateID: district,
		AggregateVersion: 1, Time: now.Add(-50 * domain.Day), Payload: pub}}}
	for i := range n {
		c := coms[i%len(coms)]
		at, groups := now.Add(-domain.Day), []domain.TargetGroup{}
		if i%2 == 0 {
			at, groups = now.Add(-40*domain.Day), []domain.TargetGroup{domain.GroupLivingAlone}
		}
		p := domain.HouseholdRegistered{Community: c.Code, Street: c.Street, District: district, TargetGroups: groups, Assessment: domain.Assessment{}, Hardship: 30}
		run = append(run, domain.Entry{Position: int64(len(run) + 1), Event: &domain.Event{Type: p.EventType(), AggregateType: domain.AggregateHousehold,
			AggregateID: fmt.Sprintf("h%06d", i), AggregateVersion: 1, Time: at, Payload: p}})
	}
	for i := 0; i < len(run); i += 500 {
		if err := cases.Apply(ctx, run[i:min(i+500, len(run))]); err != nil {
			b.Fatal(err)
		}
	}
	registry := domain.NewRegistry()
	l, err := memlog.New(registry)
	if err != nil {
		b.Fatal(err)
	}
	a, err := app.New(app.Config{
		Log: applog.New(l, []string{district}), NeedViews: adapters.NeedViews{Views: set}, Referrals: l, Views: adapters.ReadViews{Views: set},
		Registry: registry, References: refs{ref},
		NewID: func() string { return uuid.Must(uuid.NewV7()).String() },
		Now:   func() time.Time { return now },
	})
	if err != nil {
		b.Fatal(err)
	}
	return a.Queries.Reads
}

var operator = domain.Principal{Role: domain.RoleOperator}

// BenchmarkWatchCounts measures the counts of changning's watch lists (the
// district, its 10 streets and 185 communities) over Redis, by households.
func BenchmarkWatchCounts(b *testing.B) {
	for _, n := range []int{1_000, 10_000} {
		b.Run(fmt.Sprintf("households=%d", n), func(b *testing.B) {
			reads := watchReads(b, n)
			b.ResetTimer()
			for range b.N {
				c, err := reads.WatchCounts(context.Background(), operator, "district", "changning")
				if err != nil || c.Rows[0].Households != n/2 {
					b.Fatalf("%+v %v", c.Rows[0], err)
				}
			}
		})
	}
}

// BenchmarkWatchlistPage measures the first page (50 households) of changning's
// watch list over Redis, by households.
func BenchmarkWatchlistPage(b *testing.B) {
	for _, n := range []int{1_000, 10_000} {
		b.Run(fmt.Sprintf("households=%d", n), func(b *testing.B) {
			reads := watchReads(b, n)
			b.ResetTimer()
			for range b.N {
				p, err := reads.Watchlist(context.Background(), operator, "district", "changning", "", 0)
				if err != nil || len(p.Items) != app.DefaultPageSize || p.Total != n/2 {
					b.Fatalf("%d items of %d: %v", len(p.Items), p.Total, err)
				}
			}
		})
	}
}
