package node_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tierlink/tierlink/infra/node/nodetest"
	"github.com/tierlink/tierlink/infra/redistest"
	"github.com/tierlink/tierlink/projections"
)

// signIn signs a browser in with a token as the sign-in page does: it reads the
// page (which sets the sign-in cookie), then posts the form with its token.
func signIn(t *testing.T, c *http.Client, base, token string) (int, http.Header, string) {
	t.Helper()
	_, _, html := page(t, c, "GET", base+"/ui/signin", nil, "en")
	m := regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`).FindStringSubmatch(html)
	if m == nil {
		t.Fatalf("no form token on the sign-in page: %s", html)
	}
	return page(t, c, "POST", base+"/ui/signin", url.Values{"token": {token}, "csrf": {m[1]}}, "en")
}

// browser is a cookie-keeping client that does not follow redirects.
func browser(t *testing.T) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func page(t *testing.T, c *http.Client, method, u string, form url.Values, lang string) (int, http.Header, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, u, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if lang != "" {
		req.Header.Set("Accept-Language", lang)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// TestCentreAnswersInTheWebInbox signs a community centre in with its token, shows
// its inbox in both languages, refuses a form without its CSRF token, and takes an
// accept through the form; a provider is turned away from the inbox.
func TestCentreAnswersInTheWebInbox(t *testing.T) {
	t.Parallel()
	r := nodetest.Start(t, redistest.Real(t), "node-web")
	f := newFixture(t, r, false)
	b := browser(t)
	base := r.Server.URL
	if code, hdr, _ := page(t, b, "GET", base+"/ui/", nil, ""); code != http.StatusSeeOther || hdr.Get("Location") != "/ui/signin" {
		t.Fatalf("a visitor: %d → %s", code, hdr.Get("Location"))
	}
	if _, _, html := page(t, b, "GET", base+"/ui/signin", nil, "en-GB"); !strings.Contains(html, "Sign in") || !strings.Contains(html, `<label for="token">`) {
		t.Fatalf("sign-in page in English: %s", html)
	}
	if _, _, html := page(t, b, "GET", base+"/ui/signin", nil, ""); !strings.Contains(html, "登录") || !strings.Contains(html, `lang="zh-CN"`) {
		t.Fatalf("sign-in page by default: %s", html)
	}
	if code, _, html := signIn(t, b, base, "tl_nope"); code != 401 || !strings.Contains(html, "unknown, revoked or expired") {
		t.Fatalf("a bad token: %d", code)
	}
	code, hdr, _ := signIn(t, b, base, r.Token(t, ownCommunity))
	cookie := hdr.Get("Set-Cookie")
	if code != http.StatusSeeOther || !strings.Contains(cookie, "HttpOnly") || !strings.Contains(cookie, "SameSite=Strict") {
		t.Fatalf("sign in: %d, cookie %q", code, cookie)
	}
	code, _, html := page(t, b, "GET", base+"/ui/inbox", nil, "en")
	if code != 200 || !strings.Contains(html, f.referral) || !strings.Contains(html, "Accept") || !strings.Contains(html, "Answer by") {
		t.Fatalf("inbox: %d %s", code, html)
	}
	csrf := regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`).FindStringSubmatch(html)
	if csrf == nil {
		t.Fatal("no form token in the inbox")
	}
	before := r.Head(t)
	if code, _, _ := page(t, b, "POST", base+"/ui/referrals/"+f.referral+"/accept", url.Values{"csrf": {"forged"}}, "en"); code != http.StatusForbidden {
		t.Fatalf("a forged form: %d", code)
	}
	if after := r.Head(t); after != before {
		t.Fatalf("a forged form appended %d events", after-before)
	}
	code, hdr, _ = page(t, b, "POST", base+"/ui/referrals/"+f.referral+"/accept", url.Values{"csrf": {csrf[1]}}, "en")
	if code != http.StatusSeeOther || hdr.Get("Location") != "/ui/inbox?done=accept" {
		t.Fatalf("accept: %d → %s", code, hdr.Get("Location"))
	}
	r.Need(t, f.need, func(v projections.NeedView) bool { return v.Status == "accepted" })
	if _, _, html := page(t, b, "GET", base+"/ui/inbox?done=accept", nil, ""); !strings.Contains(html, "已接受转介") {
		t.Fatalf("the inbox after accepting, in Chinese: %s", html)
	}
	// The language switch keeps the person's choice and goes back only within the UI.
	if code, hdr, _ := page(t, b, "GET", base+"/ui/lang?to=en&back=//evil.example/", nil, ""); code != http.StatusSeeOther || hdr.Get("Location") != "/ui/" {
		t.Fatalf("language switch: %d → %s", code, hdr.Get("Location"))
	}
	if _, _, html := page(t, b, "GET", base+"/ui/inbox", nil, "zh-CN"); !strings.Contains(html, "Referrals awaiting your answer") {
		t.Fatalf("the chosen language did not stick: %s", html)
	}
	// A provider signed in has no inbox.
	p := browser(t)
	signIn(t, p, base, r.Token(t, ownProvider))
	if code, _, html := page(t, p, "GET", base+"/ui/inbox", nil, "en"); code != http.StatusForbidden || !strings.Contains(html, "centres") {
		t.Fatalf("a provider's inbox: %d %s", code, html)
	}
}

