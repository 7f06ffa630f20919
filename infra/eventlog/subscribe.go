package eventlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill-redisstream/pkg/redisstream"
	wmetrics "github.com/ThreeDotsLabs/watermill/components/metrics"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// SubscriptionConfig says which partition log to follow, as which consumer of which group.
type SubscriptionConfig struct {
	Partition string
	// Group is the consumer group, one per kind of consumer ("matcher", "projection.cases").
	Group string
	// Consumer is this process's stable name in the group: a restarted process keeps
	// its name, so that what it left pending is its own again.
	Consumer string
	// StartAfter is the position after which a newly created group starts (0: the whole log).
	StartAfter int64
	// MaxIdle is how long an entry stays pending on a silent consumer before another
	// consumer claims it (default 30s).
	MaxIdle time.Duration
	// ClaimInterval is how often pending entries are checked for claiming (default 5s).
	ClaimInterval time.Duration
	// BlockTime bounds one blocking read (default 1s).
	BlockTime time.Duration
	// NackDelay is the pause before a nacked entry is delivered again (default 200ms).
	NackDelay time.Duration
	// Logger receives the subscriber's logs (default slog.Default()).
	Logger *slog.Logger
	// Metrics, if set, receives Watermill's subscriber metrics (messages received,
	// acked or nacked, by consumer group).
	Metrics prometheus.Registerer
}

