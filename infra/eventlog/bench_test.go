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

// parallel runs op b.N times over exactly `writers` goroutines and reports ops/s.
func parallel(b *testing.B, writers int, unit string, op func(i int64) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
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
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), unit)
}

// BenchmarkAppend measures the Lua append (version check, aggregate stream, partition
// log, command record) of one new need; BenchmarkXADD a plain XADD of the same bytes
// to one stream. Run them together: their ratio is the price of the guarantees.
func BenchmarkAppend(b *testing.B) {
	srv := redistest.Real(b)
	for _, writers := range []int{1, 8} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			benchAppendOn(b, srv.Addr, writers)
		})
	}
}

func benchAppendOn(b *testing.B, addr string, writers int) {
	reg := domain.NewRegistry()
	c := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 16})
	defer c.Close()
	st, _ := eventlog.NewStore(c, reg, nil)
	p := "bench" + uuid.NewString()[:8]
	batches := make([][]domain.Event, b.N+1)
	for i := range batches {
		batches[i] = benchEvent(reg, p, int64(i))
	}
	parallel(b, writers, "appends/s", func(i int64) error {
		_, err := st.Append(context.Background(), batches[i])
		return err
	})
}

func BenchmarkXADD(b *testing.B) {
	srv := redistest.Real(b)
	reg := domain.NewRegistry()
	for _, writers := range []int{1, 8} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			c := redis.NewClient(&redis.Options{Addr: srv.Addr, PoolSize: 16})
			defer c.Close()
			p := "bench" + uuid.NewString()[:8]
			bodies := make([][2]string, b.N+1)
			for i := range bodies {
				e := benchEvent(reg, p, int64(i))[0]
				body, _ := reg.Encode(e)
				bodies[i] = [2]string{e.ID, string(body)}
			}
			parallel(b, writers, "xadds/s", func(i int64) error {
				return c.XAdd(context.Background(), &redis.XAddArgs{
					Stream: "tl:{" + p + "}:plain", Values: []any{"_watermill_message_uuid", bodies[i][0], "payload", bodies[i][1]},
				}).Err()
			})
		})
	}
}
