package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/notification"
)

// Caps of what an Outbox keeps per subscription.
const (
	// AttemptLogLength is about how many attempts the attempt log of a subscription
	// keeps (MAXLEN ~: Redis trims a little late, by whole nodes).
	AttemptLogLength = 500
	// DeadLetterCap is how many dead letters a subscription keeps; the oldest go first.
	DeadLetterCap = 1000
)

// Outcomes of an Attempt.
const (
	// OutcomeDelivered is an attempt the receiver answered 2xx.
	OutcomeDelivered = "delivered"
	// OutcomeRetry is a failed attempt that will be tried again.
	OutcomeRetry = "retry"
	// OutcomeDead is a failed attempt after which the notification was dead-lettered.
	OutcomeDead = "dead"
)

// ErrBadPartition means a partition name cannot be used as a hash tag.
var ErrBadPartition = errors.New("webhook outbox: bad partition name")

// Attempt is one try at delivering a notification, as the attempt log keeps it.
type Attempt struct {
	DeliveryID string        `json:"delivery_id"`
	Kind       string        `json:"kind"`
	Position   int64         `json:"position"`
	Attempt    int           `json:"attempt"`
	Time       time.Time     `json:"time"`
	Status     int           `json:"status"` // the HTTP status, 0 if none
	Error      string        `json:"error,omitempty"`
	Latency    time.Duration `json:"-"`
	Outcome    string        `json:"outcome"` // OutcomeDelivered, OutcomeRetry or OutcomeDead
}

// attemptJSON is an Attempt on the wire: its latency in milliseconds.
type attemptJSON struct {
	DeliveryID string    `json:"delivery_id"`
	Kind       string    `json:"kind"`
	Position   int64     `json:"position"`
	Attempt    int       `json:"attempt"`
	Time       time.Time `json:"time"`
	Status     int       `json:"status"`
	Error      string    `json:"error,omitempty"`
	LatencyMS  float64   `json:"latency_ms"`
	Outcome    string    `json:"outcome"`
}

// MarshalJSON writes the attempt with its latency as latency_ms.
func (a Attempt) MarshalJSON() ([]byte, error) {
	return json.Marshal(attemptJSON{a.DeliveryID, a.Kind, a.Position, a.Attempt, a.Time, a.Status, a.Error,
		float64(a.Latency) / float64(time.Millisecond), a.Outcome})
}

// UnmarshalJSON reads an attempt written by MarshalJSON.
func (a *Attempt) UnmarshalJSON(b []byte) error {
	var j attemptJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*a = Attempt{j.DeliveryID, j.Kind, j.Position, j.Attempt, j.Time, j.Status, j.Error,
		time.Duration(j.LatencyMS * float64(time.Millisecond)), j.Outcome}
	return nil
}

// DeadLetter is a notification given up on, kept until redelivered or pushed out by newer ones.
type DeadLetter struct {
	Notification notification.Notification `json:"notification"`
	Reason       string                    `json:"reason"`
	Attempts     int                       `json:"attempts"`
	First        time.Time                 `json:"first"` // the first attempt
	Last         time.Time                 `json:"last"`  // the last attempt
}

// Queued is a notification waiting in its subscription's queue.
type Queued struct {
	ID           string // the queue stream's entry id
	Notification notification.Notification
	Enqueued     time.Time // when it was queued (again, if redelivered)
}

// Outbox keeps one partition's notifications durably in Redis until they are
// delivered or dead-lettered: the subscriptions, a queue per subscription, the
// attempt log and the dead letters. Its methods are safe for concurrent use.
type Outbox struct {
	client    redis.UniversalClient
	partition string
	prefix    string
}

// NewOutbox returns the outbox of a partition.
func NewOutbox(client redis.UniversalClient, partition string) (*Outbox, error) {
	if client == nil {
		return nil, errors.New("webhook outbox: no Redis client")
	}
	if !domain.ValidCode(partition) {
		return nil, fmt.Errorf("%w: %q", ErrBadPartition, partition)
	}
	return &Outbox{client: client, partition: partition, prefix: "tl:{" + partition + "}:notify:"}, nil
}

