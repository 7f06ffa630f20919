// Package node wires one running tierlink: the event store, the matcher and the
// projections of every district, the application and its HTTP API.
//
// node.go only wires (Config, New, the accessors); each job of a running node has
// a file of its own: run.go (Run: what runs, side by side), leases.go (a district's
// matcher while this node holds its lease), follow.go (one consumer group, kept
// running), reference.go (the reference data: published, loaded, followed),
// clock.go (clock ticks), settle.go (Settle and Lag), indicators.go (the gauges of
// a metrics scrape) and rebuild.go (rebuilding the read models). The adapters
// between the ports and the stores are in infra/adapters; the tests' harness is
// nodetest.
package node

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/tierlink/tierlink/app"
	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/adapters"
	"github.com/tierlink/tierlink/infra/eventlog"
	"github.com/tierlink/tierlink/infra/eventlog/applog"
	"github.com/tierlink/tierlink/infra/httpapi"
	"github.com/tierlink/tierlink/infra/metrics"
	"github.com/tierlink/tierlink/infra/sessions"
	"github.com/tierlink/tierlink/infra/throttle"
	"github.com/tierlink/tierlink/infra/tokens"
	"github.com/tierlink/tierlink/infra/viewstore"
	"github.com/tierlink/tierlink/infra/web"
	"github.com/tierlink/tierlink/infra/webhook"
	"github.com/tierlink/tierlink/matching"
	"github.com/tierlink/tierlink/projections"
)

// Config says what a node runs on.
type Config struct {
	Client redis.UniversalClient
	// Consumer is this process's stable name in every consumer group.
	Consumer  string
	Reference *domain.Reference
	Logger    *slog.Logger
	// Subscription tunes the consumer groups (claim times); zero values take defaults.
	Subscription eventlog.SubscriptionConfig
	// TickInterval is how often the node writes the time into each district's log, for
	// deadlines and offer dates (default one minute; negative: never, for tests that tick by hand).
	TickInterval time.Duration
	// LeaseTTL is how long a node's hold on a district's matcher lasts without renewal
	// (default 15s): one matcher decides for a district at a time, and another node
	// takes over within about this time when it stops.
	LeaseTTL time.Duration
	// Clock gives the time commands are stamped with (default time.Now); the demo
	// plays past days on a simulated one.
	Clock func() time.Time
	// NewID gives new ids (default random UUIDv7s); the demo draws them from its seed.
	NewID func() string
	// Sessions tunes the web's sessions (idle timeout, lifetime, clock); zero values
	// take the defaults.
	Sessions sessions.Config
	// SecureCookies marks the web's cookies Secure on plain HTTP too, for a node
	// behind a proxy that terminates TLS (over TLS they are Secure anyway).
	SecureCookies bool
	// AuthLimit tunes the limiter of failed authentications (API and sign-in);
	// zero values take the defaults.
	AuthLimit throttle.Config
	// LiveInterval is how often the web's live-update streams look for changes
	// (default 1s).
	LiveInterval time.Duration
	// WebhookKey derives the subscriptions' signing secrets (at least
	// webhook.MinKeyLength bytes); without it, creating a subscription is refused.
	WebhookKey []byte
	// WebhookAllowHTTP lets a subscription's URL be plain HTTP to a loopback host.
	WebhookAllowHTTP bool
	// Delivery tunes the webhook dispatcher (timeouts, retries, concurrency); its
	// outbox, secrets, logger and metrics are the node's. Zero values take defaults.
	Delivery webhook.DispatcherConfig
}

// setDefaults fills in the settings left at their zero values.
func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.TickInterval == 0 {
		c.TickInterval = time.Minute
	}
	if c.LeaseTTL == 0 {
		c.LeaseTTL = 15 * time.Second
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.NewID == nil {
		c.NewID = func() string { return uuid.Must(uuid.NewV7()).String() }
	}
}

// Node is one running tierlink.
type Node struct {
	cfg        Config
	store      *eventlog.Store
	metrics    *metrics.Metrics
	api        *httpapi.Server
	handler    http.Handler
	partitions []string
	log        *slog.Logger
	tokens     *tokens.Store
	views      *viewstore.Set
	refs       *references
	app        *app.Application
	// running is set while Run runs, stopped once it has returned; loops and cases
	// hold each district's matcher (while this node holds its lease) and projection,
	// for Settle.
	running atomic.Bool
	stopped atomic.Bool
	mu      sync.Mutex
	loops   map[string]*matching.Loop
	cases   map[string]*projections.Cases
	// deliveries reads and writes every district's webhook outbox.
	deliveries adapters.DeliveryLog
}

