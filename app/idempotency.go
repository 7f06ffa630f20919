package app

import (
	"context"
	"fmt"

	"github.com/tierlink/tierlink/domain"
)

// The idempotency rule, the same for every command (docs/api.md, "Retries"):
//
//   - A client's Idempotency-Key belongs to the principal that sent it: the command
//     is stored under "idem:<principal>/<key>", so a key used by one principal never
//     meets another's command, and nobody can claim another's keys in advance.
//   - Access is checked first, on facts of the resource that never change (the
//     household's community, the offer's provider, whom a referral was addressed
//     to), so a retry passes the check its first attempt passed and a caller without
//     access learns nothing, not even that a key was used.
//   - Then the command id is looked up in the partition the command writes to.
//     Found with the same fingerprint (kind, resource and body), the first answer is
//     rebuilt from the events the command wrote and returned as replayed, whatever
//     has happened since (If-Match and the current state are not consulted). Found
//     with another fingerprint, the command is refused with ErrCommandReused, which
//     says nothing of the first command.
//   - Else the command is decided and appended; an append that meets the id taken
//     meanwhile (a concurrent duplicate) is answered as a replay by the store.

// keyPrefix starts the command id of a client's Idempotency-Key.
const keyPrefix = "idem:"

// Resolved returns the meta with its command id settled: a client's key scoped by
// the principal that sent it, else the id given, else a new one.
func (m Meta) Resolved(newID func() string) Meta {
	if m.resolved {
		return m // a command of several appends suffixes its id per append
	}
	m.resolved = true
	switch {
	case m.Key != "":
		m.CommandID = keyPrefix + m.Principal.String() + "/" + m.Key
		m.retry = true
	case m.CommandID != "":
		m.retry = true
	default:
		m.CommandID = newID()
	}
	return m
}

// previous returns what a command took effect with, if the command id was used in
// the partition before: its events for a retry of the same command, or
// ErrCommandReused for another command under the same id.
func previous(ctx context.Context, cfg Config, partition string, meta Meta, fp string) ([]domain.Event, Appended, bool, error) {
	if !meta.retry || partition == "" {
		return nil, Appended{}, false, nil // a fresh id was never used
	}
	res, stored, ok, err := cfg.Log.Taken(ctx, partition, meta.CommandID)
	if err != nil || !ok {
		return nil, Appended{}, false, err
	}
	if stored != fp {
		return nil, Appended{}, false, fmt.Errorf("%w: the Idempotency-Key was used for another request", ErrCommandReused)
	}
	evs, err := cfg.Log.Range(ctx, partition, res.FirstPosition, res.LastPosition)
	if err != nil {
		return nil, Appended{}, false, fmt.Errorf("read the first result of command %s: %w", meta.CommandID, err)
	}
	res.Duplicate = true
	return evs, res, true, nil
}
