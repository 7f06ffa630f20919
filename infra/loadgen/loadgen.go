// Package loadgen drives a running tierlink's HTTP API with concurrent clients and
// measures it: commands per second and their latency, the time from a need's
// registration to the matcher's decision on it (read from the log), the consumers'
// lag (read from /metrics), beside the raw limits of the same Redis.
package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/common/expfmt"
	"github.com/redis/go-redis/v9"

	"github.com/tierlink/tierlink/infra/eventlog"
)

// Area is a district the load registers households in, with a token of a centre
// that may register there.
type Area struct {
	District    string
	CentreToken string
	Communities []string
}

// Config says what load to send.
type Config struct {
	// URL is the API's base URL, e.g. http://127.0.0.1:8080.
	URL string
	// Areas are the districts households are registered in (drawn in turn).
	Areas []Area
	// ProviderToken posts the offers.
	ProviderToken string
	// Categories are drawn from for needs and offers.
	Categories []string
	Clients    int
	Duration   time.Duration
	// Rate is the target of commands per second over all clients; 0 sends flat out.
	Rate float64
	// OfferOneIn makes one command in this many an offer (the others register a household).
	OfferOneIn int
	// NeedsPerHousehold is how many needs (of distinct categories) each household
	// registers (default 1).
	NeedsPerHousehold int
	// Batch, if more than 1, registers this many households a request
	// (POST /v1/households/batch); each counts as a command.
	Batch int
	Seed  uint64
	// Log, if set, is the Redis of the server's event log: the load reads each
	// district's log to time the matcher's first decision on every need it registered.
	Log redis.UniversalClient
	// Drain is how long to wait, after the last command, for the decisions still to
	// come (default 10s).
	Drain time.Duration
	// Progress, if set, is told how the run goes, about ten times a second.
	Progress func(Progress)
	Client   *http.Client
}

// Progress is a run's state while it runs.
type Progress struct {
	Elapsed  time.Duration
	Commands int64
	Errors   int64
	// Undecided counts the needs registered that the matcher has not yet decided on.
	Undecided int
	// Lag is the latest consumer lag read from the server (matcher, projection).
	Lag LagSample
}

// Latency percentiles, in milliseconds.
type Latency struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p999_ms"`
	Max   float64 `json:"max_ms"`
}

// Decisions is what the matcher decided on the needs the load registered.
type Decisions struct {
	// Latency is from sending the registration to reading the matcher's first
	// decision on the need in the log: a referral proposed, held for an allocation
	// round where supply is scarce, or waitlisted when nothing in scope at any tier
	// has room.
	Latency    Latency `json:"need_to_decision"`
	Referred   int64   `json:"referred"`
	Waitlisted int64   `json:"waitlisted"`
	Held       int64   `json:"held"`
	// Undecided needs had no decision by the end of the drain.
	Undecided int64 `json:"undecided"`
}

// LagSample is the server's consumer lag at a moment of the run, summed over districts.
type LagSample struct {
	Seconds    float64 `json:"t_s"`
	Matcher    int64   `json:"matcher"`
	Projection int64   `json:"projection"`
}

// Report is what a load run measured.
type Report struct {
	Clients     int         `json:"clients"`
	TargetRate  float64     `json:"target_rate,omitempty"`
	Seconds     float64     `json:"seconds"`
	Commands    int64       `json:"commands"`
	Needs       int64       `json:"needs"`
	Offers      int64       `json:"offers"`
	Errors      int64       `json:"errors"` // commands that failed (a failed request: all it carried)
	FirstError  string      `json:"first_error,omitempty"`
	CommandsSec float64     `json:"commands_per_s"`
	NeedsSec    float64     `json:"needs_per_s"`
	Latency     Latency     `json:"command_latency"`
	Decisions   *Decisions  `json:"decisions,omitempty"`
	Lag         []LagSample `json:"lag,omitempty"`
	MaxLag      LagSample   `json:"max_lag"`
	// Started is when the sending began (the run's clock for Seconds).
	Started time.Time `json:"started"`
	// LogEvents counts the entries appended to the districts' logs while the
	// commands were sent (XLEN before and after, whoever appended them: the
	// commands' events, the matcher's decisions, ticks); EventsSec is it a second;
	// LogEventsDrain counts those appended after, during the drain. With Log only.
	LogEvents      int64   `json:"log_events,omitempty"`
	EventsSec      float64 `json:"log_events_per_s,omitempty"`
	LogEventsDrain int64   `json:"log_events_drain,omitempty"`
}

