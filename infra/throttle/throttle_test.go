package throttle_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tierlink/tierlink/infra/throttle"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

type counts struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counts) AuthFailure(surface, outcome string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[surface+"/"+outcome]++
}

// TestFailuresEmptyTheBucketsOfAnAddressAndAPrefix lets Burst failures from an
// address through, then turns it away with a wait that shrinks as time passes;
// another address is not slowed, unless it tries the same token prefix; the
// counts are by surface and outcome.
func TestFailuresEmptyTheBucketsOfAnAddressAndAPrefix(t *testing.T) {
	c := &clock{t: time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)}
	obs := &counts{n: map[string]int{}}
	l := throttle.New(throttle.Config{Burst: 3, Every: 10 * time.Second, Clock: c.now, Observer: obs})
	api, web := l.For("api"), l.For("web")
	a := httptest.NewRequest("GET", "/v1/x", nil)
	a.RemoteAddr = "192.0.2.1:5000"
	b := httptest.NewRequest("GET", "/v1/x", nil)
	b.RemoteAddr = "192.0.2.2:6000"
	secrets := []string{"tl_aaaaaaaa1", "tl_bbbbbbbb2", "tl_cccccccc3"}
	for i, s := range secrets {
		if w := api.Wait(a, s); w != 0 {
			t.Fatalf("failure %d turned away: %v", i, w)
		}
		api.Failed(a, s)
	}
	w := web.Wait(a, "tl_dddddddd4") // the buckets are shared by the surfaces
	if w != 10*time.Second {
		t.Fatalf("after 3 failures: wait %v, want 10s", w)
	}
	if throttle.RetryAfter(w) != 10 || throttle.RetryAfter(time.Millisecond) != 1 {
		t.Fatalf("Retry-After of %v: %d", w, throttle.RetryAfter(w))
	}
	if w := api.Wait(b, "tl_dddddddd4"); w != 0 {
		t.Fatalf("another address is slowed: %v", w)
	}
	if w := api.Wait(b, secrets[0]); w != 0 { // its prefix failed once only
		t.Fatalf("a prefix that failed once is slowed: %v", w)
	}
	for range 3 {
		api.Failed(b, "tl_eeeeeeee5")
	}
	c2 := httptest.NewRequest("GET", "/", nil)
	c2.RemoteAddr = "198.51.100.7:1"
	if w := api.Wait(c2, "tl_eeeeeeee5ffff"); w == 0 {
		t.Fatal("a prefix that failed 3 times is not slowed from another address")
	}
	c.t = c.t.Add(4 * time.Second)
	if w := api.Wait(a, ""); w != 6*time.Second {
		t.Fatalf("4 s later: wait %v, want 6s", w)
	}
	c.t = c.t.Add(6 * time.Second)
	if w := api.Wait(a, ""); w != 0 {
		t.Fatalf("once a failure is allowed again: wait %v", w)
	}
	if got := obs.n; got["api/failed"] != 6 || got["web/throttled"] != 1 || got["api/throttled"] != 2 {
		t.Fatalf("counts %v", got)
	}
}

// TestIPv6ClientsAreKeyedByTheirSlash64 counts the addresses of one /64 together.
func TestIPv6ClientsAreKeyedByTheirSlash64(t *testing.T) {
	l := throttle.New(throttle.Config{Burst: 1, Every: time.Minute})
	g := l.For("api")
	a := httptest.NewRequest("GET", "/", nil)
	a.RemoteAddr = "[2001:db8:1:2::1]:443"
	b := httptest.NewRequest("GET", "/", nil)
	b.RemoteAddr = "[2001:db8:1:2:ffff::9]:443"
	other := httptest.NewRequest("GET", "/", nil)
	other.RemoteAddr = "[2001:db8:1:3::1]:443"
	g.Failed(a, "")
	if g.Wait(b, "") == 0 || g.Wait(other, "") != 0 {
		t.Fatal("IPv6 addresses are not keyed by their /64")
	}
}

