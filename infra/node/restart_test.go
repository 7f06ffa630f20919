package node_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tierlink/tierlink/infra/node/nodetest"
	"github.com/tierlink/tierlink/infra/redistest"
)

// After a restart on an idle log, /metrics reports each consumer group's lag from
// the checkpoint it loaded (0 here), not the whole log until the next entry.
func TestLagAfterRestartOnIdleLog(t *testing.T) {
	t.Parallel()
	srv := redistest.Real(t)
	r := nodetest.Start(t, srv, "node-lag")
	r.Register(t, "xinhua-02", "counselling")
	r.Settle(t)
	r.Stop()
	r2 := nodetest.Start(t, srv, "node-lag")
	before := r2.Head(t)
	r2.Settle(t) // fails, after its bounded wait, while the lag is the whole log
	if after := r2.Head(t); after != before {
		t.Fatalf("the log grew from %d to %d after the restart: the test needs an idle log", before, after)
	}
}

// While Redis restarts and loads its data (it answers LOADING), the API answers
// 503 with Retry-After, never 500: a command, a query and /healthz alike.
func TestRedisLoadingIs503(t *testing.T) {
	t.Parallel()
	p := redistest.Durable(t, "--enable-debug-command", "local")
	r := nodetest.Start(t, p.Server(), "node-loading")
	ids := r.Register(t, "xinhua-02", "counselling")
	r.Settle(t)
	ctx := context.Background()
	// Enough data that loading it, slowed down per key, lasts long after the test.
	admin := redis.NewClient(&redis.Options{Addr: p.Addr, MaxRetries: -1})
	defer admin.Close()
	if err := admin.Do(ctx, "DEBUG", "POPULATE", 20000, "chaos:filler", 64).Err(); err != nil {
		t.Fatal(err)
	}
	if err := admin.BgRewriteAOF(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		info, err := admin.Info(ctx, "persistence").Result()
		if err == nil && strings.Contains(info, "aof_rewrite_in_progress:0") && strings.Contains(info, "aof_rewrite_scheduled:0") &&
			strings.Contains(info, "aof_last_bgrewrite_status:ok") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the AOF rewrite did not end within 30 s: %v %s", err, info)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A request now keeps the node's cached token fresh for the first requests below.
	if code, _, out := r.Call(t, "GET", "/v1/needs/"+ids[0], ""); code != http.StatusOK {
		t.Fatalf("read the need: %d %v", code, out)
	}
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := p.Restart("--key-load-delay", "1000", "--loading-process-events-interval-bytes", "1024"); err != nil {
		t.Fatal(err)
	}
	info, err := admin.Info(ctx, "persistence").Result()
	if err != nil || !strings.Contains(info, "loading:1") {
		t.Fatalf("the restarted Redis is not loading (%v): the test provokes nothing", err)
	}
	requests := []struct{ method, path, body string }{
		{"POST", "/v1/households", `{"community":"xinhua-02","needs":[{"category":"legal_aid"}]}`},
		{"GET", "/v1/needs/" + ids[0], ""},
		{"POST", "/v1/needs/" + ids[0] + "/withdraw", `{}`},
		{"GET", "/healthz", ""},
	}
	for _, q := range requests {
		code, h, out := r.Call(t, q.method, q.path, q.body, "Idempotency-Key", "loading-1")
		b, _ := json.Marshal(out)
		t.Logf("%s %s during LOADING: %d %s", q.method, q.path, code, b)
		if code != http.StatusServiceUnavailable || h.Get("Retry-After") == "" {
			t.Errorf("%s %s during LOADING: %d, Retry-After %q; want 503 with Retry-After", q.method, q.path, code, h.Get("Retry-After"))
		}
	}
	if info, err := admin.Info(ctx, "persistence").Result(); err != nil || !strings.Contains(info, "loading:1") {
		t.Fatalf("Redis ended loading before the requests were sent (%v): they prove nothing; slow the loading down", err)
	}
}
