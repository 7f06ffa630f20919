package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/tierlink/tierlink/infra/webhook"
)

// NotifySink is the receiver of a load run's notifications: one webhook.Receiver
// a path, each verifying the signatures with its subscription's secret. It times
// every notification accepted from the event's append (the body's occurred_at) to
// its arrival, and counts what it accepted, the duplicates (a delivery id seen
// again), the signatures that failed and any other refusal.
type NotifySink struct {
	mu        sync.Mutex
	receivers map[string]*webhook.Receiver
	pending   map[string]bool
	ids       map[string]struct{}
	arrivals  []arrival
	kinds     map[string]int64
	dups      int64
	badSigs   int64
	refused   int64
	firstBad  string
	last      time.Time
	now       func() time.Time
}

// arrival is one notification accepted.
type arrival struct {
	at      time.Time
	latency time.Duration
}

// NotifyReport is what a NotifySink measured over a phase of a run.
type NotifyReport struct {
	Subscriptions int `json:"subscriptions"`
	// Accepted counts the notifications verified and new, from the phase's start on;
	// DuringLoad those that arrived while commands were sent.
	Accepted   int64 `json:"accepted"`
	DuringLoad int64 `json:"accepted_during_load"`
	// SecLoad is DuringLoad over the sending's seconds; Sec is Accepted over the
	// seconds from the start to the last arrival (the load and the drain), Seconds.
	SecLoad float64 `json:"per_s_during_load"`
	Sec     float64 `json:"per_s_load_and_drain"`
	Seconds float64 `json:"seconds_load_and_drain"`
	// Latency is from the event's append (occurred_at) to the notification's arrival.
	Latency Latency          `json:"append_to_delivery"`
	ByKind  map[string]int64 `json:"by_kind"`
	// Duplicates are deliveries of an id already accepted (at least once: allowed,
	// counted); BadSignatures requests whose signature failed (must be none);
	// OtherRefusals the rest the receivers refused (wrong path, not JSON, ...).
	Duplicates    int64  `json:"duplicates"`
	BadSignatures int64  `json:"bad_signatures"`
	OtherRefusals int64  `json:"other_refusals"`
	FirstRefusal  string `json:"first_refusal,omitempty"`
	// QueuedAtEnd sums the subscriptions' queue_depth when the sink stopped waiting.
	QueuedAtEnd int64 `json:"queued_at_end"`
}

// NewNotifySink returns a sink with no paths yet.
func NewNotifySink() *NotifySink {
	return &NotifySink{receivers: map[string]*webhook.Receiver{}, pending: map[string]bool{}, ids: map[string]struct{}{}, kinds: map[string]int64{}, now: time.Now}
}

// Expect makes path answer 503 (retried by the dispatcher) until it is added: for
// the time between creating a subscription and reading its secret.
func (s *NotifySink) Expect(path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending[path] = true
}

// Add verifies the requests to path with secret from now on.
func (s *NotifySink) Add(path string, secret []byte) error {
	rc, err := webhook.NewReceiver(webhook.Config{Secret: secret, Now: s.now, OnAccept: s.accept, OnRefuse: s.refuse})
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.receivers[path] = rc
	return nil
}

// ServeHTTP hands a request to its path's receiver; 404 to a path not added.
func (s *NotifySink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	rc, pending := s.receivers[r.URL.Path], s.pending[r.URL.Path]
	s.mu.Unlock()
	if rc == nil && pending {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "not ready", http.StatusServiceUnavailable)
		return
	}
	if rc == nil {
		s.refuse(webhook.Refusal{Status: http.StatusNotFound, Reason: "no subscription at " + r.URL.Path, DeliveryID: r.Header.Get(webhook.DeliveryIDHeader)})
		http.NotFound(w, r)
		return
	}
	rc.ServeHTTP(w, r)
}

// accept records a verified notification the receiver had not seen.
func (s *NotifySink) accept(n webhook.Notification) {
	var body struct {
		Kind       string    `json:"kind"`
		OccurredAt time.Time `json:"occurred_at"`
	}
	err := json.Unmarshal(n.Body, &body)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil || body.OccurredAt.IsZero() {
		s.refused++
		if s.firstBad == "" {
			s.firstBad = fmt.Sprintf("delivery %s: a body without occurred_at: %.200s", n.DeliveryID, n.Body)
		}
		return
	}
	if _, ok := s.ids[n.DeliveryID]; ok { // one the receiver had forgotten
		s.dups++
		return
	}
	s.ids[n.DeliveryID] = struct{}{}
	s.kinds[body.Kind]++
	s.arrivals = append(s.arrivals, arrival{at: n.Received, latency: n.Received.Sub(body.OccurredAt)})
	if n.Received.After(s.last) {
		s.last = n.Received
	}
}

