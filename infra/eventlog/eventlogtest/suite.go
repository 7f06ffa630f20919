// Package eventlogtest is the conformance suite that every event store
// implementation runs: the Redis store on a real redis-server, on the embedded
// server and on a cluster, and the in-memory log (memlog) for what it implements.
// Like Watermill's universal tests, a store says what it implements in a Features
// struct, and the suite runs every test the store has the features for.
package eventlogtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/eventlog"
)

// Leases is a store that hands out leases with fencing tokens (Features.Leases).
type Leases interface {
	Lease(ctx context.Context, partition, name, holder string, ttl time.Duration) (int64, error)
	Release(ctx context.Context, partition, name, holder string) error
}

// Groups is a store that delivers a partition log to consumer groups
// (Features.ConsumerGroups).
type Groups interface {
	Subscribe(ctx context.Context, cfg eventlog.SubscriptionConfig) (*eventlog.Subscription, error)
	Follow(ctx context.Context, cfg eventlog.SubscriptionConfig, a eventlog.Applier, rec eventlog.FollowRecorder) error
}

// Features says what a store implements beyond eventlog.Log, which every store implements.
type Features struct {
	// Leases: the store implements Leases, and a fenced append (eventlog.Fence) goes
	// through only while its writer holds the lease under that token. A store
	// without leases holds none, so it refuses every fenced append (eventlog.ErrFenced).
	Leases bool
	// ConsumerGroups: the store implements Groups: a group delivers each entry of a
	// partition log once, redelivers what a dead consumer did not acknowledge, and
	// dead-letters what cannot be decoded.
	ConsumerGroups bool
	// Redis: Subject.Client reaches the Redis server behind the store, through which
	// the suite writes behind the store's back and looks at the consumer groups.
	Redis bool
}

// missing names the first feature of need that f lacks, or "".
func (f Features) missing(need Features) string {
	switch {
	case need.Leases && !f.Leases:
		return "leases"
	case need.ConsumerGroups && !f.ConsumerGroups:
		return "consumer groups"
	case need.Redis && !f.Redis:
		return "Redis server behind it"
	}
	return ""
}

// Subject is one store under test, with the raw client of its Redis server when
// it has one (Features.Redis).
type Subject struct {
	Store  eventlog.Log
	Client redis.UniversalClient
}

// groups returns the store's consumer groups; only tests that need them call it.
func (s Subject) groups() Groups { return s.Store.(Groups) }

// leases returns the store's leases; only tests that need them call it.
func (s Subject) leases() Leases { return s.Store.(Leases) }

// Run runs every conformance test that a store with features can pass against
// stores made by newSubject, and skips the others, saying why; each test gets a
// fresh partition name, so that tests may share a server.
func Run(t *testing.T, features Features, newSubject func(t *testing.T) Subject) {
	groups := Features{ConsumerGroups: true}
	redisGroups := Features{ConsumerGroups: true, Redis: true}
	tests := []struct {
		name  string
		fn    func(*testing.T, Subject, string)
		needs Features
	}{
		{"RoundTrip", testRoundTrip, Features{}},
		{"VersionConflict", testVersionConflict, Features{}},
		{"IdempotentRetry", testIdempotentRetry, Features{}},
		{"BadAppendWritesNothing", testBadAppend, Features{}},
		{"BatchAppendsInOrderWithPrerequisites", testBatch, Features{}},
		{"RacingWritersOneWinnerPerVersion", testRace, Features{}},
		{"CommandsAndAggregatesLookedUp", testLookups, Features{}},
		{"DigestFingerprintsTellDecisionsApart", testDigestFingerprints, Features{}},
		{"UnackedEntryRedelivered", testUnackedRedelivered, groups},
		{"FollowerRestartsWithNothingLostOrSkipped", testFollowRestart, groups},
		{"CheckpointReportedBeforeAnyEntry", testCheckpointReported, groups},
		{"UndecodableEntryDeadLetteredOnce", testDeadLetter, redisGroups},
		{"ForeignEntryRefusedAndSkipped", testForeignEntry, redisGroups},
		{"TwoFollowersOneDiesMidApply", testTwoFollowers, groups},
		{"LiveFollowerTakesABurstInRuns", testLiveBurst, redisGroups},
		{"LeaseFencesAStaleWriter", testLease, Features{Leases: true, Redis: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if lack := features.missing(tc.needs); lack != "" {
				t.Skipf("the store has no %s", lack)
			}
			t.Parallel()
			s := newSubject(t)
			tc.fn(t, s, "p"+uuid.NewString()[:8])
		})
	}
}

var reg = domain.NewRegistry()