// Run sends commands from cfg.Clients clients for cfg.Duration, at cfg.Rate or flat
// out, then waits up to cfg.Drain for the matcher's decisions on its needs.
func Run(ctx context.Context, cfg Config) (Report, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return Report{}, err
	}
	runCtx, stopAll := context.WithCancel(ctx)
	defer stopAll()
	tr := newTracker()
	var watchers sync.WaitGroup
	if cfg.Log != nil {
		for _, a := range cfg.Areas {
			head, err := lastID(runCtx, cfg.Log, a.District)
			if err != nil {
				return Report{}, err
			}
			watchers.Go(func() { watch(runCtx, cfg.Log, a.District, head, tr) })
		}
	}
	var logAtStart int64
	if cfg.Log != nil {
		if logAtStart, err = logLength(runCtx, cfg.Log, cfg.Areas); err != nil {
			return Report{}, err
		}
	}
	start := time.Now()
	lags := &lagSampler{cfg: cfg, start: start}
	go lags.run(runCtx)

	sendCtx, stopSending := context.WithTimeout(runCtx, cfg.Duration)
	defer stopSending()
	t := &tally{}
	var wg sync.WaitGroup
	sched := schedule{start: start}
	if cfg.Rate > 0 {
		sched.interval = time.Duration(float64(time.Second) / cfg.Rate)
	}
	for c := 0; c < cfg.Clients; c++ {
		wg.Go(func() { runClient(sendCtx, cfg, c, &sched, tr, t) })
	}
	progress := func() {
		if cfg.Progress != nil {
			cfg.Progress(Progress{Elapsed: time.Since(start), Commands: t.sent.Load(), Errors: t.failed.Load(), Undecided: tr.waiting(), Lag: lags.last()})
		}
	}
	ticker := time.NewTicker(100 * time.Millisecond)
	defer ticker.Stop()
	sendingDone := make(chan struct{})
	go func() { wg.Wait(); close(sendingDone) }()
	for waiting := true; waiting; {
		select {
		case <-sendingDone:
			waiting = false
		case <-ticker.C:
			progress()
		}
	}
	elapsed := time.Since(start)
	var logAtEnd, logAfterDrain int64
	if cfg.Log != nil {
		if logAtEnd, err = logLength(runCtx, cfg.Log, cfg.Areas); err != nil {
			return Report{}, err
		}
		drainEnd := time.Now().Add(cfg.Drain)
		for tr.waiting() > 0 && time.Now().Before(drainEnd) && ctx.Err() == nil {
			<-ticker.C
			progress()
		}
	}
	if cfg.Log != nil {
		if logAfterDrain, err = logLength(ctx, cfg.Log, cfg.Areas); err != nil {
			return Report{}, err
		}
	}
	// One last lag reading after the drain, then stop the watchers and the sampler.
	lags.sample(ctx)
	stopAll()
	watchers.Wait()

	r := Report{Clients: cfg.Clients, TargetRate: cfg.Rate, Seconds: elapsed.Seconds(), Commands: t.sent.Load(), Needs: t.needs.Load(),
		Offers: t.offers.Load(), Errors: t.failed.Load(), FirstError: t.firstErr, Started: start}
	r.CommandsSec = float64(r.Commands) / elapsed.Seconds()
	r.NeedsSec = float64(r.Needs) / elapsed.Seconds()
	r.Latency = percentiles(t.latencies)
	if cfg.Log != nil {
		r.Decisions = tr.report()
		r.LogEvents, r.LogEventsDrain = logAtEnd-logAtStart, logAfterDrain-logAtEnd
		r.EventsSec = float64(r.LogEvents) / elapsed.Seconds()
	}
	r.Lag = lags.all()
	for _, s := range r.Lag {
		r.MaxLag.Matcher = max(r.MaxLag.Matcher, s.Matcher)
		r.MaxLag.Projection = max(r.MaxLag.Projection, s.Projection)
	}
	return r, nil
}

// logLength sums the lengths of the areas' district logs (they are never trimmed).
func logLength(ctx context.Context, c redis.UniversalClient, areas []Area) (int64, error) {
	var n int64
	for _, a := range areas {
		keys, err := eventlog.KeysFor(a.District)
		if err != nil {
			return 0, err
		}
		l, err := c.XLen(ctx, keys.Log()).Result()
		if err != nil {
			return 0, fmt.Errorf("read the length of %s's log: %w", a.District, err)
		}
		n += l
	}
	return n, nil
}

