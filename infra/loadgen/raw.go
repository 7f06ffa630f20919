package loadgen

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/eventlog"
)

// Limits are the raw rates of the Redis under test, measured on scratch keys that
// are deleted afterwards: what tierlink's work is compared with.
type Limits struct {
	// XADD is plain XADDs of an encoded need-registered event per second.
	XADD float64 `json:"xadd_per_s"`
	// LuaAppend is tierlink's append script per second (one event per call, no
	// tierlink above it).
	LuaAppend float64 `json:"lua_append_per_s"`
	// XReadGroup is entries per second read through a consumer group (1000 a call,
	// acknowledged).
	XReadGroup float64 `json:"xreadgroup_per_s"`
	// XRangeDecode is entries per second read with XRANGE (1000 a call) and decoded
	// into events.
	XRangeDecode float64 `json:"xrange_decode_per_s"`
	// Entries is how many entries the two reads read.
	Entries int64 `json:"entries_read"`
}

// needEvent returns a need registered in partition p, enveloped.
func needEvent(reg *domain.Registry, p string) ([]domain.Event, error) {
	id := uuid.NewString()
	return reg.Envelop([]domain.Change{{Aggregate: domain.AggregateRef{Type: domain.AggregateNeed, ID: id},
		Payloads: []domain.Payload{domain.NeedRegistered{HouseholdID: id, Community: "c", Street: "s", Category: "counselling", Urgency: domain.UrgencyNormal, Hardship: 40}}}},
		domain.Meta{Partition: p, Time: time.Now(), Actor: "load", CommandID: id}, func() string { return uuid.NewString() })
}

// flatOut runs f from writers goroutines for d and returns calls per second.
func flatOut(ctx context.Context, writers int, d time.Duration, f func(ctx context.Context) error) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var n atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if err := f(ctx); err != nil {
					if ctx.Err() == nil {
						firstErr.CompareAndSwap(nil, err)
					}
					continue
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	if err, ok := firstErr.Load().(error); ok {
		return 0, err
	}
	return float64(n.Load()) / time.Since(start).Seconds(), nil
}

// RawAppend measures the event store's append on its own: writers append one
// registered need each to new aggregates of a scratch partition for d, which is
// deleted afterwards. It returns appends per second.
func RawAppend(ctx context.Context, client redis.UniversalClient, writers int, d time.Duration) (float64, error) {
	l, err := RawLimits(ctx, client, writers, d, false)
	return l.LuaAppend, err
}

// RawLimits measures, each for d with writers writers: XADD of an encoded event to a
// scratch stream, the append script to a scratch partition; then (with reads) the
// partition's log read through a consumer group, and with XRANGE and decoding.
func RawLimits(ctx context.Context, client redis.UniversalClient, writers int, d time.Duration, reads bool) (Limits, error) {
	reg := domain.NewRegistry()
	store, err := eventlog.NewStore(client, reg, nil)
	if err != nil {
		return Limits{}, err
	}
	p := "loadraw" + uuid.NewString()[:8]
	keys, err := eventlog.KeysFor(p)
	if err != nil {
		return Limits{}, err
	}
	defer func() { _ = eventlog.UnlinkMatching(context.WithoutCancel(ctx), client, keys.Pattern()) }()
	var out Limits
	sample, err := needEvent(reg, p)
	if err != nil {
		return Limits{}, err
	}
	body, err := reg.Encode(sample[0])
	if err != nil {
		return Limits{}, err
	}
	scratch := keys.Pattern()[:len(keys.Pattern())-1] + "xadd"
	if out.XADD, err = flatOut(ctx, writers, d, func(ctx context.Context) error {
		return client.XAdd(ctx, &redis.XAddArgs{Stream: scratch, Values: []any{"id", sample[0].ID, "payload", body}}).Err()
	}); err != nil {
		return Limits{}, fmt.Errorf("raw XADD: %w", err)
	}
	if out.LuaAppend, err = flatOut(ctx, writers, d, func(ctx context.Context) error {
		evs, err := needEvent(reg, p)
		if err == nil {
			_, err = store.Append(ctx, evs)
		}
		return err
	}); err != nil {
		return Limits{}, fmt.Errorf("raw append: %w", err)
	}
	if !reads {
		return out, nil
	}
	if err := client.XGroupCreate(ctx, keys.Log(), "raw", "0").Err(); err != nil {
		return Limits{}, fmt.Errorf("raw XREADGROUP: %w", err)
	}
	start := time.Now()
	var n int64
	for {
		res, err := client.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "raw", Consumer: "r", Streams: []string{keys.Log(), ">"}, Count: 1000, Block: -1}).Result()
		if err == redis.Nil || (err == nil && len(res[0].Messages) == 0) {
			break
		}
		if err != nil {
			return Limits{}, fmt.Errorf("raw XREADGROUP: %w", err)
		}
		ids := make([]string, len(res[0].Messages))
		for i, m := range res[0].Messages {
			ids[i] = m.ID
		}
		if err := client.XAck(ctx, keys.Log(), "raw", ids...).Err(); err != nil {
			return Limits{}, fmt.Errorf("raw XACK: %w", err)
		}
		n += int64(len(ids))
	}
	out.XReadGroup = float64(n) / time.Since(start).Seconds()
	out.Entries = n
	start = time.Now()
	var decoded int64
	for from := int64(1); ; {
		msgs, err := client.XRangeN(ctx, keys.Log(), strconv.FormatInt(from, 10), "+", 1000).Result()
		if err != nil {
			return Limits{}, fmt.Errorf("raw XRANGE: %w", err)
		}
		if len(msgs) == 0 {
			break
		}
		for _, m := range msgs {
			b, _ := m.Values["payload"].(string)
			if _, err := reg.Decode([]byte(b)); err != nil {
				return Limits{}, fmt.Errorf("raw decode: %w", err)
			}
		}
		decoded += int64(len(msgs))
		last := msgs[len(msgs)-1].ID
		pos, _ := strconv.ParseInt(last[:len(last)-2], 10, 64)
		from = pos + 1
	}
	out.XRangeDecode = float64(decoded) / time.Since(start).Seconds()
	return out, nil
}
