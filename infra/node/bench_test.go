package node_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/adapters"
	"github.com/tierlink/tierlink/infra/eventlog"
	"github.com/tierlink/tierlink/infra/node"
	"github.com/tierlink/tierlink/infra/redistest"
	"github.com/tierlink/tierlink/infra/reference"
	"github.com/tierlink/tierlink/matching"
)

// storeAppender is adapters.MatcherAppender without the lease's fence and the
// metrics: the benchmarks' matchers hold no lease.
type storeAppender struct{ s *eventlog.Store }

func (a storeAppender) Append(ctx context.Context, cmds []domain.Command) ([]error, error) {
	outcomes, err := a.s.AppendBatch(ctx, cmds, eventlog.DigestFingerprints())
	if err != nil {
		return nil, err
	}
	out := make([]error, len(cmds))
	for i, o := range outcomes {
		if errors.Is(o.Err, eventlog.ErrVersionConflict) || errors.Is(o.Err, eventlog.ErrPrerequisite) {
			out[i] = fmt.Errorf("%w: %w", matching.ErrStale, o.Err)
		} else if o.Err != nil {
			return nil, o.Err
		}
	}
	return out, nil
}

// BenchmarkMatcherCatchUp measures how fast a matcher catches up with a backlog in a
// real Redis: the log holds the reference data, then 1 offer for every 20 needs (so
// that most needs climb to the waitlist and some are proposed); the matcher follows
// it from the start, deciding and appending as it goes, until it has read every
// entry, its own decisions included. Beside it, in the same run, a plain XREADGROUP
// (1000 entries a call, acknowledged) of the same entries.
func BenchmarkMatcherCatchUp(b *testing.B) {
	ref, reg, client, store := backlogRedis(b)
	ctx := context.Background()
	for _, backlog := range []int{10_000, 50_000} {
		b.Run(fmt.Sprintf("backlog=%d", backlog), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				p := "bench" + uuid.NewString()[:8]
				pub, _ := ref.Publication("changning")
				pub.District.Code = p
				fill(b, store, reg, p, pub, backlog)
				loop, _ := matching.NewLoop(matching.LoopConfig{Partition: p, Registry: reg, Appender: storeAppender{store},
					Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
				fctx, stop := context.WithCancel(ctx)
				done := make(chan struct{})
				b.StartTimer()
				start := time.Now()
				go func() {
					defer close(done)
					_ = store.Follow(fctx, eventlog.SubscriptionConfig{Partition: p, Group: "bench", Consumer: "c",
						BlockTime: 10 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, adapters.MatcherApplier(loop), nil)
				}()
				var read int64
				for {
					head, _ := store.Head(ctx, p)
					if cp, _ := loop.Checkpoint(ctx); cp >= head && head > 0 {
						read = head
						break
					}
					time.Sleep(2 * time.Millisecond)
				}
				elapsed := time.Since(start)
				b.StopTimer()
				stop()
				<-done
				restart := restartRate(b, store, reg, p)
				raw := xreadgroupRate(b, client, p)
				b.ReportMetric(float64(read)/elapsed.Seconds(), "events/s")
				b.ReportMetric(restart, "restart-events/s")
				b.ReportMetric(raw, "xreadgroup-entries/s")
				b.ReportMetric(float64(read-int64(backlog)-1), "decision-events")
			}
		})
	}
}

// restartRate measures a restarted matcher over the caught-up log: it reads its past
// decisions, then replays the log from the start, recognising them instead of
// appending them again; it returns events/s over the whole restart.
func restartRate(b testing.TB, store *eventlog.Store, reg *domain.Registry, p string) float64 {
	b.Helper()
	ctx := context.Background()
	start := time.Now()
	recorded, err := node.RecordedDecisions(ctx, store, p)
	if err != nil {
		b.Fatal(err)
	}
	loop, _ := matching.NewLoop(matching.LoopConfig{Partition: p, Registry: reg, Appender: storeAppender{store}, Recorded: recorded,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	fctx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = store.Follow(fctx, eventlog.SubscriptionConfig{Partition: p, Group: "restart", Consumer: "c",
			BlockTime: 10 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, adapters.MatcherApplier(loop), nil)
	}()
	head, _ := store.Head(ctx, p)
	for {
		if cp, _ := loop.Checkpoint(ctx); cp >= head {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	elapsed := time.Since(start)
	stop()
	<-done
	if h, _ := store.Head(ctx, p); h != head {
		b.Fatalf("the restart appended %d events", h-head)
	}
	return float64(head) / elapsed.Seconds()
}

// backlogRedis starts a redis-server of the test's own and returns the shipped
// reference data, a registry, a client (closed at the end) and a store on it.
func backlogRedis(tb testing.TB) (*domain.Reference, *domain.Registry, *redis.Client, *eventlog.Store) {
	tb.Helper()
	srv := redistest.Real(tb)
	ref, err := reference.Default()
	if err != nil {
		tb.Fatal(err)
	}
	reg := domain.NewRegistry()
	client := redis.NewClient(&redis.Options{Addr: srv.Addr, PoolSize: 16})
	tb.Cleanup(func() { _ = client.Close() })
	store, err := eventlog.NewStore(client, reg, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return ref, reg, client, store
}

// fill appends the reference data and a backlog of needs and offers to a partition,
// 100 commands a pipeline.
func fill(b testing.TB, store *eventlog.Store, reg *domain.Registry, p string, pub domain.ReferencePublished, n int) {
	b.Helper()
	ctx := context.Background()
	var coms []domain.Community
	for _, st := range pub.District.Streets {
		for _, c := range st.Communities {
			coms = append(coms, domain.Community{Code: c.Code, Street: st.Code, District: p})
		}
	}
	mk := func(i int, ch domain.Change) []domain.Event {
		evs, err := reg.Envelop([]domain.Change{ch}, domain.Meta{Partition: p, Time: time.Unix(1_790_000_000+int64(i), 0), Actor: "bench", CommandID: fmt.Sprintf("c%d", i)},
			func() string { return uuid.NewString() })
		if err != nil {
			b.Fatal(err)
		}
		return evs
	}
	if _, err := store.Append(ctx, mk(0, domain.Change{Aggregate: domain.AggregateRef{Type: domain.AggregateReference, ID: p}, Payloads: []domain.Payload{pub}})); err != nil {
		b.Fatal(err)
	}
	cats := []string{"counselling", "material_aid", "respite_care", "legal_aid", "homework_tutoring", "elderly_care"}
	for i := 1; i <= n; i++ {
		c := coms[i%len(coms)]
		cat := cats[i%len(cats)]
		var ch domain.Change
		if i%20 == 0 {
			ch = domain.Change{Aggregate: domain.AggregateRef{Type: domain.AggregateOffer, ID: fmt.Sprintf("o%d", i)}, Payloads: []domain.Payload{domain.OfferPosted{
				Provider: "p", Category: cat, Capacity: 3, Scope: domain.Scope{Tier: domain.TierCommunity, Area: c.Code}, District: p, ValidFrom: time.Unix(1_700_000_000, 0)}}}
		} else {
			ch = domain.Change{Aggregate: domain.AggregateRef{Type: domain.AggregateNeed, ID: fmt.Sprintf("n%d", i)}, Payloads: []domain.Payload{domain.NeedRegistered{
				HouseholdID: fmt.Sprintf("h%d", i), Community: c.Code, Street: c.Street, Category: cat, Urgency: domain.UrgencyNormal, Hardship: i % 100}}}
		}
		if _, err := store.Append(ctx, mk(i, ch)); err != nil {
			b.Fatal(err)
		}
	}
}

// xreadgroupRate reads a partition's whole log through a fresh consumer group, 1000
// entries a call, acknowledging them, and returns entries/s.
func xreadgroupRate(b *testing.B, c *redis.Client, p string) float64 {
	b.Helper()
	ctx := context.Background()
	key := "tl:{" + p + "}:log"
	if err := c.XGroupCreate(ctx, key, "raw", "0").Err(); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	total := 0
	for {
		res, err := c.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "raw", Consumer: "r", Streams: []string{key, ">"}, Count: 1000, Block: -1}).Result()
		if err == redis.Nil || (err == nil && len(res[0].Messages) == 0) {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
		ids := make([]string, 0, len(res[0].Messages))
		for _, m := range res[0].Messages {
			ids = append(ids, m.ID)
		}
		c.XAck(ctx, key, "raw", ids...)
		total += len(ids)
	}
	return float64(total) / time.Since(start).Seconds()
}

// TestCatchUpOverBacklogThenRestart runs the catch-up path on a real Redis: the
// follower hands the loop runs of entries and the loop appends each run's
// decisions in one call, in flight while it takes the next. Every need is decided
// (proposed or waitlisted), no offer gives more units than it has, and a restarted
// loop recognises every decision and appends nothing.
func TestCatchUpOverBacklogThenRestart(t *testing.T) {
	t.Parallel()
	ref, reg, _, store := backlogRedis(t)
	ctx := context.Background()
	p := "catchup"
	pub, _ := ref.Publication("changning")
	pub.District.Code = p
	fill(t, store, reg, p, pub, 3000)
	loop, _ := matching.NewLoop(matching.LoopConfig{Partition: p, Registry: reg, Appender: storeAppender{store},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	fctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = store.Follow(fctx, eventlog.SubscriptionConfig{Partition: p, Group: "m", Consumer: "c",
			BlockTime: 10 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, adapters.MatcherApplier(loop), nil)
	}()
	deadline := time.Now().Add(time.Minute)
	for {
		head, _ := store.Head(ctx, p)
		if cp, _ := loop.Checkpoint(ctx); cp >= head && head > 3000 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the matcher did not catch up within a minute")
		}
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	<-done
	entries, err := store.ReadPartition(ctx, p, 1, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	needs, offers := map[string]domain.Need{}, map[string]domain.Offer{}
	for _, e := range entries {
		switch e.Event.AggregateType {
		case domain.AggregateNeed:
			needs[e.Event.AggregateID] = needs[e.Event.AggregateID].Evolve(e.Event)
		case domain.AggregateOffer:
			offers[e.Event.AggregateID] = offers[e.Event.AggregateID].Evolve(e.Event)
		}
	}
	count := map[domain.NeedStatus]int{}
	for id, n := range needs {
		count[n.Status]++
		if n.Status != domain.StatusProposed && n.Status != domain.StatusWaitlisted {
			t.Fatalf("need %s is %s after the catch-up", id, n.Status)
		}
	}
	for id, o := range offers {
		if o.Committed > o.Capacity {
			t.Fatalf("offer %s commits %d of %d units", id, o.Committed, o.Capacity)
		}
	}
	if count[domain.StatusProposed] == 0 || count[domain.StatusWaitlisted] == 0 {
		t.Fatalf("needs by status %v: the backlog should make both", count)
	}
	restartRate(t, store, reg, p) // fails if the restart appends anything
}

// BenchmarkRebuild rebuilds the read models of a partition holding a backlog of
// needs and offers, beside the raw rate of reading and decoding the same log
// (XRANGE of 2000 entries at a time and JSON decoding) in the same run.
func BenchmarkRebuild(b *testing.B) {
	ref, reg, client, store := backlogRedis(b)
	ctx := context.Background()
	for _, backlog := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("events=%d", backlog), func(b *testing.B) {
			p := "rebuild" + uuid.NewString()[:8]
			pub, _ := ref.Publication("changning")
			pub.District.Code = p
			fill(b, store, reg, p, pub, backlog)
			b.ResetTimer()
			var rebuilt, raw float64
			for i := 0; i < b.N; i++ {
				stats, err := node.RebuildProjections(ctx, client, store, []string{p}, nil)
				if err != nil {
					b.Fatal(err)
				}
				rebuilt = stats.Rate()
				start := time.Now()
				n := 0
				for from := int64(1); ; {
					entries, err := store.ReadPartition(ctx, p, from, 2000)
					if err != nil {
						b.Fatal(err)
					}
					if len(entries) == 0 {
						break
					}
					n += len(entries)
					from = entries[len(entries)-1].Position + 1
				}
				raw = float64(n) / time.Since(start).Seconds()
			}
			b.ReportMetric(rebuilt, "rebuild-events/s")
			b.ReportMetric(raw, "xrange+decode-events/s")
			b.ReportMetric(rebuilt/raw, "rebuild/raw")
		})
	}
}
