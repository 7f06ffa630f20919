// Package metrics exposes tierlink's Prometheus metrics: appends, version
// conflicts, dead letters, matcher decisions, consumer checkpoints and lag, HTTP
// latency, failed and throttled authentications, open live streams, webhook deliveries.
package metrics

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tierlink/tierlink/domain"
)

// HeadFunc returns the last position of a partition log.
type HeadFunc func(ctx context.Context, partition string) (int64, error)

// Metrics holds tierlink's collectors in a registry of its own.
type Metrics struct {
	registry      *prometheus.Registry
	appends       *prometheus.CounterVec
	events        *prometheus.CounterVec
	conflicts     *prometheus.CounterVec
	deadLetters   *prometheus.CounterVec
	decisions     *prometheus.CounterVec
	checkpoint    *prometheus.GaugeVec
	httpDurations *prometheus.HistogramVec
	timeToLink    *prometheus.HistogramVec
	authFailures  *prometheus.CounterVec
	liveStreams   prometheus.Gauge
	webhook       webhookMetrics
	areaGauges    AreaGaugesFunc
	areaDescs     map[string]*prometheus.Desc

	mu          sync.Mutex
	checkpoints map[[2]string]int64 // (partition, group) → position
	head        HeadFunc
	lagDesc     *prometheus.Desc
}

// New registers every collector. Consumer lag is collected once WatchLag names
// where to read the log heads.
func New() *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		appends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tierlink_appends_total", Help: "Append commands by partition and outcome (ok, duplicate, conflict, error).",
		}, []string{"partition", "outcome"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tierlink_events_appended_total", Help: "Events appended to the log, by partition and event type.",
		}, []string{"partition", "type"}),
		conflicts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tierlink_version_conflicts_total", Help: "Appends refused because an aggregate was not at the expected version.",
		}, []string{"partition"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tierlink_dead_letters_total", Help: "Log entries a consumer could not decode and moved to the dead-letter stream.",
		}, []string{"partition", "group"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tierlink_matcher_decisions_total", Help: "Steps the matcher appended (proposals by rule, escalations and cancellations by reason, waitlistings), by partition and tier.",
		}, []string{"partition", "tier", "rule"}),
		checkpoint: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tierlink_consumer_checkpoint", Help: "Last log position applied by a consumer group.",
		}, []string{"partition", "group"}),
		httpDurations: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "tierlink_http_request_duration_seconds", Help: "HTTP request latency by route and status code.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route", "code"}),
		timeToLink: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "tierlink_time_to_link_seconds", Help: "Time from a need's registration to its first proposal, by district and tier of the proposal.",
			Buckets: []float64{1, 10, 60, 300, 900, 3600, 4 * 3600, 24 * 3600, 3 * 24 * 3600, 7 * 24 * 3600},
		}, []string{"partition", "tier"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tierlink_auth_failures_total", Help: "Authentications that failed (outcome failed: unknown, revoked or expired token) or were turned away by the limiter before any look-up (outcome throttled), by surface (api, web).",
		}, []string{"surface", "outcome"}),
		liveStreams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tierlink_web_live_streams", Help: "Live-update streams (/ui/events) open in this process.",
		}),
		checkpoints: map[[2]string]int64{},
		lagDesc: prometheus.NewDesc("tierlink_consumer_lag",
			"Log entries not yet applied by a consumer group (log head minus its checkpoint).", []string{"partition", "group"}, nil),
	}
	m.webhook = newWebhookMetrics()
	m.registry.MustRegister(m.appends, m.events, m.conflicts, m.deadLetters, m.decisions, m.checkpoint, m.httpDurations, m.timeToLink, m.authFailures, m.liveStreams,
		m.webhook.deliveries, m.webhook.latency, m.webhook.appendToDelivery, m.webhook.queueDepth, m.webhook.deadLetters, m.webhook.breakerOpen,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// AuthFailure counts a failed or throttled authentication on a surface.
func (m *Metrics) AuthFailure(surface, outcome string) {
	m.authFailures.WithLabelValues(surface, outcome).Inc()
}

// LiveStreams adds delta to the count of open live-update streams.
func (m *Metrics) LiveStreams(delta int) { m.liveStreams.Add(float64(delta)) }

// WatchLag registers the consumer-lag gauge, which reads the log heads at each scrape.
func (m *Metrics) WatchLag(head HeadFunc) {
	m.head = head
	m.registry.MustRegister(lagCollector{m})
}

// AreaGaugesFunc returns, for each district, the present value of each indicator
// gauge ("waitlisted_needs", "held_needs", "overdue_referrals").
type AreaGaugesFunc func(ctx context.Context) (map[string]map[string]float64, error)

// Indicator gauges, read at each scrape.
var indicatorGauges = map[string]string{
	"waitlisted_needs":  "Needs waiting for supply, by district.",
	"held_needs":        "Needs held for an allocation round (waiting, not a supply gap), by district.",
	"overdue_referrals": "Referrals past their answer deadline, by district.",
}

// WatchIndicators registers the indicator gauges, which read the read models at
// each scrape.
func (m *Metrics) WatchIndicators(f AreaGaugesFunc) {
	m.areaGauges = f
	m.areaDescs = map[string]*prometheus.Desc{}
	for name, help := range indicatorGauges {
		m.areaDescs[name] = prometheus.NewDesc("tierlink_"+name, help, []string{"partition"}, nil)
	}
	m.registry.MustRegister(indicatorCollector{m})
}

// Linked observes a need's time to link.
func (m *Metrics) Linked(partition string, tier int, d time.Duration) {
	m.timeToLink.WithLabelValues(partition, tierLabel(tier)).Observe(d.Seconds())
}

type indicatorCollector struct{ m *Metrics }

func (c indicatorCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.m.areaDescs {
		ch <- d
	}
}

func (c indicatorCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	values, err := c.m.areaGauges(ctx)
	if err != nil {
		return
	}
	for partition, gauges := range values {
		for name, v := range gauges {
			if d, ok := c.m.areaDescs[name]; ok {
				ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, partition)
			}
		}
	}
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
}