// Partition returns the partition whose outbox it is.
func (o *Outbox) Partition() string { return o.partition }

func (o *Outbox) markKey() string              { return o.prefix + "mark" }
func (o *Outbox) subsKey() string              { return o.prefix + "subs" }
func (o *Outbox) liveKey() string              { return o.prefix + "live" }
func (o *Outbox) queueKey(sub string) string   { return o.prefix + "q:" + sub }
func (o *Outbox) attemptKey(sub string) string { return o.prefix + "attempts:" + sub }
func (o *Outbox) deadKey(sub string) string    { return o.prefix + "dead:" + sub }
func (o *Outbox) deadNKey(sub string) string   { return o.prefix + "deadn:" + sub }
func (o *Outbox) deadIdxKey(sub string) string { return o.prefix + "deadidx:" + sub }

// Mark returns the log position up to which outputs have been committed, 0 if none.
func (o *Outbox) Mark(ctx context.Context) (int64, error) {
	v, err := o.client.Get(ctx, o.markKey()).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("webhook outbox %s: read the mark: %w", o.partition, err)
	}
	return v, nil
}

// commitScript applies one Output atomically, once per position.
// KEYS[1] mark, KEYS[2] subs, KEYS[3] live, then the keys the operations name in order.
// ARGV: position, now (ms), #subs, #notifications, #redeliveries, then per
// subscription id, json, deleted ("1"/"0") [KEYS: its queue]; per notification
// subscription, json [KEYS: its queue]; per redelivery subscription, delivery id
// [KEYS: dead, deadn, deadidx, queue].
var commitScript = redis.NewScript(`
local mark = tonumber(redis.call('GET', KEYS[1]) or '0')
local pos = tonumber(ARGV[1])
if pos <= mark then return 0 end
local now = ARGV[2]
local nsubs, nnotes, nredo = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
-- Redis does not roll a script back: check every key's type before any write.
local function want(key, typ)
  local t = redis.call('TYPE', key)
  if type(t) == 'table' then t = t.ok end
  if t ~= 'none' and t ~= typ then
    return redis.error_reply('WRONGTYPE ' .. key .. ' is a ' .. t .. ', not a ' .. typ)
  end
end
local checks = {{KEYS[2], 'hash'}, {KEYS[3], 'set'}}
for k = 4, 3 + nsubs + nnotes do table.insert(checks, {KEYS[k], 'stream'}) end
for k = 4 + nsubs + nnotes, #KEYS, 4 do
  table.insert(checks, {KEYS[k], 'hash'})
  table.insert(checks, {KEYS[k+1], 'hash'})
  table.insert(checks, {KEYS[k+2], 'zset'})
  table.insert(checks, {KEYS[k+3], 'stream'})
end
for _, c in ipairs(checks) do
  local err = want(c[1], c[2])
  if err then return err end
end
local a, k = 6, 4
for i = 1, nsubs do
  local id, doc, deleted = ARGV[a], ARGV[a+1], ARGV[a+2]
  redis.call('HSET', KEYS[2], id, doc)
  if deleted == '1' then
    redis.call('SREM', KEYS[3], id)
    redis.call('DEL', KEYS[k])
  else
    redis.call('SADD', KEYS[3], id)
  end
  a, k = a + 3, k + 1
end
for i = 1, nnotes do
  local sub, doc = ARGV[a], ARGV[a+1]
  if redis.call('SISMEMBER', KEYS[3], sub) == 1 then
    redis.call('XADD', KEYS[k], '*', 'n', doc, 't', now)
  end
  a, k = a + 2, k + 1
end
for i = 1, nredo do
  local sub, id = ARGV[a], ARGV[a+1]
  local doc = redis.call('HGET', KEYS[k+1], id)
  if doc and redis.call('SISMEMBER', KEYS[3], sub) == 1 then
    redis.call('XADD', KEYS[k+3], '*', 'n', doc, 't', now)
    redis.call('HDEL', KEYS[k], id)
    redis.call('HDEL', KEYS[k+1], id)
    redis.call('ZREM', KEYS[k+2], id)
  end
  a, k = a + 2, k + 4
end
redis.call('SET', KEYS[1], ARGV[1])
return 1
`)

