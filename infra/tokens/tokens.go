// Package tokens keeps tierlink's bearer API tokens in Redis: each bound to a
// principal, stored only as the SHA-256 of its secret, created, listed and revoked
// by an operator (the `tierlink tokens` command).
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
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tierlink/tierlink/domain"
)

// Errors returned by the store.
var (
	// ErrUnknownToken means a secret matches no live token (never issued, or revoked).
	ErrUnknownToken = errors.New("unknown or revoked token")
	// ErrNotFound means no token has the id given.
	ErrNotFound = errors.New("no token with that id")
	// ErrBadLabel means a label is empty or too long.
	ErrBadLabel = errors.New("bad token label")
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

// Create issues a token for a principal and returns its secret, shown this once.
func (s *Store) Create(ctx context.Context, p domain.Principal, label string, now time.Time) (string, Token, error) {
	label = strings.TrimSpace(label)
	if label == "" || len(label) > MaxLabelLength {
		return "", Token{}, fmt.Errorf("%w: give 1 to %d characters saying whose it is", ErrBadLabel, MaxLabelLength)
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
	body, err := json.Marshal(t)
	if err != nil {
		return "", Token{}, err
	}
	if err := s.client.HSet(ctx, key, digest, body).Err(); err != nil {
		return "", Token{}, fmt.Errorf("store the token: %w", err)
	}
	return secret, t, nil
}

// Authenticate returns the token a secret belongs to.
func (s *Store) Authenticate(ctx context.Context, secret string) (Token, error) {
	if !strings.HasPrefix(secret, secretPrefix) {
		return Token{}, ErrUnknownToken
	}
	body, err := s.client.HGet(ctx, key, hash(secret)).Bytes()
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
	return t, nil
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

// hash is the stored form of a secret. The secrets are 256 random bits, so a fast
// hash suffices: nothing can be guessed from it.
func hash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}
