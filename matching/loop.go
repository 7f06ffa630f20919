package matching

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/google/uuid"

	"github.com/tierlink/tierlink/domain"
)

// ErrStale is wrapped by an Appender's error when an aggregate moved on since the
// decision was made: the append was refused and nothing was written.
var ErrStale = errors.New("stale decision")

// Appender appends one command's events atomically, idempotently by command id.
type Appender interface {
	Append(ctx context.Context, events []domain.Event) error
}

// CheckpointStore keeps the position up to which a loop's decisions are in the log.
type CheckpointStore interface {
	Load(ctx context.Context, name string) (int64, error)
	Save(ctx context.Context, name string, position int64) error
}

// Actor is the actor of every event the matcher appends.
const Actor = "system:matcher"

// checkpointEvery is how many positions pass between checkpoint saves. A restart
// re-decides at most this many positions, and their appends are idempotent.
const checkpointEvery = 64

// LoopConfig wires a loop to one partition.
type LoopConfig struct {
	Partition   string
	Registry    *domain.Registry
	Appender    Appender
	Checkpoints CheckpointStore
	Logger      *slog.Logger
	// OnDecision, if set, is told of each decision once it is in the log.
	OnDecision func(Decision)
}

// Loop feeds the core from one partition's log, in order, and appends its decisions.
// On start it replays the log from the beginning to rebuild the core: positions up to
// its saved checkpoint are decided again but not appended, since their decisions are
// in the log already; a decision is a function of the log, so the replay makes the
// same ones. One loop owns a partition at a time.
type Loop struct {
	cfg     LoopConfig
	core    *Matcher
	log     *slog.Logger
	saved   int64 // checkpoint found at start: decisions up to here are in the log
	lastCP  int64 // checkpoint last saved
	applied int64 // last position folded into the core
	done    int64 // last position whose decisions are all appended
	pending []Decision
}

// NewLoop validates the configuration and returns a loop with an empty core.
func NewLoop(cfg LoopConfig) (*Loop, error) {
	if cfg.Partition == "" || cfg.Registry == nil || cfg.Appender == nil || cfg.Checkpoints == nil {
		return nil, errors.New("matching: loop needs a partition, registry, appender and checkpoint store")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Loop{cfg: cfg, core: New(), log: cfg.Logger.With("partition", cfg.Partition, "component", "matcher")}, nil
}

func (l *Loop) checkpointName() string { return "matcher" }

// Checkpoint loads the saved checkpoint and returns 0: the core is rebuilt from the
// start of the log.
func (l *Loop) Checkpoint(ctx context.Context) (int64, error) {
	saved, err := l.cfg.Checkpoints.Load(ctx, l.checkpointName())
	if err != nil {
		return 0, fmt.Errorf("matcher checkpoint: %w", err)
	}
	l.saved, l.lastCP = saved, saved
	return l.done, nil
}

// Handle applies the entry at position pos (ev is nil for an entry that was
// dead-lettered) and appends the decisions it triggers. After an error the same
// position may be handed again: the core is not fed twice, the appends are retried.
func (l *Loop) Handle(ctx context.Context, pos int64, ev *domain.Event) error {
	if pos <= l.done {
		return nil
	}
	if pos > l.applied {
		var ds []Decision
		if ev != nil {
			ds = l.core.Apply(*ev)
		}
		l.applied = pos
		if pos > l.saved {
			l.pending = ds
		}
	}
	for len(l.pending) > 0 {
		d := l.pending[0]
		err := l.appendDecision(ctx, d)
		switch {
		case errors.Is(err, ErrStale):
			l.log.Warn("decision refused: the need or offer changed; it waits again", "need", d.NeedID, "offer", d.OfferID, "err", err)
			l.core.Revert(d)
		case err != nil:
			return err
		case l.cfg.OnDecision != nil:
			l.cfg.OnDecision(d)
		}
		l.pending = l.pending[1:]
	}
	l.done = pos
	if pos-l.lastCP >= checkpointEvery {
		if err := l.Flush(ctx); err != nil {
			l.log.Warn("checkpoint save failed", "err", err)
		}
	}
	return nil
}

// Flush saves the checkpoint now (on shutdown, say).
func (l *Loop) Flush(ctx context.Context) error {
	if l.done <= l.lastCP {
		return nil
	}
	if err := l.cfg.Checkpoints.Save(ctx, l.checkpointName(), l.done); err != nil {
		return err
	}
	l.lastCP = l.done
	return nil
}

// Core returns the loop's matcher core, for inspection.
func (l *Loop) Core() *Matcher { return l.core }

// eventNamespace scopes the name-based ids of the matcher's events.
var eventNamespace = uuid.MustParse("0b9f3c52-8e0f-4d7e-a3c1-5b2f6d9e8a47")

// DecisionEvents turns a decision into its events. Every id is derived from the
// cause and the need, and the time is the cause's, so a replay writes the same bytes.
func DecisionEvents(reg *domain.Registry, partition string, d Decision) ([]domain.Event, error) {
	changes, err := domain.DecideProposeReferral(
		domain.Need{ID: d.NeedID, Category: d.Category, Community: d.Community, Status: domain.NeedOpen, Tier: d.Tier, Version: d.NeedVersion},
		domain.Offer{ID: d.OfferID, Category: d.Category, Capacity: d.FreeBefore, Version: d.OfferVersion},
		domain.ProposeReferral{ReferralID: ReferralID(d.NeedID, d.Attempt), Tier: d.Tier, Rule: d.Rule, Candidates: d.Candidates},
	)
	if err != nil {
		return nil, fmt.Errorf("decision for need %s: %w", d.NeedID, err)
	}
	cmd := "match:" + d.Cause.ID + ":" + d.NeedID
	i := 0
	return reg.Envelop(changes, domain.Meta{
		Partition: partition, Time: d.Cause.Time, Actor: Actor, CommandID: cmd,
		CorrelationID: d.Cause.CorrelationID, CausationID: d.Cause.ID,
	}, func() string {
		i++
		return uuid.NewSHA1(eventNamespace, []byte(cmd+"/"+fmt.Sprint(i))).String()
	})
}

func (l *Loop) appendDecision(ctx context.Context, d Decision) error {
	evs, err := DecisionEvents(l.cfg.Registry, l.cfg.Partition, d)
	if err != nil {
		return err
	}
	return l.cfg.Appender.Append(ctx, evs)
}
