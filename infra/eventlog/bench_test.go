package eventlog_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/eventlog"
	"github.com/tierlink/tierlink/infra/redistest"
)

// benchEvent is a typical event: a need registered, as the API appends it.
func benchEvent(reg *domain.Registry, partition string, i int64) []domain.Event {
	id := fmt.Sprintf("n%09d", i)
	evs, err := reg.Envelop([]domain.Change{{
		Aggregate: domain.AggregateRef{Type: domain.AggregateNeed, ID: id},
		Payloads:  []domain.Payload{domain.NeedRegistered{HouseholdID: "h" + id, Community: "xinhua-02", Street: "xinhua", Category: "counselling"}},
	}}, domain.Meta{Partition: partition, Time: time.Now(), Actor: "bench", CommandID: "c" + id},
		func() string { return uuid.Must(uuid.NewV7()).String() })
	if err != nil {
		panic(err)
	}
	return evs
}

// parallel runs op n times over exactly `writers` goroutines and returns ops/s.
func parallel(b *testing.B, n, writers int, op func(i int64) error) float64 {
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				if err := op(i); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return float64(n) / time.Since(start).Seconds()
}

// BenchmarkAppendVsXADD measures, against one redis-server in one run, the Lua append
// of one typical event (a need registered, to a new aggregate: version check,
// aggregate stream, partition log, command record) and a plain XADD of the same
// bytes to one stream, with 1 and 8 concurrent writers. It reports both rates and
// their ratio; ns/op is the append's.
func BenchmarkAppendVsXADD(b *testing.B) {
	srv := redistest.Real(b)
	reg := domain.NewRegistry()
	for _, writers := range []int{1, 8} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			c := redis.NewClient(&redis.Options{Addr: srv.Addr, PoolSize: 16})
			defer c.Close()
			st, _ := eventlog.NewStore(c, reg, nil)
			p := "bench" + uuid.NewString()[:8]
			batches := make([][]domain.Event, b.N+1)
			bodies := make([][2]string, b.N+1)
			for i := range batches {
				batches[i] = benchEvent(reg, p, int64(i))
				body, _ := reg.Encode(batches[i][0])
				bodies[i] = [2]string{batches[i][0].ID, string(body)}
			}
			b.ResetTimer()
			appends := parallel(b, b.N, writers, func(i int64) error {
				_, err := st.Append(context.Background(), batches[i])
				return err
			})
			b.StopTimer()
			xadds := parallel(b, b.N, writers, func(i int64) error {
				return c.XAdd(context.Background(), &redis.XAddArgs{
					Stream: "tl:{" + p + "}:plain", Values: []any{"_watermill_message_uuid", bodies[i][0], "payload", bodies[i][1]},
				}).Err()
			})
			b.ReportMetric(appends, "appends/s")
			b.ReportMetric(xadds, "xadds/s")
			b.ReportMetric(appends/xadds, "append/xadd")
		})
	}
}
