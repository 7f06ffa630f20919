package loadgen

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tierlink/tierlink/infra/webhook"
)

// The sink verifies each path with its own secret, times every notification from
// its occurred_at to its arrival, counts a redelivery as a duplicate (not twice),
// a wrong signature and an unknown path as refusals, and splits the arrivals
// between the sending and the drain.
func TestNotifySinkAccounting(t *testing.T) {
	start := time.Unix(1_000_000, 0)
	now := start
	s := NewNotifySink()
	s.now = func() time.Time { return now }
	if err := s.Add("/s/0", []byte("whsec_zero")); err != nil {
		t.Fatal(err)
	}
	if err := s.Add("/s/1", []byte("whsec_one")); err != nil {
		t.Fatal(err)
	}
	post := func(path, secret, id string, occurred time.Time) int {
		body := fmt.Sprintf(`{"id":%q,"kind":"referral.proposed","occurred_at":%q}`, id, occurred.UTC().Format(time.RFC3339Nano))
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(webhook.DeliveryIDHeader, id)
		req.Header.Set(webhook.SignatureHeader, webhook.Sign([]byte(secret), now, []byte(body)))
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		return w.Code
	}
	// During the 10 s of sending: 1, 2, ..., 100 ms after the append.
	for i := 1; i <= 100; i++ {
		now = start.Add(time.Duration(i) * 50 * time.Millisecond)
		path, secret := "/s/0", "whsec_zero"
		if i%2 == 0 {
			path, secret = "/s/1", "whsec_one"
		}
		if c := post(path, secret, fmt.Sprintf("d-%d", i), now.Add(-time.Duration(i)*time.Millisecond)); c != http.StatusNoContent {
			t.Fatalf("delivery %d: %d", i, c)
		}
	}
	now = start.Add(5 * time.Second)
	if c := post("/s/0", "whsec_zero", "d-1", now.Add(-time.Millisecond)); c != http.StatusNoContent { // a redelivery
		t.Fatalf("redelivery: %d", c)
	}
	if c := post("/s/0", "whsec_one", "d-x", now); c != http.StatusUnauthorized { // the other path's secret
		t.Fatalf("wrong secret: %d", c)
	}
	if c := post("/s/9", "whsec_zero", "d-y", now); c != http.StatusNotFound {
		t.Fatalf("unknown path: %d", c)
	}
	// In the drain, 20 s after the start: one more, 900 ms after its append.
	now = start.Add(20 * time.Second)
	if c := post("/s/1", "whsec_one", "d-last", now.Add(-900*time.Millisecond)); c != http.StatusNoContent {
		t.Fatalf("last: %d", c)
	}
	// One that arrived before the phase began is left out of the phase's report.
	now = start.Add(-time.Second)
	post("/s/1", "whsec_one", "d-before", now.Add(-time.Millisecond))

	r := s.Report(2, start, 10*time.Second)
	if r.Accepted != 101 || r.DuringLoad != 100 || r.Duplicates != 1 || r.BadSignatures != 1 || r.OtherRefusals != 1 {
		t.Fatalf("counts %+v", r)
	}
	if r.SecLoad != 10 || r.Seconds != 20 || r.Sec != 101.0/20 {
		t.Fatalf("rates: %v/s during the load, %v/s over %v s", r.SecLoad, r.Sec, r.Seconds)
	}
	if r.Latency.Count != 101 || r.Latency.P50 != 51 || r.Latency.P99 != 100 || r.Latency.Max != 900 {
		t.Fatalf("latency %+v", r.Latency)
	}
	if r.ByKind["referral.proposed"] != 102 || !strings.Contains(r.FirstRefusal, "401 delivery d-x") {
		t.Fatalf("kinds %v, first refusal %q", r.ByKind, r.FirstRefusal)
	}
	if n, last := s.Accepted(); n != 102 || !last.Equal(start.Add(20*time.Second)) {
		t.Fatalf("accepted %d, last %v", n, last)
	}
}
