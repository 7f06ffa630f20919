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
	"strings"
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
	// TrustedProxies are the proxies in front of tierlink (a TLS proxy, a load
	// balancer). A request that comes from one of them is keyed by the address
	// X-Forwarded-For names last that is not itself a trusted proxy; without them
	// (the default) the header is not read, since anyone can write it, and behind a
	// proxy every client would share the proxy's bucket.
	TrustedProxies []netip.Prefix
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
	wait := g.l.wait(g.l.keysOf(r, secret))
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
	g.l.failed(g.l.keysOf(r, secret))
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
func (l *Limiter) keysOf(r *http.Request, secret string) []string {
	keys := []string{"addr:" + l.clientAddress(r)}
	if secret != "" {
		keys = append(keys, "prefix:"+secret[:min(len(secret), prefixLength)])
	}
	return keys
}

// clientAddress is the address a request came from: its peer's, or, when the
// peer is a trusted proxy, the last address of X-Forwarded-For that is not a
// trusted proxy (the addresses before it were written by the client, and may be
// anything).
func (l *Limiter) clientAddress(r *http.Request) string {
	peer := parseAddr(r.RemoteAddr)
	if !peer.IsValid() {
		return r.RemoteAddr
	}
	if l.trusted(peer) {
		hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			hop := parseAddr(strings.TrimSpace(hops[i]))
			if !hop.IsValid() {
				break // a hop a trusted proxy would not write: keep the last one known
			}
			peer = hop
			if !l.trusted(hop) {
				break
			}
		}
	}
	if peer.Is6() {
		if p, err := peer.Prefix(64); err == nil {
			return p.String()
		}
	}
	return peer.String()
}

// trusted says whether an address is one of the trusted proxies.
func (l *Limiter) trusted(a netip.Addr) bool {
	for _, p := range l.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parseAddr reads an address with or without its port ("" or junk: not valid).
func parseAddr(s string) netip.Addr {
	host, _, err := net.SplitHostPort(s)
	if err != nil {
		host = s
	}
	a, err := netip.ParseAddr(strings.Trim(host, "[]"))
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
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
