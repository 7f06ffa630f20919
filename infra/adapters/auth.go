package adapters

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/httpapi"
	"github.com/tierlink/tierlink/infra/tokens"
)

// tokenCacheTTL is how long a node trusts a token check: a revoked token stops
// working within it. maxCachedTokens bounds the cache (it starts afresh when full).
const (
	tokenCacheTTL   = 2 * time.Second
	maxCachedTokens = 10_000
)

// Authenticator adapts the tokens store to httpapi.Authenticator, remembering each
// token's check for tokenCacheTTL (a Redis read per request otherwise).
type Authenticator struct {
	store *tokens.Store
	mu    *sync.Mutex
	known map[string]cachedToken
}

// NewAuthenticator returns an Authenticator over the tokens store, its cache empty.
func NewAuthenticator(store *tokens.Store) Authenticator {
	return Authenticator{store: store, mu: &sync.Mutex{}, known: map[string]cachedToken{}}
}

type cachedToken struct {
	token tokens.Token
	at    time.Time
}

// Authenticate returns the principal and the token id of a bearer token's secret.
func (a Authenticator) Authenticate(ctx context.Context, secret string) (domain.Principal, string, error) {
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
