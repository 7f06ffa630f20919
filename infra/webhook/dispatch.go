package webhook

import (
	"bytes"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/tierlink/tierlink/notification"
)

// Defaults of a DispatcherConfig.
const (
	// DefaultTimeout is how long one attempt may take.
	DefaultTimeout = 10 * time.Second
	// DefaultMaxAge is how long after its first enqueue a notification is dead-lettered.
	DefaultMaxAge = 24 * time.Hour
	// DefaultBaseDelay is the first retry's delay before jitter; it doubles with each attempt.
	DefaultBaseDelay = time.Second
	// DefaultMaxDelay is the longest retry delay.
	DefaultMaxDelay = time.Hour
	// DefaultPerEndpoint is how many requests may be in flight per subscription.
	DefaultPerEndpoint = 4
	// DefaultGlobal is how many requests may be in flight in all.
	DefaultGlobal = 64
	// DefaultBreakerFailures is how many consecutive failures open a subscription's breaker.
	DefaultBreakerFailures = 5
	// DefaultBreakerOpen is how long a breaker stays open before it lets a probe through.
	DefaultBreakerOpen = 30 * time.Second
	// DefaultPollInterval is how often the subscriptions and queues are read without a Wake.
	DefaultPollInterval = time.Second
)

// UserAgent is the User-Agent of every notification's request.
const UserAgent = "tierlink-webhook/1"

// EventHeader carries a notification's kind.
const EventHeader = "X-Tierlink-Event"

// window is how many queued notifications a worker holds in memory at most.
const window = 1000

// ErrForbiddenAddress means the dispatcher refused to connect to a loopback,
// private, link-local, unspecified or multicast address.
var ErrForbiddenAddress = errors.New("webhook: address not allowed")

// Recorder receives the dispatcher's measurements; it must be safe for concurrent use.
type Recorder interface {
	// Delivery counts one attempt by outcome (OutcomeDelivered, OutcomeRetry, OutcomeDead).
	Delivery(partition, subscription, outcome string, latency time.Duration)
	// AppendToDelivery observes the time from a notification's log entry to its 2xx.
	AppendToDelivery(partition string, d time.Duration)
	// QueueDepth reports how many notifications wait for a subscription.
	QueueDepth(partition, subscription string, n int)
	// DeadLettered counts a notification dead-lettered.
	DeadLettered(partition, subscription string)
	// Breaker reports a subscription's circuit breaker opening or closing.
	Breaker(partition, subscription string, open bool)
}

// DispatcherConfig configures a Dispatcher; zero values take the defaults.
type DispatcherConfig struct {
	Outbox    *Outbox                                         // required
	Partition string                                          // the Outbox's partition when empty
	Secret    func(notification.Subscription) (string, error) // a subscription's signing secret (required)
	// Client sends the requests; when nil, NewHTTPClient(AllowPrivate, Timeout).
	Client *http.Client
	// AllowPrivate lets the default Client connect to loopback and private addresses (tests, labs).
	AllowPrivate    bool
	Timeout         time.Duration
	MaxAge          time.Duration
	BaseDelay       time.Duration
	MaxDelay        time.Duration
	PerEndpoint     int
	Global          int
	BreakerFailures int
	BreakerOpen     time.Duration
	PollInterval    time.Duration
	Now             func() time.Time // time.Now when nil
	// Jitter picks the delay actually waited for a backoff of d: full jitter, uniform in [0, d), when nil.
	Jitter   func(d time.Duration) time.Duration
	Logger   *slog.Logger // slog.Default() when nil
	Recorder Recorder     // optional
}