func (c *SubscriptionConfig) setDefaults() {
	if c.MaxIdle == 0 {
		c.MaxIdle = 30 * time.Second
	}
	if c.ClaimInterval == 0 {
		c.ClaimInterval = 5 * time.Second
	}
	if c.BlockTime == 0 {
		c.BlockTime = time.Second
	}
	if c.NackDelay == 0 {
		c.NackDelay = 200 * time.Millisecond
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate checks that the names are usable.
func (c *SubscriptionConfig) Validate() error {
	if _, err := KeysFor(c.Partition); err != nil {
		return err
	}
	if c.Group == "" || c.Consumer == "" {
		return errors.New("eventlog: subscription needs a group and a consumer name")
	}
	if c.StartAfter < 0 || c.MaxIdle < 0 || c.ClaimInterval < 0 || c.BlockTime < 0 {
		return errors.New("eventlog: subscription durations and StartAfter must not be negative")
	}
	return nil
}

// Message is one delivered log entry; the consumer must call Ack once it has applied
// it, or Nack to have it delivered again.
type Message struct {
	Entry
	msg *message.Message
}

// Ack acknowledges the entry to the consumer group.
func (m Message) Ack() { m.msg.Ack() }

// Nack asks for the entry to be delivered again.
func (m Message) Nack() { m.msg.Nack() }

// Subscription is a running consumer-group subscription.
type Subscription struct {
	// C delivers entries one at a time; it is closed when the subscription ends.
	C    <-chan Message
	sub  *redisstream.Subscriber
	done chan struct{}
	once sync.Once
}

// Close stops the subscription; entries delivered and not acknowledged stay pending.
func (s *Subscription) Close() error {
	s.once.Do(func() { close(s.done) })
	return s.sub.Close()
}

// entryPositionField is the log entry field that carries its position (append.lua
// writes it by this name), since Watermill's
// unmarshaller sees an entry's fields but not its id.
const entryPositionField = "pos"

// entryUnmarshaller reads log entries in the shape Watermill's redisstream writes
// (message uuid and payload), plus the position. It never fails: an entry that
// cannot be read still becomes a message, so that one bad entry does not stop the
// subscriber; the consumer decodes and dead-letters it.
type entryUnmarshaller struct{}

func (entryUnmarshaller) Unmarshal(values map[string]any) (*message.Message, error) {
	id, _ := values[redisstream.UUIDHeaderKey].(string)
	if id == "" {
		id = watermill.NewUUID()
	}
	payload, _ := values["payload"].(string)
	msg := message.NewMessage(id, []byte(payload))
	if pos, ok := values[entryPositionField].(string); ok {
		msg.Metadata.Set(entryPositionField, pos)
	}
	return msg, nil
}

// noCloseClient keeps Watermill's subscriber from closing the store's shared client.
type noCloseClient struct{ redis.UniversalClient }

func (noCloseClient) Close() error { return nil }

// Subscribe follows a partition log as one consumer of a consumer group, through
// Watermill's redisstream subscriber. Entries pending on a consumer idle for MaxIdle
// are claimed. Delivery is at least once and, after a claim, not always in order.
func (s *Store) Subscribe(ctx context.Context, cfg SubscriptionConfig) (*Subscription, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	keys, _ := KeysFor(cfg.Partition)
	if err := s.ensureGroup(ctx, keys, cfg.Group, cfg.StartAfter); err != nil {
		return nil, err
	}
	sub, err := redisstream.NewSubscriber(redisstream.SubscriberConfig{
		Client:                        noCloseClient{s.client},
		Unmarshaller:                  entryUnmarshaller{},
		Consumer:                      cfg.Consumer,
		ConsumerGroup:                 cfg.Group,
		NackResendSleep:               cfg.NackDelay,
		BlockTime:                     cfg.BlockTime,
		ClaimInterval:                 cfg.ClaimInterval,
		MaxIdleTime:                   cfg.MaxIdle,
		DisableIndefiniteInitialBlock: true,
	}, watermill.NewSlogLoggerWithLevelMapping(
		slog.New(quietOnCancel{cfg.Logger.Handler()}).With("partition", cfg.Partition, "group", cfg.Group),
		map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug},
	))
	if err != nil {
		return nil, fmt.Errorf("subscribe %s/%s: %w", cfg.Partition, cfg.Group, err)
	}
	var subscriber message.Subscriber = sub
	if cfg.Metrics != nil {
		subscriber, err = wmetrics.NewPrometheusMetricsBuilder(cfg.Metrics, "tierlink", "watermill").DecorateSubscriber(sub)
		if err != nil {
			_ = sub.Close()
			return nil, fmt.Errorf("subscriber metrics: %w", err)
		}
	}
	in, err := subscriber.Subscribe(ctx, keys.Log())
	if err != nil {
		_ = sub.Close()
		return nil, fmt.Errorf("subscribe %s/%s: %w", cfg.Partition, cfg.Group, err)
	}
	out := make(chan Message)
	subscription := &Subscription{C: out, sub: sub, done: make(chan struct{})}
	go func() {
		defer close(out)
		for msg := range in {
			pos, _ := strconv.ParseInt(msg.Metadata.Get(entryPositionField), 10, 64)
			ent := s.decodeEntry(pos, map[string]any{"payload": string(msg.Payload)})
			select {
			case out <- Message{Entry: ent, msg: msg}:
			case <-ctx.Done():
				return
			case <-subscription.done:
				return
			}
		}
	}()
	return subscription, nil
}

// ensureGroup creates the group at startAfter, or leaves an existing group as it is.
func (s *Store) ensureGroup(ctx context.Context, keys Keys, group string, startAfter int64) error {
	start := "0"
	if startAfter > 0 {
		start = strconv.FormatInt(startAfter, 10) + "-0"
	}
	err := s.client.XGroupCreateMkStream(ctx, keys.Log(), group, start).Err()
	if err != nil && !isBusyGroup(err) {
		return fmt.Errorf("create group %s on %s: %w", group, keys.Log(), err)
	}
	return nil
}

func isBusyGroup(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "BUSYGROUP")
}

// quietOnCancel turns the subscriber's "read fail" records about a cancelled context
// (it logs one each time it is stopped) into debug records: a stop is no error.
type quietOnCancel struct{ slog.Handler }

func (q quietOnCancel) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError && r.Message == "read fail" {
		cancelled := false
		var attrs []slog.Attr
		r.Attrs(func(a slog.Attr) bool {
			if err, ok := a.Value.Any().(error); ok && errors.Is(err, context.Canceled) {
				cancelled = true
			} else if strings.Contains(a.Value.String(), context.Canceled.Error()) {
				cancelled = true
			}
			attrs = append(attrs, a)
			return true
		})
		if cancelled {
			if !q.Handler.Enabled(ctx, slog.LevelDebug) {
				return nil
			}
			r = slog.NewRecord(r.Time, slog.LevelDebug, r.Message, r.PC)
			r.AddAttrs(attrs...)
		}
	}
	return q.Handler.Handle(ctx, r)
}

func (q quietOnCancel) WithAttrs(as []slog.Attr) slog.Handler {
	return quietOnCancel{q.Handler.WithAttrs(as)}
}

func (q quietOnCancel) WithGroup(name string) slog.Handler {
	return quietOnCancel{q.Handler.WithGroup(name)}
}