// TestKeysAreBounded forgets recovered keys, and all keys when none has recovered.
func TestKeysAreBounded(t *testing.T) {
	c := &clock{t: time.Now()}
	l := throttle.New(throttle.Config{Burst: 1, Every: time.Minute, MaxKeys: 4, Clock: c.now})
	g := l.For("api")
	r := httptest.NewRequest("GET", "/", nil)
	for i := range 10 {
		r.RemoteAddr = "192.0.2." + string(rune('0'+i)) + ":1"
		g.Failed(r, "")
	}
	r.RemoteAddr = "192.0.2.9:1"
	if g.Wait(r, "") == 0 {
		t.Fatal("the latest key was forgotten")
	}
}

// TestClientsBehindAProxyHaveBucketsOfTheirOwn keys failures by the client a
// trusted proxy names, not by the proxy: behind the TLS proxy the README asks for,
// every client shared the proxy's bucket, so that a few failed sign-ins anywhere
// turned everyone away (valid tokens too). A client that is not a trusted proxy
// cannot choose its key by writing X-Forwarded-For, nor can one behind the proxy
// by writing the addresses before the one the proxy appends.
func TestClientsBehindAProxyHaveBucketsOfTheirOwn(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	type from struct{ peer, forwarded string }
	cases := []struct {
		name         string
		trusted      []netip.Prefix
		guilty       from // fails Burst times
		other        from // then tries once
		otherBlocked bool
	}{
		{"no proxy trusted: two clients", nil, from{"192.0.2.1:1", ""}, from{"192.0.2.2:1", ""}, false},
		{"no proxy trusted: the header is not read", nil, from{"192.0.2.1:1", "198.51.100.1"}, from{"192.0.2.1:2", "198.51.100.2"}, true},
		{"behind the proxy: two clients", proxies, from{"10.0.0.5:1", "198.51.100.1"}, from{"10.0.0.5:2", "198.51.100.2"}, false},
		{"behind the proxy: one client", proxies, from{"10.0.0.5:1", "198.51.100.1"}, from{"10.0.0.6:2", "198.51.100.1"}, true},
		{"behind two proxies", proxies, from{"10.0.0.5:1", "198.51.100.1, 10.1.1.1"}, from{"10.0.0.5:2", "198.51.100.2, 10.1.1.1"}, false},
		{"a client's own hops are not its key", proxies, from{"10.0.0.5:1", "203.0.113.7, 198.51.100.1"}, from{"10.0.0.5:2", "203.0.113.8, 198.51.100.1"}, true},
		{"an untrusted peer cannot pose as behind the proxy", proxies, from{"192.0.2.1:1", "198.51.100.1"}, from{"192.0.2.1:2", "198.51.100.2"}, true},
		{"IPv6 behind the proxy", proxies, from{"[fd00::1]:1", "2001:db8:1::1"}, from{"[fd00::1]:2", "2001:db8:2::1"}, false},
		{"an IPv6 client's /64", proxies, from{"[fd00::1]:1", "2001:db8:1::1"}, from{"[fd00::1]:2", "2001:db8:1::2"}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := throttle.New(throttle.Config{Burst: 2, Every: time.Minute, TrustedProxies: c.trusted}).For("api")
			req := func(f from) *http.Request {
				r := httptest.NewRequest("GET", "/v1/x", nil)
				r.RemoteAddr = f.peer
				if f.forwarded != "" {
					r.Header.Set("X-Forwarded-For", f.forwarded)
				}
				return r
			}
			for i := range 2 {
				l.Failed(req(c.guilty), "tl_guilty"+strconv.Itoa(i)) // a new prefix each time
			}
			if w := l.Wait(req(c.guilty), "tl_another"); w == 0 {
				t.Fatal("the client that failed is not turned away")
			}
			if w := l.Wait(req(c.other), "tl_valid00"); (w > 0) != c.otherBlocked {
				t.Fatalf("the other request waits %v, want turned away: %v", w, c.otherBlocked)
			}
		})
	}
}