// setDefaults fills in the zero values.
func (c *DispatcherConfig) setDefaults() {
	if c.Partition == "" && c.Outbox != nil {
		c.Partition = c.Outbox.Partition()
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxAge == 0 {
		c.MaxAge = DefaultMaxAge
	}
	if c.BaseDelay == 0 {
		c.BaseDelay = DefaultBaseDelay
	}
	if c.MaxDelay == 0 {
		c.MaxDelay = DefaultMaxDelay
	}
	if c.PerEndpoint == 0 {
		c.PerEndpoint = DefaultPerEndpoint
	}
	if c.Global == 0 {
		c.Global = DefaultGlobal
	}
	if c.BreakerFailures == 0 {
		c.BreakerFailures = DefaultBreakerFailures
	}
	if c.BreakerOpen == 0 {
		c.BreakerOpen = DefaultBreakerOpen
	}
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Jitter == nil {
		c.Jitter = fullJitter
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Client == nil {
		c.Client = NewHTTPClient(c.AllowPrivate, c.Timeout)
	}
}

// validate refuses a config the dispatcher cannot run with.
func (c *DispatcherConfig) validate() error {
	switch {
	case c.Outbox == nil:
		return errors.New("webhook dispatcher: no outbox")
	case c.Secret == nil:
		return errors.New("webhook dispatcher: no Secret function")
	case c.Partition != c.Outbox.Partition():
		return fmt.Errorf("webhook dispatcher: partition %q but the outbox is %q's", c.Partition, c.Outbox.Partition())
	case c.Timeout < 0, c.MaxAge < 0, c.BaseDelay < 0, c.MaxDelay < 0, c.BreakerOpen < 0, c.PollInterval < 0:
		return errors.New("webhook dispatcher: a negative duration")
	case c.PerEndpoint < 0, c.Global < 0, c.BreakerFailures < 0:
		return errors.New("webhook dispatcher: a negative limit")
	case c.BaseDelay > c.MaxDelay && c.MaxDelay != 0:
		return fmt.Errorf("webhook dispatcher: base delay %s above the max delay %s", c.BaseDelay, c.MaxDelay)
	}
	return nil
}

// fullJitter is uniform in [0, d).
func fullJitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return rand.N(d)
}

// NewHTTPClient returns the client notifications are sent with: it follows no
// redirect, uses no proxy, gives up after timeout and, unless allowPrivate, refuses
// at dial time to connect to loopback, private, link-local, unspecified or
// multicast addresses, so that a name that resolves to one (even after a check,
// by DNS rebinding) cannot reach the node's own network.
func NewHTTPClient(allowPrivate bool, timeout time.Duration) *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	if !allowPrivate {
		dialer.Control = refusePrivate
	}
	transport := &http.Transport{
		Proxy:             nil,
		DialContext:       dialer.DialContext,
		ForceAttemptHTTP2: true,
		// Several subscriptions may share a host (a platform receiving for many
		// organisations): keep as many connections to one host as may be in flight
		// in all, or every request past the few kept opens a new one.
		MaxIdleConns:          2 * DefaultGlobal,
		MaxIdleConnsPerHost:   DefaultGlobal,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: timeout,
	}
	return &http.Client{
		Transport:     transport,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// refusePrivate is a net.Dialer's Control refusing addresses a notification must not reach.
func refusePrivate(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s %q is not an IP address and port", ErrForbiddenAddress, network, address)
	}
	a := ap.Addr().Unmap()
	if a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() {
		return fmt.Errorf("%w: %s is loopback, private, link-local, unspecified or multicast", ErrForbiddenAddress, a)
	}
	return nil
}

// Dispatcher delivers a partition's queued notifications over HTTP, at least
// once and in order per key, with one worker per live subscription.
type Dispatcher struct {
	cfg    DispatcherConfig
	global chan struct{}
	wake   chan struct{}
	log    *slog.Logger
	// workers are the running workers by subscription, for Queued to nudge.
	mu      sync.Mutex
	workers map[string]*worker
}

// NewDispatcher returns a dispatcher for cfg, filling in its defaults.
func NewDispatcher(cfg DispatcherConfig) (*Dispatcher, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Dispatcher{
		cfg:     cfg,
		global:  make(chan struct{}, cfg.Global),
		wake:    make(chan struct{}, 1),
		log:     cfg.Logger.With("partition", cfg.Partition),
		workers: map[string]*worker{},
	}, nil
}

// Wake makes the dispatcher read the subscriptions again, and every worker its
// queue, at once; it never blocks.
func (d *Dispatcher) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Queued tells the dispatcher what a Commit queued: the workers of these
// subscriptions read their queues at once, and, when subscriptions were created or
// deleted, the subscriptions are read again. It never blocks.
func (d *Dispatcher) Queued(subscriptions []string, changed bool) {
	if changed {
		d.Wake()
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, id := range subscriptions {
		if w, ok := d.workers[id]; ok {
			w.nudge()
		}
	}
}

// Run delivers until ctx ends, then returns once every worker has stopped. It
// reads the subscriptions at each Wake and every PollInterval, starting a worker
// for each live one and stopping those deleted.
func (d *Dispatcher) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	type running struct {
		w      *worker
		cancel context.CancelFunc
	}
	workers := map[string]running{}
	defer func() {
		for _, r := range workers {
			r.cancel()
		}
		wg.Wait()
	}()
	tick := time.NewTicker(d.cfg.PollInterval)
	defer tick.Stop()
	for {
		subs, err := d.cfg.Outbox.Subscriptions(ctx)
		if err != nil && ctx.Err() == nil {
			d.log.Warn("webhook dispatcher: reading the subscriptions failed; trying again", "err", err)
		}
		if err == nil {
			live := map[string]bool{}
			for _, s := range subs {
				if s.Deleted {
					continue
				}
				live[s.ID] = true
				if r, ok := workers[s.ID]; ok {
					r.w.sub.Store(&s)
					r.w.nudge()
					continue
				}
				w := d.newWorker(s)
				wctx, cancel := context.WithCancel(ctx)
				workers[s.ID] = running{w, cancel}
				d.mu.Lock()
				d.workers[s.ID] = w
				d.mu.Unlock()
				wg.Go(func() { w.run(wctx) })
			}
			for id, r := range workers {
				if !live[id] {
					r.cancel()
					delete(workers, id)
					d.mu.Lock()
					delete(d.workers, id)
					d.mu.Unlock()
					d.log.Info("webhook dispatcher: subscription deleted; its worker stops", "subscription", id)
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-d.wake:
		case <-tick.C:
		}
	}
}

// item is a queued notification with its delivery state, held by its worker.
type item struct {
	q Queued
	// seq is the item's place in the queue; index its place in the ready heap (-1: not in it).
	seq      uint64
	index    int
	attempts int
	first    time.Time // the first attempt
	next     time.Time // not tried before
	inflight bool
	lastErr  string
}

// result is what one send came back with.
type result struct {
	it       *item
	rejected bool // the breaker let it not through: no attempt
	status   int
	err      error
	latency  time.Duration
	retryAt  time.Time // from Retry-After, zero when absent
	at       time.Time // when the attempt started
}

// worker delivers one subscription's queue.
type worker struct {
	d       *Dispatcher
	sub     atomicSub
	id      string
	wake    chan struct{}
	results chan result
	// byKey holds the items of each key in queue order: only the first of a key
	// may be sent. ready holds those first items that are not in flight, soonest
	// due first, so that scheduling costs what it sends, not the window's length.
	byKey    map[string][]*item
	ready    readyHeap
	held     int    // items in byKey
	seq      uint64 // the last item's seq
	last     string // the last queue entry read
	inflight int
	breaker  *gobreaker.TwoStepCircuitBreaker[struct{}]
	openedMu sync.Mutex
	opened   time.Time // when the breaker last opened
	log      *slog.Logger
}

// atomicSub holds a worker's subscription, replaced when it changes.
type atomicSub struct {
	mu sync.Mutex
	s  notification.Subscription
}

func (a *atomicSub) Store(s *notification.Subscription) { a.mu.Lock(); a.s = *s; a.mu.Unlock() }
func (a *atomicSub) Load() notification.Subscription {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.s
}

func (d *Dispatcher) newWorker(s notification.Subscription) *worker {
	w := &worker{
		d:       d,
		id:      s.ID,
		wake:    make(chan struct{}, 1),
		results: make(chan result, d.cfg.PerEndpoint),
		byKey:   map[string][]*item{},
		log:     d.log.With("subscription", s.ID),
	}
	w.sub.Store(&s)
	w.breaker = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        s.ID,
		MaxRequests: 1,
		Timeout:     d.cfg.BreakerOpen,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= uint32(d.cfg.BreakerFailures) },
		OnStateChange: func(_ string, from, to gobreaker.State) {
			if to == gobreaker.StateOpen {
				w.openedMu.Lock()
				w.opened = time.Now()
				w.openedMu.Unlock()
			}
			w.log.Info("webhook dispatcher: circuit breaker "+to.String(), "from", from.String())
			if open := to == gobreaker.StateOpen; open != (from == gobreaker.StateOpen) && d.cfg.Recorder != nil {
				d.cfg.Recorder.Breaker(d.cfg.Partition, s.ID, open)
			}
		},
	})
	return w
}

