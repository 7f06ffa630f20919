package loadgen

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	gojson "github.com/goccy/go-json"
	"github.com/redis/go-redis/v9"

	"github.com/tierlink/tierlink/infra/eventlog"
)

// tracker pairs the needs registered with the matcher's first decision on each. A
// decision can be read from the log before the registration's answer reaches its
// client, so either side may come first.
type tracker struct {
	mu         sync.Mutex
	sent       map[string]time.Time // registered, not yet decided
	early      map[string]decided   // decided, registration's answer not yet back
	paired     map[string]struct{}  // registered and decided: later decisions are not first
	latencies  []time.Duration
	referred   int64
	waitlisted int64
	held       int64
}

// decided is the matcher's first decision on a need: proposed, held for an
// allocation round, or waitlisted.
type decided struct {
	at   time.Time
	kind string // "referred", "held" or "waitlisted"
}

func newTracker() *tracker {
	return &tracker{sent: map[string]time.Time{}, early: map[string]decided{}, paired: map[string]struct{}{}}
}

// registered records that the registration of need id was sent at.
func (t *tracker) registered(id string, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if d, ok := t.early[id]; ok {
		delete(t.early, id)
		t.paired[id] = struct{}{}
		t.record(d, at)
		return
	}
	t.sent[id] = at
}

// decided records the matcher's first decision on need id, read at at.
func (t *tracker) decided(id string, d decided) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if sentAt, ok := t.sent[id]; ok {
		delete(t.sent, id)
		t.paired[id] = struct{}{}
		t.record(d, sentAt)
		return
	}
	if _, done := t.paired[id]; done {
		return
	}
	if _, seen := t.early[id]; !seen {
		t.early[id] = d
	}
}

func (t *tracker) record(d decided, sentAt time.Time) {
	t.latencies = append(t.latencies, d.at.Sub(sentAt))
	switch d.kind {
	case "referred":
		t.referred++
	case "held":
		t.held++
	default:
		t.waitlisted++
	}
}

// waiting counts the needs registered and not yet decided.
func (t *tracker) waiting() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.sent)
}

func (t *tracker) report() *Decisions {
	t.mu.Lock()
	defer t.mu.Unlock()
	return &Decisions{Latency: percentiles(t.latencies), Referred: t.referred, Waitlisted: t.waitlisted, Held: t.held, Undecided: int64(len(t.sent))}
}

// lastID returns the id of a district log's last entry ("0" for an empty log).
func lastID(ctx context.Context, c redis.UniversalClient, district string) (string, error) {
	keys, err := eventlog.KeysFor(district)
	if err != nil {
		return "", err
	}
	last, err := c.XRevRangeN(ctx, keys.Log(), "+", "-", 1).Result()
	if err != nil {
		return "", fmt.Errorf("read the end of %s's log: %w", district, err)
	}
	if len(last) == 0 {
		return "0", nil
	}
	return last[0].ID, nil
}

// watch reads a district's log from after id on and tells t of every need's first
// decision: a referral proposed, or waitlisted. It reads only the envelope's type
// and aggregate id.
func watch(ctx context.Context, c redis.UniversalClient, district, id string, t *tracker) {
	keys, err := eventlog.KeysFor(district)
	if err != nil {
		return
	}
	var env struct {
		Type        string `json:"type"`
		AggregateID string `json:"aggregate_id"`
	}
	for ctx.Err() == nil {
		streams, err := c.XRead(ctx, &redis.XReadArgs{Streams: []string{keys.Log(), id}, Count: 2000, Block: 200 * time.Millisecond}).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			if ctx.Err() == nil {
				time.Sleep(100 * time.Millisecond)
			}
			continue
		}
		now := time.Now()
		for _, s := range streams {
			for _, m := range s.Messages {
				id = m.ID
				body, _ := m.Values["payload"].(string)
				if gojson.Unmarshal([]byte(body), &env) != nil {
					continue
				}
				switch env.Type {
				case "need.referral_proposed":
					t.decided(env.AggregateID, decided{at: now, kind: "referred"})
				case "need.held":
					t.decided(env.AggregateID, decided{at: now, kind: "held"})
				case "need.waitlisted":
					t.decided(env.AggregateID, decided{at: now, kind: "waitlisted"})
				}
			}
		}
	}
}