// TestProviderServesInTheWeb has a provider post an offer through its page, see the
// referral a centre accepted (under a pseudonym), and start and complete it.
func TestProviderServesInTheWeb(t *testing.T) {
	t.Parallel()
	r := nodetest.Start(t, redistest.Real(t), "node-web-provider")
	b := browser(t)
	base := r.Server.URL
	signIn(t, b, base, r.Token(t, ownProvider))
	code, _, html := page(t, b, "GET", base+"/ui/offers", nil, "en")
	csrf := regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`).FindStringSubmatch(html)
	if code != 200 || csrf == nil || !strings.Contains(html, "Counselling") {
		t.Fatalf("offers page: %d %s", code, html)
	}
	form := url.Values{"csrf": {csrf[1]}, "category": {"counselling"}, "capacity": {"2"}, "tier": {"community"}, "area": {"huayang-01"}}
	if code, hdr, _ := page(t, b, "POST", base+"/ui/offers", form, "en"); code != http.StatusSeeOther || hdr.Get("Location") != "/ui/offers?done=posted" {
		t.Fatalf("post: %d → %s", code, hdr.Get("Location"))
	}
	r.Settle(t)
	if _, _, html := page(t, b, "GET", base+"/ui/offers?done=posted", nil, "en"); !strings.Contains(html, "Offer posted.") || !strings.Contains(html, "2 in all") {
		t.Fatalf("offers after posting: %s", html)
	}
	f := newFixture(t, r, true) // a household proposed the offer, accepted by its centre
	_, _, html = page(t, b, "GET", base+"/ui/referrals", nil, "en")
	if !strings.Contains(html, f.referral) || strings.Contains(html, f.household) || !strings.Contains(html, "Start the service") {
		t.Fatalf("referrals page: %s", html)
	}
	for _, step := range []string{"start", "complete"} {
		code, hdr, _ := page(t, b, "POST", base+"/ui/referrals/"+f.referral+"/"+step, url.Values{"csrf": {csrf[1]}}, "en")
		if code != http.StatusSeeOther || hdr.Get("Location") != "/ui/referrals?done="+step {
			t.Fatalf("%s: %d → %s", step, code, hdr.Get("Location"))
		}
	}
	r.Need(t, f.need, func(v projections.NeedView) bool { return v.Status == "completed" })
}

// TestCentreRegistersAHouseholdInTheWeb fills in the assessment form: the score is
// computed as the form is filled in (the page's script asks /ui/hardship), the
// household is registered with its needs, and its case page shows them and who
// registered it.
func TestCentreRegistersAHouseholdInTheWeb(t *testing.T) {
	t.Parallel()
	r := nodetest.Start(t, redistest.Real(t), "node-web-register")
	b := browser(t)
	base := r.Server.URL
	signIn(t, b, base, r.Token(t, ownStreet))
	code, _, html := page(t, b, "GET", base+"/ui/households/new", nil, "en")
	if code != 200 || !strings.Contains(html, `value="huayang-01"`) || strings.Contains(html, `value="xinhua-01"`) || !strings.Contains(html, "Unavoidable spending") {
		t.Fatalf("the form lists the street's communities only: %d %s", code, html)
	}
	csrf := regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`).FindStringSubmatch(html)[1]
	code, _, js := page(t, b, "GET", base+"/ui/hardship?dim.income=3&dim.health=1&dim.household_structure=3&group=child_in_difficulty", nil, "en")
	if code != 200 || !strings.Contains(js, `"score":35`) {
		t.Fatalf("the score as the form is filled in: %d %s", code, js)
	}
	form := url.Values{"csrf": {csrf}, "community": {"huayang-01"}, "group": {"child_in_difficulty"},
		"dim.income": {"3"}, "dim.health": {"1"}, "dim.household_structure": {"3"},
		"need": {"counselling", "", "homework_tutoring", ""}, "urgency": {"high", "normal", "normal", "normal"}}
	code, hdr, _ := page(t, b, "POST", base+"/ui/households", form, "en")
	if code != http.StatusSeeOther || !strings.HasPrefix(hdr.Get("Location"), "/ui/households/") {
		t.Fatalf("register: %d → %s", code, hdr.Get("Location"))
	}
	r.Settle(t)
	code, _, html = page(t, b, "GET", base+hdr.Get("Location"), nil, "zh-CN")
	if code != 200 || !strings.Contains(html, "35") || !strings.Contains(html, "心理疏导") || !strings.Contains(html, "课业辅导") ||
		!strings.Contains(html, "家庭登记") || !strings.Contains(html, "街道中心 华阳路街道") || !strings.Contains(html, "困境儿童") ||
		strings.Contains(html, "household.registered") || strings.Contains(html, "system:matcher") {
		t.Fatalf("case page: %d %s", code, html)
	}
}