// refuse records a request a receiver did not hand on.
func (s *NotifySink) refuse(r webhook.Refusal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case r.Status == http.StatusNoContent:
		s.dups++
		return
	case r.Status == http.StatusUnauthorized:
		s.badSigs++
	default:
		s.refused++
	}
	if s.firstBad == "" {
		s.firstBad = fmt.Sprintf("%d delivery %s: %s", r.Status, r.DeliveryID, r.Reason)
	}
}

// Accepted counts the notifications accepted so far, and says when the last arrived.
func (s *NotifySink) Accepted() (int64, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return int64(len(s.arrivals)), s.last
}

// Report summarises the notifications that arrived from start on, the sending having
// lasted sending.
func (s *NotifySink) Report(subscriptions int, start time.Time, sending time.Duration) NotifyReport {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := NotifyReport{Subscriptions: subscriptions, ByKind: map[string]int64{}, Duplicates: s.dups, BadSignatures: s.badSigs,
		OtherRefusals: s.refused, FirstRefusal: s.firstBad}
	var lat []time.Duration
	var last time.Time
	for _, a := range s.arrivals {
		if a.at.Before(start) {
			continue
		}
		r.Accepted++
		if a.at.Sub(start) <= sending {
			r.DuringLoad++
		}
		lat = append(lat, a.latency)
		last = maxTime(last, a.at)
	}
	for k, n := range s.kinds {
		r.ByKind[k] = n
	}
	r.Latency = percentiles(lat)
	if sending > 0 {
		r.SecLoad = float64(r.DuringLoad) / sending.Seconds()
	}
	if r.Accepted > 0 {
		r.Seconds = max(last.Sub(start), sending).Seconds()
		r.Sec = float64(r.Accepted) / r.Seconds
	}
	return r
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// Kinds returns the kinds of a report in order, for printing.
func (r NotifyReport) Kinds() []string {
	ks := make([]string, 0, len(r.ByKind))
	for k := range r.ByKind {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Subscription is one the load created: its id and the secret it is signed with.
type Subscription struct {
	ID     string
	Secret string
}

// ErrPlainHTTPRefused is returned by CreateSubscription when the server refuses an
// http:// URL: it was not started with --webhook-allow-http.
var ErrPlainHTTPRefused = errors.New("the server refuses a plain http:// subscription URL")

// CreateSubscription subscribes hook to kinds in district (POST /v1/subscriptions).
func CreateSubscription(ctx context.Context, c *http.Client, base, token, district, hook string, kinds []string) (Subscription, error) {
	b, _ := json.Marshal(map[string]any{"district": district, "url": hook, "kinds": kinds})
	out, status, err := call(ctx, c, http.MethodPost, base+"/v1/subscriptions", token, b)
	if err != nil {
		return Subscription{}, err
	}
	if status == http.StatusUnprocessableEntity && bytes.Contains(out, []byte(`"/url"`)) {
		return Subscription{}, fmt.Errorf("%w: %s", ErrPlainHTTPRefused, bytes.TrimSpace(out))
	}
	if status != http.StatusCreated && status != http.StatusOK {
		return Subscription{}, fmt.Errorf("POST /v1/subscriptions: %d %s", status, bytes.TrimSpace(out))
	}
	var res struct {
		Subscription struct {
			ID string `json:"id"`
		} `json:"subscription"`
		Secret string `json:"secret"`
	}
	if err := json.Unmarshal(out, &res); err != nil || res.Subscription.ID == "" || res.Secret == "" {
		return Subscription{}, fmt.Errorf("POST /v1/subscriptions: the answer has no id and secret: %.300s", out)
	}
	return Subscription{ID: res.Subscription.ID, Secret: res.Secret}, nil
}

// QueueDepth reads a subscription's queue_depth (GET /v1/subscriptions/{id}).
func QueueDepth(ctx context.Context, c *http.Client, base, token, id string) (int64, error) {
	out, status, err := call(ctx, c, http.MethodGet, base+"/v1/subscriptions/"+id, token, nil)
	if err != nil {
		return 0, err
	}
	if status != http.StatusOK {
		return 0, fmt.Errorf("GET /v1/subscriptions/%s: %d %s", id, status, bytes.TrimSpace(out))
	}
	var res struct {
		QueueDepth int64 `json:"queue_depth"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return 0, fmt.Errorf("GET /v1/subscriptions/%s: %w", id, err)
	}
	return res.QueueDepth, nil
}

// DeleteSubscription deletes a subscription (DELETE /v1/subscriptions/{id}).
func DeleteSubscription(ctx context.Context, c *http.Client, base, token, id string) error {
	out, status, err := call(ctx, c, http.MethodDelete, base+"/v1/subscriptions/"+id, token, nil)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("DELETE /v1/subscriptions/%s: %d %s", id, status, bytes.TrimSpace(out))
	}
	return nil
}

// call sends one request with the token (and a fresh Idempotency-Key) and reads the answer.
func call(ctx context.Context, c *http.Client, method, url, token string, body []byte) ([]byte, int, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if method != http.MethodGet {
		req.Header.Set("Idempotency-Key", "load-"+uuid.NewString())
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return out, resp.StatusCode, err
}
