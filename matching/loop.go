package matching

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync/atomic"

	"github.com/google/uuid"

	"github.com/tierlink/tierlink/domain"
)

// ErrStale is wrapped by an Appender's outcome for a command refused because an
// aggregate moved on since the decision was made, or because a command it needs was
// refused: nothing of it was written.
var ErrStale = errors.New("stale decision")

// Appender appends commands in order, each atomically and idempotently by command id.
type Appender interface {
	// Append returns one outcome per command: nil when it took effect (now or
	// before), or an error wrapping ErrStale when it was refused. An error for the
	// whole call means nothing is known; the call is made again as it was.
	Append(ctx context.Context, cmds []domain.Command) ([]error, error)
}

// Actor is the actor of every event the matcher appends.
const Actor = "system:matcher"

// MaxCommandsPerCall is the most decisions a loop hands its appender in one call.
const MaxCommandsPerCall = 256

// LoopConfig wires a loop to one partition.
type LoopConfig struct {
	Partition string
	Registry  *domain.Registry
	Appender  Appender
	Logger    *slog.Logger
	// Recorded, if set, holds the digest (see Digest) of each decision command the log
	// already holds: a restarted loop that makes one of them again checks it against
	// the digest instead of appending it again, so a restart costs a read of the log,
	// not a round trip per past decision.
	Recorded map[string]string
}

// Loop feeds the core from one partition's log, in order, and appends its decisions.
//
// It takes the log in runs of positions (HandleBatch) and appends the decisions of a
// run in one call, so that catching up with a backlog costs a round trip per run,
// not per decision. A decision is in the log, or will never be: its append was
// refused because one of its aggregates moved on (an entry the loop reads later),
// or because a decision it builds on was refused. The core keeps such a decision
// until it reads the first entry that moves one of its aggregates past the version
// it expected (the entry that made it stale, found by the loop even before the
// append was tried when it is in the same run); just before that entry, the core
// takes the decision back with those made after it on the same needs and offers,
// and makes them again (Matcher.TakeBack). Where this happens depends on the log
// alone, not on how it was cut into runs, so a replay of the log, in runs of any
// size, makes the same decisions.
//
// On start the loop replays the log from the beginning to rebuild the core; a
// decision it finds in LoopConfig.Recorded is not appended again, and one made
// before but not recorded is appended again (a retried command, or one refused
// again). One loop owns a partition at a time. (Snapshots of the core, which would
// spare a restart the full replay, are not built yet.)
type Loop struct {
	cfg     LoopConfig
	core    *Matcher
	log     *slog.Logger
	applied int64        // last position folded into the core
	done    atomic.Int64 // last position whose decisions are all appended or refused
	// inflight is the append call sent and not yet read back, if any.
	inflight *call
	// open holds the decisions made and not in the log, in the order made: those
	// still to append, and those refused, kept until the entry that made them stale.
	open []*pending
	// touching counts the open decisions that write each aggregate.
	touching map[domain.AggregateRef]int
}

// pending is a decision not (yet) in the log.
type pending struct {
	d       Decision
	events  []domain.Event
	expects map[domain.AggregateRef]int64 // the version it expects of each aggregate it writes
	refused bool
}