// Registry returns the registry, for tests and extra collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// Appended counts a successful append.
func (m *Metrics) Appended(partition string, events []domain.Event) {
	m.appends.WithLabelValues(partition, "ok").Inc()
	for _, e := range events {
		m.events.WithLabelValues(partition, e.Type).Inc()
	}
}

// Duplicate counts a retried command that appended nothing.
func (m *Metrics) Duplicate(partition string) {
	m.appends.WithLabelValues(partition, "duplicate").Inc()
}

// Conflict counts a version conflict.
func (m *Metrics) Conflict(partition string) {
	m.appends.WithLabelValues(partition, "conflict").Inc()
	m.conflicts.WithLabelValues(partition).Inc()
}

// AppendFailed counts an append that failed for another reason.
func (m *Metrics) AppendFailed(partition string) { m.appends.WithLabelValues(partition, "error").Inc() }

// DeadLettered counts an entry moved to the dead-letter stream.
func (m *Metrics) DeadLettered(partition, group string) {
	m.deadLetters.WithLabelValues(partition, group).Inc()
}

// Checkpointed records a consumer group's progress.
func (m *Metrics) Checkpointed(partition, group string, position int64) {
	m.checkpoint.WithLabelValues(partition, group).Set(float64(position))
	m.mu.Lock()
	m.checkpoints[[2]string{partition, group}] = position
	m.mu.Unlock()
}

// Watch makes a consumer group known before its first event, so that its lag shows.
func (m *Metrics) Watch(partition, group string) {
	m.mu.Lock()
	if _, ok := m.checkpoints[[2]string{partition, group}]; !ok {
		m.checkpoints[[2]string{partition, group}] = 0
	}
	m.mu.Unlock()
}

// Decided counts a matcher decision.
func (m *Metrics) Decided(partition string, tier int, rule string) {
	m.decisions.WithLabelValues(partition, tierLabel(tier), rule).Inc()
}

func tierLabel(t int) string {
	switch t {
	case domain.TierCommunity:
		return "community"
	case domain.TierStreet:
		return "street"
	case domain.TierDistrict:
		return "district"
	}
	return "unknown"
}

// ObserveHTTP records one request's latency.
func (m *Metrics) ObserveHTTP(route, code string, d time.Duration) {
	m.httpDurations.WithLabelValues(route, code).Observe(d.Seconds())
}

// lagCollector computes consumer lag at scrape time from the log heads.
type lagCollector struct{ m *Metrics }

func (c lagCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.m.lagDesc }

func (c lagCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.mu.Lock()
	cps := make(map[[2]string]int64, len(c.m.checkpoints))
	for k, v := range c.m.checkpoints {
		cps[k] = v
	}
	c.m.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	heads := map[string]int64{}
	for k, cp := range cps {
		h, ok := heads[k[0]]
		if !ok {
			var err error
			if h, err = c.m.head(ctx, k[0]); err != nil {
				continue // no reading is better than a wrong one
			}
			heads[k[0]] = h
		}
		ch <- prometheus.MustNewConstMetric(c.m.lagDesc, prometheus.GaugeValue, float64(max(h-cp, 0)), k[0], k[1])
	}
}