// withDefaults checks a run's configuration and fills in its defaults.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.URL == "" || cfg.ProviderToken == "" || len(cfg.Areas) == 0 || len(cfg.Categories) == 0 {
		return cfg, errors.New("loadgen: a URL, a provider token, areas and categories are required")
	}
	for _, a := range cfg.Areas {
		if a.District == "" || a.CentreToken == "" || len(a.Communities) == 0 {
			return cfg, fmt.Errorf("loadgen: area %q needs a district, a centre token and communities", a.District)
		}
	}
	if cfg.Clients < 1 || cfg.Duration <= 0 || cfg.Rate < 0 {
		return cfg, fmt.Errorf("loadgen: %d clients for %v at %v/s: give at least one client, a duration and a rate of 0 (flat out) or more", cfg.Clients, cfg.Duration, cfg.Rate)
	}
	if cfg.OfferOneIn < 1 {
		cfg.OfferOneIn = 20
	}
	if cfg.NeedsPerHousehold == 0 {
		cfg.NeedsPerHousehold = 1
	}
	if cfg.NeedsPerHousehold < 1 || cfg.NeedsPerHousehold > len(cfg.Categories) {
		return cfg, fmt.Errorf("loadgen: %d needs per household of %d categories", cfg.NeedsPerHousehold, len(cfg.Categories))
	}
	if cfg.Batch < 0 || cfg.Batch > 500 {
		return cfg, fmt.Errorf("loadgen: a batch of %d households: give 0 to 500", cfg.Batch)
	}
	if cfg.Drain == 0 {
		cfg.Drain = 10 * time.Second
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: cfg.Clients}}
	}
	return cfg, nil
}

// schedule says when each command of a run at a target rate is due: the k-th at
// start + k/rate, whichever client sends it. Its latencies are counted from when it
// was due, so a server that falls behind is charged for the queue it causes (no
// coordinated omission). With no interval, commands are sent flat out.
type schedule struct {
	start    time.Time
	interval time.Duration
	due      atomic.Int64
}

// next waits until the next command is due and returns when that was; false when
// ctx ended first.
func (s *schedule) next(ctx context.Context) (time.Time, bool) {
	if s.interval == 0 {
		return time.Now(), ctx.Err() == nil
	}
	at := s.start.Add(time.Duration(s.due.Add(1)-1) * s.interval)
	if wait := time.Until(at); wait > 0 {
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
	return at, ctx.Err() == nil
}

// tally counts a run's commands, refusals and latencies over its clients.
type tally struct {
	sent, failed, needs, offers atomic.Int64
	mu                          sync.Mutex
	latencies                   []time.Duration
	firstErr                    string
}

// runClient sends one client's commands until ctx ends, counting them in t and
// telling tr of the needs registered.
func runClient(ctx context.Context, cfg Config, c int, sched *schedule, tr *tracker, t *tally) {
	rng := rand.New(rand.NewPCG(cfg.Seed, uint64(c)))
	var mine []time.Duration
	for n := 0; ; n++ {
		t0, ok := sched.next(ctx)
		if !ok {
			break
		}
		ids, commands, refused, isOffer, err := send(ctx, cfg, cfg.Areas[(c+n)%len(cfg.Areas)], rng)
		if ctx.Err() != nil {
			break // cut off by the end of the run
		}
		mine = append(mine, time.Since(t0))
		t.sent.Add(int64(commands))
		if isOffer {
			t.offers.Add(1)
		}
		t.needs.Add(int64(len(ids)))
		for _, id := range ids {
			tr.registered(id, t0)
		}
		if err != nil {
			t.failed.Add(int64(refused))
			t.mu.Lock()
			if t.firstErr == "" {
				t.firstErr = err.Error()
			}
			t.mu.Unlock()
		}
	}
	t.mu.Lock()
	t.latencies = append(t.latencies, mine...)
	t.mu.Unlock()
}

// lagSampler reads the consumers' lag from the server's metrics four times a second.
type lagSampler struct {
	cfg   Config
	start time.Time
	mu    sync.Mutex
	lags  []LagSample
}

// run samples until ctx ends.
func (l *lagSampler) run(ctx context.Context) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			l.sample(ctx)
		}
	}
}

// sample takes one reading (none when the metrics do not answer).
func (l *lagSampler) sample(ctx context.Context) {
	s, err := scrapeLag(ctx, l.cfg.Client, l.cfg.URL)
	if err != nil {
		return
	}
	s.Seconds = time.Since(l.start).Seconds()
	l.mu.Lock()
	l.lags = append(l.lags, s)
	l.mu.Unlock()
}

// last is the latest reading.
func (l *lagSampler) last() LagSample {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lags) == 0 {
		return LagSample{}
	}
	return l.lags[len(l.lags)-1]
}

// all is every reading, in order.
func (l *lagSampler) all() []LagSample {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.lags)
}