// nudge makes the worker read its queue; it never blocks.
func (w *worker) nudge() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// run delivers the queue until ctx ends, then waits for its requests in flight.
func (w *worker) run(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	read := true
	for {
		if read {
			w.read(ctx)
			read = false
		}
		wait := w.schedule(ctx)
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			for ; w.inflight > 0; w.inflight-- {
				<-w.results // sent or not, they stay queued: delivered again later
			}
			return
		case <-w.wake:
			read = true
		case r := <-w.results:
			w.inflight--
			w.handle(ctx, r)
		case <-timer.C:
			read = true
		}
	}
}

// read adds the queue's new entries to the items, up to the window.
func (w *worker) read(ctx context.Context) {
	if room := window - w.held; room > 0 {
		qs, err := w.d.cfg.Outbox.Pending(ctx, w.id, w.last, int64(room))
		if err != nil {
			if ctx.Err() == nil {
				w.log.Warn("webhook dispatcher: reading the queue failed; trying again", "err", err)
			}
			return
		}
		for _, q := range qs {
			w.seq++
			it := &item{q: q, seq: w.seq, index: -1}
			key := q.Notification.Key
			w.byKey[key] = append(w.byKey[key], it)
			w.held++
			if len(w.byKey[key]) == 1 {
				heap.Push(&w.ready, it)
			}
			w.last = q.ID
		}
	}
	if r := w.d.cfg.Recorder; r != nil {
		if n, err := w.d.cfg.Outbox.QueueDepth(ctx, w.id); err == nil {
			r.QueueDepth(w.d.cfg.Partition, w.id, int(n))
		}
	}
}

