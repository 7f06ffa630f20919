// Package node wires one running tierlink: the event store, the matcher and the
// projections of every district, the application and its HTTP API.
package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/tierlink/tierlink/app"
	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/eventlog"
	"github.com/tierlink/tierlink/infra/httpapi"
	"github.com/tierlink/tierlink/infra/metrics"
	"github.com/tierlink/tierlink/infra/sessions"
	"github.com/tierlink/tierlink/infra/throttle"
	"github.com/tierlink/tierlink/infra/tokens"
	"github.com/tierlink/tierlink/infra/viewstore"
	"github.com/tierlink/tierlink/infra/web"
	"github.com/tierlink/tierlink/matching"
	"github.com/tierlink/tierlink/projections"
)

// Consumer groups of the partition logs.
const (
	GroupMatcher     = "matcher"
	GroupCases       = "projection.cases"
	followRetryPause = time.Second
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
}

// referenceInterval is how often a node checks for new reference data.
const referenceInterval = 2 * time.Second

// matcherLease names the lease of a district's matcher.
const matcherLease = "matcher"

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
}

// FileActor is the actor of reference data published from the files shipped with
// tierlink; an operator's publication names the operator.
const FileActor = "system:reference"

// references holds the reference data in force: the latest published to the logs.
type references struct {
	p atomic.Pointer[domain.Reference]
}

// Current returns the reference data in force.
func (r *references) Current() *domain.Reference { return r.p.Load() }

// Reference returns the reference data the node has in force.
func (n *Node) Reference() *domain.Reference { return n.refs.Current() }

// latestPublications returns each district's latest reference publication (a
// district with none has its entry left out) and the versions of the reference
// aggregates.
func (n *Node) latestPublications(ctx context.Context) (map[string]domain.Event, map[string]int64, error) {
	pubs, versions := map[string]domain.Event{}, map[string]int64{}
	for _, p := range n.partitions {
		ref := domain.AggregateRef{Type: domain.AggregateReference, ID: p}
		v, err := n.store.Version(ctx, p, ref)
		if err != nil {
			return nil, nil, err
		}
		versions[p] = v
		if v == 0 {
			continue
		}
		evs, err := n.store.ReadAggregate(ctx, p, ref, v)
		if err != nil || len(evs) == 0 {
			return nil, nil, fmt.Errorf("read the reference data of %s: %w", p, err)
		}
		pubs[p] = evs[len(evs)-1]
	}
	return pubs, versions, nil
}

// LoadReference puts in force the reference data last published to the logs: each
// district's tree from its own log, the taxonomy and the policy from the first
// district's (operators publish them to all). It returns the aggregates' versions.
func (n *Node) LoadReference(ctx context.Context) (map[string]int64, error) {
	pubs, versions, err := n.latestPublications(ctx)
	if err != nil {
		return nil, err
	}
	var districts []domain.DistrictNode
	var first *domain.ReferencePublished
	for _, p := range n.partitions {
		e, ok := pubs[p]
		if !ok {
			return versions, nil // not all published yet: keep what is in force
		}
		pub, ok := e.Payload.(domain.ReferencePublished)
		if !ok {
			return nil, fmt.Errorf("reference of %s: unexpected %s", p, e.Type)
		}
		if first == nil {
			first = &pub
		}
		districts = append(districts, pub.District)
	}
	ref, err := domain.NewReference(districts, first.Categories, first.Policy)
	if err != nil {
		return nil, fmt.Errorf("the published reference data: %w", err)
	}
	n.refs.p.Store(ref)
	return versions, nil
}

