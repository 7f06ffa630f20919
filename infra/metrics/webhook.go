package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// webhookMetrics are the webhook dispatcher's collectors.
type webhookMetrics struct {
	deliveries       *prometheus.CounterVec
	latency          *prometheus.HistogramVec
	appendToDelivery *prometheus.HistogramVec
	queueDepth       *prometheus.GaugeVec
	deadLetters      *prometheus.CounterVec
	breakerOpen      *prometheus.GaugeVec
}

func newWebhookMetrics() webhookMetrics {
	return webhookMetrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tierlink_webhook_deliveries_total", Help: "Webhook delivery attempts by partition, subscription and outcome (delivered, retry, dead).",
		}, []string{"partition", "subscription", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "tierlink_webhook_delivery_seconds", Help: "Time a webhook endpoint took to answer one attempt, by partition.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"partition"}),
		appendToDelivery: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "tierlink_webhook_append_to_delivery_seconds", Help: "Time from a log entry's append to the 2xx of a notification it implied, by partition.",
			Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 3600, 6 * 3600, 24 * 3600},
		}, []string{"partition"}),
		queueDepth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tierlink_webhook_queue_depth", Help: "Notifications waiting in a webhook subscription's queue.",
		}, []string{"partition", "subscription"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tierlink_webhook_dead_letters_total", Help: "Notifications given up on (refused with a 4xx, or undelivered past the maximum age), by partition and subscription.",
		}, []string{"partition", "subscription"}),
		breakerOpen: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tierlink_webhook_breaker_open", Help: "1 while a webhook subscription's circuit breaker is open (its endpoint kept failing), else 0.",
		}, []string{"partition", "subscription"}),
	}
}

// Webhook returns the webhook dispatcher's Recorder (webhook.Recorder) writing to m.
func (m *Metrics) Webhook() WebhookRecorder { return WebhookRecorder{&m.webhook} }

// WebhookRecorder records the webhook dispatcher's deliveries; it implements webhook.Recorder.
type WebhookRecorder struct{ m *webhookMetrics }

// Delivery counts one webhook delivery attempt and observes how long the endpoint took.
func (r WebhookRecorder) Delivery(partition, subscription, outcome string, latency time.Duration) {
	r.m.deliveries.WithLabelValues(partition, subscription, outcome).Inc()
	if latency > 0 {
		r.m.latency.WithLabelValues(partition).Observe(latency.Seconds())
	}
}

// AppendToDelivery observes the time from a log entry's append to a notification's 2xx.
func (r WebhookRecorder) AppendToDelivery(partition string, d time.Duration) {
	r.m.appendToDelivery.WithLabelValues(partition).Observe(max(d, 0).Seconds())
}

// QueueDepth records how many notifications wait for a webhook subscription.
func (r WebhookRecorder) QueueDepth(partition, subscription string, n int) {
	r.m.queueDepth.WithLabelValues(partition, subscription).Set(float64(n))
}

// DeadLettered counts a notification dead-lettered.
func (r WebhookRecorder) DeadLettered(partition, subscription string) {
	r.m.deadLetters.WithLabelValues(partition, subscription).Inc()
}

// Breaker records a webhook subscription's circuit breaker opening (true) or leaving the open state.
func (r WebhookRecorder) Breaker(partition, subscription string, open bool) {
	v := 0.0
	if open {
		v = 1
	}
	r.m.breakerOpen.WithLabelValues(partition, subscription).Set(v)
}
