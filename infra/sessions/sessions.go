// Package sessions keeps the web's server-side sessions in Redis. A sign-in with
// an API token opens a session with a random id of its own (the browser's cookie
// holds the id, never the token); Redis holds only the id's SHA-256, with the
// token's digest, the principal and the session's times. A session ends when the
// person signs out, after an idle timeout, at the end of its lifetime, or as soon
// as its token is revoked or expires (every use checks the token again).
package sessions

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/tokens"
)

// ErrNoSession means an id names no live session: never opened, signed out,
// timed out, past its lifetime, or its token revoked or expired.
var ErrNoSession = errors.New("no live session")

// Defaults of Config.
const (
	DefaultIdleTimeout = 30 * time.Minute
	DefaultLifetime    = 12 * time.Hour
)

// keyPrefix starts the key of each session: keyPrefix + SHA-256 of its id in hex.
const keyPrefix = "tl:session:"

// Config tunes the sessions; zero values take the defaults.
type Config struct {
	// IdleTimeout ends a session that has not been used for this long.
	IdleTimeout time.Duration
	// Lifetime ends a session this long after sign-in, however much it is used.
	Lifetime time.Duration
	// Clock gives the time (default time.Now); tests move it by hand.
	Clock func() time.Time
}

// Session is what is kept of a signed-in person: never its token's secret.
type Session struct {
	Principal   domain.Principal `json:"principal"`
	TokenID     string           `json:"token_id"`
	TokenDigest string           `json:"token_digest"` // the token's stored form (tokens.Digest)
	Created     time.Time        `json:"created"`
	LastSeen    time.Time        `json:"last_seen"`
	Expires     time.Time        `json:"expires"` // the end of its lifetime
}

// Store keeps sessions in one Redis.
type Store struct {
	client redis.UniversalClient
	tokens *tokens.Store
	cfg    Config
}

// New returns a store of sessions whose tokens a tokens store checks.
func New(client redis.UniversalClient, toks *tokens.Store, cfg Config) (*Store, error) {
	if client == nil || toks == nil {
		return nil, errors.New("sessions: a Redis client and a tokens store are required")
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.Lifetime <= 0 {
		cfg.Lifetime = DefaultLifetime
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	return &Store{client: client, tokens: toks, cfg: cfg}, nil
}

// Lifetime is how long a session lasts at most, for the cookie's Max-Age.
func (s *Store) Lifetime() time.Duration { return s.cfg.Lifetime }

// Start checks a token's secret and opens a session for its holder, returning
// the session's id (shown this once: only its hash is kept). An unknown, revoked
// or expired token gives tokens.ErrUnknownToken.
func (s *Store) Start(ctx context.Context, secret string) (string, Session, error) {
	now := s.cfg.Clock().UTC()
	tok, err := s.tokens.Authenticate(ctx, secret, now)
	if err != nil {
		return "", Session{}, err
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", Session{}, fmt.Errorf("draw a session id: %w", err)
	}
	id := hex.EncodeToString(raw)
	sess := Session{Principal: tok.Principal, TokenID: tok.ID, TokenDigest: tokens.Digest(secret),
		Created: now, LastSeen: now, Expires: now.Add(s.cfg.Lifetime)}
	if !tok.Expires.IsZero() && tok.Expires.Before(sess.Expires) {
		sess.Expires = tok.Expires
	}
	body, err := json.Marshal(sess)
	if err != nil {
		return "", Session{}, fmt.Errorf("session record: %w", err)
	}
	if err := s.client.Set(ctx, key(id), body, s.ttl(sess, now)).Err(); err != nil {
		return "", Session{}, fmt.Errorf("store the session: %w", err)
	}
	return id, sess, nil
}

// Resume returns the live session of an id and counts this use against its idle
// timeout; ErrNoSession if there is none.
func (s *Store) Resume(ctx context.Context, id string) (Session, error) {
	return s.load(ctx, id, true)
}

// Check returns the live session of an id without counting a use (a live stream
// keeps no session alive by itself); ErrNoSession if there is none.
func (s *Store) Check(ctx context.Context, id string) (Session, error) {
	return s.load(ctx, id, false)
}

// End ends a session at once (signing out). Ending one that is gone is no error.
func (s *Store) End(ctx context.Context, id string) error {
	if !wellFormed(id) {
		return nil
	}
	if err := s.client.Del(ctx, key(id)).Err(); err != nil {
		return fmt.Errorf("end the session: %w", err)
	}
	return nil
}

func (s *Store) load(ctx context.Context, id string, touch bool) (Session, error) {
	if !wellFormed(id) {
		return Session{}, ErrNoSession
	}
	k := key(id)
	body, err := s.client.Get(ctx, k).Bytes()
	if errors.Is(err, redis.Nil) {
		return Session{}, ErrNoSession
	}
	if err != nil {
		return Session{}, fmt.Errorf("read the session: %w", err)
	}
	var sess Session
	if err := json.Unmarshal(body, &sess); err != nil {
		return Session{}, fmt.Errorf("session record: %w", err)
	}
	now := s.cfg.Clock().UTC()
	if s.ttl(sess, now) <= 0 {
		return Session{}, s.drop(ctx, k, "timed out")
	}
	if _, err := s.tokens.Check(ctx, sess.TokenDigest, now); errors.Is(err, tokens.ErrUnknownToken) {
		return Session{}, s.drop(ctx, k, "its token was revoked or expired")
	} else if err != nil {
		return Session{}, err
	}
	// A use moves the idle deadline; written at most once a minute (or a tenth of
	// the timeout), and only while the session exists, so that a sign-out that
	// races with it is not undone.
	if touch && now.Sub(sess.LastSeen) >= min(time.Minute, s.cfg.IdleTimeout/10) {
		sess.LastSeen = now
		if body, err = json.Marshal(sess); err != nil {
			return Session{}, fmt.Errorf("session record: %w", err)
		}
		if err := s.client.SetArgs(ctx, k, body, redis.SetArgs{Mode: "XX", TTL: s.ttl(sess, now)}).Err(); err != nil && !errors.Is(err, redis.Nil) {
			return Session{}, fmt.Errorf("touch the session: %w", err)
		}
	}
	return sess, nil
}

// drop deletes a session found dead and says why.
func (s *Store) drop(ctx context.Context, k, why string) error {
	if err := s.client.Del(ctx, k).Err(); err != nil {
		return fmt.Errorf("end a dead session: %w", err)
	}
	return fmt.Errorf("%w: %s", ErrNoSession, why)
}

// ttl is how long a session has left at now: to its idle deadline or the end of
// its lifetime, whichever comes first.
func (s *Store) ttl(sess Session, now time.Time) time.Duration {
	return min(sess.LastSeen.Add(s.cfg.IdleTimeout).Sub(now), sess.Expires.Sub(now))
}

// key is the Redis key of a session id: the id itself is never stored.
func key(id string) string {
	sum := sha256.Sum256([]byte(id))
	return keyPrefix + hex.EncodeToString(sum[:])
}

// wellFormed says whether an id has the shape Start gives (64 hex digits), so
// that no other string costs a Redis read.
func wellFormed(id string) bool {
	if len(id) != 64 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
}
