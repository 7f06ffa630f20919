package redistest_test

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/tierlink/tierlink/infra/redistest"
)

// What a durable server acknowledged survives a kill -9 and a restart on the same
// port and data directory.
func TestDurableSurvivesKill(t *testing.T) {
	p := redistest.Durable(t)
	c := p.Server().Client(t)
	ctx := context.Background()
	if err := c.XAdd(ctx, &redis.XAddArgs{Stream: "s", Values: []string{"k", "v"}}).Err(); err != nil {
		t.Fatal(err)
	}
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("the killed server still answers")
	}
	if err := p.Restart(); err != nil {
		t.Fatal(err)
	}
	n, err := c.XLen(ctx, "s").Result()
	if err != nil || n != 1 {
		t.Fatalf("after the restart the stream holds %d entries (%v), want 1", n, err)
	}
}