// TestOperatorDashboard shows the district's indicators, its chart and the supply
// gap as a heat table; a centre sees its own node; a provider is turned away.
func TestOperatorDashboard(t *testing.T) {
	t.Parallel()
	r := nodetest.Start(t, redistest.Real(t), "node-web-dashboard")
	for i := 0; i < 3; i++ {
		r.Register(t, "huayang-01", "respite_care") // nobody offers it: the gap
	}
	r.Offer(t, "huayang-01", "counselling", 1)
	r.Register(t, "huayang-01", "counselling")
	r.Settle(t)
	b := browser(t)
	base := r.Server.URL
	signIn(t, b, base, r.Token(t, operator))
	if code, hdr, _ := page(t, b, "GET", base+"/ui/", nil, "en"); code != http.StatusSeeOther || hdr.Get("Location") != "/ui/dashboard" {
		t.Fatalf("an operator's home: %d → %s", code, hdr.Get("Location"))
	}
	code, _, html := page(t, b, "GET", base+"/ui/dashboard", nil, "en")
	if code != 200 || !strings.Contains(html, "<svg") || !strings.Contains(html, `class="bar-demand"`) || !strings.Contains(html, "Supply gap") || !strings.Contains(html, `class="heat-4">3</td>`) ||
		!strings.Contains(html, "Accessibility") || !strings.Contains(html, "Recent decisions") || !strings.Contains(html, "proposed an offer at the community tier") ||
		!strings.Contains(html, "waitlisted: no offer with room at any tier") || !strings.Contains(html, "This period, by service") || !strings.Contains(html, "Respite care for family carers") {
		t.Fatalf("dashboard: %d %s", code, html)
	}
	if code, _, html := page(t, b, "GET", base+"/ui/dashboard?period=week", nil, "zh-CN"); code != 200 || !strings.Contains(html, "可及率") ||
		!strings.Contains(html, "进入待匹配：各层级均暂无可用资源") || strings.Contains(html, "no_supply_at_any_tier") ||
		!strings.Contains(html, "华阳路第一社区") || !strings.Contains(html, "华阳路街道") {
		t.Fatalf("weekly dashboard: %d", code)
	}
	c := browser(t)
	signIn(t, c, base, r.Token(t, ownStreet))
	if code, _, html := page(t, c, "GET", base+"/ui/dashboard", nil, "en"); code != 200 || !strings.Contains(html, "street Huayang Road Street") {
		t.Fatalf("a street centre's dashboard: %d %s", code, html)
	}
	p := browser(t)
	signIn(t, p, base, r.Token(t, ownProvider))
	if code, _, _ := page(t, p, "GET", base+"/ui/dashboard", nil, "en"); code != http.StatusForbidden {
		t.Fatalf("a provider's dashboard: %d", code)
	}
}

// TestPagesUpdateLive opens the event stream of a signed-in centre's inbox: when a
// referral comes into it, the stream says it changed.
func TestPagesUpdateLive(t *testing.T) {
	t.Parallel()
	r := nodetest.Start(t, redistest.Real(t), "node-web-live")
	b := browser(t)
	base := r.Server.URL
	signIn(t, b, base, r.Token(t, ownCommunity))
	if _, _, html := page(t, b, "GET", base+"/ui/inbox", nil, "en"); !strings.Contains(html, "data-live") || !strings.Contains(html, "/ui/static/live.js") {
		t.Fatalf("the inbox does not update itself: %s", html)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/ui/events", nil)
	resp, err := b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %s", resp.Header.Get("Content-Type"))
	}
	lines := bufio.NewScanner(resp.Body)
	next := func(want string) {
		t.Helper()
		for lines.Scan() {
			if lines.Text() == want {
				return
			}
		}
		t.Fatalf("the stream ended before %q: %v", want, lines.Err())
	}
	next("event: ready")
	r.Offer(t, "huayang-01", "counselling", 1)
	r.Register(t, "huayang-01", "counselling")
	next("event: changed")
}
