package node_test

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/tierlink/tierlink/infra/node/nodetest"
	"github.com/tierlink/tierlink/infra/redistest"
	"github.com/tierlink/tierlink/projections"
)

// TestCentreWorksACaseInTheWeb has a community centre read a referral's card in
// its inbox (the offer, the time left, Beijing time), open the household's case by
// its short reference, add a need and withdraw one with a reason through the same
// rules as the API, and be told in its language what to do when a form is refused.
func TestCentreWorksACaseInTheWeb(t *testing.T) {
	r := nodetest.Start(t, redistest.Real(t), "node-web-case")
	f := newFixture(t, r, false)
	b := browser(t)
	base := r.Server.URL
	signIn(t, b, base, r.Token(t, ownCommunity))
	key := func() string {
		var k [16]byte
		_, _ = rand.Read(k[:])
		return hex.EncodeToString(k[:])
	}
	_, _, inbox := page(t, b, "GET", base+"/ui/inbox", nil, "en")
	for _, want := range []string{"from provider prov-a", "answer within ", "(Beijing time)", "1 awaiting your answer", "Escalate", "Its needs"} {
		if !strings.Contains(inbox, want) {
			t.Errorf("the inbox card lacks %q: %s", want, inbox)
		}
	}
	casePath := "/ui/households/" + f.household
	code, _, html := page(t, b, "GET", base+casePath, nil, "en")
	ref := regexp.MustCompile(`<h1>[^<]* · household ([0-9a-f]{8})</h1>`).FindStringSubmatch(html)
	if code != http.StatusOK || ref == nil || !strings.Contains(inbox, `<span class="ref">`+ref[1]+`</span>`) {
		t.Fatalf("the case page is not titled by the short reference the inbox shows: %d %s", code, html)
	}
	csrf := regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`).FindStringSubmatch(html)[1]
	add := url.Values{"csrf": {csrf}, "idempotency_key": {key()}, "category": {"legal_aid"}, "urgency": {"high"}}
	if code, hdr, body := page(t, b, "POST", base+casePath+"/needs", add, "en"); code != http.StatusSeeOther || hdr.Get("Location") != casePath+"?done=need_added" {
		t.Fatalf("add a need: %d → %s %s", code, hdr.Get("Location"), body)
	}
	add.Set("idempotency_key", key())
	if code, _, body := page(t, b, "POST", base+casePath+"/needs", add, "zh-CN"); code != http.StatusConflict || !strings.Contains(body, "无需重复新增") {
		t.Fatalf("a need of a category open already: %d %s", code, body)
	}
	withdraw := url.Values{"csrf": {csrf}, "idempotency_key": {key()}, "household": {f.household}, "note": {""}}
	if code, _, body := page(t, b, "POST", base+"/ui/needs/"+f.need+"/withdraw", withdraw, "en"); code != http.StatusUnprocessableEntity || !strings.Contains(body, "Say why") {
		t.Fatalf("a withdrawal without a reason: %d %s", code, body)
	}
	withdraw.Set("note", "moved away")
	if code, hdr, body := page(t, b, "POST", base+"/ui/needs/"+f.need+"/withdraw", withdraw, "en"); code != http.StatusSeeOther || hdr.Get("Location") != casePath+"?done=need_withdrawn" {
		t.Fatalf("withdraw a need: %d → %s %s", code, hdr.Get("Location"), body)
	}
	r.Need(t, f.need, func(v projections.NeedView) bool { return v.Status == "withdrawn" })
	// The referral of the withdrawn need cannot be answered: said in Chinese, with
	// the way back to the inbox, not the domain's English.
	code, _, body := page(t, b, "POST", base+"/ui/referrals/"+f.referral+"/accept", url.Values{"csrf": {csrf}, "idempotency_key": {key()}}, "zh-CN")
	if code != http.StatusConflict || !strings.Contains(body, "返回待答复列表") || strings.Contains(body, "refused") {
		t.Fatalf("answering a referral that has ended: %d %s", code, body)
	}
	withdraw.Set("idempotency_key", key())
	if code, _, body := page(t, b, "POST", base+"/ui/needs/"+f.need+"/withdraw", withdraw, "zh-CN"); code != http.StatusConflict || !strings.Contains(body, "不能撤回") {
		t.Fatalf("withdrawing a withdrawn need: %d %s", code, body)
	}
	r.Settle(t)
	_, _, html = page(t, b, "GET", base+casePath, nil, "zh-CN")
	if !strings.Contains(html, "需求已撤回：moved away") || !strings.Contains(html, "北京时间") {
		t.Fatalf("the case after the withdrawal: %s", html)
	}
}
