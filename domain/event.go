// Package domain holds tierlink's events, aggregates and reference data as pure
// code: commands and state in, events out; no I/O, no clock, no randomness.
package domain

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	"errors"
	"fmt"
	fastjson "github.com/goccy/go-json"
	"time"
)

// Errors returned when decoding events.
var (
	// ErrUnknownEventType means the event's type is not in the registry.
	ErrUnknownEventType = errors.New("unknown event type")
	// ErrUnknownSchemaVersion means the type is known but not at that schema version.
	ErrUnknownSchemaVersion = errors.New("unknown schema version")
	// ErrMalformedEvent means the bytes are not a well-formed event envelope.
	ErrMalformedEvent = errors.New("malformed event")
)

// Payload is the body of an event; each payload type names its event type.
type Payload interface {
	EventType() string
}

// AggregateRef names one aggregate instance.
type AggregateRef struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// String renders the reference as "type/id".
func (r AggregateRef) String() string { return r.Type + "/" + r.ID }

// Event is the envelope every fact in the log carries.
type Event struct {
	ID               string
	Type             string
	SchemaVersion    int
	AggregateType    string
	AggregateID      string
	AggregateVersion int64
	Partition        string
	Time             time.Time
	Actor            string
	CommandID        string
	CorrelationID    string
	CausationID      string
	Payload          Payload
}

// Aggregate returns the reference of the aggregate the event belongs to.
func (e Event) Aggregate() AggregateRef {
	return AggregateRef{Type: e.AggregateType, ID: e.AggregateID}
}

// wireEvent is the JSON form of an envelope.
type wireEvent struct {
	ID               string          `json:"id"`
	Type             string          `json:"type"`
	SchemaVersion    int             `json:"schema_version"`
	AggregateType    string          `json:"aggregate_type"`
	AggregateID      string          `json:"aggregate_id"`
	AggregateVersion int64           `json:"aggregate_version"`
	Partition        string          `json:"partition"`
	Time             time.Time       `json:"time"`
	Actor            string          `json:"actor"`
	CommandID        string          `json:"command_id"`
	CorrelationID    string          `json:"correlation_id"`
	CausationID      string          `json:"causation_id,omitempty"`
	Payload          json.RawMessage `json:"payload"`
}

type registration struct {
	version int
	decode  func([]byte) (Payload, error)
}

// Registry maps event types to their current schema version and payload decoder.
// It is built once and read-only afterwards, so it is safe for concurrent use.
type Registry struct {
	types map[string]registration
}

// register adds a payload type at a schema version; T's zero value names the type.
func register[T Payload](r *Registry, version int) {
	var zero T
	r.types[zero.EventType()] = registration{
		version: version,
		decode: func(b []byte) (Payload, error) {
			var p T
			dec := fastjson.NewDecoder(bytes.NewReader(b))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&p); err != nil {
				return nil, err
			}
			return p, nil
		},
	}
}

// NewRegistry returns the registry of every event type tierlink knows.
func NewRegistry() *Registry {
	r := &Registry{types: map[string]registration{}}
	register[HouseholdRegistered](r, 1)
	register[NeedRegistered](r, 1)
	register[NeedsOpened](r, 1)
	register[NeedClosed](r, 1)
	register[OfferPosted](r, 1)
	register[ReferralProposed](r, 1)
	register[OfferUnitReserved](r, 1)
	register[OfferCapacityChanged](r, 1)
	register[OfferWithdrawn](r, 1)
	register[ReferencePublished](r, 1)
	register[ReferralAccepted](r, 1)
	register[ReferralDeclined](r, 1)
	register[ReferralCancelled](r, 1)
	register[NeedEscalated](r, 1)
	register[NeedWaitlisted](r, 1)
	register[NeedHeld](r, 1)
	register[ServiceStarted](r, 1)
	register[ServiceCompleted](r, 1)
	register[NeedWithdrawn](r, 1)
	register[OfferUnitReleased](r, 1)
	register[ClockTicked](r, 1)
	register[SubscriptionCreated](r, 1)
	register[SubscriptionDeleted](r, 1)
	register[RedeliveryRequested](r, 1)
	register[EntitlementApplied](r, 1)
	register[EntitlementGranted](r, 1)
	register[EntitlementRefused](r, 1)
	register[HouseholdVisited](r, 1)
	register[HouseholdReassessed](r, 1)
	register[FollowUpRecorded](r, 1)
	return r
}

// SchemaVersion returns the current schema version of an event type.
func (r *Registry) SchemaVersion(eventType string) (int, error) {
	reg, ok := r.types[eventType]
	if !ok {
		return 0, fmt.Errorf("%w: %q", ErrUnknownEventType, eventType)
	}
	return reg.version, nil
}

