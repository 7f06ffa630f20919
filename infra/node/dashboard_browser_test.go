package node_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/tierlink/tierlink/infra/node/nodetest"
	"github.com/tierlink/tierlink/infra/redistest"
)

// TestDashboardFitsTheScreen opens the operator's dashboard with a supply gap in
// six streets and eight services, at 1280 and 390 px in both languages: the page is
// no wider than the viewport (the gap table scrolls in its own box), no text is a
// raw message key, and a screenshot of each is kept.
func TestDashboardFitsTheScreen(t *testing.T) {
	t.Parallel()
	exe, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("TIERLINK_REQUIRE_BROWSER") != "" {
			t.Fatalf("no chromium on this machine (apt-get install chromium): %v", err)
		}
		t.Skip("no chromium on this machine: .ci/run installs it")
	}
	r := nodetest.Start(t, redistest.Real(t), "node-dashboard-browser")
	cats := []string{"counselling", "legal_aid", "home_nursing", "rehabilitation", "respite_care", "skills_training", "homework_tutoring", "child_protection"}
	for i, c := range []string{"huayang-01", "jiangsu-02", "xinhua-01", "zhoujiaqiao-03", "tianshan-01", "xianxia-02"} {
		r.Register(t, c, cats[:3+i]...)
	}
	r.Settle(t)
	base := r.Server.URL
	ctx := newBrowser(t, exe)
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/ui/lang?to=en&back=/ui/signin"), chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), r.Token(t, operator)), chromedp.Submit(chromedp.CSS("#token"))); err != nil {
		t.Fatal(err)
	}
	settled(t, ctx, `location.pathname !== "/ui/signin"`)
	raw := regexp.MustCompile(`\b(dash|dashboard|nav|inbox|error)\.[a-z][a-z.]*\b`)
	dir := artifacts(t)
	for _, width := range []int64{1280, 390} {
		for _, lang := range []string{"zh-CN", "en"} {
			err := chromedp.Do(ctx, chromedp.EmulateViewport(width, 900),
				chromedp.Navigate(base+"/ui/lang?to="+lang+"&back=/ui/dashboard"), chromedp.WaitVisible(chromedp.CSS(".heat")))
			if err != nil {
				t.Fatalf("%d px, %s: %v", width, lang, err)
			}
			fits, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth <= window.innerWidth`))
			if err != nil || !fits {
				w, _ := chromedp.Run(ctx, chromedp.Evaluate[float64](`document.documentElement.scrollWidth`))
				t.Errorf("%d px, %s: the page is %v px wide (%v)", width, lang, w, err)
			}
			text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.title + "\n" + document.body.innerText`))
			if err != nil {
				t.Fatal(err)
			}
			if m := raw.FindAllString(text, -1); len(m) > 0 {
				t.Errorf("%d px, %s: raw keys %v", width, lang, m)
			}
			png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
			if err != nil {
				t.Fatal(err)
			}
			name := filepath.Join(dir, "dashboard-"+map[int64]string{1280: "desktop", 390: "phone"}[width]+"."+lang+".png")
			if err := os.WriteFile(name, png, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