// events builds one command's events: for each aggregate, n household events from
// version from+1 on.
func events(t *testing.T, partition, command string, aggs map[string][2]int64, order ...string) []domain.Event {
	t.Helper()
	var changes []domain.Change
	for _, id := range order {
		spec := aggs[id]
		c := domain.Change{Aggregate: domain.AggregateRef{Type: domain.AggregateHousehold, ID: id}, ExpectedVersion: spec[0]}
		for i := int64(0); i < spec[1]; i++ {
			c.Payloads = append(c.Payloads, domain.HouseholdRegistered{Community: fmt.Sprintf("c-%d", spec[0]+i+1), Street: "s", District: partition})
		}
		changes = append(changes, c)
	}
	evs, err := reg.Envelop(changes, domain.Meta{
		Partition: partition, Time: time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC), Actor: "test", CommandID: command,
	}, func() string { return uuid.Must(uuid.NewV7()).String() })
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func one(t *testing.T, partition, command, agg string, expected int64) []domain.Event {
	return events(t, partition, command, map[string][2]int64{agg: {expected, 1}}, agg)
}

// sequence returns a function that appends n events to aggregate "a", one command
// each, counting them in *version.
func sequence(t *testing.T, s Subject, p string, version *int64) func(n int) {
	return func(n int) {
		for i := 0; i < n; i++ {
			if _, err := s.Store.Append(context.Background(), one(t, p, uuid.NewString(), "a", *version)); err != nil {
				t.Fatal(err)
			}
			*version++
		}
	}
}