// schedule sends what may go now and returns how long until something may go next.
func (w *worker) schedule(ctx context.Context) time.Duration {
	cfg := &w.d.cfg
	now := cfg.Now()
	wait := cfg.PollInterval
	soon := func(d time.Duration) {
		if d < wait {
			wait = max(d, time.Millisecond)
		}
	}
	if w.breaker.State() == gobreaker.StateOpen {
		w.openedMu.Lock()
		reopen := w.opened.Add(cfg.BreakerOpen + time.Millisecond)
		w.openedMu.Unlock()
		soon(time.Until(reopen))
		return wait
	}
	limit := cfg.PerEndpoint
	if w.breaker.State() == gobreaker.StateHalfOpen {
		limit = 1 // one probe at a time
	}
	for w.ready.Len() > 0 {
		it := w.ready[0]
		if it.next.After(now) {
			soon(it.next.Sub(now))
			break
		}
		if it.attempts > 0 && now.Sub(it.q.Enqueued) > cfg.MaxAge {
			heap.Pop(&w.ready)
			if !w.bury(ctx, it, now, fmt.Sprintf("undelivered %s after it was queued: %s", cfg.MaxAge, it.lastErr), Attempt{}) {
				heap.Push(&w.ready, it) // tried again at it.next
			}
			continue
		}
		if w.inflight >= limit {
			break
		}
		heap.Pop(&w.ready)
		it.inflight = true
		w.inflight++
		go func() { w.results <- w.send(ctx, it) }()
	}
	return wait
}

