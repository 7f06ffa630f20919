package loadgen

import (
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// A decision read before the registration's answer is back still counts, once, from
// the time the registration was sent; a later decision on the same need does not.
func TestTrackerPairsEitherOrder(t *testing.T) {
	tr := newTracker()
	t0 := time.Unix(100, 0)
	tr.registered("a", t0)
	tr.decided("a", decided{at: t0.Add(2 * time.Millisecond), kind: "referred"})
	tr.decided("b", decided{at: t0.Add(3 * time.Millisecond), kind: "waitlisted"}) // before b's answer
	tr.registered("b", t0)
	tr.decided("b", decided{at: t0.Add(9 * time.Millisecond), kind: "referred"}) // b again: not its first
	tr.registered("c", t0)
	r := tr.report()
	if r.Referred != 1 || r.Waitlisted != 1 || r.Undecided != 1 || tr.waiting() != 1 {
		t.Fatalf("report %+v", r)
	}
	if r.Latency.Count != 2 || r.Latency.P50 != 2 || r.Latency.Max != 3 {
		t.Fatalf("latency %+v, want 2 ms and 3 ms", r.Latency)
	}
	if len(tr.early) != 0 {
		t.Fatalf("a later decision on a paired need was kept: %v", tr.early)
	}
}

// Percentiles are nearest-rank: of 1 to 1000 ms, p50 is 500 ms and p99.9 999 ms.
func TestPercentilesNearestRank(t *testing.T) {
	var ds []time.Duration
	for i := 1000; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	l := percentiles(ds)
	if l.P50 != 500 || l.P90 != 900 || l.P99 != 990 || l.P999 != 999 || l.Max != 1000 || l.Count != 1000 {
		t.Fatalf("%+v", l)
	}
	if one := percentiles([]time.Duration{7 * time.Millisecond}); one.P50 != 7 || one.P999 != 7 {
		t.Fatalf("one sample: %+v", one)
	}
}

// The lag is summed over districts by consumer group; a page without tierlink's
// gauge is an error, not a zero.
func TestParseLag(t *testing.T) {
	page := `# HELP tierlink_consumer_lag Log entries not yet applied.
# TYPE tierlink_consumer_lag gauge
tierlink_consumer_lag{group="matcher",partition="a"} 3
tierlink_consumer_lag{group="matcher",partition="b"} 4
tierlink_consumer_lag{group="projection.cases",partition="a"} 10
`
	s, err := parseLag(strings.NewReader(page))
	if err != nil || s.Matcher != 7 || s.Projection != 10 {
		t.Fatalf("%+v %v", s, err)
	}
	if _, err := parseLag(strings.NewReader("# TYPE other gauge\nother 1\n")); err == nil {
		t.Fatal("a page with no tierlink lag was read as zero lag")
	}
}

// A batch with one refused household counts one failure, and the needs of the
// others are still timed; a failed request counts every command it carried.
func TestBatchFailuresCountedByHousehold(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/households/batch" {
			_, _ = io.WriteString(w, `{"results":[{"status":201,"result":{"needs":[{"need_id":"n1"},{"need_id":"n2"}]}},{"status":422,"problem":{"title":"Invalid field"}}]}`)
			return
		}
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	cfg := Config{URL: srv.URL, Categories: []string{"a", "b"}, NeedsPerHousehold: 1, OfferOneIn: 1 << 30, Batch: 2, Client: srv.Client()}
	area := Area{District: "d", CentreToken: "t", Communities: []string{"c"}}
	ids, commands, failed, offer, err := send(context.Background(), cfg, area, rand.New(rand.NewPCG(1, 2)))
	if strings.Join(ids, ",") != "n1,n2" || commands != 2 || failed != 1 || offer || err == nil {
		t.Fatalf("batch: ids %v, %d commands, %d failed, offer %v, err %v", ids, commands, failed, offer, err)
	}
	cfg.Batch = 0
	if _, commands, failed, _, err := send(context.Background(), cfg, area, rand.New(rand.NewPCG(1, 2))); commands != 1 || failed != 1 || err == nil {
		t.Fatalf("a failed request: %d commands, %d failed, err %v", commands, failed, err)
	}
}
