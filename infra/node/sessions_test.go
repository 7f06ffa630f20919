package node_test

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tierlink/tierlink/infra/node"
	"github.com/tierlink/tierlink/infra/node/nodetest"
	"github.com/tierlink/tierlink/infra/redistest"
	"github.com/tierlink/tierlink/infra/sessions"
	"github.com/tierlink/tierlink/infra/throttle"
)

// setCookie finds the cookie a response sets, by name.
func setCookie(t *testing.T, hdr http.Header, name string) *http.Cookie {
	t.Helper()
	for _, line := range hdr.Values("Set-Cookie") {
		c, err := http.ParseSetCookie(line)
		if err == nil && c.Name == name {
			return c
		}
	}
	t.Fatalf("no cookie %s set: %v", name, hdr.Values("Set-Cookie"))
	return nil
}

// from is a browser whose connections come from a loopback address of its own
// (all of 127/8 is loopback), for the limiter's per-address buckets.
func from(t *testing.T, ip string) *http.Client {
	t.Helper()
	c := browser(t)
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	c.Transport = &http.Transport{DialContext: d.DialContext}
	return c
}

// sse is an open /ui/events stream: its lines as they come, closed at its end.
type sse struct {
	lines  chan string
	cancel func()
}

// openStream opens a live-update stream and waits for its "ready".
func openStream(t *testing.T, c *http.Client, u string) (*sse, int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", u, nil)
	resp, err := c.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		cancel()
		return nil, resp.StatusCode
	}
	s := &sse{lines: make(chan string, 1024), cancel: func() { cancel(); resp.Body.Close() }}
	t.Cleanup(s.cancel)
	go func() {
		defer close(s.lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
	}()
	s.expect(t, "event: ready", 5*time.Second)
	return s, resp.StatusCode
}

// expect reads the stream until a line, failing if it ends or takes too long; it
// returns the lines read before.
func (s *sse) expect(t *testing.T, want string, within time.Duration) []string {
	t.Helper()
	var seen []string
	deadline := time.After(within)
	for {
		select {
		case line, ok := <-s.lines:
			if !ok {
				t.Fatalf("the stream ended before %q; it said %q", want, seen)
			}
			if line == want {
				return seen
			}
			seen = append(seen, line)
		case <-deadline:
			t.Fatalf("no %q within %v; the stream said %q", want, within, seen)
		}
	}
}

// quiet reads the stream through two keep-alive comments (each after 15 looks
// without a change) and fails if it says "changed" before them.
func (s *sse) quiet(t *testing.T) {
	t.Helper()
	for range 2 {
		for _, line := range s.expect(t, ": still here", 10*time.Second) {
			if line == "event: changed" {
				t.Fatal("the stream said changed for what its viewer does not see")
			}
		}
	}
}

// ended waits for the stream to end.
func (s *sse) ended(t *testing.T, within time.Duration) {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case _, ok := <-s.lines:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatalf("the stream is still open after %v", within)
		}
	}
}