// send makes one attempt at delivering it.
func (w *worker) send(ctx context.Context, it *item) result {
	cfg := &w.d.cfg
	select {
	case w.d.global <- struct{}{}:
		defer func() { <-w.d.global }()
	case <-ctx.Done():
		return result{it: it, rejected: true}
	}
	done, err := w.breaker.Allow()
	if err != nil {
		return result{it: it, rejected: true}
	}
	sub := w.sub.Load()
	r := result{it: it, at: cfg.Now()}
	secret, err := cfg.Secret(sub)
	if err != nil {
		done(nil) // not the endpoint's fault
		r.err = fmt.Errorf("derive the secret: %w", err)
		return r
	}
	n := it.q.Notification
	rctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, sub.URL, bytes.NewReader(n.Body))
	if err != nil {
		done(nil)
		r.err = fmt.Errorf("build the request to %q: %w", sub.URL, err)
		return r
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	req.Header.Set(DeliveryIDHeader, n.DeliveryID)
	req.Header.Set(PositionHeader, strconv.FormatInt(n.Position, 10))
	req.Header.Set(EventHeader, n.Kind)
	req.Header.Set(SignatureHeader, Sign([]byte(secret), cfg.Now(), n.Body))
	start := time.Now()
	resp, err := cfg.Client.Do(req)
	r.latency = time.Since(start)
	if err != nil {
		if ctx.Err() != nil {
			done(nil)
			return result{it: it, rejected: true} // stopping: not the endpoint's fault
		}
		done(err)
		r.err = err
		return r
	}
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	r.status = resp.StatusCode
	switch {
	case r.status >= 200 && r.status < 300:
		done(nil)
	case retryable(r.status):
		r.retryAt = retryAfter(resp.Header.Get("Retry-After"), cfg.Now(), cfg.MaxDelay)
		r.err = fmt.Errorf("status %d: %s", r.status, strings.TrimSpace(string(snippet)))
		done(r.err)
	default:
		done(nil) // the endpoint is up; it refuses this one
		r.err = fmt.Errorf("the receiver refused it with status %d: %s", r.status, strings.TrimSpace(string(snippet)))
	}
	return r
}

// retryable reports whether a status means "try again later".
func retryable(status int) bool {
	return status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500
}

// retryAfter reads a Retry-After header (seconds or an HTTP date) as a time, at
// most max from now; zero when absent or unreadable.
func retryAfter(h string, now time.Time, most time.Duration) time.Time {
	h = strings.TrimSpace(h)
	if h == "" {
		return time.Time{}
	}
	var d time.Duration
	if s, err := strconv.ParseInt(h, 10, 64); err == nil {
		if s < 0 {
			return time.Time{}
		}
		d = time.Duration(min(s, int64(most/time.Second)+1)) * time.Second
	} else if t, err := http.ParseTime(h); err == nil {
		d = t.Sub(now)
	} else {
		return time.Time{}
	}
	return now.Add(min(max(d, 0), most))
}

// backoff is the delay before the attempt after attempt n (from 1), before jitter.
func (c *DispatcherConfig) backoff(n int) time.Duration {
	d := c.BaseDelay
	for i := 1; i < n && d < c.MaxDelay; i++ {
		d *= 2
	}
	return min(d, c.MaxDelay)
}

