package node_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/node"
	"github.com/tierlink/tierlink/infra/node/nodetest"
	"github.com/tierlink/tierlink/infra/redistest"
	"github.com/tierlink/tierlink/infra/reference"
	"github.com/tierlink/tierlink/projections"
)

// TestScarcePlaceGoesToTheNeediestEndToEnd is issue 12's case through the API, on
// the default policy (hourly rounds, spare 2): the last place of an offer is
// wanted by a household of low hardship, registered first, and one of high
// hardship, registered after. Both are held for the round and say so; the tick an
// hour later gives the place to the neediest, with the round's explanation, and
// waitlists the other as outranked.
func TestScarcePlaceGoesToTheNeediestEndToEnd(t *testing.T) {
	t.Parallel()
	r := nodetest.StartWith(t, redistest.Real(t), "node-round", 0, func(c *node.Config) {
		ref, err := reference.Default()
		if err != nil {
			t.Fatal(err)
		}
		if ref.Policy.Allocation.Round("application_help") != time.Hour {
			t.Fatalf("the default policy has no hourly round for application help: %+v", ref.Policy.Allocation)
		}
		c.Reference = ref
	})
	offer := r.Offer(t, "jiangsu-01", "application_help", 1)
	register := func(body string) string {
		t.Helper()
		code, _, out := r.Call(t, "POST", "/v1/households", body)
		if code != 201 {
			t.Fatalf("register: %d %v", code, out)
		}
		return out["needs"].([]any)[0].(map[string]any)["need_id"].(string)
	}
	held := func(v projections.NeedView) bool { return v.Status == domain.StatusHeld }
	low := register(`{"community":"jiangsu-01","needs":[{"category":"application_help","urgency":"low"}]}`)
	vl := r.Need(t, low, held)
	if vl.Held == nil || vl.Held.Competing != 1 || vl.Held.Free != 1 || vl.Held.Tier != domain.TierCommunity {
		t.Fatalf("the first need's hold: %+v", vl.Held)
	}
	high := register(`{"community":"jiangsu-01","target_groups":["extreme_hardship","disabled"],
		"assessment":{"income":4,"health":4},"needs":[{"category":"application_help","urgency":"critical"}]}`)
	vh := r.Need(t, high, held)
	if vh.Held == nil || vh.Held.Competing != 2 || vh.Held.Until.Before(vl.Held.Until) {
		t.Fatalf("the second need's hold: %+v (the first's: %+v)", vh.Held, vl.Held)
	}
	// Before the round is due, a tick decides nothing.
	if err := r.Node.Tick(context.Background(), vl.Held.Until.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	r.Settle(t)
	if v := r.Need(t, low, func(projections.NeedView) bool { return true }); v.Status != domain.StatusHeld {
		t.Fatalf("a round before it was due: the first need is %s", v.Status)
	}
	if err := r.Node.Tick(context.Background(), vl.Held.Until.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	vh = r.Need(t, high, nodetest.Referred)
	round := vh.Referral.Round
	if vh.Referral.OfferID != offer || round == nil || round.Competing != 2 || round.Units != 1 || round.Unserved != 1 ||
		round.Priority <= round.HighestUnserved {
		t.Fatalf("the neediest's referral: %+v (round %+v)", vh.Referral, round)
	}
	vl = r.Need(t, low, nodetest.Waitlisted)
	last := vl.Steps[len(vl.Steps)-1]
	if last.What != "waitlisted" || last.Reason != string(domain.EscalatedOutranked) || vl.Held != nil {
		t.Fatalf("the other need's last step: %+v (held %+v)", last, vl.Held)
	}
}

// TestBrowserAllocationRound shows a round to the community centre in a real
// browser, at phone width, in both languages: the inbox's section of needs held
// for the next round and the held case; then, after the round, the winner's card
// in the inbox with the round's explanation and the loser's case. Screenshots are
// kept (round-*.png).
func TestBrowserAllocationRound(t *testing.T) {
	t.Parallel()
	exe, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("TIERLINK_REQUIRE_BROWSER") != "" {
			t.Fatalf("no chromium on this machine (apt-get install chromium): %v", err)
		}
		t.Skip("no chromium on this machine: .ci/run installs it")
	}
	r := nodetest.StartWith(t, redistest.Real(t), "node-round-browser", 0, func(c *node.Config) {
		ref, err := reference.Default()
		if err != nil {
			t.Fatal(err)
		}
		c.Reference = ref
	})
	base := r.Server.URL
	r.Offer(t, "huayang-01", "elderly_care", 1)
	register := func(body string) (household, need string) {
		t.Helper()
		code, _, out := r.Call(t, "POST", "/v1/households", body)
		if code != 201 {
			t.Fatalf("register: %d %v", code, out)
		}
		return out["household_id"].(string), out["needs"].([]any)[0].(map[string]any)["need_id"].(string)
	}
	held := func(v projections.NeedView) bool { return v.Status == domain.StatusHeld }
	lowHousehold, low := register(`{"community":"huayang-01","target_groups":["elderly"],"needs":[{"category":"elderly_care","urgency":"normal"}]}`)
	highHousehold, high := register(`{"community":"huayang-01","target_groups":["elderly","living_alone","disabled"],
		"assessment":{"income":4,"health":4},"needs":[{"category":"elderly_care","urgency":"high"}]}`)
	vl := r.Need(t, low, held)
	r.Need(t, high, held)

	centre := newBrowser(t, exe)
	if err := chromedp.Do(centre,
		chromedp.Navigate(base+"/ui/lang?to=en&back=/ui/signin"),
		chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), r.Token(t, ownCommunity)),
		chromedp.Submit(chromedp.CSS("#token"))); err != nil {
		t.Fatal(err)
	}
	settled(t, centre, `location.pathname !== "/ui/signin"`)
	shoot(t, centre, base, "/ui/inbox", "round-inbox-held")
	page, err := chromedp.Run(centre, chromedp.Text(chromedp.CSS("main")))
	if err != nil || !strings.Contains(page, "allocation round") {
		t.Fatalf("the inbox does not show the needs held for the round (%v): %s", err, page)
	}
	shoot(t, centre, base, "/ui/households/"+highHousehold, "round-case-held")

	if err := r.Node.Tick(context.Background(), vl.Held.Until.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	r.Need(t, high, nodetest.Referred)
	r.Need(t, low, nodetest.Waitlisted)
	r.Settle(t)
	shoot(t, centre, base, "/ui/inbox", "round-inbox-won")
	page, err = chromedp.Run(centre, chromedp.Text(chromedp.CSS("main")))
	if err != nil || !strings.Contains(page, "competed") {
		t.Fatalf("the inbox card does not explain the round (%v): %s", err, page)
	}
	shoot(t, centre, base, "/ui/households/"+lowHousehold, "round-case-outranked")
}
