// Package throttle slows down the guessing of credentials: it counts failed
// authentications per client address and per token prefix, each in a token
// bucket (golang.org/x/time/rate), and turns away further attempts from a key
// whose bucket is empty until it refills, before any credential is looked up.
package throttle

import (
	"math"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Defaults of Config.
const (
	DefaultBurst   = 10
	DefaultEvery   = 6 * time.Second
	DefaultMaxKeys = 100_000
	// prefixLength is how much of a secret keys its bucket: "tl_" and 8 hex digits.
	prefixLength = 11
)

// Observer counts failed and refused authentications; metrics implement it.
type Observer interface {
	// AuthFailure counts one attempt on a surface ("api", "web"): outcome "failed"
	// for a credential that did not authenticate, "throttled" for one turned away.
	AuthFailure(surface, outcome string)
}

// Config tunes a Limiter; zero values take the defaults.
type Config struct {
	// Burst is how many failures a key may have in a row before it is turned away.
	Burst int
	// Every is how long a key waits for each further failure it is allowed.
	Every time.Duration
	// MaxKeys bounds how many keys are remembered: past it, keys whose bucket is
	// full again are forgotten, and if none is, all are.
	MaxKeys int
	// Clock gives the time (default time.Now).
	Clock func() time.Time
	// Observer counts the outcomes (optional).
	Observer Observer
}

// Limiter holds the buckets of failed authentications; it is safe for concurrent use.
type Limiter struct {
	cfg  Config
	mu   sync.Mutex
	keys map[string]*rate.Limiter
}

// New returns a limiter with the defaults filled in.
func New(cfg Config) *Limiter {
	if cfg.Burst <= 0 {
		cfg.Burst = DefaultBurst
	}
	if cfg.Every <= 0 {
		cfg.Every = DefaultEvery
	}
	if cfg.MaxKeys <= 0 {
		cfg.MaxKeys = DefaultMaxKeys
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	return &Limiter{cfg: cfg, keys: map[string]*rate.Limiter{}}
}

// Gate is a limiter seen from one surface (the API, the web sign-in), which its
// counts are labelled with; all gates of a limiter share its buckets.
type Gate struct {
	l       *Limiter
	surface string
}

// For returns the gate of a surface.
func (l *Limiter) For(surface string) Gate { return Gate{l: l, surface: surface} }

// Wait returns how long a request presenting a secret must wait before it may try
// to authenticate (0: it may now); a wait is counted as throttled.
func (g Gate) Wait(r *http.Request, secret string) time.Duration {
	if g.l == nil {
		return 0
	}
	wait := g.l.wait(keysOf(r, secret))
	if wait > 0 && g.l.cfg.Observer != nil {
		g.l.cfg.Observer.AuthFailure(g.surface, "throttled")
	}
	return wait
}

// Failed counts a failed authentication of a request presenting a secret.
func (g Gate) Failed(r *http.Request, secret string) {
	if g.l == nil {
		return
	}
	g.l.failed(keysOf(r, secret))
	if g.l.cfg.Observer != nil {
		g.l.cfg.Observer.AuthFailure(g.surface, "failed")
	}
}

// RetryAfter is a wait in whole seconds, rounded up, for a Retry-After header.
func RetryAfter(wait time.Duration) int {
	return max(1, int(math.Ceil(wait.Seconds())))
}

// keysOf returns the keys of an attempt: the client's address (an IPv6 client's
// /64, which one host usually holds whole) and the secret's prefix.
func keysOf(r *http.Request, secret string) []string {
	keys := []string{"addr:" + clientAddress(r)}
	if secret != "" {
		keys = append(keys, "prefix:"+secret[:min(len(secret), prefixLength)])
	}
	return keys
}

// clientAddress is the address a request came from. Forwarding headers are not
// read: anyone can write them.
func clientAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	a = a.Unmap()
	if a.Is6() {
		if p, err := a.Prefix(64); err == nil {
			return p.String()
		}
	}
	return a.String()
}

func (l *Limiter) wait(keys []string) time.Duration {
	now := l.cfg.Clock()
	l.mu.Lock()
	defer l.mu.Unlock()
	var wait time.Duration
	for _, k := range keys {
		b, ok := l.keys[k]
		if !ok {
			continue
		}
		if tokens := b.TokensAt(now); tokens < 1 {
			wait = max(wait, time.Duration((1-tokens)*float64(l.cfg.Every)))
		}
	}
	return wait
}

func (l *Limiter) failed(keys []string) {
	now := l.cfg.Clock()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range keys {
		b, ok := l.keys[k]
		if !ok {
			if len(l.keys) >= l.cfg.MaxKeys {
				l.forget(now)
			}
			b = rate.NewLimiter(rate.Every(l.cfg.Every), l.cfg.Burst)
			l.keys[k] = b
		}
		b.AllowN(now, 1) // an empty bucket stays empty
	}
}

// forget drops the keys whose bucket is full again, and all of them if that
// frees too little: an attacker with that many addresses is not slowed by
// this limiter anyway.
func (l *Limiter) forget(now time.Time) {
	for k, b := range l.keys {
		if b.TokensAt(now) >= float64(l.cfg.Burst) {
			delete(l.keys, k)
		}
	}
	if len(l.keys) > l.cfg.MaxKeys/2 {
		clear(l.keys)
	}
}
