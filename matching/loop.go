package matching

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"

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

// Actor is the actor of every event the matcher appends.
const Actor = "system:matcher"

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
// On start it replays the log from the beginning to rebuild the core, and appends
// every decision again: one made before is a retried command (its events are in the
// log; nothing is written), and one refused before as stale is refused again, so the
// replay reverts it as the first run did and ends in the same state. One loop owns
// a partition at a time. (Snapshots of the core, which would spare a restart the
// full replay, come with the matcher's performance work.)
type Loop struct {
	cfg     LoopConfig
	core    *Matcher
	log     *slog.Logger
	applied int64 // last position folded into the core
	done    int64 // last position whose decisions are all appended
	pending []Decision
}

// NewLoop validates the configuration and returns a loop with an empty core.
func NewLoop(cfg LoopConfig) (*Loop, error) {
	if cfg.Partition == "" || cfg.Registry == nil || cfg.Appender == nil {
		return nil, errors.New("matching: loop needs a partition, a registry and an appender")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Loop{cfg: cfg, core: New(), log: cfg.Logger.With("partition", cfg.Partition, "component", "matcher")}, nil
}

// Checkpoint returns the last position the loop has handled: 0 for a new loop,
// whose core is rebuilt from the start of the log.
func (l *Loop) Checkpoint(context.Context) (int64, error) { return l.done, nil }

// Handle applies the entry at position pos (ev is nil for an entry that was
// dead-lettered) and appends the decisions it triggers. After an error the same
// position may be handed again: the core is not fed twice, the appends are retried.
func (l *Loop) Handle(ctx context.Context, pos int64, ev *domain.Event) error {
	if pos <= l.done {
		return nil
	}
	if pos > l.applied {
		if ev != nil {
			l.pending = l.core.Apply(*ev)
		}
		l.applied = pos
	}
	for len(l.pending) > 0 {
		d := l.pending[0]
		err := l.appendDecision(ctx, d)
		switch {
		case errors.Is(err, ErrStale):
			l.log.Info("decision refused: the need or offer changed; it waits for that change", "need", d.NeedID, "offer", d.OfferID, "err", err)
			l.pending = l.core.Refused(d, l.pending[1:])
			continue
		case err != nil:
			return err
		}
		l.pending = l.pending[1:]
	}
	l.done = pos
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
		if e.Reason == string(domain.EscalatedExpired) {
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
			Candidates: d.Candidates, Considered: d.Considered, Deadline: d.Deadline.UTC(),
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
	} else {
		payloads = append(payloads, domain.NeedWaitlisted{Reason: domain.WaitlistedNoSupplyLeft})
	}
	changes := append([]domain.Change{{
		Aggregate: domain.AggregateRef{Type: domain.AggregateNeed, ID: d.NeedID}, ExpectedVersion: d.NeedVersion, Payloads: payloads,
	}}, offers...)
	// One command per decision: the need's expected version tells decisions on the
	// same need and cause apart.
	cmd := "match:" + d.Cause.ID + ":" + d.NeedID + ":" + strconv.FormatInt(d.NeedVersion, 10)
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

func (l *Loop) appendDecision(ctx context.Context, d Decision) error {
	evs, err := DecisionEvents(l.cfg.Registry, l.cfg.Partition, d)
	if err != nil {
		return err
	}
	if want, ok := l.cfg.Recorded[evs[0].CommandID]; ok {
		got, err := Digest(l.cfg.Registry, evs)
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("%w: command %s", ErrDiverged, evs[0].CommandID)
		}
		delete(l.cfg.Recorded, evs[0].CommandID) // in the log already: nothing to write
		return nil
	}
	return l.cfg.Appender.Append(ctx, evs)
}

// Digest is a digest of a command's events, byte for byte.
func Digest(reg *domain.Registry, evs []domain.Event) (string, error) {
	h := sha256.New()
	for _, e := range evs {
		b, err := reg.Encode(e)
		if err != nil {
			return "", err
		}
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil)[:16]), nil
}
