package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tierlink/tierlink/infra/redistest"
	"github.com/tierlink/tierlink/notification"
)

var testKey = []byte("0123456789abcdef0123456789abcdef-test-key")

// secretOf derives a test subscription's secret as the node does.
func secretOf(s notification.Subscription) (string, error) {
	return SubscriptionSecret(testKey, s.ID, s.Salt)
}

// arrival is a request the test receiver accepted as authentic.
type arrival struct {
	sub, id, key string
	position     int64
}

// event is an authentic request arriving (accepted false) or answered 2xx (accepted true).
type event struct {
	arrival
	accepted bool
}

// receiver is an httptest server, one path per subscription (/<id>), that checks
// every signature and answers as fate (or a rule set by the test) decides.
type receiver struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	rng      *rand.Rand
	fate     func(rng *rand.Rand, sub string) string // "ok", "fail", "429", "slow", "400", "hang"
	first    []arrival                               // first arrival of each delivery id, in order
	events   []event                                 // every authentic request and every 2xx, in order
	seen     map[string]bool
	ok       map[string]bool // delivery ids answered 2xx
	requests map[string]int  // per subscription
	badSigs  int
	hanging  int
	release  chan struct{}
}

func newReceiver(t *testing.T, seed uint64) *receiver {
	rc := &receiver{t: t, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), seen: map[string]bool{}, ok: map[string]bool{},
		requests: map[string]int{}, release: make(chan struct{}), fate: func(*rand.Rand, string) string { return "ok" }}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(func() { close(rc.release); rc.srv.Close() })
	return rc
}

func (rc *receiver) url(sub string) string { return rc.srv.URL + "/" + sub }

