package app_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/reference"
	"github.com/tierlink/tierlink/projections"
	"github.com/tierlink/tierlink/projections/projectionstest"
)

// benchWatch projects n households spread over the district's communities, half of
// them living alone and not contacted for 40 days (on the lists), half registered
// yesterday (on none), into read models in memory.
func benchWatch(b *testing.B, n int) *fixture {
	views := &memViews{Memory: projectionstest.NewMemory()}
	t := &testing.T{}
	f := newFixtureReading(t, views)
	ref, err := reference.Default()
	if err != nil {
		b.Fatal(err)
	}
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
	cases, err := projections.NewCases(views, district)
	if err != nil {
		b.Fatal(err)
	}
	run := []domain.Entry{{Position: 1, Event: &domain.Event{Type: pub.EventType(), AggregateType: domain.AggregateReference, AggregateID: district,
		AggregateVersion: 1, Time: f.now.Add(-50 * domain.Day), Payload: pub}}}
	for i := range n {
		c := coms[i%len(coms)]
		at, groups := f.now.Add(-domain.Day), []domain.TargetGroup{}
		if i%2 == 0 {
			at, groups = f.now.Add(-40*domain.Day), []domain.TargetGroup{domain.GroupLivingAlone}
		}
		p := domain.HouseholdRegistered{Community: c.Code, Street: c.Street, District: district, TargetGroups: groups, Assessment: domain.Assessment{}, Hardship: 30}
		run = append(run, domain.Entry{Position: int64(len(run) + 1), Event: &domain.Event{Type: p.EventType(), AggregateType: domain.AggregateHousehold,
			AggregateID: fmt.Sprintf("h%06d", i), AggregateVersion: 1, Time: at, Payload: p}})
	}
	for i := 0; i < len(run); i += 1000 {
		if err := cases.Apply(context.Background(), run[i:min(i+1000, len(run))]); err != nil {
			b.Fatal(err)
		}
	}
	return f
}

// BenchmarkWatchCounts measures the district's watch counts (one count per node of
// the district, and the reasons of every household due) by households.
func BenchmarkWatchCounts(b *testing.B) {
	for _, n := range []int{1_000, 10_000} {
		b.Run(fmt.Sprintf("households=%d", n), func(b *testing.B) {
			f := benchWatch(b, n)
			reads := f.app.Queries.Reads
			b.ResetTimer()
			for range b.N {
				c, err := reads.WatchCounts(context.Background(), operator, "district", district)
				if err != nil || c.Rows[0].Households != n/2 {
					b.Fatalf("%+v %v", c.Rows[0], err)
				}
			}
		})
	}
}

// BenchmarkWatchlistPage measures the first page (50) of the district's watch list.
func BenchmarkWatchlistPage(b *testing.B) {
	for _, n := range []int{1_000, 10_000} {
		b.Run(fmt.Sprintf("households=%d", n), func(b *testing.B) {
			f := benchWatch(b, n)
			reads := f.app.Queries.Reads
			b.ResetTimer()
			for range b.N {
				p, err := reads.Watchlist(context.Background(), operator, "district", district, "", 0)
				if err != nil || len(p.Items) != app50 {
					b.Fatalf("%d items %v", len(p.Items), err)
				}
			}
		})
	}
}

const app50 = 50
