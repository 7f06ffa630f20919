package node_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/tierlink/tierlink/infra/node/nodetest"
	"github.com/tierlink/tierlink/infra/redistest"
	"github.com/tierlink/tierlink/projections"
)

// TestFollowUpReopensANeed runs the adviser's loop on Redis: a referral completed
// is followed up "not resolved"; the need reopened links to it, waits for supply,
// and is proposed the offer posted after; the follow-up's retry names the same
// reopened need, replayed; another community's centre is refused with nothing
// named, and a stale If-Match with 412, neither appending. The case shows the
// visits and assessments recorded, and the indicators count the follow-up.
func TestFollowUpReopensANeed(t *testing.T) {
	t.Parallel()
	r := nodetest.Start(t, redistest.Real(t), "node-followup")
	f := newFixture(t, r, true)
	centre := []string{"Authorization", "Bearer " + r.Token(t, ownCommunity)}
	if code, _, out := r.Call(t, "POST", "/v1/referrals/"+f.referral+"/start", "", "Authorization", "Bearer "+r.Token(t, ownProvider)); code != 201 {
		t.Fatalf("start: %d %v", code, out)
	}
	complete(t, r, f)
	done := r.Need(t, f.need, func(v projections.NeedView) bool { return v.Status == "completed" })
	if done.Referral == nil || done.Referral.CompletedAt == nil || !done.FollowUpDue.Equal(done.Referral.CompletedAt.Add(14*24*time.Hour)) {
		t.Fatalf("completed need: follow-up due %v", done.FollowUpDue)
	}
	path := "/v1/referrals/" + f.referral + "/follow-up"
	body := `{"outcome":"not_resolved","satisfaction":2,"note":"the sessions stopped after two weeks"}`
	r.Settle(t)
	before := r.Head(t)
	// Refused: another community's centre, with nothing named; a stale If-Match;
	// and bad input, field by field.
	code, hdr, out := r.Call(t, "POST", path, body, "Authorization", "Bearer "+r.Token(t, otherCommunity), "Idempotency-Key", "fu-1")
	if code != http.StatusForbidden {
		t.Fatalf("another community's centre: %d %v", code, out)
	}
	checkRefusal(t, otherCommunity, f, path+body, hdr, out)
	if code, _, out := r.Call(t, "POST", path, body, append(centre, "If-Match", `"1"`)...); code != http.StatusPreconditionFailed {
		t.Fatalf("a stale If-Match: %d %v", code, out)
	}
	code, _, out = r.Call(t, "POST", path, `{"outcome":"not_resolved","satisfaction":9}`, centre...)
	if errs, _ := out["errors"].([]any); code != 422 || len(errs) != 2 {
		t.Fatalf("satisfaction 9 and no note: %d %v", code, out)
	}
	if after := r.Head(t); after != before {
		t.Fatalf("refusals appended %d events", after-before)
	}
	// The follow-up, with If-Match at the need's version.
	code, _, first := r.Call(t, "POST", path, body, append(centre, "Idempotency-Key", "fu-1", "If-Match", fmt.Sprintf(`"%d"`, done.Version))...)
	if code != http.StatusCreated || first["outcome"] != "not_resolved" || first["need_id"] != f.need || first["replayed"] != false {
		t.Fatalf("follow-up: %d %v", code, first)
	}
	reopened, _ := first["reopened_as"].(string)
	if reopened == "" || reopened == f.need {
		t.Fatalf("no need reopened: %v", first)
	}
	v := r.Need(t, reopened, func(v projections.NeedView) bool { return v.Status == "waitlisted" })
	if v.Reopens == nil || v.Reopens.NeedID != f.need || v.Reopens.ReferralID != f.referral || v.Category != "counselling" {
		t.Fatalf("reopened need %+v", v)
	}
	old := r.Need(t, f.need, func(v projections.NeedView) bool { return v.FollowUp != nil })
	if old.FollowUp.Outcome != "not_resolved" || old.FollowUp.ReopenedAs != reopened || old.Steps[len(old.Steps)-1].What != "followed_up" {
		t.Fatalf("followed-up need %+v", old.FollowUp)
	}
	// Supply: the matcher proposes the reopened need a new referral.
	code, _, o := r.Call(t, "POST", "/v1/offers", `{"provider":"prov-a","category":"counselling","capacity":1,"scope":{"tier":"community","area":"huayang-01"}}`,
		"Authorization", "Bearer "+r.Token(t, ownProvider))
	if code != http.StatusCreated {
		t.Fatalf("offer: %d %v", code, o)
	}
	p := r.Need(t, reopened, func(v projections.NeedView) bool { return v.Status == "proposed" })
	if p.Referral == nil || p.Referral.OfferID != o["offer_id"] || p.Referral.ID == f.referral {
		t.Fatalf("reopened need proposed %+v", p.Referral)
	}
	// The retry, after all that and with a stale If-Match, is the first answer.
	r.Settle(t)
	before = r.Head(t)
	for _, extra := range [][]string{nil, {"If-Match", `"1"`}} {
		code, _, again := r.Call(t, "POST", path, body, append(append(centre, "Idempotency-Key", "fu-1"), extra...)...)
		if code != http.StatusOK || again["reopened_as"] != reopened || again["replayed"] != true || !sameAnswer(first, again) {
			t.Fatalf("retry %v: %d %v, first %v", extra, code, again, first)
		}
	}
	// A second follow-up is refused.
	if code, _, out := r.Call(t, "POST", path, body, centre...); code != http.StatusConflict {
		t.Fatalf("a second follow-up: %d %v", code, out)
	}
	if after := r.Head(t); after != before {
		t.Fatalf("retries appended %d events", after-before)
	}
	// A visit and a reassessment show in the case; the follow-up in the indicators.
	visit := `{"visitor":"Wang Fang","kind":"home","visited_at":"` + time.Now().UTC().Add(-time.Hour).Format(time.RFC3339) + `","found":"no heating"}`
	if code, _, out := r.Call(t, "POST", "/v1/households/"+f.household+"/visits", visit, centre...); code != 201 {
		t.Fatalf("visit: %d %v", code, out)
	}
	code, _, re := r.Call(t, "POST", "/v1/households/"+f.household+"/assessments", `{"assessment":{"income":4,"health":3},"note":"lost her job"}`, centre...)
	if code != 201 {
		t.Fatalf("reassess: %d %v", code, re)
	}
	r.Settle(t)
	_, _, c := r.Call(t, "GET", "/v1/households/"+f.household, "", centre...)
	hh := c["household"].(map[string]any)
	if vs := hh["visits"].([]any); len(vs) != 1 || vs[0].(map[string]any)["found"] != "no heating" {
		t.Fatalf("visits %v", hh["visits"])
	}
	if as := hh["assessments"].([]any); len(as) != 2 || hh["hardship"] != re["hardship"] {
		t.Fatalf("assessments %v, hardship %v, reassessed to %v", hh["assessments"], hh["hardship"], re["hardship"])
	}
	if p := r.Need(t, reopened, func(projections.NeedView) bool { return true }); float64(p.Hardship) != re["hardship"] {
		t.Fatalf("the open need's hardship %d, the household's %v", p.Hardship, re["hardship"])
	}
	_, _, ind := r.Call(t, "GET", "/v1/indicators/community/huayang-01?period=day", "", centre...)
	all := ind["follow_ups"].(map[string]any)["all"].(map[string]any)
	if all["recorded"] != 1.0 || all["not_resolved"] != 1.0 || all["satisfaction"] != 2.0 ||
		ind["follow_ups"].(map[string]any)["by_provider"].(map[string]any)["prov-a"] == nil {
		t.Fatalf("follow-up indicators %v", ind["follow_ups"])
	}
}
