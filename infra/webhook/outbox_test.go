package webhook

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tierlink/tierlink/infra/redistest"
	"github.com/tierlink/tierlink/notification"
)

const testPartition = "d1"

// testSub is a live subscription posting to url.
func testSub(id, url string, created int) notification.Subscription {
	return notification.Subscription{ID: id, District: testPartition, URL: url, Kinds: []string{"referral.proposed"},
		Salt: "salt-" + id, Created: time.Unix(1767225600+int64(created), 0).UTC(), Version: 1}
}

// testNote is the n-th notification of a subscription, of a key.
func testNote(sub, key string, pos int64) notification.Notification {
	return notification.Notification{
		DeliveryID:   fmt.Sprintf("%s-%d", sub, pos),
		Subscription: sub, Kind: "referral.proposed", Key: key, Position: pos,
		Time: time.Now().UTC(),
		Body: []byte(`{"sub":"` + sub + `","key":"` + key + `","position":` + strconv.FormatInt(pos, 10) + `}`),
	}
}

func newOutbox(t *testing.T, c redis.UniversalClient) *Outbox {
	t.Helper()
	o, err := NewOutbox(c, testPartition)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestNewOutboxRefusesBadPartition(t *testing.T) {
	c := redistest.Embedded(t).Client(t)
	for _, p := range []string{"", "a}b", "a{b"} {
		if _, err := NewOutbox(c, p); err == nil {
			t.Errorf("NewOutbox(%q) accepted it", p)
		}
	}
}

// TestOutbox runs the outbox's contract on a real redis-server and on the embedded one.
func TestOutbox(t *testing.T) {
	for name, server := range map[string]func(testing.TB) redistest.Server{"real": redistest.Real, "embedded": redistest.Embedded} {
		t.Run(name, func(t *testing.T) { testOutbox(t, server(t).Client(t)) })
	}
}

func testOutbox(t *testing.T, c redis.UniversalClient) {
	ctx := context.Background()
	o := newOutbox(t, c)
	if m, err := o.Mark(ctx); err != nil || m != 0 {
		t.Fatalf("Mark of an empty outbox = %d, %v", m, err)
	}
	a, b := testSub("s-a", "http://a", 2), testSub("s-b", "http://b", 1)
	out := notification.Output{
		Subscriptions: []notification.Subscription{a, b},
		Notifications: []notification.Notification{testNote("s-a", "k1", 10), testNote("s-b", "k1", 10), testNote("s-a", "k2", 10), testNote("s-x", "k1", 10)},
	}
	if ok, err := o.Commit(ctx, 10, out); err != nil || !ok {
		t.Fatalf("Commit(10) = %v, %v", ok, err)
	}
	// Twice, and lower: nothing.
	for _, pos := range []int64{10, 9} {
		if ok, err := o.Commit(ctx, pos, out); err != nil || ok {
			t.Fatalf("Commit(%d) again = %v, %v; want false", pos, ok, err)
		}
	}
	if m, _ := o.Mark(ctx); m != 10 {
		t.Fatalf("mark %d, want 10", m)
	}
	subs, err := o.Subscriptions(ctx)
	if err != nil || len(subs) != 2 || subs[0].ID != "s-b" || subs[1].ID != "s-a" {
		t.Fatalf("Subscriptions = %+v, %v; want s-b then s-a (by creation)", subs, err)
	}
	if s, ok, err := o.Subscription(ctx, "s-a"); err != nil || !ok || s.URL != "http://a" {
		t.Fatalf("Subscription(s-a) = %+v, %v, %v", s, ok, err)
	}
	if _, ok, err := o.Subscription(ctx, "s-x"); err != nil || ok {
		t.Fatalf("Subscription(s-x) = %v, %v; want none", ok, err)
	}
	for sub, want := range map[string]int64{"s-a": 2, "s-b": 1, "s-x": 0} {
		if n, err := o.QueueDepth(ctx, sub); err != nil || n != want {
			t.Fatalf("QueueDepth(%s) = %d, %v; want %d (none for an unknown subscription)", sub, n, err, want)
		}
	}
	q, err := o.Pending(ctx, "s-a", "", 10)
	if err != nil || len(q) != 2 || q[0].Notification.Key != "k1" || q[1].Notification.Key != "k2" || string(q[0].Notification.Body) != string(testNote("s-a", "k1", 10).Body) {
		t.Fatalf("Pending = %+v, %v", q, err)
	}
	if time.Since(q[0].Enqueued) > time.Minute || q[0].Enqueued.IsZero() {
		t.Fatalf("enqueued at %s", q[0].Enqueued)
	}
	if rest, err := o.Pending(ctx, "s-a", q[0].ID, 10); err != nil || len(rest) != 1 || rest[0].ID != q[1].ID {
		t.Fatalf("Pending after %s = %+v, %v", q[0].ID, rest, err)
	}

	// Delivered removes it and logs the attempt; Failed only logs.
	now := time.Now().UTC().Truncate(time.Millisecond)
	at := Attempt{DeliveryID: q[0].Notification.DeliveryID, Kind: "referral.proposed", Position: 10, Attempt: 1, Time: now, Status: 503, Error: "boom", Latency: 1500 * time.Microsecond, Outcome: OutcomeRetry}
	if err := o.Failed(ctx, "s-a", at); err != nil {
		t.Fatal(err)
	}
	at2 := at
	at2.Attempt, at2.Status, at2.Error, at2.Outcome = 2, 204, "", OutcomeDelivered
	if err := o.Delivered(ctx, "s-a", q[0].ID, at2); err != nil {
		t.Fatal(err)
	}
	if n, _ := o.QueueDepth(ctx, "s-a"); n != 1 {
		t.Fatalf("depth %d after a delivery, want 1", n)
	}
	atts, err := o.Attempts(ctx, "s-a", 10)
	if err != nil || len(atts) != 2 || atts[0].Attempt != 2 || atts[1] != at {
		t.Fatalf("Attempts = %+v, %v; want the delivery then %+v", atts, err, at)
	}

	// Dead-lettered, then redelivered by a commit.
	n1 := q[1].Notification
	d := DeadLetter{Notification: n1, Reason: "the receiver refused it with status 400", Attempts: 1, First: now, Last: now}
	if err := o.MoveToDeadLetters(ctx, "s-a", q[1].ID, d, Attempt{DeliveryID: n1.DeliveryID, Attempt: 1, Time: now, Status: 400, Outcome: OutcomeDead}); err != nil {
		t.Fatal(err)
	}
	if n, _ := o.QueueDepth(ctx, "s-a"); n != 0 {
		t.Fatalf("depth %d after dead-lettering, want 0", n)
	}
	if got, ok, err := o.DeadLetter(ctx, "s-a", n1.DeliveryID); err != nil || !ok || got.Reason != d.Reason || got.Notification.Key != "k2" || !got.Last.Equal(now) {
		t.Fatalf("DeadLetter = %+v, %v, %v", got, ok, err)
	}
	if dls, err := o.DeadLetters(ctx, "s-a", 10); err != nil || len(dls) != 1 {
		t.Fatalf("DeadLetters = %+v, %v", dls, err)
	}
	redo := notification.Output{Redeliveries: []notification.Redelivery{{Subscription: "s-a", DeliveryID: n1.DeliveryID}, {Subscription: "s-a", DeliveryID: "no-such"}}}
	if ok, err := o.Commit(ctx, 11, redo); err != nil || !ok {
		t.Fatalf("Commit(11) = %v, %v", ok, err)
	}
	if _, ok, _ := o.DeadLetter(ctx, "s-a", n1.DeliveryID); ok {
		t.Fatal("the dead letter stayed after its redelivery")
	}
	if back, err := o.Pending(ctx, "s-a", "", 10); err != nil || len(back) != 1 || back[0].Notification.DeliveryID != n1.DeliveryID || string(back[0].Notification.Body) != string(n1.Body) || back[0].Notification.Position != n1.Position {
		t.Fatalf("queue after the redelivery = %+v, %v", back, err)
	}

	// A deleted subscription loses its queue and gets no more notifications.
	b.Deleted = true
	del := notification.Output{Subscriptions: []notification.Subscription{b}, Notifications: []notification.Notification{testNote("s-b", "k9", 12)}}
	if ok, err := o.Commit(ctx, 12, del); err != nil || !ok {
		t.Fatalf("Commit(12) = %v, %v", ok, err)
	}
	if n, _ := o.QueueDepth(ctx, "s-b"); n != 0 {
		t.Fatalf("deleted subscription's queue holds %d", n)
	}
	if s, ok, _ := o.Subscription(ctx, "s-b"); !ok || !s.Deleted {
		t.Fatalf("deleted subscription reads %+v, %v", s, ok)
	}
	if m, _ := o.Mark(ctx); m != 12 {
		t.Fatalf("mark %d, want 12", m)
	}
}

// TestOutboxCommitIsAtomic checks that a commit that fails half-way leaves nothing behind.
func TestOutboxCommitIsAtomic(t *testing.T) {
	ctx := context.Background()
	c := redistest.Real(t).Client(t)
	o := newOutbox(t, c)
	// The queue key of s-a is made a string: XADD to it fails inside the script.
	if err := c.Set(ctx, o.queueKey("s-a"), "not a stream", 0).Err(); err != nil {
		t.Fatal(err)
	}
	out := notification.Output{
		Subscriptions: []notification.Subscription{testSub("s-a", "http://a", 1), testSub("s-b", "http://b", 2)},
		Notifications: []notification.Notification{testNote("s-b", "k", 5), testNote("s-a", "k", 5)},
	}
	if _, err := o.Commit(ctx, 5, out); err == nil {
		t.Fatal("Commit succeeded over a broken queue")
	}
	if m, _ := o.Mark(ctx); m != 0 {
		t.Fatalf("mark %d after a failed commit", m)
	}
	if subs, _ := o.Subscriptions(ctx); len(subs) != 0 {
		t.Fatalf("a failed commit stored %+v", subs)
	}
	if n, _ := o.QueueDepth(ctx, "s-b"); n != 0 {
		t.Fatalf("a failed commit queued %d for s-b", n)
	}
}

func TestOutboxCaps(t *testing.T) {
	ctx := context.Background()
	o := newOutbox(t, redistest.Real(t).Client(t))
	if _, err := o.Commit(ctx, 1, notification.Output{Subscriptions: []notification.Subscription{testSub("s", "http://s", 1)}}); err != nil {
		t.Fatal(err)
	}
	base := time.Now().UTC().Truncate(time.Millisecond)
	for i := range DeadLetterCap + 20 {
		n := testNote("s", "k", int64(i))
		at := base.Add(time.Duration(i) * time.Millisecond)
		a := Attempt{DeliveryID: n.DeliveryID, Attempt: 1, Time: at, Outcome: OutcomeDead}
		if err := o.MoveToDeadLetters(ctx, "s", "0-1", DeadLetter{Notification: n, Reason: "r", Attempts: 1, First: at, Last: at}, a); err != nil {
			t.Fatal(err)
		}
	}
	dls, err := o.DeadLetters(ctx, "s", 2*DeadLetterCap)
	if err != nil || len(dls) != DeadLetterCap {
		t.Fatalf("%d dead letters (%v), want the cap %d", len(dls), err, DeadLetterCap)
	}
	if dls[0].Notification.Position != DeadLetterCap+19 || dls[len(dls)-1].Notification.Position != 20 {
		t.Fatalf("kept positions %d..%d, want the newest first, %d..20", dls[0].Notification.Position, dls[len(dls)-1].Notification.Position, DeadLetterCap+19)
	}
	if _, ok, _ := o.DeadLetter(ctx, "s", "s-0"); ok {
		t.Fatal("the oldest dead letter was kept")
	}
	for _, k := range []string{o.deadKey("s"), o.deadNKey("s")} {
		if n, _ := o.client.HLen(ctx, k).Result(); n != DeadLetterCap {
			t.Fatalf("%s holds %d, want %d", k, n, DeadLetterCap)
		}
	}
	n, _ := o.client.XLen(ctx, o.attemptKey("s")).Result()
	if n < AttemptLogLength || n > AttemptLogLength+200 {
		t.Fatalf("attempt log holds %d after %d attempts, want about %d", n, DeadLetterCap+20, AttemptLogLength)
	}
	if atts, _ := o.Attempts(ctx, "s", 3); len(atts) != 3 || atts[0].DeliveryID != fmt.Sprintf("s-%d", DeadLetterCap+19) {
		t.Fatalf("latest attempts %+v", atts)
	}
}

func TestAttemptJSON(t *testing.T) {
	a := Attempt{DeliveryID: "d", Latency: 2500 * time.Microsecond, Outcome: OutcomeDelivered, Time: time.Unix(1, 0).UTC()}
	b, err := a.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if want := `"latency_ms":2.5`; !strings.Contains(string(b), want) {
		t.Fatalf("%s lacks %s", b, want)
	}
	var back Attempt
	if err := back.UnmarshalJSON(b); err != nil || back != a {
		t.Fatalf("round trip %+v, %v", back, err)
	}
}