// formToken reads the form token of a page.
func formToken(t *testing.T, html string) string {
	t.Helper()
	m := regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`).FindStringSubmatch(html)
	if m == nil {
		t.Fatalf("no form token on the page: %s", html)
	}
	return m[1]
}

// TestWebSessionLifecycle signs in: the cookie is an opaque id of a server-side
// session, not the token, HttpOnly and SameSite=Strict, Secure over TLS; pages and
// API answers are not cached. Signing out ends the session on the server (a copy
// of the cookie stops working), and revoking the token ends its sessions and
// closes their open live streams within seconds.
func TestWebSessionLifecycle(t *testing.T) {
	t.Parallel()
	r := nodetest.Start(t, redistest.Real(t), "node-session")
	base, ctx := r.Server.URL, context.Background()
	secret, tok, err := r.Node.Tokens().Create(ctx, ownCommunity, "sessions", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	b := browser(t)
	code, hdr, _ := signIn(t, b, base, secret)
	c := setCookie(t, hdr, "tl_session")
	if _, err := hex.DecodeString(c.Value); code != http.StatusSeeOther || len(c.Value) != 64 || err != nil || strings.Contains(c.Value, secret[3:]) ||
		!c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Secure || c.Path != "/ui/" || c.MaxAge != int(sessions.DefaultLifetime.Seconds()) {
		t.Fatalf("sign in: %d, cookie %+v", code, c)
	}
	if s := setCookie(t, hdr, "tl_signin"); s.MaxAge >= 0 {
		t.Fatalf("the sign-in cookie outlives the sign-in: %+v", s)
	}
	code, hdr, html := page(t, b, "GET", base+"/ui/inbox", nil, "en")
	if code != 200 || hdr.Get("Cache-Control") != "no-store" {
		t.Fatalf("inbox: %d, Cache-Control %q", code, hdr.Get("Cache-Control"))
	}
	if _, hdr, _ := page(t, b, "GET", base+"/ui/signin", nil, "en"); hdr.Get("Cache-Control") != "no-store" {
		t.Fatalf("sign-in page: Cache-Control %q", hdr.Get("Cache-Control"))
	}
	for path, want := range map[string]string{"/v1/needs/x": "no-store", "/v1/inboxes/community/huayang-01": "no-store", "/v1/openapi.json": ""} {
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("Authorization", "Bearer "+secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Cache-Control"); got != want {
			t.Errorf("%s: Cache-Control %q, want %q", path, got, want)
		}
	}
	u, _ := url.Parse(base + "/ui/")
	// The token itself is no session.
	forged := browser(t)
	forged.Jar.SetCookies(u, []*http.Cookie{{Name: "tl_session", Value: secret, Path: "/ui/"}})
	if code, hdr, _ := page(t, forged, "GET", base+"/ui/inbox", nil, "en"); code != http.StatusSeeOther || hdr.Get("Location") != "/ui/signin" {
		t.Fatalf("the token as a session cookie: %d → %s", code, hdr.Get("Location"))
	}
	// A copy of the cookie works until the person signs out, then never again.
	copied := browser(t)
	copied.Jar.SetCookies(u, []*http.Cookie{{Name: "tl_session", Value: c.Value, Path: "/ui/"}})
	if code, _, _ := page(t, copied, "GET", base+"/ui/inbox", nil, "en"); code != 200 {
		t.Fatalf("the session's cookie elsewhere: %d", code)
	}
	if code, hdr, _ := page(t, b, "POST", base+"/ui/signout", url.Values{"csrf": {formToken(t, html)}}, "en"); code != http.StatusSeeOther || hdr.Get("Location") != "/ui/signin" {
		t.Fatalf("sign out: %d → %s", code, hdr.Get("Location"))
	}
	for name, client := range map[string]*http.Client{"the browser": b, "a copy of its cookie": copied} {
		if code, hdr, _ := page(t, client, "GET", base+"/ui/inbox", nil, "en"); code != http.StatusSeeOther || hdr.Get("Location") != "/ui/signin" {
			t.Fatalf("%s after signing out: %d → %s", name, code, hdr.Get("Location"))
		}
	}
	// Revoking the token ends its sessions, and their open streams.
	live := browser(t)
	signIn(t, live, base, secret)
	stream, _ := openStream(t, live, base+"/ui/events?view=inbox")
	if err := r.Node.Tokens().Revoke(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	stream.expect(t, "event: signedout", 5*time.Second)
	stream.ended(t, time.Second)
	if code, hdr, _ := page(t, live, "GET", base+"/ui/inbox", nil, "en"); code != http.StatusSeeOther || hdr.Get("Location") != "/ui/signin" {
		t.Fatalf("the session of a revoked token: %d → %s", code, hdr.Get("Location"))
	}

	// Over TLS, and with --secure-cookies, the cookies are Secure.
	tls := httptest.NewTLSServer(r.Node.Handler())
	defer tls.Close()
	tb := tls.Client()
	tb.Jar, _ = cookiejar.New(nil)
	tb.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	code, hdr, _ = signIn(t, tb, tls.URL, r.Token(t, ownCommunity))
	if c := setCookie(t, hdr, "tl_session"); code != http.StatusSeeOther || !c.Secure {
		t.Fatalf("sign in over TLS: %d, cookie %+v", code, c)
	}
	sr := nodetest.StartWith(t, redistest.Real(t), "node-secure-cookies", 0, func(c *node.Config) { c.SecureCookies = true })
	if _, hdr, _ := page(t, browser(t), "GET", sr.Server.URL+"/ui/signin", nil, "en"); !setCookie(t, hdr, "tl_signin").Secure {
		t.Fatal("the sign-in cookie is not Secure with SecureCookies")
	}
	if _, hdr, _ := page(t, browser(t), "GET", sr.Server.URL+"/ui/lang?to=en&back=/ui/", nil, "en"); !setCookie(t, hdr, "tl_lang").Secure {
		t.Fatal("the language cookie is not Secure with SecureCookies")
	}
}

// TestWebSessionsTimeOut moves the sessions' clock by hand: a session unused for
// its idle timeout ends, one in use lives on until its lifetime ends.
func TestWebSessionsTimeOut(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }
	r := nodetest.StartWith(t, redistest.Real(t), "node-session-clock", 0, func(c *node.Config) {
		c.Sessions = sessions.Config{IdleTimeout: 30 * time.Minute, Lifetime: 12 * time.Hour, Clock: clock}
	})
	base := r.Server.URL
	inbox := func(b *http.Client) int {
		code, _, _ := page(t, b, "GET", base+"/ui/inbox", nil, "en")
		return code
	}
	idle := browser(t)
	signIn(t, idle, base, r.Token(t, ownCommunity))
	for _, step := range []time.Duration{29 * time.Minute, 29 * time.Minute} {
		advance(step)
		if code := inbox(idle); code != 200 {
			t.Fatalf("used %v after its last use: %d", step, code)
		}
	}
	advance(30 * time.Minute)
	if code := inbox(idle); code != http.StatusSeeOther {
		t.Fatalf("unused for its idle timeout: %d", code)
	}

	busy := browser(t)
	signIn(t, busy, base, r.Token(t, ownCommunity))
	var elapsed time.Duration
	for ; elapsed+25*time.Minute < 12*time.Hour; elapsed += 25 * time.Minute {
		advance(25 * time.Minute)
		if code := inbox(busy); code != 200 {
			t.Fatalf("in use, %v after sign-in: %d", elapsed+25*time.Minute, code)
		}
	}
	advance(12*time.Hour - elapsed)
	if code := inbox(busy); code != http.StatusSeeOther {
		t.Fatalf("in use, at the end of its lifetime: %d", code)
	}
}

// TestSignInRefusesForeignForms (login CSRF): a sign-in posted from another site,
// or without the sign-in form's token of its cookie, opens no session; the page's
// own form does. Signed-in forms posted from another site are refused too.
func TestSignInRefusesForeignForms(t *testing.T) {
	t.Parallel()
	r := nodetest.Start(t, redistest.Real(t), "node-login-csrf")
	base := r.Server.URL
	secret := r.Token(t, ownCommunity)
	post := func(c *http.Client, path string, form url.Values, headers ...string) (int, http.Header, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", base+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept-Language", "en")
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(body)
	}
	b := browser(t)
	_, _, html := page(t, b, "GET", base+"/ui/signin", nil, "en")
	tok := formToken(t, html)
	fresh := browser(t) // an attacker's page, in a browser that never read the form
	for name, tc := range map[string]struct {
		c       *http.Client
		form    url.Values
		headers []string
	}{
		"another site's origin":     {b, url.Values{"token": {secret}, "csrf": {tok}}, []string{"Origin", "http://evil.example"}},
		"an opaque origin":          {b, url.Values{"token": {secret}, "csrf": {tok}}, []string{"Origin", "null"}},
		"another site's referer":    {b, url.Values{"token": {secret}, "csrf": {tok}}, []string{"Referer", "http://evil.example/login.html"}},
		"same host, other port":     {b, url.Values{"token": {secret}, "csrf": {tok}}, []string{"Origin", "http://127.0.0.1:1"}},
		"no form token":             {b, url.Values{"token": {secret}}, nil},
		"a wrong form token":        {b, url.Values{"token": {secret}, "csrf": {strings.Repeat("0", 64)}}, nil},
		"no sign-in cookie":         {fresh, url.Values{"token": {secret}, "csrf": {tok}}, nil},
		"no cookie, no form token":  {fresh, url.Values{"token": {secret}}, nil},
		"another site, no anything": {fresh, url.Values{"token": {secret}}, []string{"Origin", "http://evil.example"}},
	} {
		code, hdr, html := post(tc.c, "/ui/signin", tc.form, tc.headers...)
		if code != http.StatusForbidden || !strings.Contains(html, "This sign-in form has expired") {
			t.Errorf("%s: %d", name, code)
		}
		for _, line := range hdr.Values("Set-Cookie") {
			if strings.HasPrefix(line, "tl_session=") {
				t.Errorf("%s: a session cookie was set: %s", name, line)
			}
		}
	}
	code, hdr, _ := post(b, "/ui/signin", url.Values{"token": {secret}, "csrf": {tok}}, "Origin", base)
	if code != http.StatusSeeOther || setCookie(t, hdr, "tl_session").Value == "" {
		t.Fatalf("the page's own form: %d", code)
	}
	// A signed-in form posted from another site is refused, its token notwithstanding.
	_, _, html = page(t, b, "GET", base+"/ui/inbox", nil, "en")
	if code, _, _ := post(b, "/ui/signout", url.Values{"csrf": {formToken(t, html)}}, "Origin", "http://evil.example"); code != http.StatusForbidden {
		t.Fatalf("a signed-in form from another site: %d", code)
	}
	if code, _, _ := page(t, b, "GET", base+"/ui/inbox", nil, "en"); code != 200 {
		t.Fatalf("the session after a foreign sign-out: %d", code)
	}
}

// TestFailedAuthenticationsAreLimited sends unknown tokens from one address: after
// the limiter's burst they are turned away with 429 and Retry-After before any
// look-up; a good token from another address still works, a token of the failed
// prefix from another address does not; sign-ins are limited the same way; the
// metric counts failures and refusals by surface.
func TestFailedAuthenticationsAreLimited(t *testing.T) {
	t.Parallel()
	const burst = 5
	r := nodetest.StartWith(t, redistest.Real(t), "node-auth-limit", 0, func(c *node.Config) {
		c.AuthLimit = throttle.Config{Burst: burst, Every: time.Minute}
	})
	base := r.Server.URL
	get := func(c *http.Client, secret string) (int, http.Header, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest("GET", base+"/v1/needs/x", nil)
		req.Header.Set("Authorization", "Bearer "+secret)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var p map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&p)
		return resp.StatusCode, resp.Header, p
	}
	attacker, other := from(t, "127.0.0.2"), from(t, "127.0.0.3")
	good := r.Token(t, ownDistrict)
	for i := range burst {
		if code, _, _ := get(attacker, fmt.Sprintf("tl_%064x", i)); code != http.StatusUnauthorized {
			t.Fatalf("unknown token %d: %d", i, code)
		}
	}
	for _, secret := range []string{fmt.Sprintf("tl_%064x", burst), "tl_" + strings.Repeat("f", 64), good} {
		code, hdr, p := get(attacker, secret)
		ra, err := strconv.Atoi(hdr.Get("Retry-After"))
		if code != http.StatusTooManyRequests || err != nil || ra < 1 || ra > 60 || !strings.HasSuffix(fmt.Sprint(p["type"]), "#too-many-requests") {
			t.Fatalf("after %d failures from one address: %d, Retry-After %q, %v", burst, code, hdr.Get("Retry-After"), p)
		}
	}
	if code, _, _ := get(other, good); code != http.StatusNotFound {
		t.Fatalf("a good token from another address: %d", code)
	}
	if code, _, _ := get(other, fmt.Sprintf("tl_%063x1", 0)); code != http.StatusTooManyRequests {
		t.Fatalf("the failed token prefix from another address: %d", code)
	}
	// Sign-ins, from an address of their own.
	web := from(t, "127.0.0.4")
	_, _, html := page(t, web, "GET", base+"/ui/signin", nil, "en")
	tok := formToken(t, html)
	for i := range burst + 1 {
		want := http.StatusUnauthorized
		if i == burst {
			want = http.StatusTooManyRequests
		}
		req, _ := http.NewRequest("POST", base+"/ui/signin", strings.NewReader(url.Values{"csrf": {tok}, "token": {fmt.Sprintf("tl_%08x%056d", i+1, 0)}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := web.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want || (want == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "") {
			t.Fatalf("sign-in %d: %d (Retry-After %q), want %d", i, resp.StatusCode, resp.Header.Get("Retry-After"), want)
		}
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`tierlink_auth_failures_total{outcome="failed",surface="api"} 5`,
		`tierlink_auth_failures_total{outcome="throttled",surface="api"} 4`,
		`tierlink_auth_failures_total{outcome="failed",surface="web"} 5`,
		`tierlink_auth_failures_total{outcome="throttled",surface="web"} 1`,
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestExpiredTokensAreRefusedLikeUnknownOnes: a token past its expiry gets the
// unknown token's answer from the API and the sign-in page; one before it works.
func TestExpiredTokensAreRefusedLikeUnknownOnes(t *testing.T) {
	t.Parallel()
	r := nodetest.Start(t, redistest.Real(t), "node-token-expiry")
	ctx, now := context.Background(), time.Now()
	expired, _, err := r.Node.Tokens().CreateUntil(ctx, ownDistrict, "expired", now.Add(-2*time.Hour), now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	live, _, err := r.Node.Tokens().CreateUntil(ctx, ownDistrict, "live", now, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	answer := func(secret string) (int, string) {
		req, _ := http.NewRequest("GET", r.Server.URL+"/v1/needs/x", nil)
		req.Header.Set("Authorization", "Bearer "+secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := answer(expired)
	unknownCode, unknownBody := answer("tl_" + strings.Repeat("a", 64))
	if code != http.StatusUnauthorized || code != unknownCode || body != unknownBody {
		t.Fatalf("an expired token: %d %s; an unknown one: %d %s", code, body, unknownCode, unknownBody)
	}
	if code, _ := answer(live); code != http.StatusNotFound {
		t.Fatalf("a token before its expiry: %d", code)
	}
	if code, _, html := signIn(t, browser(t), r.Server.URL, expired); code != http.StatusUnauthorized || !strings.Contains(html, "expired") {
		t.Fatalf("signing in with an expired token: %d", code)
	}
	if code, _, _ := signIn(t, browser(t), r.Server.URL, live); code != http.StatusSeeOther {
		t.Fatalf("signing in with a token before its expiry: %d", code)
	}
}

// TestLiveStreamsAreScopedToTheViewer opens the live streams of a provider and of
// a community centre: a referral of another provider in another community moves
// the district's log but says nothing to either; one to the provider's own offer
// in the centre's community says "changed" to both, with a count of the stream's
// own, not a log position. A principal may have four streams open at once.
func TestLiveStreamsAreScopedToTheViewer(t *testing.T) {
	t.Parallel()
	r := nodetest.StartWith(t, redistest.Real(t), "node-live-scope", 0, func(c *node.Config) { c.LiveInterval = 20 * time.Millisecond })
	base := r.Server.URL
	prov, centre := browser(t), browser(t)
	signIn(t, prov, base, r.Token(t, ownProvider))
	signIn(t, centre, base, r.Token(t, ownCommunity))
	ps, _ := openStream(t, prov, base+"/ui/events?view=referrals")
	cs, _ := openStream(t, centre, base+"/ui/events?view=inbox")

	r.Offer(t, "xinhua-02", "counselling", 1) // another provider's offer, another community
	r.Need(t, r.Register(t, "xinhua-02", "counselling")[0], nodetest.Referred)
	r.Settle(t)
	ps.quiet(t)
	cs.quiet(t)

	newFixture(t, r, false) // prov-a's offer proposed to a household of huayang-01
	r.Settle(t)
	for name, s := range map[string]*sse{"provider": ps, "centre": cs} {
		s.expect(t, "event: changed", 5*time.Second)
		if data := s.expect(t, "", time.Second); len(data) != 1 || data[0] != "data: 1" {
			t.Fatalf("the %s's change says %q, want its own count", name, data)
		}
	}

	// The cap: four streams a principal.
	extra := []*sse{ps}
	for range 3 {
		s, code := openStream(t, prov, base+"/ui/events?view=referrals")
		if code != http.StatusOK {
			t.Fatalf("stream %d: %d", len(extra)+1, code)
		}
		extra = append(extra, s)
	}
	if _, code := openStream(t, prov, base+"/ui/events?view=referrals"); code != http.StatusTooManyRequests {
		t.Fatalf("a fifth stream: %d", code)
	}
	if _, code := openStream(t, centre, base+"/ui/events?view=inbox"); code != http.StatusOK {
		t.Fatalf("another principal's second stream: %d", code)
	}
	extra[0].cancel()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, code := openStream(t, prov, base+"/ui/events?view=referrals"); code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a closed stream still counts against the cap")
		}
	}
}
