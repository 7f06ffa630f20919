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
	t.Parallel()
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

// entitledHousehold registers a household of huayang-01 whose record qualifies it
// for programmes (a child in difficulty in a single-parent household, schooling
// and income rated), applies for one of them, and returns its id.
func entitledHousehold(t *testing.T, r *nodetest.Running) string {
	t.Helper()
	as := []string{"Authorization", "Bearer " + r.Token(t, ownCommunity)}
	code, _, hh := r.Call(t, "POST", "/v1/households", `{"community":"huayang-01","target_groups":["child_in_difficulty","single_parent"],
		"assessment":{"education":3,"income":3},"needs":[{"category":"homework_tutoring"}]}`, as...)
	if code != http.StatusCreated {
		t.Fatalf("household: %d %v", code, hh)
	}
	id := hh["household_id"].(string)
	if code, _, out := r.Call(t, "POST", "/v1/households/"+id+"/entitlements/education_assistance/apply", "", as...); code != http.StatusCreated {
		t.Fatalf("apply: %d %v", code, out)
	}
	return id
}

// TestCentreRecordsEntitlementsInTheWeb has a community centre read a household's
// entitlements on its case page, with the reasons, departments and how to apply in
// both languages, and record an application, a grant and a refusal through the
// page's forms under the API's rules.
func TestCentreRecordsEntitlementsInTheWeb(t *testing.T) {
	t.Parallel()
	r := nodetest.Start(t, redistest.Real(t), "node-web-entitlements")
	id := entitledHousehold(t, r)
	b := browser(t)
	base := r.Server.URL
	signIn(t, b, base, r.Token(t, ownCommunity))
	key := func() string {
		var k [16]byte
		_, _ = rand.Read(k[:])
		return hex.EncodeToString(k[:])
	}
	casePath := "/ui/households/" + id
	_, _, en := page(t, b, "GET", base+casePath, nil, "en")
	for _, want := range []string{"Entitlements", "Protection of children in difficulty", "The household has a child in difficulty",
		"Changning District Education Bureau", "How to apply", "applied, awaiting the decision", "Low-income family recognition",
		"/entitlements/children_in_difficulty/apply", "/entitlements/education_assistance/grant", "/entitlements/education_assistance/refuse"} {
		if !strings.Contains(en, want) {
			t.Errorf("the case page lacks %q", want)
		}
	}
	if strings.Contains(en, "Subsistence allowance") {
		t.Error("the case page lists a programme the household does not qualify for")
	}
	_, _, zh := page(t, b, "GET", base+casePath, nil, "zh-CN")
	for _, want := range []string{"可享政策", "困境儿童保障", "区教育局", "申请方式", "已申请，待审批"} {
		if !strings.Contains(zh, want) {
			t.Errorf("the zh-CN case page lacks %q", want)
		}
	}
	csrf := regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`).FindStringSubmatch(en)[1]
	form := func(note string) url.Values {
		return url.Values{"csrf": {csrf}, "idempotency_key": {key()}, "note": {note}}
	}
	post := func(programme, action string, v url.Values, lang string) (int, string, string) {
		code, hdr, body := page(t, b, "POST", base+casePath+"/entitlements/"+programme+"/"+action, v, lang)
		return code, hdr.Get("Location"), body
	}
	if code, loc, body := post("children_in_difficulty", "apply", form(""), "en"); code != http.StatusSeeOther ||
		loc != casePath+"?done=entitlement_apply#entitlements" {
		t.Fatalf("apply: %d → %s %s", code, loc, body)
	}
	if code, _, body := post("children_in_difficulty", "apply", form(""), "zh-CN"); code != http.StatusConflict || !strings.Contains(body, "申请状态已变化") {
		t.Fatalf("apply twice: %d %s", code, body)
	}
	if code, _, body := post("education_assistance", "refuse", form(""), "en"); code != http.StatusUnprocessableEntity || !strings.Contains(body, "Say why") {
		t.Fatalf("refuse without a reason: %d %s", code, body)
	}
	if code, loc, body := post("education_assistance", "refuse", form("income above the line"), "en"); code != http.StatusSeeOther ||
		loc != casePath+"?done=entitlement_refuse#entitlements" {
		t.Fatalf("refuse: %d → %s %s", code, loc, body)
	}
	if code, loc, body := post("children_in_difficulty", "grant", form(""), "en"); code != http.StatusSeeOther ||
		loc != casePath+"?done=entitlement_grant#entitlements" {
		t.Fatalf("grant: %d → %s %s", code, loc, body)
	}
	_, _, en = page(t, b, "GET", base+casePath+"?done=entitlement_grant", nil, "en")
	for _, want := range []string{"Grant recorded.", "income above the line", ">granted<", "applied for a programme", "programme granted", "programme refused"} {
		if !strings.Contains(en, want) {
			t.Errorf("after the answers, the case page lacks %q", want)
		}
	}
}
