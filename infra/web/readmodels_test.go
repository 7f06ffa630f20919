package web

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tierlink/tierlink/app"
	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/eventlog/applog"
	"github.com/tierlink/tierlink/infra/eventlog/memlog"
	"github.com/tierlink/tierlink/projections"
)

// readModels is a district's read models built by the cases projection from its log,
// to which a test then adds the matcher's decisions on needs (the pages read them
// there; no matcher runs in these tests).
type readModels struct {
	t        *testing.T
	cases    *projections.Cases
	pos      int64
	versions map[string]int64
}

// foldLog folds every entry of a district's log into the read models.
func foldLog(t *testing.T, l *memlog.Log, views projections.Store, district string) *readModels {
	t.Helper()
	cases, err := projections.NewCases(views, district)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := l.ReadPartition(context.Background(), district, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	r := &readModels{t: t, cases: cases, versions: map[string]int64{}}
	for _, e := range entries {
		r.pos = e.Position
		r.versions[e.Event.AggregateID] = e.Event.AggregateVersion
		if err := cases.Handle(context.Background(), r.pos, &e.Event); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// decide adds one of a need's events at a time, as the matcher writes it.
func (r *readModels) decide(need string, at time.Time, p domain.Payload) {
	r.t.Helper()
	r.pos++
	r.versions[need]++
	e := domain.Event{Type: p.EventType(), AggregateType: domain.AggregateNeed, AggregateID: need, AggregateVersion: r.versions[need],
		Time: at, Actor: "system:matcher", Payload: p}
	if err := r.cases.Handle(context.Background(), r.pos, &e); err != nil {
		r.t.Fatal(err)
	}
}

// pageViews is what the pages' tests keep their read models in: the app reads them
// as need and query views.
type pageViews interface {
	app.NeedViews
	app.Views
}

// pagesApp returns the application over an in-memory log of the reference's first
// district, reading views, with its clock at *now (the test moves it).
func pagesApp(t *testing.T, ref *domain.Reference, views pageViews, now *time.Time) (*app.Application, *memlog.Log) {
	t.Helper()
	return pagesAppWith(t, ref, views, now, nil)
}

// pagesAppWith is pagesApp with the node's webhooks: their secrets, and the
// delivery log that deliveries reads (the district's log given, when it is built).
func pagesAppWith(t *testing.T, ref *domain.Reference, views pageViews, now *time.Time, deliveries func(*memlog.Log) app.DeliveryLog) (*app.Application, *memlog.Log) {
	t.Helper()
	registry := domain.NewRegistry()
	l, err := memlog.New(registry)
	if err != nil {
		t.Fatal(err)
	}
	district := ref.Geography.Districts()[0].Code
	var hooks app.Webhooks
	if deliveries != nil {
		hooks = app.Webhooks{Deliveries: deliveries(l), Secret: func(id, salt string) (string, error) { return "whsec_test_" + id[:8], nil }}
	}
	a, err := app.New(app.Config{Log: applog.New(l, []string{district}), NeedViews: views, Referrals: l, Views: views,
		Registry: registry, References: fixedReferences{ref}, NewID: func() string { return uuid.Must(uuid.NewV7()).String() },
		Now: func() time.Time { return *now }, Webhooks: hooks})
	if err != nil {
		t.Fatal(err)
	}
	return a, l
}
