// Package tokens keeps tierlink's bearer API tokens in Redis: each bound to a
// principal, stored only as the SHA-256 of its secret, optionally with an expiry,
// created, listed and revoked by an operator (the `tierlink tokens` command).
package tokens

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/redis/go-redis/v9"

	"github.com/tierlink/tierlink/domain"
)

// Errors returned by the store.
var (
	// ErrUnknownToken means a secret matches no live token (never issued, revoked or expired).
	ErrUnknownToken = errors.New("unknown or revoked token")
	// ErrExpired means a token's expiry has passed; it comes wrapped with ErrUnknownToken.
	ErrExpired = errors.New("token expired")
	// ErrNotFound means no token has the id given.
	ErrNotFound = errors.New("no token with that id")
	// ErrBadLabel means a label is empty, too long or holds a control character.
	ErrBadLabel = errors.New("bad token label")
	// ErrBadExpiry means an expiry is not after the token's creation.
	ErrBadExpiry = errors.New("bad token expiry")
)

// key is the hash of live tokens: field the secret's SHA-256 in hex, value the
// token's JSON. (Tokens are few, tens to thousands: listing and revoking read it whole.)
const key = "tl:tokens"

// secretPrefix starts every secret, so that one is recognised in a config or a leak scan.
const secretPrefix = "tl_"

// MaxLabelLength bounds a token's label.
const MaxLabelLength = 200

// Token is what is kept of an issued token: never its secret.
type Token struct {
	ID        string           `json:"id"`
	Label     string           `json:"label"`
	Principal domain.Principal `json:"principal"`
	Created   time.Time        `json:"created"`
	// Expires is when the token stops working (zero: never).
	Expires time.Time `json:"expires,omitzero"`
}

// ExpiredAt says whether the token has expired at a time.
func (t Token) ExpiredAt(now time.Time) bool {
	return !t.Expires.IsZero() && !now.Before(t.Expires)
}

// Store keeps tokens in one Redis.
type Store struct {
	client redis.UniversalClient
}

// NewStore returns a store over a Redis client.
func NewStore(client redis.UniversalClient) (*Store, error) {
	if client == nil {
		return nil, errors.New("tokens: nil redis client")
	}
	return &Store{client: client}, nil
}

// Create issues a token for a principal that never expires and returns its
// secret, shown this once.
func (s *Store) Create(ctx context.Context, p domain.Principal, label string, now time.Time) (string, Token, error) {
	return s.CreateUntil(ctx, p, label, now, time.Time{})
}

// CreateUntil issues a token for a principal that stops working at expires (zero:
// never) and returns its secret, shown this once.
func (s *Store) CreateUntil(ctx context.Context, p domain.Principal, label string, now, expires time.Time) (string, Token, error) {
	label = strings.TrimSpace(label)
	if label == "" || len(label) > MaxLabelLength {
		return "", Token{}, fmt.Errorf("%w: give 1 to %d characters saying whose it is", ErrBadLabel, MaxLabelLength)
	}
	if strings.ContainsFunc(label, unprintable) {
		return "", Token{}, fmt.Errorf("%w: %s holds a control character; use plain text", ErrBadLabel, Printable(label))
	}
	if !expires.IsZero() && !expires.After(now) {
		return "", Token{}, fmt.Errorf("%w: %s is not after %s", ErrBadExpiry, expires.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if _, err := domain.NewPrincipal(p.Role, p.Provider, p.Tier, p.Area); err != nil {
		return "", Token{}, err
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", Token{}, fmt.Errorf("draw a token: %w", err)
	}
	secret := secretPrefix + hex.EncodeToString(raw)
	digest := hash(secret)
	t := Token{ID: digest[:12], Label: label, Principal: p, Created: now.UTC()}
	if !expires.IsZero() {
		t.Expires = expires.UTC()
	}
	body, err := json.Marshal(t)
	if err != nil {
		return "", Token{}, err
	}
	if err := s.client.HSet(ctx, key, digest, body).Err(); err != nil {
		return "", Token{}, fmt.Errorf("store the token: %w", err)
	}
	return secret, t, nil
}

// Authenticate returns the token a secret belongs to, if it is live at now. A
// secret not of the shape tierlink issues is refused without reading Redis.
func (s *Store) Authenticate(ctx context.Context, secret string, now time.Time) (Token, error) {
	if !WellFormed(secret) {
		return Token{}, ErrUnknownToken
	}
	return s.Check(ctx, Digest(secret), now)
}

// Check returns the token whose secret has a digest (Digest), if it is live at now:
// for a holder of the digest rather than the secret, such as a web session.
func (s *Store) Check(ctx context.Context, digest string, now time.Time) (Token, error) {
	body, err := s.client.HGet(ctx, key, digest).Bytes()
	if errors.Is(err, redis.Nil) {
		return Token{}, ErrUnknownToken
	}
	if err != nil {
		return Token{}, fmt.Errorf("read the token: %w", err)
	}
	var t Token
	if err := json.Unmarshal(body, &t); err != nil {
		return Token{}, fmt.Errorf("token record: %w", err)
	}
	if t.ExpiredAt(now) {
		return Token{}, fmt.Errorf("%w: %w", ErrUnknownToken, ErrExpired)
	}
	return t, nil
}

// WellFormed says whether a secret has the shape of those tierlink issues.
func WellFormed(secret string) bool {
	rest, ok := strings.CutPrefix(secret, secretPrefix)
	if !ok || len(rest) != 64 {
		return false
	}
	_, err := hex.DecodeString(rest)
	return err == nil && strings.ToLower(rest) == rest
}

// List returns the live tokens, oldest first.
func (s *Store) List(ctx context.Context) ([]Token, error) {
	all, err := s.client.HGetAll(ctx, key).Result()
	if err != nil {
		return nil, fmt.Errorf("read the tokens: %w", err)
	}
	out := make([]Token, 0, len(all))
	for _, body := range all {
		var t Token
		if err := json.Unmarshal([]byte(body), &t); err != nil {
			return nil, fmt.Errorf("token record: %w", err)
		}
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// Revoke ends the token with an id at once.
func (s *Store) Revoke(ctx context.Context, id string) error {
	all, err := s.client.HGetAll(ctx, key).Result()
	if err != nil {
		return fmt.Errorf("read the tokens: %w", err)
	}
	for digest := range all {
		if digest[:min(len(digest), 12)] == id {
			return s.client.HDel(ctx, key, digest).Err()
		}
	}
	return fmt.Errorf("%w: %q (tierlink tokens list shows the ids)", ErrNotFound, id)
}

// Printable returns a label as a terminal may show it: control and bidirectional
// formatting characters (escape sequences, carriage returns, overrides) are
// written as Go escapes (\x1b, \u202e) instead of acting on the terminal.
func Printable(label string) string {
	if !strings.ContainsFunc(label, unprintable) && !strings.Contains(label, `\`) {
		return label
	}
	var b strings.Builder
	for _, r := range label {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case unprintable(r):
			q := strconv.QuoteRuneToASCII(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// unprintable is a character a label may not hold: a control character or a
// bidirectional formatting one.
func unprintable(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == unicode.ReplacementChar
}

// Digest is the stored form of a secret: its SHA-256 in hex.
func Digest(secret string) string { return hash(secret) }

// hash is the stored form of a secret. The secrets are 256 random bits, so a fast
// hash suffices: nothing can be guessed from it.
func hash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}
