// Package app lists every use case of tierlink on one screen: the commands people
// send and the queries they read, over the event log and the read models.
package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/projections"
)

// Errors returned by the use cases, beside the domain's.
var (
	// ErrConflict means the aggregate changed under the command; it may be retried.
	ErrConflict = errors.New("conflict")
	// ErrPreconditionFailed means the aggregate is not at the version the command
	// named (If-Match): someone changed it since the client read it.
	ErrPreconditionFailed = errors.New("precondition failed")
	// ErrCommandReused means the command id (an Idempotency-Key) already took effect
	// for a different command.
	ErrCommandReused = errors.New("command id reused for a different command")
)

// Appended is what an append wrote: the log positions of its events, and whether
// the command had been applied before (then nothing new was written).
type Appended struct {
	Partition     string
	FirstPosition int64
	LastPosition  int64
	Duplicate     bool
}

// Log is what the use cases need of the event log.
type Log interface {
	// Append writes one command's events atomically, wrapping ErrConflict on a
	// version conflict and ErrCommandReused when the command id took effect for a
	// command of another fingerprint.
	Append(ctx context.Context, events []domain.Event, fingerprint string) (Appended, error)
	// Range returns the events of a partition between two positions, inclusive.
	Range(ctx context.Context, partition string, from, to int64) ([]domain.Event, error)
	// Find returns an aggregate's events and the partition that holds them (no
	// events if it exists nowhere).
	Find(ctx context.Context, ref domain.AggregateRef) (partition string, events []domain.Event, err error)
	// Taken returns where a command id took effect in a partition, if it did, and
	// the fingerprint it took effect with.
	Taken(ctx context.Context, partition, commandID string) (res Appended, fingerprint string, ok bool, err error)
	// Fingerprints returns, in one read, the fingerprint each command id took
	// effect with in a partition ("" for an id that did not).
	Fingerprints(ctx context.Context, partition string, commandIDs []string) ([]string, error)
	// AppendMany writes several commands' events to one partition in one call, each
	// command atomically and on its own: it returns each command's result or error
	// (as Append's), and an error only when the call itself failed.
	AppendMany(ctx context.Context, commands []domain.Command) ([]Appended, []error, error)
}

// NeedViews finds need views in whichever partition holds them.
type NeedViews interface {
	FindNeed(ctx context.Context, id string) (projections.NeedView, bool, error)
}

// ReferralIndex finds the need a referral belongs to.
type ReferralIndex interface {
	NeedOfReferral(ctx context.Context, referralID string) (needID string, ok bool, err error)
}

// Meta is who sends a command and under which ids.
type Meta struct {
	// Key is the client's Idempotency-Key, if it sent one: the command's id is then
	// the key scoped by the principal (see Resolved).
	Key string
	// CommandID is the command's id when the caller names it itself (the demo, the
	// loader); with neither Key nor CommandID, a new id is made.
	CommandID string
	// Actor names who acts in the events written (the principal and its token).
	Actor         string
	CorrelationID string
	// Principal is who acts: what it may do is checked against it.
	Principal domain.Principal
	// IfMatch, if not 0, is the version the aggregate must be at (the client's If-Match).
	IfMatch int64
	// resolved is set once the command id is settled; retry when it is one a
	// client may send again.
	resolved, retry bool
}

// community returns the reference data of a community, or an empty one (which no
// centre covers) when it is unknown.
func community(cfg Config, code string) domain.Community {
	c, _ := cfg.References.Current().Geography.Community(code)
	return c
}

// Config wires the application to its parts.
type Config struct {
	Log       Log
	NeedViews NeedViews
	Referrals ReferralIndex
	// Views reads the read models for the queries.
	Views    Views
	Registry *domain.Registry
	// References gives the reference data in force: the latest published to the log.
	References ReferenceSource
	// NewID returns a new unique id (UUIDv7 in production).
	NewID func() string
	// Now returns the current time.
	Now func() time.Time
	// Webhooks configures subscriptions; without a Secret, creating one is refused.
	Webhooks Webhooks
	// catalogues is the compiled catalogue of programmes, set by New.
	catalogues *catalogues
}

// ReferenceSource gives the reference data in force.
type ReferenceSource interface {
	Current() *domain.Reference
}

