package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tierlink/tierlink/infra/node"
	"github.com/tierlink/tierlink/infra/node/nodetest"
	"github.com/tierlink/tierlink/infra/redistest"
)

// artifacts is where the browser test keeps its screenshots (TIERLINK_ARTIFACTS,
// default artifacts/ at the repository's root).
func artifacts(t *testing.T) string {
	dir := os.Getenv("TIERLINK_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("..", "..", "artifacts")
	}
	dir = filepath.Join(dir, "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// newBrowser starts a headless Chromium of its own (its own cookies), phone-sized.
func newBrowser(t *testing.T, exe string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox,
		chromedp.WindowSize(390, 844), chromedp.Flag("lang", "en-US"))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	ctx, cancelTimeout := context.WithTimeout(ctx, 120*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	return ctx
}

// settled waits until a page the browser navigated to has loaded and a condition
// holds on it (a poll started during the navigation is cut off: it is tried again).
func settled(t *testing.T, ctx context.Context, cond string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.readyState === "complete" && (`+cond+`)`))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the page did not settle on %s: %v", cond, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// shoot keeps a screenshot of the page in both languages.
func shoot(t *testing.T, ctx context.Context, base, path, name string) {
	t.Helper()
	dir := artifacts(t)
	for _, lang := range []string{"zh-CN", "en"} {
		err := chromedp.Do(ctx, chromedp.Navigate(base+"/ui/lang?to="+lang+"&back="+path), chromedp.WaitVisible(chromedp.CSS("main")))
		var png []byte
		if err == nil {
			png, err = chromedp.Run(ctx, chromedp.FullScreenshot(100))
		}
		if err != nil {
			t.Fatalf("screenshot %s (%s): %v", name, lang, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+"."+lang+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBrowserJourney runs each user's main journey in a real browser against a real
// tierlink on a real Redis: a centre registers a household and its needs, a
// provider posts an offer, the referral appears live in the centre's inbox, the
// centre accepts, the provider serves and completes, and the operator's dashboard
// shows the obtainment rate move. Screenshots of each page, zh and en, are kept.
func TestBrowserJourney(t *testing.T) {
	t.Parallel()
	exe, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("TIERLINK_REQUIRE_BROWSER") != "" {
			t.Fatalf("no chromium on this machine (apt-get install chromium): %v", err)
		}
		t.Skip("no chromium on this machine: .ci/run installs it")
	}
	r := nodetest.Start(t, redistest.Real(t), "node-browser")
	base := r.Server.URL
	do := func(ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func(ctx context.Context, sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	signIn := func(ctx context.Context, token string) {
		t.Helper()
		do(ctx, "sign in",
			chromedp.Navigate(base+"/ui/lang?to=en&back=/ui/signin"),
			chromedp.WaitVisible(chromedp.CSS("#token")),
			chromedp.SendKeys(chromedp.CSS("#token"), token),
			chromedp.Submit(chromedp.CSS("#token")))
		settled(t, ctx, `location.pathname !== "/ui/signin"`)
	}
	centre, provider, op := newBrowser(t, exe), newBrowser(t, exe), newBrowser(t, exe)
	signIn(centre, r.Token(t, ownDistrict)) // the waiting need is proposed at the district tier
	signIn(provider, r.Token(t, ownProvider))
	signIn(op, r.Token(t, operator))

	// The operator's dashboard before: nothing served.
	do(op, "dashboard", chromedp.Navigate(base+"/ui/dashboard"), chromedp.WaitVisible(chromedp.CSS(".kpis")))
	before := text(op, ".kpis li:nth-child(2) strong")
	// The centre fills in the assessment: the score shows as it is filled in.
	do(centre, "the assessment form",
		chromedp.Navigate(base+"/ui/households/new"),
		chromedp.WaitVisible(chromedp.CSS("#community")),
		chromedp.Click(chromedp.CSS(`input[value="child_in_difficulty"]`)),
		chromedp.SetValue(chromedp.CSS("#dim-income"), "3"),
		chromedp.SetValue(chromedp.CSS("#dim-household_structure"), "3"),
		chromedp.SetValue(chromedp.CSS("#need-0"), "counselling"))
	if _, err := chromedp.Run(centre, chromedp.Evaluate[bool](`document.getElementById("household").dispatchEvent(new Event("change"))`)); err != nil {
		t.Fatal(err)
	}
	score, err := chromedp.Run(centre, chromedp.Poll[string](`document.getElementById("score").value !== "0" && document.getElementById("score").value`,
		chromedp.WithPollingTimeout(10*time.Second)))
	if err != nil || score == "" {
		t.Fatalf("the score did not show as the form was filled in: %q %v", score, err)
	}
	shoot(t, centre, base, "/ui/households/new", "centre-register")
	do(centre, "register",
		chromedp.Navigate(base+"/ui/households/new"),
		chromedp.WaitVisible(chromedp.CSS("#need-0")),
		chromedp.SetValue(chromedp.CSS("#need-0"), "counselling"),
		chromedp.Submit(chromedp.CSS("#need-0")))
	settled(t, centre, `location.pathname.startsWith("/ui/households/") && location.pathname !== "/ui/households/new"`)
	casePath, err := chromedp.Run(centre, chromedp.Evaluate[string](`location.pathname`))
	if err != nil {
		t.Fatal(err)
	}
	shoot(t, centre, base, casePath, "centre-case")
	// The centre keeps its inbox open: the referral will appear there by itself.
	do(centre, "inbox", chromedp.Navigate(base+"/ui/inbox"), chromedp.WaitVisible(chromedp.CSS("main[data-live]")))
	// The provider posts an offer.
	do(provider, "post an offer",
		chromedp.Navigate(base+"/ui/offers"),
		chromedp.WaitVisible(chromedp.CSS("#category")),
		chromedp.SetValue(chromedp.CSS("#category"), "counselling"),
		chromedp.SetValue(chromedp.CSS("#area"), "huayang-01"), // the area picked by name; its tier follows
		chromedp.Submit(chromedp.CSS("#area")))
	settled(t, provider, `location.search.includes("done=posted")`)
	// The referral appears live in the centre's inbox, without a reload.
	do(centre, "the referral appearing live in the inbox", chromedp.WaitVisible(chromedp.CSS(".referral")))
	shoot(t, centre, base, "/ui/inbox", "centre-inbox")
	do(centre, "accept",
		chromedp.Navigate(base+"/ui/inbox"),
		chromedp.WaitVisible(chromedp.CSS(`form[action$="/accept"] button`)),
		chromedp.Click(chromedp.CSS(`form[action$="/accept"] button`)))
	settled(t, centre, `location.search.includes("done=accept")`)
	shoot(t, provider, base, "/ui/offers", "provider-offers")
	// The provider serves and completes.
	for _, step := range []string{"start", "complete"} {
		do(provider, step,
			chromedp.Navigate(base+"/ui/referrals"),
			chromedp.WaitVisible(chromedp.CSS(`form[action$="/`+step+`"] button`)),
			chromedp.Click(chromedp.CSS(`form[action$="/`+step+`"] button`)))
		settled(t, provider, `location.search.includes("done=`+step+`")`)
	}
	shoot(t, provider, base, "/ui/referrals", "provider-referrals")
	// The operator's dashboard shows the obtainment rate moved.
	r.Settle(t)
	do(op, "dashboard", chromedp.Navigate(base+"/ui/dashboard"), chromedp.WaitVisible(chromedp.CSS(".kpis")))
	after := text(op, ".kpis li:nth-child(2) strong")
	// Before any need the rate has no denominator: the dashboard says "—", not 0 %.
	if (before != "—" && before != "0%") || after == "0%" || !strings.HasSuffix(after, "%") {
		t.Fatalf("obtainment rate on the dashboard: %q before, %q after", before, after)
	}
	shoot(t, op, base, "/ui/dashboard", "operator-dashboard")
	shoot(t, op, base, "/ui/signin", "signin")
}

// pageCheck is what the browser reads of a page: its width against the viewport's,
// and the texts that are raw message keys (a key with no text in the language).
type pageCheck struct {
	Scroll int      `json:"scroll"`
	Inner  int      `json:"inner"`
	Keys   []string `json:"keys"`
}

// checkPageJS measures a page: the document's width against the viewport's, and
// every text node, title and label a person reads that looks like a message key
// ("dashboard.title", "step.held").
const checkPageJS = `(() => {
  const key = /^[a-z][a-z0-9_]*(\.[a-z0-9_-]+)+$/;
  const keys = [];
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walk.nextNode(); n; n = walk.nextNode()) {
    const p = n.parentElement;
    if (p && (p.closest("script") || p.closest("style"))) continue;
    const s = n.textContent.trim();
    if (key.test(s)) keys.push(s);
  }
  for (const part of document.title.split(" · ")) if (key.test(part.trim())) keys.push("title: " + part.trim());
  for (const el of document.querySelectorAll("[aria-label],[title],[placeholder]")) {
    for (const a of ["aria-label", "title", "placeholder"]) {
      const v = (el.getAttribute(a) || "").trim();
      if (key.test(v)) keys.push(a + ": " + v);
    }
  }
  return JSON.stringify({scroll: document.documentElement.scrollWidth, inner: window.innerWidth, keys: keys});
})()`

// TestBrowserPagesFitAndSpeak opens every page a role can open (a centre's inbox,
// case, household form, dashboard, digest and notifications, a provider's offers,
// referrals, notifications and a subscription's deliveries and dead letters, the
// operator's dashboard, digest and notifications,
// the sign-in page) at a desktop (1280 px) and a phone
// (390 px) width, in zh-CN and en, and checks that no page is wider than the
// viewport and no text is a raw message key. Screenshots of each are kept.
func TestBrowserPagesFitAndSpeak(t *testing.T) {
	t.Parallel()
	exe, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("TIERLINK_REQUIRE_BROWSER") != "" {
			t.Fatalf("no chromium on this machine (apt-get install chromium): %v", err)
		}
		t.Skip("no chromium on this machine: .ci/run installs it")
	}
	r := nodetest.StartWith(t, redistest.Real(t), "node-browser-pages", 0, func(c *node.Config) { c.WebhookAllowHTTP = true })
	base := r.Server.URL
	// The provider subscribes twice: a receiver that takes its notifications and
	// one that refuses them (410), whose notifications are dead letters.
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, q *http.Request) {
		if strings.HasSuffix(q.URL.Path, "/gone") {
			http.Error(w, "this endpoint is gone", http.StatusGone)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rcv.Close()
	var refused string
	for _, path := range []string{"/ok", "/gone"} {
		body := `{"district":"changning","url":"` + rcv.URL + path + `","kinds":["referral.proposed","referral.accepted","offer.exhausted"]}`
		code, _, out := r.Call(t, "POST", "/v1/subscriptions", body, "Authorization", "Bearer "+r.Token(t, ownProvider))
		if code != http.StatusCreated {
			t.Fatalf("subscribe: %d %v", code, out)
		}
		refused = subscriptionID(out)
	}
	f := newFixture(t, r, false)        // a referral awaiting the community centre's answer
	newFixture(t, r, true)              // one accepted: the provider's referrals list it
	entitled := entitledHousehold(t, r) // a case with programmes to apply for, one applied for
	r.Settle(t)
	for deadline := time.Now().Add(10 * time.Second); ; {
		code, _, out := r.Call(t, "GET", "/v1/subscriptions/"+refused+"/dead-letters", "", "Authorization", "Bearer "+r.Token(t, ownProvider))
		if items, _ := out["items"].([]any); code == http.StatusOK && len(items) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no dead letters after 10 s: %d %v", code, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	signIn := func(ctx context.Context, token string) {
		t.Helper()
		err := chromedp.Do(ctx, chromedp.Navigate(base+"/ui/lang?to=en&back=/ui/signin"),
			chromedp.WaitVisible(chromedp.CSS("#token")),
			chromedp.SendKeys(chromedp.CSS("#token"), token),
			chromedp.Submit(chromedp.CSS("#token")))
		if err != nil {
			t.Fatalf("sign in: %v", err)
		}
		settled(t, ctx, `location.pathname !== "/ui/signin"`)
	}
	centre, provider, op, visitor := newBrowser(t, exe), newBrowser(t, exe), newBrowser(t, exe), newBrowser(t, exe)
	signIn(centre, r.Token(t, ownCommunity))
	signIn(provider, r.Token(t, ownProvider))
	signIn(op, r.Token(t, operator))
	dir := artifacts(t)
	for _, p := range []struct {
		ctx        context.Context
		name, path string
	}{
		{centre, "centre-inbox", "/ui/inbox"},
		{centre, "centre-case", "/ui/households/" + f.household},
		{centre, "centre-case-entitlements", "/ui/households/" + entitled},
		{centre, "centre-household-form", "/ui/households/new"},
		{centre, "centre-dashboard", "/ui/dashboard"},
		{centre, "centre-digest", "/ui/digest"},
		{centre, "centre-watch", "/ui/watch"},
		{centre, "centre-notifications", "/ui/notifications"},
		{provider, "provider-offers", "/ui/offers"},
		{provider, "provider-referrals", "/ui/referrals"},
		{provider, "provider-notifications", "/ui/notifications"},
		{provider, "provider-subscription", "/ui/notifications/" + refused},
		{op, "operator-dashboard", "/ui/dashboard"},
		{op, "operator-digest", "/ui/digest"},
		{op, "operator-watch", "/ui/watch"},
		{op, "operator-notifications", "/ui/notifications"},
		{visitor, "signin", "/ui/signin"},
	} {
		for _, width := range []int64{1280, 390} {
			for _, lang := range []string{"zh-CN", "en"} {
				what := fmt.Sprintf("%s at %d px in %s", p.name, width, lang)
				err := chromedp.Do(p.ctx, chromedp.EmulateViewport(width, 900),
					chromedp.Navigate(base+"/ui/lang?to="+lang+"&back="+p.path), chromedp.WaitVisible(chromedp.CSS("main")))
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				settled(t, p.ctx, `location.pathname === "`+p.path+`"`)
				raw, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](checkPageJS))
				var c pageCheck
				if err == nil {
					err = json.Unmarshal([]byte(raw), &c)
				}
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				if c.Scroll > c.Inner {
					t.Errorf("%s: the page is %d px wide in a %d px viewport", what, c.Scroll, c.Inner)
				}
				if len(c.Keys) > 0 {
					t.Errorf("%s: raw message keys on the page: %q", what, c.Keys)
				}
				png, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
				if err != nil {
					t.Fatalf("%s: screenshot: %v", what, err)
				}
				if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%d.%s.png", p.name, width, lang)), png, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}