// Encode renders an event as JSON; its type must be registered.
func (r *Registry) Encode(e Event) ([]byte, error) {
	if e.Payload == nil {
		return nil, fmt.Errorf("%w: event %s has no payload", ErrMalformedEvent, e.ID)
	}
	if e.Type != e.Payload.EventType() {
		return nil, fmt.Errorf("%w: envelope type %q but payload type %q", ErrMalformedEvent, e.Type, e.Payload.EventType())
	}
	reg, ok := r.types[e.Type]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownEventType, e.Type)
	}
	if e.SchemaVersion != reg.version {
		return nil, fmt.Errorf("%w: %s v%d (current is v%d)", ErrUnknownSchemaVersion, e.Type, e.SchemaVersion, reg.version)
	}
	body, err := json.Marshal(e.Payload)
	if err != nil {
		return nil, fmt.Errorf("encode %s payload: %w", e.Type, err)
	}
	return json.Marshal(wireEvent{
		ID: e.ID, Type: e.Type, SchemaVersion: e.SchemaVersion,
		AggregateType: e.AggregateType, AggregateID: e.AggregateID, AggregateVersion: e.AggregateVersion,
		Partition: e.Partition, Time: e.Time, Actor: e.Actor, CommandID: e.CommandID,
		CorrelationID: e.CorrelationID, CausationID: e.CausationID, Payload: body,
	})
}

// Decode parses an event envelope and its payload; unknown types or versions are errors.
func (r *Registry) Decode(b []byte) (Event, error) {
	var w wireEvent
	if err := fastjson.Unmarshal(b, &w); err != nil {
		return Event{}, fmt.Errorf("%w: %v", ErrMalformedEvent, err)
	}
	if w.ID == "" || w.Type == "" || w.AggregateID == "" || w.AggregateType == "" || w.AggregateVersion < 1 || len(w.Payload) == 0 {
		return Event{}, fmt.Errorf("%w: envelope lacks id, type, aggregate or payload", ErrMalformedEvent)
	}
	reg, ok := r.types[w.Type]
	if !ok {
		return Event{}, fmt.Errorf("%w: %q", ErrUnknownEventType, w.Type)
	}
	if w.SchemaVersion != reg.version {
		return Event{}, fmt.Errorf("%w: %s v%d", ErrUnknownSchemaVersion, w.Type, w.SchemaVersion)
	}
	p, err := reg.decode(w.Payload)
	if err != nil {
		return Event{}, fmt.Errorf("%w: %s payload: %v", ErrMalformedEvent, w.Type, err)
	}
	return Event{
		ID: w.ID, Type: w.Type, SchemaVersion: w.SchemaVersion,
		AggregateType: w.AggregateType, AggregateID: w.AggregateID, AggregateVersion: w.AggregateVersion,
		Partition: w.Partition, Time: w.Time, Actor: w.Actor, CommandID: w.CommandID,
		CorrelationID: w.CorrelationID, CausationID: w.CausationID, Payload: p,
	}, nil
}

// Meta is what all events of one command share.
type Meta struct {
	Partition     string
	Time          time.Time
	Actor         string
	CommandID     string
	CorrelationID string
	CausationID   string
}

// Envelop wraps each change's payloads in envelopes, numbered from the change's
// expected version on; newID gives each event its id (the caller chooses how).
func (r *Registry) Envelop(changes []Change, meta Meta, newID func() string) ([]Event, error) {
	var out []Event
	for _, c := range changes {
		for i, p := range c.Payloads {
			v, err := r.SchemaVersion(p.EventType())
			if err != nil {
				return nil, err
			}
			corr := meta.CorrelationID
			if corr == "" {
				corr = meta.CommandID
			}
			out = append(out, Event{
				ID: newID(), Type: p.EventType(), SchemaVersion: v,
				AggregateType: c.Aggregate.Type, AggregateID: c.Aggregate.ID,
				AggregateVersion: c.ExpectedVersion + int64(i) + 1,
				Partition:        meta.Partition, Time: meta.Time.UTC(), Actor: meta.Actor,
				CommandID: meta.CommandID, CorrelationID: corr, CausationID: meta.CausationID,
				Payload: p,
			})
		}
	}
	return out, nil
}

// Digest is a digest of a command's encoded events, byte for byte: the first 16
// bytes of the SHA-256 of their concatenation, in hex.
func Digest(encoded ...[]byte) string {
	h := sha256.New()
	for _, b := range encoded {
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Entry is one position of a partition's log as its consumers (the matcher, the
// projections) take it: the position and its event, or a nil event for an entry
// that could not be read and was dead-lettered (its position still counts).
type Entry struct {
	Position int64
	Event    *Event
}

// Command is one command's events, appended atomically under their command id.
// Fingerprint (a digest of the command's kind and input) tells a retry of the command
// from another command sent under the same id; After names the earlier commands of
// the same append that must take effect first (they write the same aggregates, at the
// versions before this one's).
type Command struct {
	Events      []Event
	Fingerprint string
	After       []int
}
