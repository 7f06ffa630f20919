package node_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/loadgen"
	"github.com/tierlink/tierlink/infra/node"
	"github.com/tierlink/tierlink/infra/node/nodetest"
	"github.com/tierlink/tierlink/infra/redistest"
	"github.com/tierlink/tierlink/infra/reference"
)

// TestSurgeSmall plays a small surge on a node of the sixteen-district city: every
// need arrives and gets exactly one first decision (a referral proposed, held for
// an allocation round, or waitlisted) in its district's log; the report's times are ordered, it has samples,
// and its chart is well-formed SVG.
func TestSurgeSmall(t *testing.T) {
	t.Parallel()
	base, err := reference.Default()
	if err != nil {
		t.Fatal(err)
	}
	city, err := loadgen.City(base, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(city.Geography.Districts()) != 16 {
		t.Fatalf("%d districts", len(city.Geography.Districts()))
	}
	srv := redistest.Real(t)
	n, stop := nodetest.Run(t, node.Config{Client: srv.Client(t), Consumer: "surge-test", Reference: city, TickInterval: -1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	defer stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const needs, offers = 1600, 160
	rep, err := loadgen.Surge(ctx, loadgen.SurgeConfig{Store: n.Store(), Reference: city, Needs: needs, Offers: offers, Seed: 3,
		Lag: n.Lag, Redis: srv.Client(t), Sample: 20 * time.Millisecond, Batch: 50})
	if err != nil {
		t.Fatal(err)
	}
	if rep.ArrivalSeconds <= 0 || rep.AbsorbedSeconds < rep.ArrivalSeconds || rep.ViewsSeconds < rep.ArrivalSeconds || len(rep.Samples) == 0 ||
		rep.PeakHeapMiB <= 0 || rep.PeakRedisMiB <= 0 || rep.HeapPerNeed <= 0 {
		t.Fatalf("report %+v", rep)
	}
	registered, decided := 0, 0
	for _, p := range n.Partitions() {
		entries, err := n.Store().ReadPartition(ctx, p, 1, 1_000_000)
		if err != nil {
			t.Fatal(err)
		}
		first := map[string]bool{}
		for _, e := range entries {
			switch e.Event.Payload.(type) {
			case domain.NeedRegistered:
				registered++
			case domain.ReferralProposed, domain.NeedHeld, domain.NeedWaitlisted:
				if !first[e.Event.AggregateID] {
					first[e.Event.AggregateID] = true
					decided++
				}
			}
		}
	}
	if registered != needs || decided != needs {
		t.Fatalf("%d needs registered, %d decided; want %d each", registered, decided, needs)
	}
	dec := xml.NewDecoder(bytes.NewReader(loadgen.SurgeSVG(rep)))
	polylines := 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("the chart is not well-formed: %v", err)
		}
		if el, ok := tok.(xml.StartElement); ok && el.Name.Local == "polyline" {
			polylines++
		}
	}
	if polylines != 3 {
		t.Fatalf("%d lines in the chart, want 3", polylines)
	}
}