// followReference reloads the reference data whenever a district's publication
// changes (an operator published new reference data), checking every interval.
func (n *Node) followReference(ctx context.Context, interval time.Duration) {
	var seen map[string]int64
	for {
		_, versions, err := n.latestPublications(ctx)
		if err == nil && !maps.Equal(versions, seen) {
			if _, err = n.LoadReference(ctx); err == nil {
				if seen != nil {
					n.log.Info("new reference data in force", "versions", versions)
				}
				seen = versions
			}
		}
		if err != nil && ctx.Err() == nil {
			n.log.Warn("reference data not reloaded", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

// indicatorGauges reads the present indicator gauges of every district for a scrape.
func (n *Node) indicatorGauges(ctx context.Context) (map[string]map[string]float64, error) {
	out := map[string]map[string]float64{}
	now := float64(n.cfg.Clock().UnixMilli())
	for _, p := range n.partitions {
		st, err := n.views.Store(p)
		if err != nil {
			return nil, err
		}
		waiting, err := st.Count(ctx, projections.WaitlistIndex(domain.TierDistrict, p), -1e18, 1e18)
		if err != nil {
			return nil, err
		}
		var overdue int64
		for _, tier := range []int{domain.TierCommunity, domain.TierStreet, domain.TierDistrict} {
			for _, area := range n.nodesAt(p, tier) {
				c, err := st.Count(ctx, projections.InboxIndex(tier, area), 0, now)
				if err != nil {
					return nil, err
				}
				overdue += c
			}
		}
		out[p] = map[string]float64{"waitlisted_needs": float64(waiting), "overdue_referrals": float64(overdue)}
	}
	return out, nil
}

// nodesAt lists a district's areas at a tier.
func (n *Node) nodesAt(district string, tier int) []string {
	var out []string
	for _, d := range n.refs.Current().Geography.Districts() {
		if d.Code != district {
			continue
		}
		if tier == domain.TierDistrict {
			return []string{d.Code}
		}
		for _, s := range d.Streets {
			if tier == domain.TierStreet {
				out = append(out, s.Code)
				continue
			}
			for _, c := range s.Communities {
				out = append(out, c.Code)
			}
		}
	}
	return out
}

// Views is the node's read models of every district.
func (n *Node) Views() *viewstore.Set { return n.views }

// Tokens is the node's store of API tokens.
func (n *Node) Tokens() *tokens.Store { return n.tokens }

// New validates the configuration and wires the parts.
func New(cfg Config) (*Node, error) {
	if cfg.Client == nil || cfg.Consumer == "" || cfg.Reference == nil {
		return nil, errors.New("node: a Redis client, a consumer name and reference data are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.TickInterval == 0 {
		cfg.TickInterval = time.Minute
	}
	if cfg.LeaseTTL == 0 {
		cfg.LeaseTTL = 15 * time.Second
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.NewID == nil {
		cfg.NewID = func() string { return uuid.Must(uuid.NewV7()).String() }
	}
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
	views, err := viewstore.NewSet(cfg.Client, n.partitions)
	if err != nil {
		return nil, err
	}
	n.views = views
	application, err := app.New(app.Config{
		Log:       appLog{store: store, partitions: n.partitions},
		NeedViews: needViews{views: views},
		Referrals: needViews{views: views},
		Views:     readViews{views: views},
		Registry:  registry, References: n.refs,
		NewID: newID, Now: cfg.Clock,
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
	auth := authenticator{store: toks, mu: &sync.Mutex{}, known: map[string]cachedToken{}}
	limitCfg := cfg.AuthLimit
	limitCfg.Observer = n.metrics
	limiter := throttle.New(limitCfg)
	n.api, err = httpapi.New(httpapi.Config{
		App: application, Auth: auth, Guard: limiter.For("api"), Health: pinger{cfg.Client}, Metrics: n.metrics.Handler(), Observer: n.metrics,
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

// Handler is the node's HTTP API.
func (n *Node) Handler() http.Handler { return n.handler }

// Application is the node's use cases, for callers in the same process (the demo).
func (n *Node) Application() *app.Application { return n.app }

// Partitions lists the districts the node serves.
func (n *Node) Partitions() []string { return slices.Clone(n.partitions) }

// Settle waits until the matcher and the projections of every district have applied
// the whole log and no decision is left to append: the log's head, read before and
// after, equals both consumers' checkpoints. It waits for Run to start (until ctx
// ends, if Run is never called, or this node never gets a district's matcher lease)
// and returns ErrStopped once Run has returned.
func (n *Node) Settle(ctx context.Context) error { return n.settle(ctx, true) }

// ErrStopped is returned by Settle once the node's Run has returned.
var ErrStopped = errors.New("node: stopped running")

// SettleMatcher is Settle for the matchers alone: every decision the log calls for
// is in it (the read models may still be behind).
func (n *Node) SettleMatcher(ctx context.Context) error { return n.settle(ctx, false) }

func (n *Node) settle(ctx context.Context, readModels bool) error {
	for {
		if n.stopped.Load() {
			return ErrStopped
		}
		settled := n.running.Load()
		for _, p := range n.partitions {
			if !settled {
				break
			}
			h, err := n.store.Head(ctx, p)
			if err != nil {
				return fmt.Errorf("settle %s: %w", p, err)
			}
			n.mu.Lock()
			loop, cases := n.loops[p], n.cases[p]
			n.mu.Unlock()
			if loop == nil || cases == nil {
				settled = false
				break
			}
			// The loop's checkpoint counts a position once its decisions are in the log.
			lcp, _ := loop.Checkpoint(ctx)
			ccp := h
			if readModels {
				var err error
				if ccp, err = cases.Checkpoint(ctx); err != nil {
					return fmt.Errorf("settle %s: %w", p, err)
				}
			}
			if lcp != h || ccp != h {
				settled = false
				break
			}
			if h2, err := n.store.Head(ctx, p); err != nil || h2 != h {
				settled = false
				break
			}
		}
		if settled {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
}

// Lag returns how many log entries the matchers and the projections of every
// district have still to apply here (a district whose matcher does not run in this
// node counts its whole log).
func (n *Node) Lag(ctx context.Context) (matcher, projection int64, err error) {
	for _, p := range n.partitions {
		h, err := n.store.Head(ctx, p)
		if err != nil {
			return 0, 0, fmt.Errorf("lag of %s: %w", p, err)
		}
		n.mu.Lock()
		loop, cases := n.loops[p], n.cases[p]
		n.mu.Unlock()
		var lcp, ccp int64
		if loop != nil {
			lcp, _ = loop.Checkpoint(ctx)
		}
		if cases != nil {
			if ccp, err = cases.Checkpoint(ctx); err != nil {
				return 0, 0, fmt.Errorf("lag of %s: %w", p, err)
			}
		}
		matcher += max(h-lcp, 0)
		projection += max(h-ccp, 0)
	}
	return matcher, projection, nil
}

// API is the node's HTTP API alone.
func (n *Node) API() *httpapi.Server { return n.api }

// Store is the node's event store.
func (n *Node) Store() *eventlog.Store { return n.store }

// Run follows every district's log with the projections, and with the matcher of
// each district whose lease it holds, until ctx ends. Everything is built before
// anything starts, so that an error leaves nothing running.
func (n *Node) Run(ctx context.Context) error {
	type consumer struct {
		partition string
		applier   eventlog.Applier
	}
	var needViews []consumer
	for _, p := range n.partitions {
		views, err := viewstore.New(n.cfg.Client, p)
		if err != nil {
			return err
		}
		cases, err := projections.NewCases(views, p)
		if err != nil {
			return err
		}
		cases.Observe(n.metrics)
		n.mu.Lock()
		if n.cases == nil {
			n.cases, n.loops = map[string]*projections.Cases{}, map[string]*matching.Loop{}
		}
		n.cases[p] = cases
		n.mu.Unlock()
		needViews = append(needViews, consumer{p, applier{checkpoint: cases.Checkpoint, handle: cases.Handle, batch: casesRun(cases)}})
	}
	n.running.Store(true)
	defer func() { n.running.Store(false); n.stopped.Store(true) }()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		n.followReference(ctx, referenceInterval)
	}()
	if n.cfg.TickInterval > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.Ticks(ctx, n.cfg.TickInterval)
		}()
	}
	for _, c := range needViews {
		wg.Add(2)
		go func() {
			defer wg.Done()
			n.follow(ctx, c.partition, GroupCases, c.applier)
		}()
		go func() {
			defer wg.Done()
			n.runMatcher(ctx, c.partition)
		}()
	}
	wg.Wait()
	return nil
}

// runMatcher runs a district's matcher while this node holds its lease: it takes the
// lease when free, renews it at a third of its time to live, and stops deciding as
// soon as a renewal fails. Every append of the matcher is fenced with the lease's
// token, so a node that lost the lease without noticing cannot write.
func (n *Node) runMatcher(ctx context.Context, p string) {
	holder, ttl := n.cfg.Consumer, n.cfg.LeaseTTL
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = n.store.Release(rctx, p, matcherLease, holder)
	}()
	for ctx.Err() == nil {
		token, err := n.store.Lease(ctx, p, matcherLease, holder, ttl)
		if err != nil || token == 0 {
			if err != nil && ctx.Err() == nil {
				n.log.Warn("matcher lease not taken", "partition", p, "err", err)
			}
			select {
			case <-ctx.Done():
			case <-time.After(ttl / 3):
			}
			continue
		}
		n.log.Info("matcher lease taken: deciding for the district", "partition", p, "token", token)
		recorded, err := RecordedDecisions(ctx, n.store, p)
		if err != nil {
			n.log.Warn("past decisions not read; the matcher will append them again as retried commands", "partition", p, "err", err)
		}
		loop, err := matching.NewLoop(matching.LoopConfig{
			Partition: p, Registry: n.store.Registry(), Logger: n.log, Recorded: recorded,
			Appender: matcherAppender{store: n.store, metrics: n.metrics, token: token},
		})
		if err != nil {
			n.log.Error("matcher not built", "partition", p, "err", err)
			return
		}
		n.mu.Lock()
		n.loops[p] = loop
		n.mu.Unlock()
		mctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			n.follow(mctx, p, GroupMatcher, applier{checkpoint: loop.Checkpoint, handle: loop.Handle, batch: loopRun(loop), flush: loopFlush(loop)})
		}()
		for held := true; held; {
			select {
			case <-ctx.Done():
				held = false
			case <-time.After(ttl / 3):
				again, err := n.store.Lease(ctx, p, matcherLease, holder, ttl)
				if err != nil || again != token {
					n.log.Warn("matcher lease lost: no longer deciding for the district", "partition", p, "err", err)
					held = false
				}
			}
		}
		stop()
		<-done
		n.mu.Lock()
		delete(n.loops, p)
		n.mu.Unlock()
	}
}

// PublishReference appends the node's reference data to each district's log where
// the log's latest publication differs (call it before Run), so that the matcher, and any replay, reads
// the reference data from the log as it was at each point.
func (n *Node) PublishReference(ctx context.Context) error {
	for _, p := range n.partitions {
		pub, err := n.cfg.Reference.Publication(p)
		if err != nil {
			return err
		}
		ref := domain.AggregateRef{Type: domain.AggregateReference, ID: p}
		past, err := n.store.ReadAggregate(ctx, p, ref, 1)
		if err != nil {
			return fmt.Errorf("read the reference data of %s: %w", p, err)
		}
		body, err := json.Marshal(pub)
		if err != nil {
			return err
		}
		if len(past) > 0 {
			last := past[len(past)-1]
			if last.Actor != FileActor {
				continue // an operator's publication stands until an operator changes it
			}
			if b, err := json.Marshal(last.Payload); err == nil && bytes.Equal(b, body) {
				continue
			}
		}
		sum := sha256.Sum256(body)
		evs, err := n.store.Registry().Envelop([]domain.Change{{Aggregate: ref, ExpectedVersion: int64(len(past)), Payloads: []domain.Payload{pub}}},
			domain.Meta{Partition: p, Time: n.cfg.Clock(), Actor: FileActor, CommandID: "reference:" + hex.EncodeToString(sum[:16]) + ":" + strconv.Itoa(len(past))},
			n.cfg.NewID)
		if err != nil {
			return err
		}
		if _, err := n.store.Append(ctx, evs); err != nil && !errors.Is(err, eventlog.ErrVersionConflict) {
			return fmt.Errorf("publish the reference data of %s: %w", p, err)
		}
		n.log.Info("reference data published", "partition", p, "version", len(past)+1)
	}
	_, err := n.LoadReference(ctx)
	return err
}

// RecordedDecisions reads a partition's log and returns the digest of each command
// the matcher appended (matching.Digest: over the events' bytes as stored), for a
// restarted matcher to recognise its past decisions without appending them again.
// It reads only the actor and the command id of each entry.
func RecordedDecisions(ctx context.Context, store *eventlog.Store, partition string) (map[string]string, error) {
	hashes := map[string]hash.Hash{}
	var order []string
	var head struct {
		Actor     string `json:"actor"`
		CommandID string `json:"command_id"`
	}
	for from := int64(1); ; {
		entries, err := store.ReadPartitionRaw(ctx, partition, from, 5000)
		if err != nil {
			return nil, err
		}
		if len(entries) == 0 {
			break
		}
		for _, e := range entries {
			from = e.Position + 1
			if !bytes.Contains(e.Raw, []byte(`"actor":"`+matching.Actor+`"`)) {
				continue
			}
			head.Actor, head.CommandID = "", ""
			if json.Unmarshal(e.Raw, &head) != nil || head.Actor != matching.Actor {
				continue
			}
			h, seen := hashes[head.CommandID]
			if !seen {
				h = sha256.New()
				hashes[head.CommandID] = h
				order = append(order, head.CommandID)
			}
			h.Write(e.Raw)
		}
	}
	out := make(map[string]string, len(order))
	for _, cmd := range order {
		out[cmd] = hex.EncodeToString(hashes[cmd].Sum(nil)[:16])
	}
	return out, nil
}

// Ticks writes the node's time into every district's log at each interval, until
// ctx ends (Run does it when the configuration's TickInterval is positive).
func (n *Node) Ticks(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := n.Tick(ctx, n.cfg.Clock()); err != nil && ctx.Err() == nil {
				n.log.Warn("clock tick not written", "err", err)
			}
		}
	}
}

// Tick writes a clock tick of time at into every district's log: the matcher
// expires what is due then. Ticks of the same interval from several nodes are one
// command, written once.
func (n *Node) Tick(ctx context.Context, at time.Time) error {
	slot := at.Truncate(max(n.cfg.TickInterval, time.Millisecond)).UnixMilli()
	for _, p := range n.partitions {
		ref := domain.AggregateRef{Type: domain.AggregateClock, ID: p}
		v, err := n.store.Version(ctx, p, ref)
		if err != nil {
			return err
		}
		evs, err := n.store.Registry().Envelop([]domain.Change{{Aggregate: ref, ExpectedVersion: v, Payloads: []domain.Payload{domain.ClockTicked{}}}},
			domain.Meta{Partition: p, Time: at, Actor: "system:clock", CommandID: "tick:" + strconv.FormatInt(slot, 10)},
			n.cfg.NewID)
		if err != nil {
			return err
		}
		if _, err := n.store.Append(ctx, evs); err != nil && !errors.Is(err, eventlog.ErrVersionConflict) {
			return fmt.Errorf("tick %s: %w", p, err)
		}
	}
	return nil
}

// follow keeps one consumer group running, restarting it after a failure.
func (n *Node) follow(ctx context.Context, partition, group string, a eventlog.Applier) {
	cfg := n.cfg.Subscription
	cfg.Partition, cfg.Group, cfg.Consumer, cfg.Logger = partition, group, n.cfg.Consumer, n.log
	cfg.Metrics = n.metrics.Registry()
	n.metrics.Watch(partition, group)
	for ctx.Err() == nil {
		err := n.store.Follow(ctx, cfg, a, n.metrics)
		if ctx.Err() != nil {
			return
		}
		n.log.Error("consumer stopped; restarting", "partition", partition, "group", group, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(followRetryPause):
		}
	}
}

// applier adapts a checkpointed handler to eventlog.Applier, and to
// eventlog.BatchApplier when it has a handler of runs.
type applier struct {
	checkpoint func(context.Context) (int64, error)
	handle     func(context.Context, int64, *domain.Event) error
	batch      func(context.Context, []eventlog.Entry) error
	flush      func(context.Context) (bool, error)
}

func (a applier) Flush(ctx context.Context) (bool, error) {
	if a.flush == nil {
		return false, nil
	}
	return a.flush(ctx)
}

func (a applier) ApplyBatch(ctx context.Context, entries []eventlog.Entry) error {
	if a.batch == nil {
		for _, e := range entries {
			if err := a.Apply(ctx, e); err != nil {
				return err
			}
		}
		return nil
	}
	return a.batch(ctx, entries)
}

func (a applier) Checkpoint(ctx context.Context) (int64, error) { return a.checkpoint(ctx) }

func (a applier) Apply(ctx context.Context, e eventlog.Entry) error {
	return a.handle(ctx, e.Position, eventOf(&e))
}

// eventOf is an entry's event, or nil for one that was dead-lettered.
func eventOf(e *eventlog.Entry) *domain.Event {
	if e.Err != nil {
		return nil
	}
	return &e.Event
}

// loopFlush flushes a matcher's loop and says whether it had decisions to append.
func loopFlush(l *matching.Loop) func(context.Context) (bool, error) {
	return func(ctx context.Context) (bool, error) {
		pending := l.Pending()
		return pending, l.Flush(ctx)
	}
}

// loopRun hands a matching loop a run of entries.
func loopRun(l *matching.Loop) func(context.Context, []eventlog.Entry) error {
	return func(ctx context.Context, entries []eventlog.Entry) error {
		in := make([]matching.Input, len(entries))
		for i := range entries {
			in[i] = matching.Input{Position: entries[i].Position, Event: eventOf(&entries[i])}
		}
		return l.HandleBatch(ctx, in)
	}
}

// casesRun hands the cases projection a run of entries.
func casesRun(c *projections.Cases) func(context.Context, []eventlog.Entry) error {
	return func(ctx context.Context, entries []eventlog.Entry) error {
		run := make([]projections.Entry, len(entries))
		for i := range entries {
			run[i] = projections.Entry{Position: entries[i].Position, Event: eventOf(&entries[i])}
		}
		return c.Apply(ctx, run)
	}
}

// appLog adapts the store to app.Log.
type appLog struct {
	store      *eventlog.Store
	partitions []string
}

func (l appLog) Find(ctx context.Context, ref domain.AggregateRef) (string, []domain.Event, error) {
	return l.store.FindAggregate(ctx, l.partitions, ref)
}

// A batch of households is one script call per district.
var _ [eventlog.MaxCommandsPerBatch - app.MaxHouseholdsPerBatch]struct{}

// AppendMany appends commands to one partition in one script call.
func (l appLog) AppendMany(ctx context.Context, cmds []app.Command) ([]app.Appended, []error, error) {
	batch := make([]eventlog.Command, len(cmds))
	for i, c := range cmds {
		batch[i] = eventlog.Command{Events: c.Events, Fingerprint: c.Fingerprint}
	}
	outs, err := l.store.AppendBatch(ctx, batch)
	if err != nil {
		return nil, nil, err
	}
	res, errs := make([]app.Appended, len(outs)), make([]error, len(outs))
	for i, o := range outs {
		switch {
		case errors.Is(o.Err, eventlog.ErrVersionConflict):
			errs[i] = fmt.Errorf("%w: %w", app.ErrConflict, o.Err)
		case errors.Is(o.Err, eventlog.ErrCommandReused):
			errs[i] = fmt.Errorf("%w: %w", app.ErrCommandReused, o.Err)
		case o.Err != nil:
			errs[i] = o.Err
		default:
			res[i] = app.Appended{Partition: cmds[i].Events[0].Partition, FirstPosition: o.Result.FirstPosition, LastPosition: o.Result.LastPosition, Duplicate: o.Result.Duplicate}
		}
	}
	return res, errs, nil
}

func (l appLog) Append(ctx context.Context, evs []domain.Event, fingerprint string) (app.Appended, error) {
	res, err := l.store.Append(ctx, evs, eventlog.Fingerprint(fingerprint))
	switch {
	case errors.Is(err, eventlog.ErrVersionConflict):
		return app.Appended{}, fmt.Errorf("%w: %w", app.ErrConflict, err)
	case errors.Is(err, eventlog.ErrCommandReused):
		return app.Appended{}, fmt.Errorf("%w: %w", app.ErrCommandReused, err)
	}
	if err != nil {
		return app.Appended{}, err
	}
	return app.Appended{Partition: evs[0].Partition, FirstPosition: res.FirstPosition, LastPosition: res.LastPosition, Duplicate: res.Duplicate}, nil
}

func (l appLog) Taken(ctx context.Context, partition, commandID string) (app.Appended, string, bool, error) {
	res, fp, ok, err := l.store.CommandResult(ctx, partition, commandID)
	if err != nil || !ok {
		return app.Appended{}, "", false, err
	}
	return app.Appended{Partition: partition, FirstPosition: res.FirstPosition, LastPosition: res.LastPosition, Duplicate: true}, fp, true, nil
}

func (l appLog) Fingerprints(ctx context.Context, partition string, commandIDs []string) ([]string, error) {
	return l.store.CommandFingerprints(ctx, partition, commandIDs)
}

func (l appLog) Range(ctx context.Context, partition string, from, to int64) ([]domain.Event, error) {
	entries, err := l.store.ReadPartition(ctx, partition, from, to-from+1)
	if err != nil {
		return nil, err
	}
	out := make([]domain.Event, 0, len(entries))
	for _, e := range entries {
		if e.Err != nil {
			return nil, fmt.Errorf("position %d: %w", e.Position, e.Err)
		}
		out = append(out, e.Event)
	}
	return out, nil
}

// matcherAppender adapts the store to matching.Appender, and counts the decisions
// written (not those a restarted matcher finds in the log already).
type matcherAppender struct {
	store   *eventlog.Store
	metrics *metrics.Metrics
	token   int64 // the fencing token of the matcher's lease
}

func (a matcherAppender) Append(ctx context.Context, cmds []matching.Command) ([]error, error) {
	// The fingerprint is a digest of the decision's bytes: a replay that decided
	// otherwise under the same command id is refused instead of passing as a retry.
	batch := make([]eventlog.Command, len(cmds))
	for i, c := range cmds {
		batch[i] = eventlog.Command{Events: c.Events, DigestFingerprint: true, After: c.After}
	}
	outcomes, err := a.store.AppendBatch(ctx, batch, eventlog.Fence(matcherLease, a.token))
	if err != nil {
		return nil, err
	}
	out := make([]error, len(cmds))
	for i, o := range outcomes {
		switch {
		case errors.Is(o.Err, eventlog.ErrVersionConflict), errors.Is(o.Err, eventlog.ErrPrerequisite):
			out[i] = fmt.Errorf("%w: %w", matching.ErrStale, o.Err)
		case errors.Is(o.Err, eventlog.ErrCommandReused):
			return nil, fmt.Errorf("%w: the log holds other events under command %s; stop and report it: %w",
				matching.ErrDiverged, cmds[i].Events[0].CommandID, o.Err)
		case o.Err != nil:
			return nil, o.Err
		case !o.Result.Duplicate:
			a.count(cmds[i].Events)
		}
	}
	return out, nil
}

// count counts a decision written, by outcome and tier.
func (a matcherAppender) count(evs []domain.Event) {
	for _, e := range evs {
		switch p := e.Payload.(type) {
		case domain.ReferralProposed:
			a.metrics.Decided(e.Partition, p.Tier, p.Rule)
		case domain.NeedWaitlisted:
			a.metrics.Decided(e.Partition, domain.TierDistrict, "waitlisted")
		case domain.NeedEscalated:
			a.metrics.Decided(e.Partition, p.From, "escalated:"+string(p.Reason))
		case domain.ReferralCancelled:
			a.metrics.Decided(e.Partition, 0, "cancelled:"+string(p.Reason))
		}
	}
}

// needViews finds need views in any district.
type needViews struct{ views *viewstore.Set }

func (v needViews) FindNeed(ctx context.Context, id string) (projections.NeedView, bool, error) {
	if strings.HasPrefix(id, legacyReferralPrefix) {
		return projections.NeedView{}, false, nil // no need has such an id: the server makes them
	}
	b, ok, err := v.views.Find(ctx, projections.NeedsModel, id)
	if err != nil || !ok {
		return projections.NeedView{}, false, err
	}
	var out projections.NeedView
	if err := json.Unmarshal(b, &out); err != nil {
		return projections.NeedView{}, false, fmt.Errorf("need view %s: %w", id, err)
	}
	return out, true, nil
}

func (v needViews) NeedOfReferral(ctx context.Context, referralID string) (string, bool, error) {
	b, ok, err := v.views.Find(ctx, projections.ReferralsModel, referralID)
	if err == nil && !ok {
		b, ok, err = v.views.Find(ctx, projections.NeedsModel, legacyReferralPrefix+referralID)
	}
	return string(b), ok, err
}

// legacyReferralPrefix names the referral index's documents as read models built
// before the index had a model of its own kept them, in the needs model. A referral
// proposed before an upgrade is found there until the read models are rebuilt
// (tierlink projections rebuild), so that its inbox and its answers keep working.
const legacyReferralPrefix = "referral-"

// readViews reads the read models of every district for the queries.
type readViews struct{ views *viewstore.Set }

func (v readViews) Doc(ctx context.Context, model, id string) ([]byte, bool, error) {
	return v.views.Find(ctx, model, id)
}

func (v readViews) Docs(ctx context.Context, district, model string, ids []string) ([][]byte, error) {
	s, err := v.views.Store(district)
	if err != nil {
		return nil, err
	}
	docs, err := s.GetMany(ctx, model, ids)
	if err != nil || model != projections.ReferralsModel {
		return docs, err
	}
	var missing []int
	var legacy []string
	for i, d := range docs {
		if d == nil {
			missing, legacy = append(missing, i), append(legacy, legacyReferralPrefix+ids[i])
		}
	}
	if len(missing) == 0 {
		return docs, nil
	}
	old, err := s.GetMany(ctx, projections.NeedsModel, legacy)
	if err != nil {
		return nil, err
	}
	for j, i := range missing {
		docs[i] = old[j]
	}
	return docs, nil
}

func (v readViews) Page(ctx context.Context, district, index string, after app.Cursor, limit int) ([]app.Cursor, error) {
	s, err := v.views.Store(district)
	if err != nil {
		return nil, err
	}
	ms, err := s.Range(ctx, index, viewstore.Member{ID: after.ID, Score: after.Score}, limit)
	if err != nil {
		return nil, err
	}
	out := make([]app.Cursor, len(ms))
	for i, m := range ms {
		out[i] = app.Cursor{ID: m.ID, Score: m.Score}
	}
	return out, nil
}

func (v readViews) Checkpoint(ctx context.Context, district string) (int64, error) {
	s, err := v.views.Store(district)
	if err != nil {
		return 0, err
	}
	return s.Checkpoint(ctx, projections.CasesName)
}

func (v readViews) Latest(ctx context.Context, district, index string, n int) ([]string, error) {
	s, err := v.views.Store(district)
	if err != nil {
		return nil, err
	}
	return s.Latest(ctx, index, n)
}

func (v readViews) Counters(ctx context.Context, district string, names []string) ([]map[string]int64, error) {
	s, err := v.views.Store(district)
	if err != nil {
		return nil, err
	}
	return s.Counters(ctx, names)
}

func (v readViews) Count(ctx context.Context, district, index string, min, max float64) (int64, error) {
	s, err := v.views.Store(district)
	if err != nil {
		return 0, err
	}
	return s.Count(ctx, index, min, max)
}

// tokenCacheTTL is how long a node trusts a token check: a revoked token stops
// working within it. maxCachedTokens bounds the cache (it starts afresh when full).
const (
	tokenCacheTTL   = 2 * time.Second
	maxCachedTokens = 10_000
)

// authenticator adapts the tokens store to httpapi.Authenticator, remembering each
// token's check for tokenCacheTTL (a Redis read per request otherwise).
type authenticator struct {
	store *tokens.Store
	mu    *sync.Mutex
	known map[string]cachedToken
}

type cachedToken struct {
	token tokens.Token
	at    time.Time
}

func (a authenticator) Authenticate(ctx context.Context, secret string) (domain.Principal, string, error) {
	now := time.Now()
	a.mu.Lock()
	c, ok := a.known[secret]
	a.mu.Unlock()
	if ok && now.Sub(c.at) < tokenCacheTTL && !c.token.ExpiredAt(now) {
		return c.token.Principal, c.token.ID, nil
	}
	t, err := a.store.Authenticate(ctx, secret, now)
	if err == nil {
		a.mu.Lock()
		if len(a.known) >= maxCachedTokens {
			clear(a.known)
		}
		a.known[secret] = cachedToken{token: t, at: now}
		a.mu.Unlock()
	}
	if errors.Is(err, tokens.ErrUnknownToken) {
		return domain.Principal{}, "", fmt.Errorf("%w: %w", httpapi.ErrUnknownToken, err)
	}
	if err != nil {
		return domain.Principal{}, "", err
	}
	return t.Principal, t.ID, nil
}

type pinger struct{ client redis.UniversalClient }

func (p pinger) Ping(ctx context.Context) error { return p.client.Ping(ctx).Err() }
