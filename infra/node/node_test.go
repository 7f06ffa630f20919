package node_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/node/nodetest"
	"github.com/tierlink/tierlink/infra/redistest"
	"github.com/tierlink/tierlink/projections"
)

func TestFirstPathEndToEnd(t *testing.T) {
	t.Parallel()
	srv := redistest.Real(t)
	r := nodetest.Start(t, srv, "node-a")

	o1 := r.Offer(t, "xinhua-02", "counselling", 1)
	a := r.Register(t, "xinhua-02", "counselling", "homework_tutoring")
	va := r.Need(t, a[0], nodetest.Referred)
	if va.Referral == nil || va.Referral.OfferID != o1 || va.Referral.Rule == "" || va.Tier != 1 {
		t.Fatalf("referral %+v", va)
	}
	r.Need(t, a[1], nodetest.Waitlisted) // no tutoring offered
	b := r.Register(t, "xinhua-02", "counselling")
	c := r.Register(t, "xinhua-01", "counselling") // another community: not served by o1
	r.Need(t, b[0], nodetest.Waitlisted)
	o2 := r.Offer(t, "xinhua-02", "counselling", 3)
	if vb := r.Need(t, b[0], nodetest.Referred); vb.Referral.OfferID != o2 || vb.Tier != 3 {
		t.Fatalf("waitlisted need served by %s at tier %d, want %s at its tier, 3", vb.Referral.OfferID, vb.Tier, o2)
	}
	// xinhua-01's centre does not link counselling itself: its need went up a tier.
	if vc := r.Need(t, c[0], nodetest.Waitlisted); len(vc.Steps) < 2 || !strings.Contains(vc.Steps[1].Detail, "not_on_capability_list") {
		t.Fatalf("steps of a need its community cannot link: %+v", vc.Steps)
	}

	// Bad input: a clear problem, and nothing appended.
	r.Settle(t)
	before := r.Head(t)
	for _, tc := range []struct {
		path, body string
		code       int
		pointer    string
	}{
		{"/v1/households", `{"community":"xinhua-02","needs":[{"category":"astrology"}]}`, 422, "/needs/0/category"},
		{"/v1/households", `{"community":"nowhere","needs":[{"category":"counselling"}]}`, 422, "/community"},
		{"/v1/households", `{"community":"xinhua-02","needs":[{"category":"counselling","name":"Li"}]}`, 400, "/needs/0/name"},
		{"/v1/households", `{"community":"xinhua-02"`, 400, ""},
		{"/v1/households", `{"community":"xinhua-02","needs":[]}`, 422, "/needs"},
		{"/v1/offers", `{"provider":"p","scope":{"tier":"community","area":"xinhua-02"},"category":"counselling","capacity":0}`, 422, "/capacity"},
		{"/v1/offers", `{"provider":"p","scope":{"tier":"community","area":"xinhua-02"},"category":"counselling"}`, 422, "/capacity"},
		{"/v1/offers", `{"provider":"p","scope":{"tier":"community","area":"xinhua-02"},"category":"counselling","capacity":"2"}`, 400, "/capacity"},
		{"/v1/offers", `{"provider":"p","scope":{"tier":"street","area":"xinhua-02"},"category":"counselling","capacity":1}`, 422, "/scope/area"},
		{"/v1/offers", `{"provider":"p","scope":{"tier":"city","area":"xinhua"},"category":"counselling","capacity":1}`, 422, "/scope/tier"},
		{"/v1/offers", `{"provider":"p","scope":{"tier":"street","area":"xinhua"},"category":"counselling","capacity":1,"eligibility":{"target_groups":["rich"]}}`, 422, "/eligibility/target_groups/0"},
		{"/v1/offers", `{"provider":"p","scope":{"tier":"street","area":"xinhua"},"category":"counselling","capacity":1,"valid_from":"2026-12-01T00:00:00Z","valid_until":"2026-11-01T00:00:00Z"}`, 422, "/valid_until"},
		{"/v1/offers", `[1]`, 400, ""},
		{"/v1/offers", `{"provider":"p","scope":{"tier":"community","area":"xinhua-02"},"category":"counselling","capacity":1} {}`, 400, ""},
		{"/v1/offers", `{"provider":"` + strings.Repeat("x", 70<<10) + `"}`, 413, ""},
	} {
		code, hdr, out := r.Call(t, "POST", tc.path, tc.body)
		if code != tc.code || hdr.Get("Content-Type") != "application/problem+json" || out["detail"] == "" {
			t.Errorf("%s %.60s: %d %s %v, want %d problem", tc.path, tc.body, code, hdr.Get("Content-Type"), out, tc.code)
			continue
		}
		if tc.pointer != "" {
			errs, _ := out["errors"].([]any)
			if len(errs) != 1 || errs[0].(map[string]any)["pointer"] != tc.pointer {
				t.Errorf("%s %.60s: errors %v, want pointer %s", tc.path, tc.body, out["errors"], tc.pointer)
			}
		}
	}
	if code, _, _ := r.Call(t, "GET", "/v1/needs/no-such-need", ""); code != 404 {
		t.Errorf("unknown need: %d", code)
	}
	if after := r.Head(t); after != before {
		t.Fatalf("refused requests appended %d events", after-before)
	}

	// A retried command (same Idempotency-Key) takes effect once and answers the same.
	body := `{"provider":"p","scope":{"tier":"community","area":"xinhua-03"},"category":"legal_aid","capacity":2}`
	code1, _, first := r.Call(t, "POST", "/v1/offers", body, "Idempotency-Key", "retry-1")
	code2, _, second := r.Call(t, "POST", "/v1/offers", body, "Idempotency-Key", "retry-1")
	if code1 != 201 || code2 != 200 || first["offer_id"] != second["offer_id"] || second["replayed"] != true {
		t.Fatalf("retry: %d %v then %d %v", code1, first, code2, second)
	}
	// The same key for another request is refused, and appends nothing.
	r.Settle(t)
	before = r.Head(t)
	other := strings.Replace(body, `"capacity":2`, `"capacity":3`, 1)
	if code, _, out := r.Call(t, "POST", "/v1/offers", other, "Idempotency-Key", "retry-1"); code != 422 || !strings.HasSuffix(out["type"].(string), "#idempotency-key-reused") {
		t.Fatalf("key reused for another body: %d %v", code, out)
	}
	if code, _, out := r.Call(t, "POST", "/v1/offers/"+first["offer_id"].(string)+"/withdraw", "", "Idempotency-Key", "retry-1"); code != 422 {
		t.Fatalf("key reused for another endpoint: %d %v", code, out)
	}
	if after := r.Head(t); after != before {
		t.Fatalf("refused reuses appended %d events", after-before)
	}
	// A key belongs to the principal that used it: another principal's command
	// with the same key is its own.
	if code, _, out := r.Call(t, "POST", "/v1/households", `{"community":"xinhua-03","needs":[{"category":"legal_aid"}]}`, "Idempotency-Key", "retry-1"); code != 201 {
		t.Fatalf("another principal's command under the same key: %d %v", code, out)
	}

	// A household assessed and registered with its target groups gets its hardship
	// score; a second open need of a category is refused with the open need's id,
	// and a need of another category is opened.
	code, _, hh := r.Call(t, "POST", "/v1/households", `{"community":"xinhua-03","target_groups":["child_in_difficulty"],
		"assessment":{"income":4,"health":2},"needs":[{"category":"counselling","urgency":"high"}]}`)
	if code != 201 || hh["hardship"] != float64(35) {
		// income 4·3 + health 2·3 = 18 of 4·16 = 64 → 70·18/64 = 19.7 → 20, plus 15 for the child in difficulty
		t.Fatalf("register with assessment: %d %v", code, hh)
	}
	hid := hh["household_id"].(string)
	openNeed := hh["needs"].([]any)[0].(map[string]any)["need_id"].(string)
	r.Settle(t)
	before = r.Head(t)
	code, _, dup := r.Call(t, "POST", "/v1/households/"+hid+"/needs", `{"needs":[{"category":"counselling"}]}`)
	if code != 409 || dup["existing_need_id"] != openNeed {
		t.Fatalf("second counselling need: %d %v", code, dup)
	}
	if after := r.Head(t); after != before {
		t.Fatalf("a refused duplicate appended %d events", after-before)
	}
	code, _, more := r.Call(t, "POST", "/v1/households/"+hid+"/needs", `{"needs":[{"category":"legal_aid","urgency":"critical"}]}`)
	if code != 201 || len(more["needs"].([]any)) != 1 {
		t.Fatalf("another category: %d %v", code, more)
	}
	if code, _, out := r.Call(t, "POST", "/v1/households/no-such-household/needs", `{"needs":[{"category":"legal_aid"}]}`); code != 404 {
		t.Fatalf("needs of an unknown household: %d %v", code, out)
	}

	// A provider raises an offer's capacity and the waiting need is served; it cannot
	// lower it below what is committed; once withdrawn, the offer serves nobody.
	o3 := r.Offer(t, "xinhua-01", "material_aid", 1)
	m1 := r.Register(t, "xinhua-01", "material_aid")
	m2 := r.Register(t, "xinhua-01", "material_aid")
	r.Need(t, m1[0], nodetest.Referred)
	r.Need(t, m2[0], nodetest.Waitlisted)
	if code, _, out := r.Call(t, "POST", "/v1/offers/"+o3+"/capacity", `{"capacity":2}`); code != 201 || out["version"] != float64(3) {
		t.Fatalf("raise capacity: %d %v", code, out)
	}
	if v := r.Need(t, m2[0], nodetest.Referred); v.Referral.OfferID != o3 {
		t.Fatalf("raised capacity went to %s", v.Referral.OfferID)
	}
	if code, _, out := r.Call(t, "POST", "/v1/offers/"+o3+"/capacity", `{"capacity":1}`); code != 422 || !strings.Contains(out["detail"].(string), "committed") {
		t.Fatalf("lower below committed: %d %v", code, out)
	}
	if code, _, out := r.Call(t, "POST", "/v1/offers/"+o3+"/capacity", `{"capacity":3}`); code != 201 {
		t.Fatalf("raise again: %d %v", code, out)
	}
	if code, _, out := r.Call(t, "POST", "/v1/offers/"+o3+"/withdraw", ""); code != 201 {
		t.Fatalf("withdraw: %d %v", code, out)
	}
	if code, _, out := r.Call(t, "POST", "/v1/offers/"+o3+"/withdraw", ""); code != 409 {
		t.Fatalf("withdraw twice: %d %v", code, out)
	}
	m3 := r.Register(t, "xinhua-01", "material_aid")
	r.Settle(t)
	r.Need(t, m3[0], nodetest.Waitlisted) // the free unit of a withdrawn offer is not offered
	if code, _, _ := r.Call(t, "POST", "/v1/offers/nope/withdraw", ""); code != 404 {
		t.Fatalf("withdraw an unknown offer: %d", code)
	}

	// The events are plain stream entries: XRANGE shows them.
	entries, err := r.Client.XRange(context.Background(), "tl:{changning}:log", "-", "+").Result()
	if err != nil || len(entries) < 2 || !strings.Contains(entries[0].Values["payload"].(string), `"type":"reference.published"`) ||
		!strings.Contains(entries[1].Values["payload"].(string), `"type":"offer.posted"`) {
		t.Fatalf("XRANGE of the log: %d entries, %v", len(entries), err)
	}

	// A restarted node rebuilds the matcher from the log: o1 is full, o2 has two units left.
	r.Stop()
	r2 := nodetest.Start(t, srv, "node-a")
	// It publishes the reference data again only if it changed: it did not.
	if n, err := r2.Client.XLen(context.Background(), "tl:{changning}:agg:reference:changning").Result(); err != nil || n != 1 {
		t.Fatalf("reference publications after a restart: %d %v", n, err)
	}
	d := r2.Register(t, "xinhua-02", "counselling")
	e := r2.Register(t, "xinhua-02", "counselling")
	f := r2.Register(t, "xinhua-02", "counselling")
	for _, id := range []string{d[0], e[0]} {
		if v := r2.Need(t, id, nodetest.Referred); v.Referral.OfferID != o2 {
			t.Fatalf("after restart need %s went to %s, want %s", id, v.Referral.OfferID, o2)
		}
	}
	r2.Settle(t)
	r2.Settle(t)
	before = r2.Head(t)
	if v := r2.Need(t, f[0], func(projections.NeedView) bool { return true }); v.Status != "waitlisted" {
		t.Fatalf("capacity 1 + 3 is used up, yet the fourth need is %s", v.Status)
	}
	if after := r2.Head(t); after != before {
		t.Fatalf("the settled log grew from %d to %d", before, after)
	}

	_, _, _ = r2.Call(t, "GET", "/healthz", "")
	resp, err := http.Get(r2.Server.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`tierlink_appends_total{outcome="ok",partition="changning"}`, `tierlink_consumer_lag{group="matcher",partition="changning"}`, `tierlink_matcher_decisions_total`} {
		if !bytes.Contains(m, []byte(want)) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestReferralLifecycleEndToEnd(t *testing.T) {
	t.Parallel()
	r := nodetest.Start(t, redistest.Real(t), "node-b")
	a := r.Offer(t, "tianshan-01", "home_nursing", 1)
	b := r.Offer(t, "tianshan-01", "home_nursing", 1)
	n := r.Register(t, "tianshan-01", "home_nursing")[0]
	v := r.Need(t, n, nodetest.Referred)
	if v.Referral.OfferID != a || v.Referral.Deadline.IsZero() && false {
		t.Fatalf("first proposal to %s, want the older offer %s", v.Referral.OfferID, a)
	}
	// A decline needs a known reason; with one, the need is proposed the other offer.
	rid := v.Referral.ID
	if code, _, out := r.Call(t, "POST", "/v1/referrals/"+rid+"/decline", `{"reason":"too_far"}`); code != 422 {
		t.Fatalf("decline with an unknown reason: %d %v", code, out)
	}
	if code, _, out := r.Call(t, "POST", "/v1/referrals/"+rid+"/decline", `{"reason":"provider_unreachable","note":"no answer for a week"}`); code != 201 || out["status"] != "open" {
		t.Fatalf("decline: %d %v", code, out)
	}
	v = r.Need(t, n, func(v projections.NeedView) bool { return v.Status == "proposed" && v.Referral.OfferID == b })
	if len(v.Declined) != 1 || v.Declined[0] != a {
		t.Fatalf("declined offers %v", v.Declined)
	}
	// The declined referral has ended: its provider starting it is refused as ended
	// (409), not forbidden, and nothing is appended.
	before := r.Head(t)
	youth := "Bearer " + r.Token(t, domain.Principal{Role: domain.RoleProvider, Provider: "changning-youth"})
	if code, _, out := r.Call(t, "POST", "/v1/referrals/"+rid+"/start", "", "Authorization", youth); code != 409 {
		t.Fatalf("start of a declined referral: %d %v", code, out)
	}
	if h := r.Head(t); h != before {
		t.Fatalf("a refused start appended %d entries", h-before)
	}
	rid = v.Referral.ID
	if code, _, out := r.Call(t, "POST", "/v1/referrals/"+rid+"/start", ""); code != 409 {
		t.Fatalf("start before acceptance: %d %v", code, out)
	}
	for _, step := range []struct{ action, status string }{{"accept", "accepted"}, {"start", "in_service"}, {"complete", "completed"}} {
		if code, _, out := r.Call(t, "POST", "/v1/referrals/"+rid+"/"+step.action, ""); code != 201 || out["status"] != step.status {
			t.Fatalf("%s: %d %v", step.action, code, out)
		}
	}
	v = r.Need(t, n, func(v projections.NeedView) bool { return v.Status == "completed" })
	if v.Referral == nil || v.Referral.AcceptedAt == nil || v.Referral.CompletedAt == nil || len(v.Steps) < 6 {
		t.Fatalf("completed view %+v", v)
	}
	if code, _, _ := r.Call(t, "POST", "/v1/referrals/"+rid+"/accept", ""); code != 409 {
		t.Fatalf("accept after completion: %d", code)
	}
	if code, _, _ := r.Call(t, "POST", "/v1/referrals/no-such-referral/accept", ""); code != 404 {
		t.Fatalf("unknown referral: %d", code)
	}

	// Withdrawing a need with a proposed referral gives its unit to the next need;
	// escalating a referral gives its unit back too, and raises the need's tier.
	c := r.Offer(t, "tianshan-01", "elderly_care", 1)
	n1 := r.Register(t, "tianshan-01", "elderly_care")[0]
	n2 := r.Register(t, "tianshan-01", "elderly_care")[0]
	r.Need(t, n1, nodetest.Referred)
	r.Need(t, n2, nodetest.Waitlisted)
	if code, _, out := r.Call(t, "POST", "/v1/needs/"+n1+"/withdraw", `{"note":"moved to another district"}`); code != 201 || out["status"] != "withdrawn" {
		t.Fatalf("withdraw: %d %v", code, out)
	}
	v2 := r.Need(t, n2, nodetest.Referred)
	if v2.Referral.OfferID != c || v2.Tier != 3 {
		t.Fatalf("the freed unit went to %s at tier %d", v2.Referral.OfferID, v2.Tier)
	}
	// The district is the top tier: its centre cannot escalate.
	if code, _, out := r.Call(t, "POST", "/v1/referrals/"+v2.Referral.ID+"/escalate", ""); code != 409 {
		t.Fatalf("escalate at the district: %d %v", code, out)
	}
	// A community centre escalates a proposal to the street tier.
	d := r.Offer(t, "tianshan-01", "support_groups", 1)
	n4 := r.Register(t, "tianshan-01", "support_groups")[0]
	v4 := r.Need(t, n4, nodetest.Referred)
	if v4.Referral.OfferID != d || v4.Tier != 1 {
		t.Fatalf("support groups: %+v", v4)
	}
	if code, _, out := r.Call(t, "POST", "/v1/referrals/"+v4.Referral.ID+"/escalate", ""); code != 201 || out["tier"] != float64(2) {
		t.Fatalf("escalate: %d %v", code, out)
	}
	v4 = r.Need(t, n4, func(v projections.NeedView) bool { return v.Tier >= 2 && v.Status != "open" })
	found := false
	for _, st := range v4.Steps {
		found = found || strings.Contains(st.Detail, "escalated_by_centre")
	}
	if !found {
		t.Fatalf("no escalation by the centre in %+v", v4.Steps)
	}
}

func TestDeadlinesExpireOnClockTicks(t *testing.T) {
	t.Parallel()
	r := nodetest.Start(t, redistest.Real(t), "node-c")
	o := r.Offer(t, "huayang-01", "counselling", 1)
	n := r.Register(t, "huayang-01", "counselling")[0]
	v := r.Need(t, n, nodetest.Referred)
	if v.Tier != 1 || v.Referral.Deadline.Sub(v.Referral.ProposedAt) != 48*time.Hour {
		t.Fatalf("proposal %+v", v.Referral)
	}
	// Before the deadline nothing happens; after it the referral expires, the unit goes
	// back and the need goes up a tier. At the district tier every offer in scope is a
	// candidate again: the same offer is proposed, now for the district centre.
	if err := r.Node.Tick(context.Background(), v.Referral.Deadline.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	r.Settle(t)
	if r.Need(t, n, nodetest.Referred).Tier != 1 {
		t.Fatal("expired before its deadline")
	}
	if err := r.Node.Tick(context.Background(), v.Referral.Deadline.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	v = r.Need(t, n, func(v projections.NeedView) bool { return v.Tier == 3 && v.Status == "proposed" })
	if v.Referral.OfferID != o || v.Referral.Deadline.Sub(v.Referral.ProposedAt) != 120*time.Hour {
		t.Fatalf("after the expiry %+v", v.Referral)
	}
	expired := false
	for _, st := range v.Steps {
		expired = expired || (st.What == "escalated" && strings.Contains(st.Detail, "expired"))
	}
	if !expired {
		t.Fatalf("no expiry among the steps %+v", v.Steps)
	}
	// No answer at the district either: cancelled, and with no other offer, waitlisted.
	if err := r.Node.Tick(context.Background(), v.Referral.Deadline.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	v = r.Need(t, n, nodetest.Waitlisted)
	if len(v.Declined) != 1 || v.Declined[0] != o {
		t.Fatalf("after the expiry at the district %+v", v)
	}
	// A tick of the same interval written twice (two nodes) is one event.
	r.Settle(t)
	before := r.Head(t)
	at := v.Steps[len(v.Steps)-1].Time.Add(time.Hour)
	for i := 0; i < 2; i++ {
		if err := r.Node.Tick(context.Background(), at); err != nil {
			t.Fatal(err)
		}
	}
	if after := r.Head(t); after != before+1 {
		t.Fatalf("two ticks of one interval wrote %d events", after-before)
	}
}

// TestPaperCase plays the case of the paper: in Jiangsu Road street, a child whose
// father died lives with a mother of little income. The community adviser assesses
// the household and registers four needs: counselling, homework tutoring, help with
// the survivor-subsidy application, and clothing. Four providers at different tiers
// serve them; one provider cannot be reached and the next-best is found; one deadline
// passes and the need goes up to the district.
func TestPaperCase(t *testing.T) {
	t.Parallel()
	r := nodetest.Start(t, redistest.Real(t), "node-paper")
	post := func(provider, category, tier, area string, capacity int, until string) string {
		t.Helper()
		body := map[string]any{"provider": provider, "category": category, "capacity": capacity, "scope": map[string]string{"tier": tier, "area": area}}
		if until != "" {
			body["valid_until"] = until
		}
		b, _ := json.Marshal(body)
		code, _, out := r.Call(t, "POST", "/v1/offers", string(b))
		if code != 201 {
			t.Fatalf("offer %s: %d %v", provider, code, out)
		}
		return out["offer_id"].(string)
	}
	year := time.Now().UTC().AddDate(1, 0, 0).Format(time.RFC3339)
	later := time.Now().UTC().AddDate(2, 0, 0).Format(time.RFC3339)
	// The community centre of jiangsu-01 links applications and material aid itself,
	// not counselling nor tutoring: those start at the street tier.
	subsidy := post("changning-civil-affairs", "application_help", "community", "jiangsu-01", 5, "")
	clothes := post("clothing-company", "material_aid", "community", "jiangsu-01", 20, "")
	counselA := post("social-work-station-a", "counselling", "street", "jiangsu", 2, year)  // ends first: ranked first
	counselB := post("social-work-station-b", "counselling", "street", "jiangsu", 2, later) // next best
	tutorStreet := post("volunteer-tutors", "homework_tutoring", "street", "jiangsu", 1, "")
	post("education-bureau-tutoring", "homework_tutoring", "district", "changning", 10, "")

	code, _, hh := r.Call(t, "POST", "/v1/households", `{"community":"jiangsu-01",
		"target_groups":["child_in_difficulty","low_income","single_parent"],
		"assessment":{"household_structure":4,"income":3,"health":1,"education":2,"unavoidable_spending":2},
		"needs":[{"category":"counselling","urgency":"high"},{"category":"homework_tutoring"},
		         {"category":"application_help","urgency":"high"},{"category":"material_aid","urgency":"low"}]}`)
	if code != 201 {
		t.Fatalf("register: %d %v", code, hh)
	}
	ids := map[string]string{}
	for _, n := range hh["needs"].([]any) {
		m := n.(map[string]any)
		ids[m["category"].(string)] = m["need_id"].(string)
	}
	// (4·2 + 3·3 + 1·3 + 2·1 + 2·2) / 64 × 70 = 28.4 → 28; groups 15 + 5 + 5 = 25.
	if hh["hardship"] != float64(53) {
		t.Fatalf("hardship %v", hh["hardship"])
	}

	type want struct {
		offer string
		tier  int
	}
	for cat, w := range map[string]want{
		"application_help":  {subsidy, 1},
		"material_aid":      {clothes, 1},
		"counselling":       {counselA, 2},
		"homework_tutoring": {tutorStreet, 2},
	} {
		v := r.Need(t, ids[cat], nodetest.Referred)
		if v.Referral.OfferID != w.offer || v.Tier != w.tier {
			t.Fatalf("%s: offer %s at tier %d, want %s at tier %d", cat, v.Referral.OfferID, v.Tier, w.offer, w.tier)
		}
	}
	// Station A cannot be reached: the street centre declines, and station B is proposed.
	vc := r.Need(t, ids["counselling"], nodetest.Referred)
	if code, _, out := r.Call(t, "POST", "/v1/referrals/"+vc.Referral.ID+"/decline", `{"reason":"provider_unreachable"}`); code != 201 {
		t.Fatalf("decline: %d %v", code, out)
	}
	vc = r.Need(t, ids["counselling"], func(v projections.NeedView) bool { return v.Status == "proposed" && v.Referral.OfferID == counselB })
	// The street centre accepts the rest; the tutoring proposal gets no answer.
	for _, cat := range []string{"counselling", "application_help", "material_aid"} {
		v := r.Need(t, ids[cat], nodetest.Referred)
		if code, _, out := r.Call(t, "POST", "/v1/referrals/"+v.Referral.ID+"/accept", ""); code != 201 {
			t.Fatalf("accept %s: %d %v", cat, code, out)
		}
	}
	vt := r.Need(t, ids["homework_tutoring"], nodetest.Referred)
	if err := r.Node.Tick(context.Background(), vt.Referral.Deadline.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	// The volunteers' proposal expired: the need went up to the district. There the
	// volunteers' unit (given back) and the education bureau's are both candidates;
	// neither ends, so the least flexible ranks first (docs/matching.md): the
	// volunteers' street offer, narrower than the bureau's district-wide one, which
	// stays for the households only it can reach. The district centre answers now.
	vt = r.Need(t, ids["homework_tutoring"], func(v projections.NeedView) bool { return v.Tier == 3 && v.Status == "proposed" })
	if vt.Referral.OfferID != tutorStreet {
		t.Fatalf("tutoring at the district went to %s, want %s", vt.Referral.OfferID, tutorStreet)
	}
	// The providers serve; the loop closes for the subsidy application.
	va := r.Need(t, ids["application_help"], func(v projections.NeedView) bool { return v.Status == "accepted" })
	for _, step := range []string{"start", "complete"} {
		if code, _, out := r.Call(t, "POST", "/v1/referrals/"+va.Referral.ID+"/"+step, ""); code != 201 {
			t.Fatalf("%s: %d %v", step, code, out)
		}
	}
	r.Need(t, ids["application_help"], func(v projections.NeedView) bool { return v.Status == "completed" })
	if vc.Referral.Tier != 2 {
		t.Fatalf("counselling was linked at tier %d", vc.Referral.Tier)
	}
}

// TestRacingAnswersOnOneReferral sends a centre's accept and decline, a withdrawal of
// the need and a deadline's tick at the same referral at once: exactly one of the
// answers takes effect, and the offer's committed units match the outcome.
func TestRacingAnswersOnOneReferral(t *testing.T) {
	t.Parallel()
	r := nodetest.Start(t, redistest.Real(t), "node-race")
	for round := 0; round < 5; round++ {
		o := r.Offer(t, "xianxia-02", "counselling", 1)
		n := r.Register(t, "xianxia-02", "counselling")[0]
		v := r.Need(t, n, nodetest.Referred)
		type result struct {
			what string
			code int
		}
		results := make(chan result, 5)
		var wg sync.WaitGroup
		for _, what := range []string{"accept", "decline", "accept", "withdraw"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				path, body := "/v1/referrals/"+v.Referral.ID+"/"+what, `{"reason":"other"}`
				if what == "withdraw" {
					path, body = "/v1/needs/"+n+"/withdraw", ""
				}
				code, _, _ := r.Call(t, "POST", path, body)
				results <- result{what, code}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.Node.Tick(context.Background(), v.Referral.Deadline.Add(time.Minute)); err != nil {
				t.Error(err)
			}
		}()
		wg.Wait()
		close(results)
		won := map[string]int{}
		for res := range results {
			if res.code == 201 {
				won[res.what]++
			} else if res.code != 409 && res.code != 404 {
				t.Fatalf("round %d: %s answered %d", round, res.what, res.code)
			}
		}
		if won["accept"]+won["decline"] > 1 {
			t.Fatalf("round %d: more than one answer took effect: %v", round, won)
		}
		r.Settle(t)
		final := r.Need(t, n, func(projections.NeedView) bool { return true })
		// The offer's committed units, folded from its events, match the need's state.
		_, evs, err := r.Node.Store().FindAggregate(context.Background(), []string{"changning"}, domain.AggregateRef{Type: domain.AggregateOffer, ID: o})
		if err != nil {
			t.Fatal(err)
		}
		var off domain.Offer
		for _, e := range evs {
			off = off.Evolve(e)
		}
		if final.Status == "proposed" && !final.Referral.Deadline.After(v.Referral.Deadline.Add(time.Minute)) {
			t.Fatalf("round %d: still proposed past the tick: %+v", round, final.Referral)
		}
		// A withdrawal may follow an accepted answer (it cancels it); nothing follows a withdrawal.
		if won["withdraw"] == 1 && final.Status != "withdrawn" || won["withdraw"] == 0 && won["accept"] == 1 && final.Status != "accepted" {
			t.Fatalf("round %d: winners %v but the need is %s", round, won, final.Status)
		}
		holds := final.Referral != nil && final.Referral.OfferID == o
		if (off.Committed == 1) != holds || off.Committed > off.Capacity {
			t.Fatalf("round %d: offer has %d committed, need %s (referral %+v), winners %v", round, off.Committed, final.Status, final.Referral, won)
		}
	}
}

// TestOneMatcherPerDistrict runs two nodes on one Redis: one holds the district's
// matcher lease and decides, the other serves the API; when the holder stops, the
// other takes over. No decision is made twice.
func TestOneMatcherPerDistrict(t *testing.T) {
	// Not parallel: the matcher lease lives 300 ms, which a loaded machine could
	// make a live node miss renewing.
	srv := redistest.Real(t)
	nodes := map[string]*nodetest.Running{
		"node-x": nodetest.StartWith(t, srv, "node-x", 300*time.Millisecond),
		"node-y": nodetest.StartWith(t, srv, "node-y", 300*time.Millisecond),
	}
	a := nodes["node-x"]
	a.Offer(t, "hongqiao-01", "counselling", 10)
	var ids []string
	for i := 0; i < 3; i++ {
		ids = append(ids, a.Register(t, "hongqiao-01", "counselling")[0])
	}
	for _, id := range ids {
		a.Need(t, id, nodetest.Referred)
	}
	holder, err := a.Client.Get(context.Background(), "tl:{changning}:lease:matcher").Result()
	if err != nil {
		t.Fatalf("no matcher lease: %v", err)
	}
	leader := strings.Fields(holder)[0]
	nodes[leader].Stop()
	survivor := nodes[map[string]string{"node-x": "node-y", "node-y": "node-x"}[leader]]
	for i := 0; i < 2; i++ {
		ids = append(ids, survivor.Register(t, "hongqiao-01", "counselling")[0])
	}
	for _, id := range ids {
		survivor.Need(t, id, nodetest.Referred)
	}
	if h, _ := survivor.Client.Get(context.Background(), "tl:{changning}:lease:matcher").Result(); strings.HasPrefix(h, leader+" ") {
		t.Fatalf("the stopped node still holds the lease: %s", h)
	}
	// Each need was proposed once.
	entries, err := survivor.Client.XRange(context.Background(), "tl:{changning}:log", "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	proposals := map[string]int{}
	for _, e := range entries {
		body := e.Values["payload"].(string)
		if strings.Contains(body, `"type":"need.referral_proposed"`) {
			for _, id := range ids {
				if strings.Contains(body, `"aggregate_id":"`+id+`"`) {
					proposals[id]++
				}
			}
		}
	}
	for _, id := range ids {
		if proposals[id] != 1 {
			t.Fatalf("need %s proposed %d times", id, proposals[id])
		}
	}
}

// TestBatchRegistration registers households in one request: each is its own
// command with its own outcome — registered, forbidden (another community's), or
// invalid — and only the registered ones are written; the matcher decides on their
// needs; the same batch sent again with its Idempotency-Key gives each household
// its first result and writes nothing; an empty or oversized batch is refused whole.
func TestBatchRegistration(t *testing.T) {
	t.Parallel()
	r := nodetest.Start(t, redistest.Real(t), "node-batch")
	as := []string{"Authorization", "Bearer " + r.Token(t, ownCommunity), "Idempotency-Key", "batch-" + strings.Repeat("7", 8)}
	body := `{"households":[
		{"community":"huayang-01","target_groups":["elderly"],"needs":[{"category":"elderly_care"},{"category":"material_aid","urgency":"high"}]},
		{"community":"huayang-01","needs":[{"category":"counselling"}]},
		{"community":"xinhua-01","needs":[{"category":"counselling"}]},
		{"community":"huayang-01","needs":[{"category":"no_such_service"}]},
		{"community":"no-such-community","needs":[{"category":"counselling"}]}]}`
	before := r.Head(t)
	code, _, out := r.Call(t, "POST", "/v1/households/batch", body, as...)
	if code != 200 {
		t.Fatalf("batch: %d %v", code, out)
	}
	results := out["results"].([]any)
	status := func(i int) float64 { return results[i].(map[string]any)["status"].(float64) }
	if len(results) != 5 || status(0) != 201 || status(1) != 201 || status(2) != 403 || status(3) != 422 || status(4) != 422 {
		t.Fatalf("statuses: %v", results)
	}
	for i, want := range map[int]string{3: "/households/3/needs", 4: "/households/4/community"} {
		bad := results[i].(map[string]any)["problem"].(map[string]any)["errors"].([]any)[0].(map[string]any)["pointer"].(string)
		if !strings.HasPrefix(bad, want) {
			t.Fatalf("household %d's field is pointed at as %q, want %s…", i, bad, want)
		}
	}
	var needs []string
	households := map[string]bool{}
	for _, i := range []int{0, 1} {
		res := results[i].(map[string]any)["result"].(map[string]any)
		households[res["household_id"].(string)] = true
		for _, n := range res["needs"].([]any) {
			needs = append(needs, n.(map[string]any)["need_id"].(string))
		}
	}
	if len(needs) != 3 || len(households) != 2 {
		t.Fatalf("registered needs %v of households %v", needs, households)
	}
	for _, n := range needs {
		r.Need(t, n, func(v projections.NeedView) bool { return v.Status == "waitlisted" || v.Status == "proposed" })
	}
	written := r.Head(t)
	// Sent again: the same households, replayed; nothing written.
	code, _, again := r.Call(t, "POST", "/v1/households/batch", body, as...)
	if code != 200 {
		t.Fatalf("batch again: %d %v", code, again)
	}
	for i, x := range again["results"].([]any) {
		item := x.(map[string]any)
		if want := []float64{200, 200, 403, 422, 422}[i]; item["status"].(float64) != want {
			t.Fatalf("household %d replayed with status %v, want %v", i, item["status"], want)
		}
		if i < 2 {
			res := item["result"].(map[string]any)
			if item["status"].(float64) != 200 || !households[res["household_id"].(string)] || res["replayed"] != true {
				t.Fatalf("household %d replayed as %v", i, item)
			}
		}
	}
	if h := r.Head(t); h != written {
		t.Fatalf("the replayed batch wrote %d entries", h-written)
	}
	// A household sent alone under the batch's key and an index is a new command,
	// not household 0 of the batch.
	alone := []string{"Authorization", as[1], "Idempotency-Key", as[3] + ":0"}
	code, _, out = r.Call(t, "POST", "/v1/households", `{"community":"huayang-01","needs":[{"category":"legal_aid"}]}`, alone...)
	if code != 201 || households[out["household_id"].(string)] {
		t.Fatalf("a household alone under the key %s:0: %d %v", as[3], code, out)
	}
	r.Need(t, out["needs"].([]any)[0].(map[string]any)["need_id"].(string),
		func(v projections.NeedView) bool { return v.Status == "waitlisted" || v.Status == "proposed" })
	written = r.Head(t)
	if written <= before {
		t.Fatal("the batch wrote nothing")
	}
	// Refused whole: no households, or more than 500.
	if code, _, out := r.Call(t, "POST", "/v1/households/batch", `{"households":[]}`, as[:2]...); code != 422 {
		t.Fatalf("empty batch: %d %v", code, out)
	}
	many := strings.Repeat(`{"community":"huayang-01","needs":[{"category":"counselling"}]},`, 501)
	if code, _, out := r.Call(t, "POST", "/v1/households/batch", `{"households":[`+strings.TrimSuffix(many, ",")+`]}`, as[:2]...); code != 422 {
		t.Fatalf("501 households: %d %v", code, out)
	}
	if h := r.Head(t); h != written {
		t.Fatalf("refused batches wrote %d entries", h-written)
	}
}