func mustEncode(t *testing.T, e domain.Event) string {
	t.Helper()
	b, err := reg.Encode(e)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func head(t *testing.T, s Subject, partition string) int64 {
	t.Helper()
	h, err := s.Store.Head(context.Background(), partition)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func testRoundTrip(t *testing.T, s Subject, p string) {
	ctx := context.Background()
	in := events(t, p, "cmd-1", map[string][2]int64{"a": {0, 2}, "b": {0, 1}}, "a", "b")
	res, err := s.Store.Append(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if res.FirstPosition != 1 || res.LastPosition != 3 || res.Duplicate {
		t.Fatalf("result %+v, want positions 1..3", res)
	}
	if v := res.Versions[domain.AggregateRef{Type: "household", ID: "a"}]; v != 2 {
		t.Fatalf("a's version %d, want 2", v)
	}
	got, err := s.Store.ReadAggregate(ctx, p, in[0].Aggregate(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || mustEncode(t, got[0]) != mustEncode(t, in[0]) || mustEncode(t, got[1]) != mustEncode(t, in[1]) {
		t.Fatalf("aggregate a read back %+v", got)
	}
	from2, err := s.Store.ReadAggregate(ctx, p, in[0].Aggregate(), 2)
	if err != nil || len(from2) != 1 || from2[0].AggregateVersion != 2 {
		t.Fatalf("read from version 2: %+v %v", from2, err)
	}
	log, err := s.Store.ReadPartition(ctx, p, 1, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != 3 {
		t.Fatalf("log has %d entries, want 3", len(log))
	}
	for i, e := range log {
		if e.Err != nil || e.Position != int64(i+1) || mustEncode(t, e.Event) != mustEncode(t, in[i]) {
			t.Fatalf("log entry %d: %+v", i, e)
		}
	}
	if h := head(t, s, p); h != 3 {
		t.Fatalf("head %d, want 3", h)
	}
	more, err := s.Store.Append(ctx, one(t, p, "cmd-2", "a", 2))
	if err != nil || more.FirstPosition != 4 {
		t.Fatalf("second append %+v %v", more, err)
	}
}

func testVersionConflict(t *testing.T, s Subject, p string) {
	ctx := context.Background()
	if _, err := s.Store.Append(ctx, one(t, p, "cmd-1", "a", 0)); err != nil {
		t.Fatal(err)
	}
	_, err := s.Store.Append(ctx, one(t, p, "cmd-2", "a", 0))
	var ce *eventlog.ConflictError
	if !errors.As(err, &ce) || !errors.Is(err, eventlog.ErrVersionConflict) || ce.Actual != 1 || ce.Expected != 0 {
		t.Fatalf("append at a stale version: %v", err)
	}
	// One aggregate fine, the other stale: nothing of the batch is written.
	_, err = s.Store.Append(ctx, events(t, p, "cmd-3", map[string][2]int64{"b": {0, 1}, "a": {5, 1}}, "b", "a"))
	if !errors.Is(err, eventlog.ErrVersionConflict) {
		t.Fatalf("batch with one stale aggregate: %v", err)
	}
	if h := head(t, s, p); h != 1 {
		t.Fatalf("head moved to %d after refused appends", h)
	}
	b, err := s.Store.ReadAggregate(ctx, p, domain.AggregateRef{Type: "household", ID: "b"}, 1)
	if err != nil || len(b) != 0 {
		t.Fatalf("aggregate b has %d events after a refused batch (%v)", len(b), err)
	}
	// The conflicting command id was not recorded: the same command at the right version goes through.
	if _, err := s.Store.Append(ctx, one(t, p, "cmd-2", "a", 1)); err != nil {
		t.Fatalf("command retried at the right version: %v", err)
	}
}

// testDigestFingerprints appends commands whose fingerprints are the digests of
// their encoded events (as the matcher does): the stored fingerprint is that
// digest; the same events again are a retry; other events under the id are another
// command, refused.
func testDigestFingerprints(t *testing.T, s Subject, p string) {
	ctx := context.Background()
	first := one(t, p, "decision-1", "d", 0)
	outs, err := s.Store.AppendBatch(ctx, []domain.Command{{Events: first}}, eventlog.DigestFingerprints())
	if err != nil || outs[0].Err != nil {
		t.Fatalf("append: %v %+v", err, outs)
	}
	var bodies [][]byte
	for _, e := range first {
		b, err := reg.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, b)
	}
	if _, fp, ok, err := s.Store.CommandResult(ctx, p, "decision-1"); err != nil || !ok || fp != domain.Digest(bodies...) {
		t.Fatalf("stored fingerprint %q (%v %v), want the digest of the events %q", fp, ok, err, domain.Digest(bodies...))
	}
	outs, err = s.Store.AppendBatch(ctx, []domain.Command{{Events: first}}, eventlog.DigestFingerprints())
	if err != nil || outs[0].Err != nil || !outs[0].Result.Duplicate {
		t.Fatalf("the same decision again: %v %+v", err, outs)
	}
	other := one(t, p, "decision-1", "e", 0)
	outs, err = s.Store.AppendBatch(ctx, []domain.Command{{Events: other}}, eventlog.DigestFingerprints())
	if err != nil || !errors.Is(outs[0].Err, eventlog.ErrCommandReused) {
		t.Fatalf("another decision under the id: %v %+v", err, outs)
	}
	if h := head(t, s, p); h != 1 {
		t.Fatalf("head %d, want 1", h)
	}
}

func testIdempotentRetry(t *testing.T, s Subject, p string) {
	ctx := context.Background()
	first, err := s.Store.Append(ctx, events(t, p, "cmd-1", map[string][2]int64{"a": {0, 1}, "b": {0, 1}}, "a", "b"))
	if err != nil {
		t.Fatal(err)
	}
	// The retry carries new event ids (a client retrying after a timeout rebuilds them)
	// and would now conflict: the first result comes back and nothing is written.
	again, err := s.Store.Append(ctx, events(t, p, "cmd-1", map[string][2]int64{"a": {0, 1}, "b": {0, 1}}, "a", "b"))
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if !again.Duplicate || again.FirstPosition != first.FirstPosition || again.LastPosition != first.LastPosition {
		t.Fatalf("retry result %+v, first %+v", again, first)
	}
	// A retry that made new aggregate ids (as the API does) gets the first result too.
	other, err := s.Store.Append(ctx, events(t, p, "cmd-1", map[string][2]int64{"x": {0, 1}}, "x"))
	if err != nil || !other.Duplicate || other.FirstPosition != first.FirstPosition {
		t.Fatalf("retry with other ids: %+v %v", other, err)
	}
	if h := head(t, s, p); h != 2 {
		t.Fatalf("head %d after retried commands, want 2", h)
	}
	for _, id := range []string{"a", "x"} {
		evs, _ := s.Store.ReadAggregate(ctx, p, domain.AggregateRef{Type: "household", ID: id}, 1)
		if want := map[string]int{"a": 1, "x": 0}[id]; len(evs) != want {
			t.Fatalf("aggregate %s has %d events after retried commands, want %d", id, len(evs), want)
		}
	}
	// A command id with a fingerprint is refused for a different command.
	if _, err := s.Store.Append(ctx, one(t, p, "cmd-fp", "f", 0), eventlog.Fingerprint("sha-one")); err != nil {
		t.Fatal(err)
	}
	if res, err := s.Store.Append(ctx, one(t, p, "cmd-fp", "f", 0), eventlog.Fingerprint("sha-one")); err != nil || !res.Duplicate {
		t.Fatalf("same command again: %+v %v", res, err)
	}
	if _, err := s.Store.Append(ctx, one(t, p, "cmd-fp", "g", 0), eventlog.Fingerprint("sha-two")); !errors.Is(err, eventlog.ErrCommandReused) {
		t.Fatalf("command id reused for another command: %v", err)
	}
	if h := head(t, s, p); h != 3 {
		t.Fatalf("head %d, want 3", h)
	}
}

func testBadAppend(t *testing.T, s Subject, p string) {
	ctx := context.Background()
	good := one(t, p, "cmd-1", "a", 0)
	bad := map[string][]domain.Event{
		"empty":          nil,
		"no command id":  func() []domain.Event { e := one(t, p, "", "a", 0); return e }(),
		"bad partition":  one(t, "Not{A}Tag", "cmd-x", "a", 0),
		"gap in version": append(one(t, p, "cmd-2", "a", 0), one(t, p, "cmd-2", "a", 2)...),
		"mixed partitions": append(one(t, p, "cmd-3", "a", 0),
			one(t, p+"x", "cmd-3", "b", 0)...),
		"unknown type": func() []domain.Event { e := one(t, p, "cmd-4", "a", 0); e[0].Type = "nope"; return e }(),
	}
	for name, evs := range bad {
		if _, err := s.Store.Append(ctx, evs); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if h := head(t, s, p); h != 0 {
		t.Fatalf("refused appends wrote %d entries", h)
	}
	if _, err := s.Store.Append(ctx, good); err != nil {
		t.Fatal(err)
	}
}

func testBatch(t *testing.T, s Subject, p string) {
	ctx := context.Background()
	if _, err := s.Store.Append(ctx, one(t, p, "cmd-0", "a", 0)); err != nil {
		t.Fatal(err)
	}
	batch := []domain.Command{
		{Events: one(t, p, "cmd-1", "b", 0)},                     // lands at 2
		{Events: one(t, p, "cmd-2", "a", 0)},                     // a is at 1: conflict
		{Events: one(t, p, "cmd-3", "c", 0), After: []int{1}},    // needs cmd-2: not tried
		{Events: one(t, p, "cmd-4", "b", 1), After: []int{0}},    // follows cmd-1: lands at 3
		{Events: one(t, p, "cmd-0", "a", 0)},                     // taken before: a duplicate
		{Events: one(t, p, "cmd-6", "d", 0), After: []int{4, 3}}, // a duplicate counts as taken: lands at 4
	}
	check := func(out []eventlog.Outcome, retry bool) {
		t.Helper()
		if len(out) != len(batch) {
			t.Fatalf("%d outcomes for %d commands", len(out), len(batch))
		}
		for i, want := range []int64{2, 0, 0, 3, 1, 4} {
			o := out[i]
			switch {
			case i == 1 && !errors.Is(o.Err, eventlog.ErrVersionConflict),
				i == 2 && !errors.Is(o.Err, eventlog.ErrPrerequisite):
				t.Fatalf("command %d: %v, want it refused", i, o.Err)
			case want > 0 && (o.Err != nil || o.Result.FirstPosition != want || o.Result.Duplicate != (retry || i == 4)):
				t.Fatalf("command %d: %+v %v, want it at %d", i, o.Result, o.Err, want)
			}
		}
	}
	out, err := s.Store.AppendBatch(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	check(out, false)
	// The whole batch again, as after a lost reply: the same outcomes, nothing written.
	out, err = s.Store.AppendBatch(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	check(out, true)
	log, err := s.Store.ReadPartition(ctx, p, 1, 100)
	if err != nil {
		t.Fatal(err)
	}
	var cmds []string
	for _, e := range log {
		cmds = append(cmds, e.Event.CommandID)
	}
	if fmt.Sprint(cmds) != "[cmd-0 cmd-1 cmd-4 cmd-6]" {
		t.Fatalf("log holds commands %v", cmds)
	}
	// A bad batch, or one that is fenced, writes nothing at all.
	for name, bad := range map[string][]domain.Command{
		"needs a later command": {{Events: one(t, p, "x-1", "e", 0), After: []int{1}}, {Events: one(t, p, "x-2", "f", 0)}},
		"one bad command":       {{Events: one(t, p, "x-3", "e", 0)}, {Events: nil}},
		"empty":                 nil,
	} {
		if _, err := s.Store.AppendBatch(ctx, bad); !errors.Is(err, eventlog.ErrBadAppend) {
			t.Errorf("%s: %v, want a bad append", name, err)
		}
	}
	if _, err := s.Store.AppendBatch(ctx, []domain.Command{{Events: one(t, p, "x-4", "e", 0)}}, eventlog.Fence("matcher", 7)); !errors.Is(err, eventlog.ErrFenced) {
		t.Fatalf("a batch without the lease: %v", err)
	}
	if h := head(t, s, p); h != 4 {
		t.Fatalf("head %d after refused batches, want 4", h)
	}
}

func testRace(t *testing.T, s Subject, p string) {
	ctx := context.Background()
	const writers, versions = 8, 40
	ref := domain.AggregateRef{Type: domain.AggregateHousehold, ID: "contested"}
	var mu sync.Mutex
	winners := map[int64][]int{} // version → writers whose append of it succeeded
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for attempt := 0; ; attempt++ {
				evs, err := s.Store.ReadAggregate(ctx, p, ref, 1)
				if err != nil {
					t.Error(err)
					return
				}
				v := int64(len(evs))
				if v >= versions {
					return
				}
				cmd := fmt.Sprintf("w%d-a%d", w, attempt)
				_, err = s.Store.Append(ctx, one(t, p, cmd, ref.ID, v))
				if errors.Is(err, eventlog.ErrVersionConflict) {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				winners[v+1] = append(winners[v+1], w)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for v := int64(1); v <= versions; v++ {
		if len(winners[v]) != 1 {
			t.Errorf("version %d won by writers %v, want exactly one", v, winners[v])
		}
	}
	if h := head(t, s, p); h != versions {
		t.Fatalf("log holds %d entries, want %d", h, versions)
	}
	evs, _ := s.Store.ReadAggregate(ctx, p, ref, 1)
	for i, e := range evs {
		if e.AggregateVersion != int64(i+1) {
			t.Fatalf("event %d has version %d", i, e.AggregateVersion)
		}
	}
}

func fastSub(p, group, consumer string) eventlog.SubscriptionConfig {
	return eventlog.SubscriptionConfig{
		Partition: p, Group: group, Consumer: consumer,
		MaxIdle: 300 * time.Millisecond, ClaimInterval: 100 * time.Millisecond,
		BlockTime: 50 * time.Millisecond, NackDelay: 10 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

func receive(t *testing.T, c <-chan eventlog.Message, within time.Duration) eventlog.Message {
	t.Helper()
	select {
	case m, ok := <-c:
		if !ok {
			t.Fatal("subscription closed")
		}
		return m
	case <-time.After(within):
		t.Fatalf("nothing delivered within %v", within)
	}
	return eventlog.Message{}
}

func testUnackedRedelivered(t *testing.T, s Subject, p string) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := s.Store.Append(ctx, one(t, p, "cmd-1", "a", 0)); err != nil {
		t.Fatal(err)
	}
	dying, err := s.groups().Subscribe(ctx, fastSub(p, "g", "dies"))
	if err != nil {
		t.Fatal(err)
	}
	m := receive(t, dying.C, 5*time.Second)
	if m.Position != 1 || m.Err != nil {
		t.Fatalf("delivered %+v", m.Entry)
	}
	_ = dying.Close() // dies without acknowledging

	other, err := s.groups().Subscribe(ctx, fastSub(p, "g", "survivor"))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	again := receive(t, other.C, 10*time.Second)
	if again.Position != 1 || again.Event.ID != m.Event.ID {
		t.Fatalf("redelivered %+v, want position 1 again", again.Entry)
	}
	again.Ack()
	if _, err := s.Store.Append(ctx, one(t, p, "cmd-2", "a", 1)); err != nil {
		t.Fatal(err)
	}
	next := receive(t, other.C, 5*time.Second)
	if next.Position != 2 {
		t.Fatalf("after the ack got position %d, want 2", next.Position)
	}
	next.Ack()
}

// testLookups: an aggregate is found in whichever partition holds it, and a
// command's first result and fingerprint are found where it took effect.
func testLookups(t *testing.T, s Subject, p string) {
	ctx := context.Background()
	other := p + "b"
	if _, err := s.Store.Append(ctx, one(t, other, "cmd-0", "z", 0)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Store.Append(ctx, events(t, p, "cmd-1", map[string][2]int64{"a": {0, 2}}, "a"), eventlog.Fingerprint("fp-1")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Store.Append(ctx, one(t, p, "cmd-2", "a", 2)); err != nil {
		t.Fatal(err)
	}
	ref := domain.AggregateRef{Type: domain.AggregateHousehold, ID: "a"}
	where, evs, err := s.Store.FindAggregate(ctx, []string{other, p}, ref)
	if err != nil || where != p || len(evs) != 3 || evs[2].CommandID != "cmd-2" {
		t.Fatalf("find a: %q, %d events, %v", where, len(evs), err)
	}
	where, evs, err = s.Store.FindAggregate(ctx, []string{other, p}, domain.AggregateRef{Type: domain.AggregateHousehold, ID: "nowhere"})
	if err != nil || where != "" || len(evs) != 0 {
		t.Fatalf("find an aggregate that is nowhere: %q, %d events, %v", where, len(evs), err)
	}
	if _, _, err := s.Store.FindAggregate(ctx, []string{p}, domain.AggregateRef{Type: "household", ID: "not an id"}); !errors.Is(err, eventlog.ErrBadAggregate) {
		t.Fatalf("find a bad reference: %v", err)
	}
	if _, err := s.Store.ReadAggregate(ctx, "Not{A}Tag", ref, 1); !errors.Is(err, eventlog.ErrBadPartition) {
		t.Fatalf("read from a bad partition: %v", err)
	}
	res, fp, ok, err := s.Store.CommandResult(ctx, p, "cmd-1")
	if err != nil || !ok || fp != "fp-1" || res.FirstPosition != 1 || res.LastPosition != 2 || !res.Duplicate {
		t.Fatalf("cmd-1's result: %+v %q %v %v", res, fp, ok, err)
	}
	if _, _, ok, err := s.Store.CommandResult(ctx, other, "cmd-1"); err != nil || ok {
		t.Fatalf("cmd-1 found in another partition: %v %v", ok, err)
	}
	fps, err := s.Store.CommandFingerprints(ctx, p, []string{"cmd-2", "nope", "cmd-1"})
	if err != nil || fmt.Sprintf("%q", fps) != `["-" "" "fp-1"]` {
		t.Fatalf("fingerprints %q, %v", fps, err)
	}
	if fps, err := s.Store.CommandFingerprints(ctx, p, nil); err != nil || len(fps) != 0 {
		t.Fatalf("no command ids: %q %v", fps, err)
	}
}

// memApplier is an applier whose checkpoint and applied list survive a "restart"
// (a new Follow call), and which fails now and then, as a crash between apply and ack would.
type memApplier struct {
	mu      sync.Mutex
	cp      int64
	applied []int64
	rng     *rand.Rand
	failP   float64
	ids     map[string]bool
	dead    int
}

func (a *memApplier) Checkpoint(context.Context) (int64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cp, nil
}

func (a *memApplier) Apply(_ context.Context, e eventlog.Entry) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if e.Position <= a.cp {
		return nil // applied already, by another follower
	}
	if e.Position != a.cp+1 {
		return fmt.Errorf("applier got position %d after %d", e.Position, a.cp)
	}
	if a.rng != nil && a.rng.Float64() < a.failP {
		return errors.New("injected failure")
	}
	if e.Err != nil {
		a.dead++
	} else if a.ids[e.Event.ID] {
		return fmt.Errorf("event %s applied twice", e.Event.ID)
	} else {
		a.ids[e.Event.ID] = true
	}
	a.applied = append(a.applied, e.Position)
	a.cp = e.Position
	return nil
}

func (a *memApplier) waitFor(t *testing.T, pos int64, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if cp, _ := a.Checkpoint(context.Background()); cp >= pos {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	cp, _ := a.Checkpoint(context.Background())
	t.Fatalf("applier at %d, want %d within %v", cp, pos, within)
}

// batchApplier is a memApplier that also takes runs, and records their lengths.
type batchApplier struct {
	*memApplier
	runs []int
}

func (b *batchApplier) ApplyBatch(ctx context.Context, entries []eventlog.Entry) error {
	for _, e := range entries {
		if err := b.Apply(ctx, e); err != nil {
			return err
		}
	}
	b.mu.Lock()
	b.runs = append(b.runs, len(entries))
	b.mu.Unlock()
	return nil
}

// testLiveBurst: a follower that has caught up and follows the group live takes a
// burst of appends in runs read from the log, not one delivered entry at a time;
// nothing is lost, skipped or applied twice, and nothing is left pending in the group.
// Where the server can move a group (XGROUP SETID), the group delivers far fewer
// entries than the burst: those read from the log are skipped.
func testLiveBurst(t *testing.T, s Subject, p string) {
	a := &batchApplier{memApplier: &memApplier{ids: map[string]bool{}}}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	version := int64(0)
	appendN := sequence(t, s, p, &version)
	appendN(1)
	reg := prometheus.NewRegistry()
	cfg := fastSub(p, "live", "f1")
	cfg.Metrics = reg
	go func() { _ = s.groups().Follow(ctx, cfg, a, nil) }()
	a.waitFor(t, 1, 10*time.Second) // caught up: what follows comes live
	const burst, perCall = 1200, 200
	for i := 0; i < burst/perCall; i++ {
		cmds := make([]domain.Command, perCall)
		for j := range cmds {
			cmds[j] = domain.Command{Events: one(t, p, uuid.NewString(), "a", version)}
			version++
		}
		if _, err := s.Store.AppendBatch(ctx, cmds); err != nil {
			t.Fatal(err)
		}
	}
	a.waitFor(t, version, 20*time.Second)
	a.mu.Lock()
	applied, longest := len(a.applied), 0
	for _, n := range a.runs {
		longest = max(longest, n)
	}
	a.mu.Unlock()
	if int64(applied) != version {
		t.Fatalf("applied %d entries, the log holds %d", applied, version)
	}
	if longest < 2 {
		t.Fatalf("a burst of %d was applied one entry at a time (runs %v)", burst, a.runs)
	}
	// Wait until the group has passed the last entry (delivered or skipped) and
	// nothing is pending.
	keys, _ := eventlog.KeysFor(p)
	last := fmt.Sprintf("%d-0", version)
	deadline := time.Now().Add(10 * time.Second)
	for {
		pending, err := s.Client.XPending(ctx, keys.Log(), "live").Result()
		if err != nil {
			t.Fatal(err)
		}
		groups, err := s.Client.XInfoGroups(ctx, keys.Log()).Result()
		if err != nil {
			t.Fatal(err)
		}
		passed := false
		for _, g := range groups {
			passed = passed || (g.Name == "live" && g.LastDeliveredID == last)
		}
		if pending.Count == 0 && passed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d entries left pending in the group; the group passed the end: %v", pending.Count, passed)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if canSetID(t, s) {
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var delivered float64
		for _, f := range families {
			if strings.HasSuffix(f.GetName(), "subscriber_messages_received_total") {
				for _, m := range f.GetMetric() {
					delivered += m.GetCounter().GetValue()
				}
			}
		}
		if delivered > burst/2 {
			t.Fatalf("the group delivered %.0f of the burst's %d entries one by one: the follower did not skip what it read", delivered, burst)
		}
	}
}

// canSetID reports whether the subject's server can move a consumer group.
func canSetID(t *testing.T, s Subject) bool {
	ctx := context.Background()
	key := "setid-probe-" + uuid.NewString()[:8]
	defer s.Client.Del(ctx, key)
	if err := s.Client.XGroupCreateMkStream(ctx, key, "g", "0").Err(); err != nil {
		t.Fatal(err)
	}
	return s.Client.XGroupSetID(ctx, key, "g", "0-0").Err() == nil
}

type countingRecorder struct{ dead atomic.Int64 }

func (r *countingRecorder) DeadLettered(string, string)        { r.dead.Add(1) }
func (r *countingRecorder) Checkpointed(string, string, int64) {}

// checkpointRecorder passes on each checkpoint reported.
type checkpointRecorder struct{ c chan int64 }

func (r checkpointRecorder) DeadLettered(string, string) {}
func (r checkpointRecorder) Checkpointed(_, _ string, pos int64) {
	select {
	case r.c <- pos:
	default:
	}
}

// testCheckpointReported: a follower restarted on an idle log, all of which it
// applied before, reports its checkpoint at once (its lag is 0), not only after
// the next entry.
func testCheckpointReported(t *testing.T, s Subject, p string) {
	version := int64(0)
	sequence(t, s, p, &version)(5)
	a := &memApplier{cp: version, ids: map[string]bool{}}
	rec := checkpointRecorder{c: make(chan int64, 16)}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go func() { _ = s.groups().Follow(ctx, fastSub(p, "idle", "c1"), a, rec) }()
	select {
	case pos := <-rec.c:
		if pos != version {
			t.Fatalf("the follower reported checkpoint %d, want %d", pos, version)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("a follower of an idle log reported no checkpoint within 20 s: its lag shows the whole log")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.applied) != 0 {
		t.Fatalf("applied %v again", a.applied)
	}
}

func testFollowRestart(t *testing.T, s Subject, p string) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	a := &memApplier{rng: rand.New(rand.NewPCG(uint64(seed), 1)), failP: 0.05, ids: map[string]bool{}}
	ctx := context.Background()
	const rounds, perRound = 4, 60
	version := int64(0)
	appendN := sequence(t, s, p, &version)
	appendN(perRound) // a backlog before the first start
	for r := 0; r < rounds; r++ {
		fctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- s.groups().Follow(fctx, fastSub(p, "follow", "f1"), a, nil) }()
		appendN(perRound) // appended while the follower runs
		a.waitFor(t, version-perRound/2, 20*time.Second)
		stop() // stopped mid-stream, with entries still coming
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("seed %d: follow ended with %v", seed, err)
		}
		appendN(perRound / 2) // appended while it is down
	}
	fctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() { _ = s.groups().Follow(fctx, fastSub(p, "follow", "f1"), a, nil) }()
	a.waitFor(t, version, 20*time.Second)
	a.mu.Lock()
	defer a.mu.Unlock()
	if int64(len(a.applied)) != version {
		t.Fatalf("seed %d: applied %d entries, log holds %d", seed, len(a.applied), version)
	}
	for i, pos := range a.applied {
		if pos != int64(i+1) {
			t.Fatalf("seed %d: entry %d applied at position %d", seed, i, pos)
		}
	}
}

func testDeadLetter(t *testing.T, s Subject, p string) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := &memApplier{ids: map[string]bool{}}
	rec := &countingRecorder{}
	go func() { _ = s.groups().Follow(ctx, fastSub(p, "dl", "c1"), a, rec) }()
	if _, err := s.Store.Append(ctx, one(t, p, "cmd-1", "a", 0)); err != nil {
		t.Fatal(err)
	}
	a.waitFor(t, 1, 5*time.Second)
	// Plant an entry no decoder knows at the next position, the way a buggy or newer
	// writer might, then a good event after it.
	keysLog, keysState := "tl:{"+p+"}:log", "tl:{"+p+"}:state"
	if err := s.Client.XAdd(ctx, &redis.XAddArgs{Stream: keysLog, ID: "2-0", Values: []any{"_watermill_message_uuid", "x", "pos", "2", "payload", `{"type":"from.the.future"}`}}).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.Client.HSet(ctx, keysState, "head", 2).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Store.Append(ctx, one(t, p, "cmd-3", "a", 1)); err != nil {
		t.Fatal(err)
	}
	a.waitFor(t, 3, 10*time.Second)
	cancel()
	// A consumer that starts again from the beginning (as the matcher does) reads the
	// bad entry again, and does not dead-letter it twice.
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	b := &memApplier{ids: map[string]bool{}}
	go func() { _ = s.groups().Follow(ctx2, fastSub(p, "dl", "c1"), b, rec) }()
	b.waitFor(t, 3, 10*time.Second)
	if rec.dead.Load() != 1 {
		t.Fatalf("dead letters counted %d, want 1", rec.dead.Load())
	}
	dl, err := s.Client.XRange(ctx2, "tl:{"+p+"}:deadletter", "-", "+").Result()
	if err != nil || len(dl) != 1 || dl[0].Values["pos"] != "2" || dl[0].Values["group"] != "dl" {
		t.Fatalf("dead-letter stream %+v %v", dl, err)
	}
	for _, x := range []*memApplier{a, b} {
		x.mu.Lock()
		if x.dead != 1 || len(x.ids) != 2 {
			t.Fatalf("applier saw %d dead and %d good entries, want 1 and 2", x.dead, len(x.ids))
		}
		x.mu.Unlock()
	}
}

func testForeignEntry(t *testing.T, s Subject, p string) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := s.Store.Append(ctx, one(t, p, "cmd-1", "a", 0)); err != nil {
		t.Fatal(err)
	}
	// Someone writes to the log by hand, the way a Watermill publisher would.
	logKey := "tl:{" + p + "}:log"
	if err := s.Client.XAdd(ctx, &redis.XAddArgs{Stream: logKey, Values: []any{"_watermill_message_uuid", "x", "payload", "hello"}}).Err(); err != nil {
		t.Fatal(err)
	}
	_, err := s.Store.Append(ctx, events(t, p, "cmd-2", map[string][2]int64{"b": {0, 1}, "a": {1, 1}}, "b", "a"))
	if !errors.Is(err, eventlog.ErrCorruptLog) {
		t.Fatalf("append after a foreign entry: %v", err)
	}
	for _, id := range []string{"a", "b"} {
		evs, _ := s.Store.ReadAggregate(ctx, p, domain.AggregateRef{Type: "household", ID: id}, 1)
		if want := map[string]int{"a": 1, "b": 0}[id]; len(evs) != want {
			t.Fatalf("a refused append left %d events on %s", len(evs), id)
		}
	}
	if h := head(t, s, p); h != 1 {
		t.Fatalf("head %d, want 1", h)
	}
	a := &memApplier{ids: map[string]bool{}}
	rec := &countingRecorder{}
	done := make(chan error, 1)
	go func() { done <- s.groups().Follow(ctx, fastSub(p, "fe", "c1"), a, rec) }()
	a.waitFor(t, 1, 5*time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for rec.dead.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // let the subscription deliver it too
	if rec.dead.Load() != 1 {
		t.Fatalf("foreign entry dead-lettered %d times, want 1", rec.dead.Load())
	}
	select {
	case err := <-done:
		t.Fatalf("the follower stopped: %v", err)
	default:
	}
}

// testTwoFollowers runs two followers of one group over one shared applier (as two
// processes share a read model in Redis); one dies while applying. Every entry is
// applied exactly once, in order.
func testTwoFollowers(t *testing.T, s Subject, p string) {
	ctx := context.Background()
	a := &memApplier{ids: map[string]bool{}}
	version := int64(0)
	appendN := sequence(t, s, p, &version)
	ctxA, killA := context.WithCancel(ctx)
	ctxB, stopB := context.WithCancel(ctx)
	defer stopB()
	go func() { _ = s.groups().Follow(ctxA, fastSub(p, "shared", "A"), a, nil) }()
	go func() { _ = s.groups().Follow(ctxB, fastSub(p, "shared", "B"), a, nil) }()
	appendN(50)
	a.waitFor(t, 25, 10*time.Second)
	killA()
	appendN(50)
	a.waitFor(t, version, 20*time.Second)
	a.mu.Lock()
	defer a.mu.Unlock()
	for i, pos := range a.applied {
		if pos != int64(i+1) {
			t.Fatalf("entry %d applied at position %d", i, pos)
		}
	}
	if int64(len(a.applied)) != version {
		t.Fatalf("applied %d, want %d", len(a.applied), version)
	}
}

func testLease(t *testing.T, s Subject, p string) {
	ctx := context.Background()
	a, err := s.leases().Lease(ctx, p, "matcher", "A", time.Minute)
	if err != nil || a <= 0 {
		t.Fatalf("A takes the lease: %d %v", a, err)
	}
	if b, err := s.leases().Lease(ctx, p, "matcher", "B", time.Minute); err != nil || b != 0 {
		t.Fatalf("B takes a held lease: %d %v", b, err)
	}
	if again, _ := s.leases().Lease(ctx, p, "matcher", "A", time.Minute); again != a {
		t.Fatalf("A renews: token %d, want %d", again, a)
	}
	if _, err := s.Store.Append(ctx, one(t, p, "cmd-1", "x", 0), eventlog.Fence("matcher", a)); err != nil {
		t.Fatalf("A appends under its lease: %v", err)
	}
	// A's lease lapses (as if A were paused past its time to live) and B takes it.
	if err := s.Client.Del(ctx, "tl:{"+p+"}:lease:matcher").Err(); err != nil {
		t.Fatal(err)
	}
	b, err := s.leases().Lease(ctx, p, "matcher", "B", time.Minute)
	if err != nil || b <= a {
		t.Fatalf("B takes the lapsed lease: token %d after %d, %v", b, a, err)
	}
	before := head(t, s, p)
	if _, err := s.Store.Append(ctx, one(t, p, "cmd-2", "x", 1), eventlog.Fence("matcher", a)); !errors.Is(err, eventlog.ErrFenced) {
		t.Fatalf("A appends with its old token: %v", err)
	}
	if h := head(t, s, p); h != before {
		t.Fatalf("a fenced append wrote %d entries", h-before)
	}
	if again, _ := s.leases().Lease(ctx, p, "matcher", "A", time.Minute); again != 0 {
		t.Fatalf("A renews a lease B holds: %d", again)
	}
	if _, err := s.Store.Append(ctx, one(t, p, "cmd-3", "x", 1), eventlog.Fence("matcher", b)); err != nil {
		t.Fatalf("B appends: %v", err)
	}
	if err := s.leases().Release(ctx, p, "matcher", "A"); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.leases().Lease(ctx, p, "matcher", "C", time.Minute); c != 0 {
		t.Fatal("A released a lease it does not hold")
	}
	if err := s.leases().Release(ctx, p, "matcher", "B"); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.leases().Lease(ctx, p, "matcher", "C", time.Minute); c <= b {
		t.Fatalf("C after B's release: token %d", c)
	}
}