// Commit stores what the log up to position implies, atomically and once: it
// does nothing and returns false when position is not past the mark. Otherwise it
// stores the subscriptions (deleting the queue of a deleted one), queues each
// notification of a live subscription, moves each dead letter asked for back to
// its queue and sets the mark to position.
func (o *Outbox) Commit(ctx context.Context, position int64, out notification.Output) (bool, error) {
	keys := []string{o.markKey(), o.subsKey(), o.liveKey()}
	args := []any{position, time.Now().UnixMilli(), len(out.Subscriptions), len(out.Notifications), len(out.Redeliveries)}
	for _, s := range out.Subscriptions {
		if s.ID == "" {
			return false, fmt.Errorf("webhook outbox %s: commit at %d: a subscription without an id", o.partition, position)
		}
		doc, err := json.Marshal(s)
		if err != nil {
			return false, fmt.Errorf("webhook outbox %s: encode subscription %s: %w", o.partition, s.ID, err)
		}
		deleted := "0"
		if s.Deleted {
			deleted = "1"
		}
		args = append(args, s.ID, doc, deleted)
		keys = append(keys, o.queueKey(s.ID))
	}
	for _, n := range out.Notifications {
		doc, err := json.Marshal(n)
		if err != nil {
			return false, fmt.Errorf("webhook outbox %s: encode notification %s: %w", o.partition, n.DeliveryID, err)
		}
		args = append(args, n.Subscription, doc)
		keys = append(keys, o.queueKey(n.Subscription))
	}
	for _, r := range out.Redeliveries {
		args = append(args, r.Subscription, r.DeliveryID)
		keys = append(keys, o.deadKey(r.Subscription), o.deadNKey(r.Subscription), o.deadIdxKey(r.Subscription), o.queueKey(r.Subscription))
	}
	done, err := commitScript.Run(ctx, o.client, keys, args...).Int()
	if err != nil {
		return false, fmt.Errorf("webhook outbox %s: commit at %d: %w", o.partition, position, err)
	}
	return done == 1, nil
}

