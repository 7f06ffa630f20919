package metrics_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tierlink/tierlink/infra/metrics"
	"github.com/tierlink/tierlink/infra/webhook"
)

var _ webhook.Recorder = metrics.WebhookRecorder{}

func TestWebhookRecorder(t *testing.T) {
	m := metrics.New()
	r := m.Webhook()
	r.Delivery("d1", "s1", webhook.OutcomeDelivered, 30*time.Millisecond)
	r.Delivery("d1", "s1", webhook.OutcomeRetry, 2*time.Second)
	r.Delivery("d1", "s1", webhook.OutcomeRetry, 0)
	r.AppendToDelivery("d1", 1500*time.Millisecond)
	r.QueueDepth("d1", "s1", 7)
	r.DeadLettered("d1", "s1")
	r.Breaker("d1", "s1", true)
	r.Breaker("d1", "s2", false)
	want := `
# HELP tierlink_webhook_deliveries_total Webhook delivery attempts by partition, subscription and outcome (delivered, retry, dead).
# TYPE tierlink_webhook_deliveries_total counter
tierlink_webhook_deliveries_total{outcome="delivered",partition="d1",subscription="s1"} 1
tierlink_webhook_deliveries_total{outcome="retry",partition="d1",subscription="s1"} 2
# HELP tierlink_webhook_queue_depth Notifications waiting in a webhook subscription's queue.
# TYPE tierlink_webhook_queue_depth gauge
tierlink_webhook_queue_depth{partition="d1",subscription="s1"} 7
# HELP tierlink_webhook_dead_letters_total Notifications given up on (refused with a 4xx, or undelivered past the maximum age), by partition and subscription.
# TYPE tierlink_webhook_dead_letters_total counter
tierlink_webhook_dead_letters_total{partition="d1",subscription="s1"} 1
# HELP tierlink_webhook_breaker_open 1 while a webhook subscription's circuit breaker is open (its endpoint kept failing), else 0.
# TYPE tierlink_webhook_breaker_open gauge
tierlink_webhook_breaker_open{partition="d1",subscription="s1"} 1
tierlink_webhook_breaker_open{partition="d1",subscription="s2"} 0
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want),
		"tierlink_webhook_deliveries_total", "tierlink_webhook_queue_depth", "tierlink_webhook_dead_letters_total", "tierlink_webhook_breaker_open"); err != nil {
		t.Fatal(err)
	}
	if n, err := testutil.GatherAndCount(m.Registry(), "tierlink_webhook_delivery_seconds", "tierlink_webhook_append_to_delivery_seconds"); err != nil || n != 2 {
		t.Fatalf("%d histograms (%v), want 2", n, err)
	}
	if problems, err := testutil.GatherAndLint(m.Registry(), "tierlink_webhook_deliveries_total", "tierlink_webhook_delivery_seconds",
		"tierlink_webhook_append_to_delivery_seconds", "tierlink_webhook_queue_depth", "tierlink_webhook_dead_letters_total", "tierlink_webhook_breaker_open"); err != nil || len(problems) != 0 {
		t.Fatalf("lint: %+v, %v", problems, err)
	}
	// The log consumers' dead letters are another counter.
	if n, _ := testutil.GatherAndCount(m.Registry(), "tierlink_dead_letters_total"); n != 0 {
		t.Fatalf("a webhook dead letter counted as a log dead letter")
	}
}