// Application holds every use case.
type Application struct {
	Commands Commands
	Queries  Queries
}

// Commands are the use cases that append to the log. Each is in a file named after
// it (ChangeCapacity in change_capacity.go), with its test beside it.
type Commands struct {
	RegisterHousehold RegisterHouseholdHandler
	// RegisterHouseholds registers many households in one call.
	RegisterHouseholds RegisterHouseholdsHandler
	RegisterNeeds      RegisterNeedsHandler
	PostOffer          PostOfferHandler
	ChangeCapacity     ChangeCapacityHandler
	WithdrawOffer      WithdrawOfferHandler
	AnswerReferral     AnswerReferralHandler
	StartService       StartServiceHandler
	CompleteService    CompleteServiceHandler
	WithdrawNeed       WithdrawNeedHandler
	// ApplyEntitlement and AnswerEntitlement record a household's application for
	// a programme of the catalogue and the department's answer.
	ApplyEntitlement  ApplyEntitlementHandler
	AnswerEntitlement AnswerEntitlementHandler
	// RecordVisit, Reassess and RecordFollowUp are the adviser's: a visit to a
	// household, a new assessment of it, and the follow-up of a completed referral.
	RecordVisit        RecordVisitHandler
	Reassess           ReassessHandler
	RecordFollowUp     FollowUpHandler
	PublishReference   PublishReferenceHandler
	CreateSubscription CreateSubscriptionHandler
	DeleteSubscription DeleteSubscriptionHandler
	Redeliver          RedeliverHandler
}

// Queries are the use cases that read the read models.
type Queries struct {
	Need NeedHandler
	// Reads are the read models' other queries: cases, offers, inboxes, waitlists,
	// providers' referrals, and a household's entitlements.
	Reads Reads
}

// New validates the configuration and returns the application.
func New(cfg Config) (*Application, error) {
	if cfg.Log == nil || cfg.NeedViews == nil || cfg.Referrals == nil || cfg.Views == nil || cfg.Registry == nil || cfg.References == nil ||
		cfg.NewID == nil || cfg.Now == nil {
		return nil, errors.New("app: every part of the configuration is required")
	}
	cfg.catalogues = &catalogues{}
	return &Application{
		Commands: Commands{
			RegisterHousehold:  RegisterHouseholdHandler{cfg: cfg},
			RegisterHouseholds: RegisterHouseholdsHandler{cfg: cfg},
			RegisterNeeds:      RegisterNeedsHandler{cfg: cfg},
			ChangeCapacity:     ChangeCapacityHandler{cfg: cfg},
			WithdrawOffer:      WithdrawOfferHandler{cfg: cfg},
			AnswerReferral:     AnswerReferralHandler{cfg: cfg},
			StartService:       StartServiceHandler{cfg: cfg},
			CompleteService:    CompleteServiceHandler{cfg: cfg},
			WithdrawNeed:       WithdrawNeedHandler{cfg: cfg},
			ApplyEntitlement:   ApplyEntitlementHandler{cfg: cfg},
			AnswerEntitlement:  AnswerEntitlementHandler{cfg: cfg},
			RecordVisit:        RecordVisitHandler{cfg: cfg},
			Reassess:           ReassessHandler{cfg: cfg},
			RecordFollowUp:     FollowUpHandler{cfg: cfg},
			PostOffer:          PostOfferHandler{cfg: cfg},
			PublishReference:   PublishReferenceHandler{cfg: cfg},
			CreateSubscription: CreateSubscriptionHandler{cfg: cfg},
			DeleteSubscription: DeleteSubscriptionHandler{cfg: cfg},
			Redeliver:          RedeliverHandler{cfg: cfg},
		},
		Queries: Queries{Need: NeedHandler{views: cfg.NeedViews, refs: cfg.References}, Reads: Reads{cfg: cfg, views: cfg.Views}},
	}, nil
}

// fingerprint digests a command's kind and input, so that a command id reused for
// another command is told apart from a retry.
func fingerprint(kind string, input any) string {
	b, err := json.Marshal(input)
	if err != nil {
		b = []byte(fmt.Sprintf("%#v", input))
	}
	sum := sha256.Sum256(append([]byte(kind+"\x00"), b...))
	return hex.EncodeToString(sum[:16])
}