// Subscriptions returns every subscription stored, deleted ones too, by creation time then id.
func (o *Outbox) Subscriptions(ctx context.Context) ([]notification.Subscription, error) {
	m, err := o.client.HGetAll(ctx, o.subsKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("webhook outbox %s: read the subscriptions: %w", o.partition, err)
	}
	subs := make([]notification.Subscription, 0, len(m))
	for id, doc := range m {
		var s notification.Subscription
		if err := json.Unmarshal([]byte(doc), &s); err != nil {
			return nil, fmt.Errorf("webhook outbox %s: decode subscription %s: %w", o.partition, id, err)
		}
		subs = append(subs, s)
	}
	slices.SortFunc(subs, func(a, b notification.Subscription) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return subs, nil
}

// Subscription returns one subscription, and false if it was never stored.
func (o *Outbox) Subscription(ctx context.Context, id string) (notification.Subscription, bool, error) {
	doc, err := o.client.HGet(ctx, o.subsKey(), id).Result()
	if errors.Is(err, redis.Nil) {
		return notification.Subscription{}, false, nil
	}
	if err != nil {
		return notification.Subscription{}, false, fmt.Errorf("webhook outbox %s: read subscription %s: %w", o.partition, id, err)
	}
	var s notification.Subscription
	if err := json.Unmarshal([]byte(doc), &s); err != nil {
		return notification.Subscription{}, false, fmt.Errorf("webhook outbox %s: decode subscription %s: %w", o.partition, id, err)
	}
	return s, true, nil
}

// Attempts returns up to limit of a subscription's latest attempts, newest first.
func (o *Outbox) Attempts(ctx context.Context, sub string, limit int) ([]Attempt, error) {
	if limit <= 0 {
		return nil, nil
	}
	msgs, err := o.client.XRevRangeN(ctx, o.attemptKey(sub), "+", "-", int64(limit)).Result()
	if err != nil {
		return nil, fmt.Errorf("webhook outbox %s: read the attempts of %s: %w", o.partition, sub, err)
	}
	out := make([]Attempt, 0, len(msgs))
	for _, m := range msgs {
		doc, _ := m.Values["a"].(string)
		var a Attempt
		if err := json.Unmarshal([]byte(doc), &a); err != nil {
			return nil, fmt.Errorf("webhook outbox %s: decode attempt %s of %s: %w", o.partition, m.ID, sub, err)
		}
		out = append(out, a)
	}
	return out, nil
}

// DeadLetters returns up to limit of a subscription's dead letters, newest first.
func (o *Outbox) DeadLetters(ctx context.Context, sub string, limit int) ([]DeadLetter, error) {
	if limit <= 0 {
		return nil, nil
	}
	ids, err := o.client.ZRevRange(ctx, o.deadIdxKey(sub), 0, int64(limit-1)).Result()
	if err != nil {
		return nil, fmt.Errorf("webhook outbox %s: list the dead letters of %s: %w", o.partition, sub, err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	docs, err := o.client.HMGet(ctx, o.deadKey(sub), ids...).Result()
	if err != nil {
		return nil, fmt.Errorf("webhook outbox %s: read the dead letters of %s: %w", o.partition, sub, err)
	}
	out := make([]DeadLetter, 0, len(docs))
	for i, v := range docs {
		doc, ok := v.(string)
		if !ok {
			continue // redelivered in between
		}
		var d DeadLetter
		if err := json.Unmarshal([]byte(doc), &d); err != nil {
			return nil, fmt.Errorf("webhook outbox %s: decode dead letter %s of %s: %w", o.partition, ids[i], sub, err)
		}
		out = append(out, d)
	}
	return out, nil
}

// DeadLetter returns one dead letter of a subscription by its delivery id, and
// false if there is none.
func (o *Outbox) DeadLetter(ctx context.Context, sub, deliveryID string) (DeadLetter, bool, error) {
	doc, err := o.client.HGet(ctx, o.deadKey(sub), deliveryID).Result()
	if errors.Is(err, redis.Nil) {
		return DeadLetter{}, false, nil
	}
	if err != nil {
		return DeadLetter{}, false, fmt.Errorf("webhook outbox %s: read dead letter %s of %s: %w", o.partition, deliveryID, sub, err)
	}
	var d DeadLetter
	if err := json.Unmarshal([]byte(doc), &d); err != nil {
		return DeadLetter{}, false, fmt.Errorf("webhook outbox %s: decode dead letter %s of %s: %w", o.partition, deliveryID, sub, err)
	}
	return d, true, nil
}

// QueueDepth returns how many notifications wait in a subscription's queue.
func (o *Outbox) QueueDepth(ctx context.Context, sub string) (int64, error) {
	n, err := o.client.XLen(ctx, o.queueKey(sub)).Result()
	if err != nil {
		return 0, fmt.Errorf("webhook outbox %s: queue depth of %s: %w", o.partition, sub, err)
	}
	return n, nil
}

// Pending returns up to count notifications of a subscription's queue in order,
// those after the entry id after ("" for the start).
func (o *Outbox) Pending(ctx context.Context, sub string, after string, count int64) ([]Queued, error) {
	start := "-"
	if after != "" {
		start = "(" + after
	}
	msgs, err := o.client.XRangeN(ctx, o.queueKey(sub), start, "+", count).Result()
	if err != nil {
		return nil, fmt.Errorf("webhook outbox %s: read the queue of %s: %w", o.partition, sub, err)
	}
	out := make([]Queued, 0, len(msgs))
	for _, m := range msgs {
		doc, _ := m.Values["n"].(string)
		var n notification.Notification
		if err := json.Unmarshal([]byte(doc), &n); err != nil {
			return nil, fmt.Errorf("webhook outbox %s: decode queued %s of %s: %w", o.partition, m.ID, sub, err)
		}
		ms, _ := m.Values["t"].(string)
		t, err := strconv.ParseInt(ms, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("webhook outbox %s: queued %s of %s: enqueue time %q: %w", o.partition, m.ID, sub, ms, err)
		}
		out = append(out, Queued{ID: m.ID, Notification: n, Enqueued: time.UnixMilli(t).UTC()})
	}
	return out, nil
}

// recordAttempt adds an attempt to the attempt log within a pipeline.
func (o *Outbox) recordAttempt(ctx context.Context, p redis.Pipeliner, sub string, a Attempt) error {
	doc, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("encode attempt %s: %w", a.DeliveryID, err)
	}
	p.XAdd(ctx, &redis.XAddArgs{Stream: o.attemptKey(sub), MaxLen: AttemptLogLength, Approx: true, Values: []any{"a", doc}})
	return nil
}

// Delivered removes a delivered notification from its queue and records the attempt.
func (o *Outbox) Delivered(ctx context.Context, sub, entryID string, a Attempt) error {
	_, err := o.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.XDel(ctx, o.queueKey(sub), entryID)
		return o.recordAttempt(ctx, p, sub, a)
	})
	if err != nil {
		return fmt.Errorf("webhook outbox %s: delivered %s to %s: %w", o.partition, a.DeliveryID, sub, err)
	}
	return nil
}