// NewLoop validates the configuration and returns a loop with an empty core.
func NewLoop(cfg LoopConfig) (*Loop, error) {
	if cfg.Partition == "" || cfg.Registry == nil || cfg.Appender == nil {
		return nil, errors.New("matching: loop needs a partition, a registry and an appender")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Loop{cfg: cfg, core: New(), touching: map[domain.AggregateRef]int{},
		log: cfg.Logger.With("partition", cfg.Partition, "component", "matcher")}, nil
}

// Checkpoint returns the last position the loop has handled: 0 for a new loop,
// whose core is rebuilt from the start of the log.
// It is safe to call while the loop works.
func (l *Loop) Checkpoint(context.Context) (int64, error) { return l.done.Load(), nil }

// Handle handles one position (see HandleBatch).
func (l *Loop) Handle(ctx context.Context, pos int64, ev *domain.Event) error {
	return l.HandleBatch(ctx, []domain.Entry{{Position: pos, Event: ev}})
}

// HandleBatch applies a run of consecutive positions and appends the decisions they
// trigger. After an error the same positions may be handed again: the core is not
// fed twice, the appends are retried.
func (l *Loop) HandleBatch(ctx context.Context, in []domain.Entry) error {
	for _, x := range in {
		if x.Position <= l.applied {
			continue
		}
		if x.Event != nil {
			if err := l.refuseStale(*x.Event); err != nil {
				return err
			}
			if err := l.add(l.core.Apply(*x.Event)); err != nil {
				return err
			}
		}
		l.applied = x.Position
	}
	return l.flush(ctx, len(in) >= asyncRun)
}

// Flush appends every decision not yet appended, and waits for the outcome of
// every append sent: call it when no more entries are coming for a while (a
// follower that has caught up), or before stopping.
func (l *Loop) Flush(ctx context.Context) error { return l.flush(ctx, false) }

// Pending reports whether the loop has decisions to append or an append in flight.
// It must not be called while the loop works.
func (l *Loop) Pending() bool {
	return l.inflight != nil || slices.ContainsFunc(l.open, func(p *pending) bool { return !p.refused })
}

// asyncRun is the length from which a run's decisions are appended while the loop
// takes the next run: runs that long come from a follower catching up, which reads
// again at once. Shorter runs (a live follower's single entries) wait for their
// append, so that a decision is in the log when Handle returns.
const asyncRun = 64

// add turns decisions into their events and keeps them to append, except those the
// log holds already (LoopConfig.Recorded).
func (l *Loop) add(ds []Decision) error {
	for _, d := range ds {
		evs, err := DecisionEvents(l.cfg.Registry, l.cfg.Partition, d)
		if err != nil {
			return err
		}
		cmd := evs[0].CommandID
		if want, ok := l.cfg.Recorded[cmd]; ok {
			got, err := Digest(l.cfg.Registry, evs)
			if err != nil {
				return err
			}
			if got != want {
				return fmt.Errorf("%w: command %s", ErrDiverged, cmd)
			}
			delete(l.cfg.Recorded, cmd) // in the log already: nothing to write
			continue
		}
		p := &pending{d: d, events: evs, expects: map[domain.AggregateRef]int64{}}
		for _, e := range evs {
			if _, ok := p.expects[e.Aggregate()]; !ok {
				p.expects[e.Aggregate()] = e.AggregateVersion - 1
			}
		}
		l.open = append(l.open, p)
		for ref := range p.expects {
			l.touching[ref]++
		}
	}
	return nil
}

// drop removes the open decisions that f picks.
func (l *Loop) drop(f func(*pending) bool) {
	l.open = slices.DeleteFunc(l.open, func(p *pending) bool {
		if !f(p) {
			return false
		}
		for ref := range p.expects {
			if l.touching[ref]--; l.touching[ref] == 0 {
				delete(l.touching, ref)
			}
		}
		return true
	})
}

// refuseStale takes back, before the core reads e, every decision not in the log
// that e makes stale: e moves one of its aggregates past the version it expected.
func (l *Loop) refuseStale(e domain.Event) error {
	ref := e.Aggregate()
	if l.touching[ref] > 0 && e.Actor == Actor {
		// One of its own decisions, written by an earlier loop of this partition
		// (or by this one before a lost reply), read before its append: it is in
		// the log; nothing to append.
		if at := slices.IndexFunc(l.open, func(p *pending) bool { return p.events[0].CommandID == e.CommandID }); at >= 0 {
			p := l.open[at]
			if p.refused || !slices.ContainsFunc(p.events, func(x domain.Event) bool { return x.ID == e.ID }) {
				return fmt.Errorf("%w: command %s holds event %s, which the loop did not make", ErrDiverged, e.CommandID, e.ID)
			}
			l.drop(func(x *pending) bool { return x == p })
		}
	}
	for l.touching[ref] > 0 {
		at := slices.IndexFunc(l.open, func(p *pending) bool {
			v, ok := p.expects[ref]
			return ok && e.AggregateVersion > v
		})
		if at < 0 {
			return nil
		}
		p, rest := l.open[at], l.open[at+1:]
		ds := make([]Decision, len(rest))
		for i, r := range rest {
			ds[i] = r.d
		}
		l.log.Debug("decision stale: the need or offer changed; it waits for that change", "need", p.d.NeedID, "offer", p.d.OfferID,
			"command", p.events[0].CommandID, "correlation_id", p.d.Cause.CorrelationID, "changed_by", e.ID)
		affected, redo := l.core.TakeBack(p.d, ds, e)

		gone := map[*pending]bool{p: true}
		for i, r := range rest {
			gone[r] = affected[i]
		}
		l.drop(func(x *pending) bool { return gone[x] })
		if err := l.add(redo); err != nil {
			return err
		}
	}
	return nil
}

// call is an append sent to the appender.
type call struct {
	batch    []*pending
	outcomes []error
	err      error
	done     chan struct{}
	upTo     int64 // the position whose decisions are all settled once it is
	last     bool  // no decision waited for a later call when it was sent
}

// flush appends the open decisions not yet tried, in calls of at most
// MaxCommandsPerCall, one at a time. A decision that builds on a refused one (it
// writes an aggregate that one wrote) is refused without trying; one that builds on
// another of the same call names it as a prerequisite. With async, the last call is
// left in flight: the next flush reads its outcome first. (Meanwhile the loop may
// read the call's own events from the log, or an entry that makes one of its
// decisions stale; both are told apart by the log's order, as in a replay.)
// (It runs past 50 lines: the batching and prerequisite bookkeeping of one call
// share their maps, and are clearer read in one place.)
func (l *Loop) flush(ctx context.Context, async bool) error {
	if err := l.settle(); err != nil {
		return err
	}
	for {
		var batch []*pending
		var cmds []domain.Command
		index := map[*pending]int{}
		last := map[domain.AggregateRef]*pending{}
		more := false
		for _, p := range l.open {
			if !p.refused && len(batch) == MaxCommandsPerCall {
				more = true
			}
			if !p.refused && len(batch) < MaxCommandsPerCall {
				var after []int
				for ref := range p.expects {
					dep := last[ref]
					switch {
					case dep == nil:
					case dep.refused:
						p.refused = true
					default:
						if i, ok := index[dep]; ok && !slices.Contains(after, i) {
							after = append(after, i)
						}
					}
				}
				if !p.refused {
					slices.Sort(after)
					index[p] = len(batch)
					batch = append(batch, p)
					cmds = append(cmds, domain.Command{Events: p.events, After: after})
				}
			}
			for ref := range p.expects {
				last[ref] = p
			}
		}
		if len(batch) == 0 {
			l.done.Store(l.applied)
			return nil
		}
		c := &call{batch: batch, done: make(chan struct{}), upTo: l.applied, last: !more}
		go func() {
			defer close(c.done)
			c.outcomes, c.err = l.cfg.Appender.Append(ctx, cmds)
		}()
		l.inflight = c
		if async && !more {
			return nil
		}
		if err := l.settle(); err != nil {
			return err
		}
	}
}

// settle waits for the call in flight, if any, and reads its outcomes. A decision
// taken back or found in the log while the call was out is no longer open; its
// outcome changes nothing.
func (l *Loop) settle() error {
	c := l.inflight
	if c == nil {
		return nil
	}
	<-c.done
	l.inflight = nil
	if c.err != nil {
		return c.err // its decisions are still to append: the next flush sends them again
	}
	if len(c.outcomes) != len(c.batch) {
		return fmt.Errorf("matching: %d outcomes for %d commands", len(c.outcomes), len(c.batch))
	}
	open := make(map[*pending]bool, len(l.open))
	for _, p := range l.open {
		open[p] = true
	}
	in := map[*pending]bool{}
	for i, p := range c.batch {
		switch err := c.outcomes[i]; {
		case !open[p]:
		case err == nil:
			in[p] = true
		case errors.Is(err, ErrStale):
			p.refused = true
			l.log.Debug("decision refused: the need or offer changed; it waits for that change", "need", p.d.NeedID, "offer", p.d.OfferID,
				"correlation_id", p.d.Cause.CorrelationID, "err", err)
		default:
			return err
		}
	}
	l.drop(func(p *pending) bool { return in[p] })
	if c.last {
		l.done.Store(c.upTo)
	}
	return nil
}

// Core returns the loop's matcher core, for inspection.
func (l *Loop) Core() *Matcher { return l.core }

// eventNamespace scopes the name-based ids of the matcher's events.
var eventNamespace = uuid.MustParse("0b9f3c52-8e0f-4d7e-a3c1-5b2f6d9e8a47")

// DecisionEvents turns a decision into its events: the need's escalations, then its
// proposal (with the offer's reserved unit) or its waitlisting. Every id is derived
// from the cause and the need, and the time is the cause's, so a replay writes the
// same bytes.
func DecisionEvents(reg *domain.Registry, partition string, d Decision) ([]domain.Event, error) {
	var payloads []domain.Payload
	var offers []domain.Change
	if e := d.Ending; e != nil {
		if e.Reason == domain.EndExpired {
			payloads = append(payloads, domain.NeedEscalated{From: d.FromTier, To: d.FromTier + 1, Reason: domain.EscalatedExpired, ReferralID: e.ReferralID})
		} else {
			payloads = append(payloads, domain.ReferralCancelled{ReferralID: e.ReferralID, OfferID: e.OfferID, Reason: e.Reason})
		}
		offers = append(offers, domain.Change{
			Aggregate: domain.AggregateRef{Type: domain.AggregateOffer, ID: e.OfferID}, ExpectedVersion: e.OfferVersion,
			Payloads: []domain.Payload{domain.OfferUnitReleased{ReferralID: e.ReferralID, NeedID: d.NeedID, Reason: e.Reason}},
		})
	}
	for _, e := range d.Escalations {
		payloads = append(payloads, domain.NeedEscalated{From: e.From, To: e.To, Reason: e.Reason})
	}
	if d.Proposes() {
		ref := ReferralID(d.NeedID, d.Attempt)
		payloads = append(payloads, domain.ReferralProposed{
			ReferralID: ref, OfferID: d.OfferID, Tier: d.Tier, Rule: d.Rule,
			Candidates: d.Candidates, Considered: d.Considered, Deadline: d.Deadline.UTC(), Round: d.Round,
		})
		reserve := domain.OfferUnitReserved{ReferralID: ref, NeedID: d.NeedID}
		if len(offers) == 1 && offers[0].Aggregate.ID == d.OfferID {
			offers[0].Payloads = append(offers[0].Payloads, reserve) // released and taken again
		} else {
			offers = append(offers, domain.Change{
				Aggregate: domain.AggregateRef{Type: domain.AggregateOffer, ID: d.OfferID}, ExpectedVersion: d.OfferVersion,
				Payloads: []domain.Payload{reserve},
			})
		}
	} else if d.Hold {
		payloads = append(payloads, domain.NeedHeld{Tier: d.Tier, Until: d.HeldUntil.UTC(), Competing: d.Competing, Free: d.Free})
	} else {
		reason := d.WaitReason
		if reason == "" {
			reason = domain.WaitlistedNoSupplyLeft
		}
		payloads = append(payloads, domain.NeedWaitlisted{Reason: reason})
	}
	changes := append([]domain.Change{{
		Aggregate: domain.AggregateRef{Type: domain.AggregateNeed, ID: d.NeedID}, ExpectedVersion: d.NeedVersion, Payloads: payloads,
	}}, offers...)
	// One command per decision: the need's count of decisions tells apart decisions
	// on the same need and cause, including one made again after a refusal.
	cmd := "match:" + d.Cause.ID + ":" + d.NeedID + ":" + strconv.Itoa(d.Seq)
	i := 0
	return reg.Envelop(changes, domain.Meta{
		Partition: partition, Time: d.Cause.Time, Actor: Actor, CommandID: cmd,
		CorrelationID: d.Cause.CorrelationID, CausationID: d.Cause.ID,
	}, func() string {
		i++
		return uuid.NewSHA1(eventNamespace, []byte(cmd+"/"+strconv.Itoa(i))).String()
	})
}

// ErrDiverged means the loop decided otherwise than the log records under the same
// command: the replay is not the first run's; it stops rather than go on.
var ErrDiverged = errors.New("matcher diverged from the log")

// Digest is a digest of a command's events as encoded (domain.Digest).
func Digest(reg *domain.Registry, evs []domain.Event) (string, error) {
	bodies := make([][]byte, len(evs))
	for i, e := range evs {
		b, err := reg.Encode(e)
		if err != nil {
			return "", err
		}
		bodies[i] = b
	}
	return domain.Digest(bodies...), nil
}