// references holds the reference data in force: the latest published to the logs.
type references struct {
	p atomic.Pointer[domain.Reference]
}

// Current returns the reference data in force.
func (r *references) Current() *domain.Reference { return r.p.Load() }

// Reference returns the reference data the node has in force.
func (n *Node) Reference() *domain.Reference { return n.refs.Current() }

// Views is the node's read models of every district.
func (n *Node) Views() *viewstore.Set { return n.views }

// Tokens is the node's store of API tokens.
func (n *Node) Tokens() *tokens.Store { return n.tokens }

// New validates the configuration and wires the parts.
func New(cfg Config) (*Node, error) {
	if cfg.Client == nil || cfg.Consumer == "" || cfg.Reference == nil {
		return nil, errors.New("node: a Redis client, a consumer name and reference data are required")
	}
	if len(cfg.WebhookKey) > 0 && len(cfg.WebhookKey) < webhook.MinKeyLength {
		return nil, fmt.Errorf("node: the webhook key: %w", webhook.ErrShortKey)
	}
	cfg.setDefaults()
	n := &Node{cfg: cfg, log: cfg.Logger, refs: &references{}}
	n.refs.p.Store(cfg.Reference)
	for _, d := range cfg.Reference.Geography.Districts() {
		n.partitions = append(n.partitions, d.Code)
	}
	registry := domain.NewRegistry()
	n.metrics = metrics.New()
	store, err := eventlog.NewStore(cfg.Client, registry, n.metrics)
	if err != nil {
		return nil, err
	}
	n.store = store
	n.metrics.WatchLag(store.Head)
	n.metrics.WatchIndicators(n.indicatorGauges)
	newID := cfg.NewID
	if n.deliveries, err = adapters.NewDeliveryLog(cfg.Client, n.partitions); err != nil {
		return nil, err
	}
	views, err := viewstore.NewSet(cfg.Client, n.partitions)
	if err != nil {
		return nil, err
	}
	n.views = views
	application, err := app.New(app.Config{
		Log:       applog.New(store, n.partitions),
		NeedViews: adapters.NeedViews{Views: views},
		Referrals: adapters.NeedViews{Views: views},
		Views:     adapters.ReadViews{Views: views},
		Registry:  registry, References: n.refs,
		NewID: newID, Now: cfg.Clock,
		Webhooks: webhooks(cfg, n.deliveries),
	})
	if err != nil {
		return nil, err
	}
	n.app = application
	toks, err := tokens.NewStore(cfg.Client)
	if err != nil {
		return nil, err
	}
	n.tokens = toks
	auth := adapters.NewAuthenticator(toks)
	limitCfg := cfg.AuthLimit
	limitCfg.Observer = n.metrics
	limiter := throttle.New(limitCfg)
	n.api, err = httpapi.New(httpapi.Config{
		App: application, Auth: auth, Guard: limiter.For("api"), Health: adapters.Pinger{Client: cfg.Client}, Metrics: n.metrics.Handler(), Observer: n.metrics,
		Logger: cfg.Logger, NewID: newID,
	})
	if err != nil {
		return nil, err
	}
	sess, err := sessions.New(cfg.Client, toks, cfg.Sessions)
	if err != nil {
		return nil, err
	}
	pages, err := web.New(web.Config{App: application, Sessions: sess, Guard: limiter.For("web"), Logger: cfg.Logger,
		Secure: cfg.SecureCookies, StreamCounter: n.metrics, LiveInterval: cfg.LiveInterval})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/ui/", pages)
	mux.Handle("/", n.api)
	n.handler = mux
	return n, nil
}

// webhooks is what the subscription use cases take of the node's configuration.
func webhooks(cfg Config, deliveries app.DeliveryLog) app.Webhooks {
	w := app.Webhooks{AllowHTTP: cfg.WebhookAllowHTTP, Deliveries: deliveries}
	if len(cfg.WebhookKey) > 0 {
		key := slices.Clone(cfg.WebhookKey)
		w.Secret = func(id, salt string) (string, error) { return webhook.SubscriptionSecret(key, id, salt) }
	}
	return w
}

// Handler is the node's HTTP API.
func (n *Node) Handler() http.Handler { return n.handler }

// Application is the node's use cases, for callers in the same process (the demo).
func (n *Node) Application() *app.Application { return n.app }

// Partitions lists the districts the node serves.
func (n *Node) Partitions() []string { return slices.Clone(n.partitions) }

// API is the node's HTTP API alone.
func (n *Node) API() *httpapi.Server { return n.api }

// Store is the node's event store.
func (n *Node) Store() *eventlog.Store { return n.store }
