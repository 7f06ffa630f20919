package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tierlink/tierlink/app"
	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/eventlog"
	"github.com/tierlink/tierlink/infra/httpapi"
	"github.com/tierlink/tierlink/infra/metrics"
	"github.com/tierlink/tierlink/infra/tokens"
	"github.com/tierlink/tierlink/infra/viewstore"
	"github.com/tierlink/tierlink/matching"
	"github.com/tierlink/tierlink/projections"
)

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
			a.metrics.Decided(e.Partition, 0, "cancelled:"+p.Reason)
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