// handle records a send's outcome.
func (w *worker) handle(ctx context.Context, r result) {
	it := r.it
	it.inflight = false
	if r.rejected || ctx.Err() != nil {
		// The breaker is open or half-open and busy, or the worker stops: it waits,
		// no attempt counted.
		heap.Push(&w.ready, it)
		return
	}
	cfg := &w.d.cfg
	n := it.q.Notification
	it.attempts++
	if it.first.IsZero() {
		it.first = r.at
	}
	a := Attempt{DeliveryID: n.DeliveryID, Kind: n.Kind, Position: n.Position, Attempt: it.attempts, Time: r.at,
		Status: r.status, Latency: r.latency}
	if r.err != nil {
		a.Error = r.err.Error()
		it.lastErr = a.Error
	}
	rec := cfg.Recorder
	switch {
	case r.err == nil:
		a.Outcome = OutcomeDelivered
		if err := cfg.Outbox.Delivered(ctx, w.id, it.q.ID, a); err != nil {
			w.log.Warn("webhook dispatcher: delivered but not recorded; it may be delivered again after a restart", "delivery", n.DeliveryID, "err", err)
		}
		w.remove(it)
		if rec != nil {
			rec.Delivery(cfg.Partition, w.id, OutcomeDelivered, r.latency)
			if !n.Time.IsZero() {
				rec.AppendToDelivery(cfg.Partition, cfg.Now().Sub(n.Time))
			}
		}
	case r.status != 0 && !retryable(r.status) || cfg.Now().Sub(it.q.Enqueued) > cfg.MaxAge:
		reason := r.err.Error()
		if r.status == 0 || retryable(r.status) {
			reason = fmt.Sprintf("undelivered %s after it was queued: %s", cfg.MaxAge, reason)
		}
		if !w.bury(ctx, it, r.at, reason, a) {
			heap.Push(&w.ready, it) // tried again at it.next
		}
		if rec != nil {
			rec.Delivery(cfg.Partition, w.id, OutcomeDead, r.latency)
		}
	default:
		a.Outcome = OutcomeRetry
		it.next = r.at.Add(cfg.Jitter(cfg.backoff(it.attempts)))
		if r.retryAt.After(it.next) {
			it.next = r.retryAt
		}
		heap.Push(&w.ready, it)
		if err := cfg.Outbox.Failed(ctx, w.id, a); err != nil {
			w.log.Warn("webhook dispatcher: recording an attempt failed", "delivery", n.DeliveryID, "err", err)
		}
		if rec != nil {
			rec.Delivery(cfg.Partition, w.id, OutcomeRetry, r.latency)
		}
		w.log.Debug("webhook dispatcher: attempt failed; trying again", "delivery", n.DeliveryID, "attempt", it.attempts, "err", r.err, "next", it.next)
	}
}

// bury dead-letters it for reason; a is the last attempt, or zero when the item
// aged out between attempts. It reports whether the item left the worker.
func (w *worker) bury(ctx context.Context, it *item, at time.Time, reason string, a Attempt) bool {
	cfg := &w.d.cfg
	n := it.q.Notification
	if a.DeliveryID == "" {
		a = Attempt{DeliveryID: n.DeliveryID, Kind: n.Kind, Position: n.Position, Attempt: it.attempts, Time: at, Error: it.lastErr}
	}
	a.Outcome = OutcomeDead
	first := it.first
	if first.IsZero() {
		first = at
	}
	d := DeadLetter{Notification: n, Reason: reason, Attempts: it.attempts, First: first, Last: at}
	if err := cfg.Outbox.MoveToDeadLetters(ctx, w.id, it.q.ID, d, a); err != nil {
		w.log.Warn("webhook dispatcher: dead-lettering failed; trying it again", "delivery", n.DeliveryID, "err", err)
		it.next = cfg.Now().Add(cfg.PollInterval)
		return false
	}
	w.log.Warn("webhook dispatcher: notification dead-lettered", "delivery", n.DeliveryID, "attempts", it.attempts, "reason", reason)
	w.remove(it)
	if cfg.Recorder != nil {
		cfg.Recorder.DeadLettered(cfg.Partition, w.id)
	}
	return true
}

// remove drops it, the first of its key, from the items; the next of its key, if
// any, becomes ready.
func (w *worker) remove(it *item) {
	key := it.q.Notification.Key
	list := w.byKey[key]
	if len(list) == 0 || list[0] != it {
		return
	}
	list[0] = nil
	list = list[1:]
	w.held--
	if len(list) == 0 {
		delete(w.byKey, key)
		return
	}
	w.byKey[key] = list
	if next := list[0]; !next.inflight && next.index < 0 {
		heap.Push(&w.ready, next)
	}
}

// readyHeap orders the items that may be sent: soonest due first, then in queue order.
type readyHeap []*item

func (h readyHeap) Len() int { return len(h) }
func (h readyHeap) Less(i, j int) bool {
	if !h[i].next.Equal(h[j].next) {
		return h[i].next.Before(h[j].next)
	}
	return h[i].seq < h[j].seq
}
func (h readyHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *readyHeap) Push(x any) {
	it := x.(*item)
	it.index = len(*h)
	*h = append(*h, it)
}
func (h *readyHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	old[len(old)-1] = nil
	it.index = -1
	*h = old[:len(old)-1]
	return it
}