// Failed records a failed attempt that will be tried again.
func (o *Outbox) Failed(ctx context.Context, sub string, a Attempt) error {
	_, err := o.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		return o.recordAttempt(ctx, p, sub, a)
	})
	if err != nil {
		return fmt.Errorf("webhook outbox %s: record attempt %d of %s to %s: %w", o.partition, a.Attempt, a.DeliveryID, sub, err)
	}
	return nil
}

// buryScript stores a dead letter and keeps at most ARGV[4] of them, dropping the oldest.
// KEYS: dead, deadn, deadidx. ARGV: delivery id, dead letter json, notification json, cap, score.
var buryScript = redis.NewScript(`
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[1])
local over = redis.call('ZCARD', KEYS[3]) - tonumber(ARGV[4])
if over > 0 then
  local old = redis.call('ZRANGE', KEYS[3], 0, over - 1)
  for _, id in ipairs(old) do
    redis.call('HDEL', KEYS[1], id)
    redis.call('HDEL', KEYS[2], id)
    redis.call('ZREM', KEYS[3], id)
  end
end
return over
`)

// MoveToDeadLetters removes a notification from its queue, stores it as a dead
// letter (keyed by its delivery id) and records the attempt, atomically. (The
// read side is DeadLetter.)
func (o *Outbox) MoveToDeadLetters(ctx context.Context, sub, entryID string, d DeadLetter, a Attempt) error {
	dl, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("webhook outbox %s: encode dead letter %s: %w", o.partition, d.Notification.DeliveryID, err)
	}
	n, err := json.Marshal(d.Notification)
	if err != nil {
		return fmt.Errorf("webhook outbox %s: encode notification %s: %w", o.partition, d.Notification.DeliveryID, err)
	}
	id := d.Notification.DeliveryID
	_, err = o.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.XDel(ctx, o.queueKey(sub), entryID)
		buryScript.Eval(ctx, p, []string{o.deadKey(sub), o.deadNKey(sub), o.deadIdxKey(sub)}, id, dl, n, DeadLetterCap, d.Last.UnixMilli())
		return o.recordAttempt(ctx, p, sub, a)
	})
	if err != nil {
		return fmt.Errorf("webhook outbox %s: dead-letter %s of %s: %w", o.partition, id, sub, err)
	}
	return nil
}