// send sends one request: mostly a household with its needs (or a batch of them),
// now and then an offer. It returns the ids of the needs registered, how many
// commands the request carried and how many of them failed (all of them when the
// request did; a batch's refused households one by one), and the first error.
func send(ctx context.Context, cfg Config, area Area, rng *rand.Rand) (ids []string, commands, failed int, offer bool, err error) {
	household := func() map[string]any {
		var needs []map[string]string
		for _, i := range rng.Perm(len(cfg.Categories))[:cfg.NeedsPerHousehold] {
			needs = append(needs, map[string]string{"category": cfg.Categories[i]})
		}
		return map[string]any{"community": area.Communities[rng.IntN(len(area.Communities))], "needs": needs,
			"assessment": map[string]int{"income": rng.IntN(5), "health": rng.IntN(5)}}
	}
	community := area.Communities[rng.IntN(len(area.Communities))]
	path, token := "/v1/households", area.CentreToken
	commands = 1
	var body any = household()
	if cfg.Batch > 1 {
		hs := make([]map[string]any, cfg.Batch)
		for i := range hs {
			hs[i] = household()
		}
		path, body, commands = "/v1/households/batch", map[string]any{"households": hs}, cfg.Batch
	}
	offer = rng.IntN(cfg.OfferOneIn) == 0
	if offer {
		commands = 1
		path, token = "/v1/offers", cfg.ProviderToken
		body = map[string]any{"category": cfg.Categories[rng.IntN(len(cfg.Categories))], "capacity": 1 + rng.IntN(5),
			"scope": map[string]string{"tier": "community", "area": community}}
	}
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cfg.URL+path, bytes.NewReader(b))
	if err != nil {
		return nil, commands, commands, offer, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Idempotency-Key", "load-"+uuid.NewString())
	resp, err := cfg.Client.Do(req)
	if err != nil {
		return nil, commands, commands, offer, err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return nil, commands, commands, offer, fmt.Errorf("POST %s: %d %s", path, resp.StatusCode, bytes.TrimSpace(out))
	}
	if offer {
		return nil, commands, 0, true, nil
	}
	type registered struct {
		Needs []struct {
			NeedID string `json:"need_id"`
		} `json:"needs"`
	}
	var results []registered
	if cfg.Batch > 1 {
		var res struct {
			Results []struct {
				Status  int             `json:"status"`
				Result  registered      `json:"result"`
				Problem json.RawMessage `json:"problem"`
			} `json:"results"`
		}
		if err := json.Unmarshal(out, &res); err != nil {
			return nil, commands, commands, false, fmt.Errorf("POST %s: the answer is not a batch's results: %w", path, err)
		}
		for _, r := range res.Results {
			if r.Status >= 300 {
				failed++ // the other households of the batch count, and their needs are timed
				if err == nil {
					err = fmt.Errorf("POST %s: a household refused: %d %s", path, r.Status, r.Problem)
				}
				continue
			}
			results = append(results, r.Result)
		}
	} else {
		var res registered
		if err := json.Unmarshal(out, &res); err != nil {
			return nil, commands, commands, false, fmt.Errorf("POST %s: the answer is not a registration: %w", path, err)
		}
		results = append(results, res)
	}
	for _, r := range results {
		for _, n := range r.Needs {
			ids = append(ids, n.NeedID)
		}
	}
	return ids, commands, failed, false, err
}

func percentiles(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	slices.Sort(ds)
	at := func(q float64) float64 { // nearest rank: the smallest value with at least q of them at or below it
		i := min(len(ds)-1, max(0, int(math.Ceil(q*float64(len(ds))))-1))
		return float64(ds[i].Microseconds()) / 1000
	}
	return Latency{Count: len(ds), P50: at(0.5), P90: at(0.9), P99: at(0.99), P999: at(0.999), Max: float64(ds[len(ds)-1].Microseconds()) / 1000}
}

// scrapeLag reads tierlink_consumer_lag from the server's /metrics, summed by group.
func scrapeLag(ctx context.Context, c *http.Client, url string) (LagSample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/metrics", nil)
	if err != nil {
		return LagSample{}, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return LagSample{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return LagSample{}, fmt.Errorf("GET /metrics: %d", resp.StatusCode)
	}
	return parseLag(resp.Body)
}

// parseLag sums the tierlink_consumer_lag gauges of a Prometheus text exposition by group.
func parseLag(r io.Reader) (LagSample, error) {
	var p expfmt.TextParser
	families, err := p.TextToMetricFamilies(r)
	if err != nil {
		return LagSample{}, fmt.Errorf("read /metrics: %w", err)
	}
	var s LagSample
	f, ok := families["tierlink_consumer_lag"]
	if !ok {
		return s, errors.New("/metrics has no tierlink_consumer_lag: is this a tierlink?")
	}
	for _, m := range f.GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() != "group" {
				continue
			}
			switch l.GetValue() {
			case "matcher":
				s.Matcher += int64(m.GetGauge().GetValue())
			case "projection.cases":
				s.Projection += int64(m.GetGauge().GetValue())
			}
		}
	}
	return s, nil
}