// execute envelops a decision's changes, appends them, and returns the events the
// log holds for the command: those just written or, for a concurrent duplicate
// that took effect first, the first attempt's.
func execute(ctx context.Context, cfg Config, partition string, changes []domain.Change, meta Meta, fp string) ([]domain.Event, Appended, error) {
	meta = meta.Resolved(cfg.NewID)
	evs, err := cfg.Registry.Envelop(changes, domain.Meta{
		Partition: partition, Time: cfg.Now(), Actor: meta.Actor, CommandID: meta.CommandID,
		CorrelationID: meta.CorrelationID,
	}, cfg.NewID)
	if err != nil {
		return nil, Appended{}, err
	}
	res, err := cfg.Log.Append(ctx, evs, fp)
	if err != nil {
		return nil, Appended{}, err
	}
	if res.Duplicate {
		evs, err = cfg.Log.Range(ctx, partition, res.FirstPosition, res.LastPosition)
		if err != nil {
			return nil, Appended{}, fmt.Errorf("read the first result of command %s: %w", meta.CommandID, err)
		}
	}
	return evs, res, nil
}

// create runs a command that makes a new aggregate in a partition known from its
// input: access was checked by the caller on the input; a retried command answers
// with its first events (see the rule in idempotency.go), else the decision is
// appended.
func create(ctx context.Context, cfg Config, partition string, meta Meta, fp string,
	decide func() ([]domain.Change, error)) ([]domain.Event, Appended, error) {
	meta = meta.Resolved(cfg.NewID)
	if written, res, ok, err := previous(ctx, cfg, partition, meta, fp); err != nil || ok {
		return written, res, err
	}
	changes, err := decide()
	if err != nil {
		return nil, Appended{}, err
	}
	return execute(ctx, cfg, partition, changes, meta, fp)
}

// maxConflictRetries bounds how often a command is decided again on fresh state
// after another command changed its aggregate first.
const maxConflictRetries = 3

// update runs a command on an existing aggregate, in the order of the rule in
// idempotency.go: it finds the aggregate's events in whichever partition holds
// them, checks access, answers a retried command with its first events, checks
// If-Match, decides and appends; when another command changed the aggregate in
// between, it goes round again on the new state.
func update(ctx context.Context, cfg Config, ref domain.AggregateRef, meta Meta, fp string,
	access func(events []domain.Event) error,
	decide func(events []domain.Event) ([]domain.Change, error)) ([]domain.Event, Appended, error) {
	if !domain.ValidID(ref.ID) {
		return nil, Appended{}, fmt.Errorf("%s %q: %w", ref.Type, ref.ID, domain.ErrNotFound)
	}
	meta = meta.Resolved(cfg.NewID)
	for attempt := 0; ; attempt++ {
		partition, evs, err := cfg.Log.Find(ctx, ref)
		if err != nil {
			return nil, Appended{}, err
		}
		if len(evs) == 0 {
			return nil, Appended{}, fmt.Errorf("%s %s: %w", ref.Type, ref.ID, domain.ErrNotFound)
		}
		if err := access(evs); err != nil {
			return nil, Appended{}, err
		}
		if written, res, ok, err := previous(ctx, cfg, partition, meta, fp); err != nil || ok {
			return written, res, err
		}
		if v := evs[len(evs)-1].AggregateVersion; meta.IfMatch != 0 && v != meta.IfMatch {
			return nil, Appended{}, fmt.Errorf("%w: it is at version %d, not %d (If-Match); read it again",
				ErrPreconditionFailed, v, meta.IfMatch)
		}
		changes, err := decide(evs)
		if err != nil {
			// A concurrent duplicate may have taken effect since the lookup above,
			// and changed what the decision reads outside the log (a dead letter
			// redelivered): it is then answered as a replay, not refused.
			if written, res, ok, perr := previous(ctx, cfg, partition, meta, fp); perr == nil && ok {
				return written, res, nil
			}
			return nil, Appended{}, err
		}
		written, res, err := execute(ctx, cfg, partition, changes, meta, fp)
		if errors.Is(err, ErrConflict) && attempt < maxConflictRetries {
			continue // with If-Match, the next attempt finds the version moved: 412
		}
		return written, res, err
	}
}