func (rc *receiver) setFate(f func(rng *rand.Rand, sub string) string) {
	rc.mu.Lock()
	rc.fate = f
	rc.mu.Unlock()
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	sub := strings.TrimPrefix(r.URL.Path, "/")
	body, _ := io.ReadAll(r.Body)
	secret, _ := SubscriptionSecret(testKey, sub, "salt-"+sub)
	err := Verify([]byte(secret), r.Header.Get(SignatureHeader), body, time.Now(), 0)
	id := r.Header.Get(DeliveryIDHeader)
	rc.mu.Lock()
	rc.requests[sub]++
	if err != nil || r.Header.Get("Content-Type") != "application/json" || r.Header.Get("User-Agent") != UserAgent || r.Header.Get(EventHeader) == "" || r.Header.Get(PositionHeader) == "" {
		rc.badSigs++
		rc.mu.Unlock()
		rc.t.Errorf("request %s to %s: %v (headers %v)", id, sub, err, r.Header)
		http.Error(w, "bad request", http.StatusUnauthorized)
		return
	}
	var doc struct {
		Key      string `json:"key"`
		Position int64  `json:"position"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		rc.t.Errorf("body %s: %v", body, err)
	}
	a := arrival{sub, id, doc.Key, doc.Position}
	rc.events = append(rc.events, event{a, false})
	if !rc.seen[id] {
		rc.seen[id] = true
		rc.first = append(rc.first, a)
	}
	fate := rc.fate(rc.rng, sub)
	if fate == "hang" {
		rc.hanging++
	}
	rc.mu.Unlock()
	switch fate {
	case "ok":
		rc.accept(a)
		w.WriteHeader(http.StatusNoContent)
	case "slow":
		time.Sleep(20 * time.Millisecond)
		rc.accept(a)
		w.WriteHeader(http.StatusOK)
	case "fail":
		http.Error(w, "try later", http.StatusServiceUnavailable)
	case "429":
		w.Header().Set("Retry-After", "1")
		http.Error(w, "slow down", http.StatusTooManyRequests)
	case "400":
		http.Error(w, "no such thing", http.StatusBadRequest)
	case "hang":
		select {
		case <-r.Context().Done():
		case <-rc.release:
		}
	}
}

func (rc *receiver) accept(a arrival) {
	rc.mu.Lock()
	rc.ok[a.id] = true
	rc.events = append(rc.events, event{a, true})
	rc.mu.Unlock()
}

// delivered counts the distinct delivery ids answered 2xx among ids.
func (rc *receiver) delivered(ids []string) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	n := 0
	for _, id := range ids {
		if rc.ok[id] {
			n++
		}
	}
	return n
}

// checkOrder checks that the first arrivals of each subscription's key came in log order.
func (rc *receiver) checkOrder(t *testing.T, notes []notification.Notification) {
	t.Helper()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	last := map[string]int64{}
	for _, a := range rc.first {
		k := a.sub + "/" + a.key
		if p, ok := last[k]; ok && a.position <= p {
			t.Errorf("%s of %s arrived first after position %d of its key %s", a.id, a.sub, p, a.key)
		}
		last[k] = a.position
	}
	// Stronger: no request for a notification before every earlier one of its key
	// (among those committed) was answered 2xx.
	earlier := map[string][]int64{}
	for _, n := range notes {
		k := n.Subscription + "/" + n.Key
		earlier[k] = append(earlier[k], n.Position)
	}
	accepted := map[string]bool{}
	for _, e := range rc.events {
		k := e.sub + "/" + e.key
		if e.accepted {
			accepted[k+"@"+strconv.FormatInt(e.position, 10)] = true
			continue
		}
		for _, p := range earlier[k] {
			if p < e.position && !accepted[k+"@"+strconv.FormatInt(p, 10)] {
				t.Errorf("%s (position %d) sent before position %d of its key %s was delivered", e.id, e.position, p, k)
				break
			}
		}
	}
}

// seedOf returns the test's random seed, TIERLINK_WEBHOOK_SEED if set, and prints it if the test fails.
func seedOf(t *testing.T) uint64 {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("TIERLINK_WEBHOOK_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("seed %d (TIERLINK_WEBHOOK_SEED=%d reproduces the receiver's fates)", seed, seed)
		}
	})
	return seed
}

// fastConfig is a dispatcher config with small delays for tests.
func fastConfig(o *Outbox) DispatcherConfig {
	return DispatcherConfig{
		Outbox: o, Secret: secretOf, AllowPrivate: true,
		Timeout: 2 * time.Second, BaseDelay: 5 * time.Millisecond, MaxDelay: 50 * time.Millisecond,
		BreakerOpen: 20 * time.Millisecond, PollInterval: 50 * time.Millisecond,
	}
}

// start runs a dispatcher until the returned stop is called (or the test ends).
func start(t *testing.T, cfg DispatcherConfig) (*Dispatcher, func()) {
	t.Helper()
	d, err := NewDispatcher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run = %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Error("Run did not return 10 s after its context ended")
			}
		})
	}
	t.Cleanup(stop)
	return d, stop
}

// waitFor polls cond until it holds, failing the test after a generous deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// commitNotes commits n notifications per subscription over keys keys, in batches,
// from position from; it returns their delivery ids.
func commitNotes(t *testing.T, o *Outbox, d *Dispatcher, subs []string, from int64, n, keys, batches int) ([]string, []notification.Notification) {
	t.Helper()
	var ids []string
	var notes []notification.Notification
	pos := from
	for b := range batches {
		var out notification.Output
		for i := b * n / batches; i < (b+1)*n/batches; i++ {
			for _, s := range subs {
				pos++
				note := testNote(s, "k"+strconv.Itoa(i%keys), pos)
				out.Notifications = append(out.Notifications, note)
				ids = append(ids, note.DeliveryID)
				notes = append(notes, note)
			}
		}
		if ok, err := o.Commit(context.Background(), pos, out); err != nil || !ok {
			t.Fatalf("Commit(%d) = %v, %v", pos, ok, err)
		}
		if d != nil {
			d.Wake()
		}
	}
	return ids, notes
}

// addSubs commits live subscriptions posting to rc at position pos.
func addSubs(t *testing.T, o *Outbox, rc *receiver, pos int64, ids ...string) {
	t.Helper()
	var out notification.Output
	for i, id := range ids {
		out.Subscriptions = append(out.Subscriptions, testSub(id, rc.url(id), i))
	}
	if ok, err := o.Commit(context.Background(), pos, out); err != nil || !ok {
		t.Fatalf("Commit(%d) = %v, %v", pos, ok, err)
	}
}

func TestDispatcherDeliversEverythingInOrderPerKey(t *testing.T) {
	seed := seedOf(t)
	o := newOutbox(t, redistest.Real(t).Client(t))
	rc := newReceiver(t, seed)
	rc.setFate(func(rng *rand.Rand, _ string) string {
		switch x := rng.IntN(100); {
		case x < 20:
			return "fail"
		case x < 28:
			return "429"
		case x < 38:
			return "slow"
		}
		return "ok"
	})
	subs := []string{"s-a", "s-b", "s-c"}
	addSubs(t, o, rc, 1, subs...)
	rec := &fakeRecorder{}
	cfg := fastConfig(o)
	cfg.Recorder = rec
	d, _ := start(t, cfg)
	ids, notes := commitNotes(t, o, d, subs, 1, 100, 7, 5)
	waitFor(t, "every notification delivered", func() bool { return rc.delivered(ids) == len(ids) })
	waitFor(t, "every queue empty", func() bool {
		for _, s := range subs {
			if n, _ := o.QueueDepth(context.Background(), s); n != 0 {
				return false
			}
		}
		return true
	})
	rc.checkOrder(t, notes)
	if rc.badSigs != 0 {
		t.Errorf("%d requests with a bad signature or headers", rc.badSigs)
	}
	for _, s := range subs {
		if dl, _ := o.DeadLetters(context.Background(), s, 10); len(dl) != 0 {
			t.Errorf("%s dead-lettered %+v", s, dl)
		}
	}
	if got := rec.count(OutcomeDelivered); got < len(ids) {
		t.Errorf("recorder saw %d deliveries, want at least %d", got, len(ids))
	}
}

func TestDispatcherRestartLosesNothing(t *testing.T) {
	seed := seedOf(t)
	o := newOutbox(t, redistest.Real(t).Client(t))
	rc := newReceiver(t, seed)
	rc.setFate(func(rng *rand.Rand, _ string) string {
		if rng.IntN(100) < 30 {
			return "fail"
		}
		return "slow"
	})
	subs := []string{"s-a", "s-b"}
	addSubs(t, o, rc, 1, subs...)
	ids, notes := commitNotes(t, o, nil, subs, 1, 100, 5, 4)
	_, stop := start(t, fastConfig(o))
	waitFor(t, "some delivered", func() bool { return rc.delivered(ids) >= 20 })
	stop()
	left := 0
	for _, s := range subs {
		n, _ := o.QueueDepth(context.Background(), s)
		left += int(n)
	}
	t.Logf("%d of %d delivered before the restart, %d left queued", rc.delivered(ids), len(ids), left)
	rc.setFate(func(*rand.Rand, string) string { return "ok" })
	start(t, fastConfig(o))
	waitFor(t, "everything delivered after the restart", func() bool { return rc.delivered(ids) == len(ids) })
	rc.checkOrder(t, notes)
}

func TestDispatcherDeadLettersA4xxAtOnceAndRedelivers(t *testing.T) {
	ctx := context.Background()
	o := newOutbox(t, redistest.Real(t).Client(t))
	rc := newReceiver(t, 1)
	rc.setFate(func(*rand.Rand, string) string { return "400" })
	addSubs(t, o, rc, 1, "s")
	rec := &fakeRecorder{}
	cfg := fastConfig(o)
	cfg.Recorder = rec
	d, _ := start(t, cfg)
	ids, _ := commitNotes(t, o, d, []string{"s"}, 1, 1, 1, 1)
	var dl DeadLetter
	waitFor(t, "the dead letter", func() bool {
		var ok bool
		dl, ok, _ = o.DeadLetter(ctx, "s", ids[0])
		return ok
	})
	if dl.Attempts != 1 || !strings.Contains(dl.Reason, "refused it with status 400") {
		t.Fatalf("dead letter %+v: want 1 attempt, refused with status 400", dl)
	}
	if atts, _ := o.Attempts(ctx, "s", 10); len(atts) != 1 || atts[0].Outcome != OutcomeDead || atts[0].Status != 400 {
		t.Fatalf("attempts %+v", atts)
	}
	if rec.count("dead-lettered") != 1 {
		t.Fatalf("recorder: %d dead letters", rec.count("dead-lettered"))
	}
	rc.setFate(func(*rand.Rand, string) string { return "ok" })
	redo := notification.Output{Redeliveries: []notification.Redelivery{{Subscription: "s", DeliveryID: ids[0]}}}
	if ok, err := o.Commit(ctx, 10, redo); err != nil || !ok {
		t.Fatalf("Commit = %v, %v", ok, err)
	}
	d.Wake()
	waitFor(t, "the redelivery", func() bool { return rc.delivered(ids) == 1 })
	if _, ok, _ := o.DeadLetter(ctx, "s", ids[0]); ok {
		t.Fatal("still a dead letter after its redelivery")
	}
}

func TestDispatcherDeadLettersAfterMaxAge(t *testing.T) {
	ctx := context.Background()
	o := newOutbox(t, redistest.Real(t).Client(t))
	rc := newReceiver(t, 1)
	rc.setFate(func(*rand.Rand, string) string { return "fail" })
	addSubs(t, o, rc, 1, "s")
	var offset atomic.Int64
	cfg := fastConfig(o)
	cfg.MaxAge = time.Hour
	cfg.BreakerFailures = 1000
	cfg.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	d, _ := start(t, cfg)
	ids, _ := commitNotes(t, o, d, []string{"s"}, 1, 1, 1, 1)
	waitFor(t, "a few failed attempts", func() bool {
		atts, _ := o.Attempts(ctx, "s", 10)
		return len(atts) >= 3
	})
	if _, ok, _ := o.DeadLetter(ctx, "s", ids[0]); ok {
		t.Fatal("dead-lettered before MaxAge")
	}
	offset.Store(int64(2 * time.Hour))
	var dl DeadLetter
	waitFor(t, "the dead letter", func() bool {
		var ok bool
		dl, ok, _ = o.DeadLetter(ctx, "s", ids[0])
		return ok
	})
	if !strings.Contains(dl.Reason, "503") || !strings.Contains(dl.Reason, "1h0m0s") || dl.Attempts < 3 {
		t.Fatalf("dead letter %+v: want the last error (503) after 1h, 3 attempts or more", dl)
	}
	if n, _ := o.QueueDepth(ctx, "s"); n != 0 {
		t.Fatalf("queue depth %d after dead-lettering", n)
	}
}

// TestDeadEndpointHoldsNoOneUp: an endpoint that never answers keeps its requests
// hanging (its timeout is far away) while another subscription gets all of its
// notifications.
func TestDeadEndpointHoldsNoOneUp(t *testing.T) {
	ctx := context.Background()
	o := newOutbox(t, redistest.Real(t).Client(t))
	rc := newReceiver(t, 1)
	rc.setFate(func(_ *rand.Rand, sub string) string {
		if sub == "dead" {
			return "hang"
		}
		return "ok"
	})
	addSubs(t, o, rc, 1, "dead", "live")
	cfg := fastConfig(o)
	cfg.Timeout = time.Minute
	cfg.Global = 6 // the dead one holds 4 of them
	d, stop := start(t, cfg)
	commitNotes(t, o, d, []string{"dead"}, 1, 20, 20, 1)
	waitFor(t, "the dead endpoint's requests hanging", func() bool {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		return rc.hanging == DefaultPerEndpoint
	})
	ids, _ := commitNotes(t, o, d, []string{"live"}, 100, 200, 10, 4)
	waitFor(t, "the live endpoint's notifications", func() bool { return rc.delivered(ids) == len(ids) })
	rc.mu.Lock()
	hanging, deadRequests := rc.hanging, rc.requests["dead"]
	rc.mu.Unlock()
	if n, _ := o.QueueDepth(ctx, "dead"); n != 20 || hanging != DefaultPerEndpoint || deadRequests != DefaultPerEndpoint {
		t.Fatalf("dead endpoint: queue %d, %d requests hanging, %d made; want 20 queued, %d hanging and no more made", n, hanging, deadRequests, DefaultPerEndpoint)
	}
	if atts, _ := o.Attempts(ctx, "dead", 10); len(atts) != 0 {
		t.Fatalf("the dead endpoint's attempts ended: %+v", atts)
	}
	stop()
}

func TestBreakerStopsAttempts(t *testing.T) {
	o := newOutbox(t, redistest.Real(t).Client(t))
	rc := newReceiver(t, 1)
	rc.setFate(func(*rand.Rand, string) string { return "fail" })
	addSubs(t, o, rc, 1, "s")
	rec := &fakeRecorder{}
	cfg := fastConfig(o)
	cfg.BreakerFailures, cfg.BreakerOpen, cfg.BaseDelay, cfg.Recorder = 3, time.Hour, time.Millisecond, rec
	d, _ := start(t, cfg)
	commitNotes(t, o, d, []string{"s"}, 1, 50, 50, 1)
	waitFor(t, "the breaker open", func() bool { return rec.count("breaker-open") == 1 })
	time.Sleep(100 * time.Millisecond) // time for more attempts, were they made
	rc.mu.Lock()
	n := rc.requests["s"]
	rc.mu.Unlock()
	if n > cfg.BreakerFailures+DefaultPerEndpoint {
		t.Fatalf("%d requests with the breaker open after %d failures", n, cfg.BreakerFailures)
	}
	atts, _ := o.Attempts(context.Background(), "s", 100)
	if len(atts) > n {
		t.Fatalf("%d attempts counted for %d requests: waiting on the breaker counted", len(atts), n)
	}
}

func TestHTTPClientRefusesPrivateAddresses(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	defer srv.Close()
	_, err := NewHTTPClient(false, time.Second).Post(srv.URL, "application/json", strings.NewReader("{}"))
	if !errors.Is(err, ErrForbiddenAddress) {
		t.Fatalf("POST to %s = %v, want ErrForbiddenAddress", srv.URL, err)
	}
	resp, err := NewHTTPClient(true, time.Second).Post(srv.URL, "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatalf("with private addresses allowed: %v", err)
	}
	resp.Body.Close()
	for addr, refused := range map[string]bool{
		"127.0.0.1:80": true, "[::1]:443": true, "10.1.2.3:80": true, "192.168.0.1:80": true, "172.16.0.1:80": true,
		"169.254.169.254:80": true, "[fe80::1]:80": true, "0.0.0.0:80": true, "[::]:80": true, "224.0.0.1:80": true,
		"[::ffff:127.0.0.1]:80": true, "[fd00::1]:80": true, "93.184.216.34:443": false, "[2606:4700::1111]:443": false,
	} {
		err := refusePrivate("tcp", addr, syscall.RawConn(nil))
		if (err != nil) != refused {
			t.Errorf("refusePrivate(%s) = %v, want refused %v", addr, err, refused)
		}
	}
}

func TestHTTPClientFollowsNoRedirect(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://169.254.169.254/", http.StatusFound)
	}))
	defer srv.Close()
	resp, err := NewHTTPClient(true, time.Second).Post(srv.URL, "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("status %d, want the 302 itself", resp.StatusCode)
	}
}

func TestRetryAfterAndBackoff(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for h, want := range map[string]time.Duration{
		"": 0, "junk": 0, "-1": 0, "0": 0, "3": 3 * time.Second, "99999999999": time.Minute,
		now.Add(30 * time.Second).Format(http.TimeFormat): 30 * time.Second,
		now.Add(time.Hour).Format(http.TimeFormat):        time.Minute,
		now.Add(-time.Hour).Format(http.TimeFormat):       0,
	} {
		got := retryAfter(h, now, time.Minute)
		if want == 0 && h != "0" && !strings.Contains(h, "GMT") {
			if !got.IsZero() {
				t.Errorf("retryAfter(%q) = %s, want none", h, got)
			}
			continue
		}
		if got.Sub(now) != want {
			t.Errorf("retryAfter(%q) = now + %s, want now + %s", h, got.Sub(now), want)
		}
	}
	c := DispatcherConfig{BaseDelay: time.Second, MaxDelay: 10 * time.Second}
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 4: 8 * time.Second, 5: 10 * time.Second, 500: 10 * time.Second} {
		if got := c.backoff(n); got != want {
			t.Errorf("backoff(%d) = %s, want %s", n, got, want)
		}
	}
	for range 100 {
		if j := fullJitter(time.Second); j < 0 || j >= time.Second {
			t.Fatalf("jitter %s outside [0, 1s)", j)
		}
	}
}

func TestNewDispatcherRefusesBadConfig(t *testing.T) {
	o := newOutbox(t, redistest.Embedded(t).Client(t))
	for _, c := range []DispatcherConfig{
		{Secret: secretOf},
		{Outbox: o},
		{Outbox: o, Secret: secretOf, Partition: "other"},
		{Outbox: o, Secret: secretOf, Timeout: -time.Second},
		{Outbox: o, Secret: secretOf, PerEndpoint: -1},
		{Outbox: o, Secret: secretOf, BaseDelay: time.Minute, MaxDelay: time.Second},
	} {
		if _, err := NewDispatcher(c); err == nil {
			t.Errorf("NewDispatcher(%+v) accepted it", c)
		}
	}
}

// fakeRecorder counts what a Recorder is told.
type fakeRecorder struct {
	mu     sync.Mutex
	counts map[string]int
}

func (r *fakeRecorder) add(k string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.counts == nil {
		r.counts = map[string]int{}
	}
	r.counts[k]++
}

func (r *fakeRecorder) count(k string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counts[k]
}

func (r *fakeRecorder) Delivery(_, _, outcome string, _ time.Duration) { r.add(outcome) }
func (r *fakeRecorder) AppendToDelivery(string, time.Duration)         { r.add("append-to-delivery") }
func (r *fakeRecorder) QueueDepth(string, string, int)                 { r.add("queue-depth") }
func (r *fakeRecorder) DeadLettered(string, string)                    { r.add("dead-lettered") }
func (r *fakeRecorder) Breaker(_, _ string, open bool) {
	if open {
		r.add("breaker-open")
	} else {
		r.add("breaker-closed")
	}
}
