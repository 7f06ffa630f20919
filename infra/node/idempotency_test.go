package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/node/nodetest"
	"github.com/tierlink/tierlink/infra/redistest"
	"github.com/tierlink/tierlink/infra/webhook"
	"github.com/tierlink/tierlink/notification"
	"github.com/tierlink/tierlink/projections"
)

// idemCase is one mutating endpoint under the idempotency rule: who sends it, on
// what, with which body; another body; a principal that may not send it; and a
// step that moves the resource on between the first attempt and its retry.
type idemCase struct {
	route    string // the server's route pattern, to check every one is here
	accepted bool   // the fixture's referral accepted first
	started  bool   // and its service started
	// completed has the fixture's referral completed (accepted and started too).
	completed bool
	// subscription gives the fixture a subscription of the owner's.
	subscription bool
	// applied has the household apply for this programme first.
	applied  string
	path     func(f fixture) string
	owner    domain.Principal
	body     string
	other    string
	outsider domain.Principal
	// next moves the state on after the first attempt, so that the retry finds
	// the resource elsewhere than the first attempt did.
	next func(t *testing.T, r *nodetest.Running, f fixture, first map[string]any)
}

func idemCases() []idemCase {
	as := func(t *testing.T, r *nodetest.Running, p domain.Principal) []string {
		return []string{"Authorization", "Bearer " + r.Token(t, p)}
	}
	expect := func(t *testing.T, code int, out map[string]any, want int, what string) {
		t.Helper()
		if code != want {
			t.Fatalf("%s: %d %v", what, code, out)
		}
	}
	startService := func(t *testing.T, r *nodetest.Running, f fixture, _ map[string]any) {
		code, _, out := r.Call(t, "POST", "/v1/referrals/"+f.referral+"/start", "", as(t, r, ownProvider)...)
		expect(t, code, out, 201, "start")
	}
	withdrawNeed := func(t *testing.T, r *nodetest.Running, f fixture, _ map[string]any) {
		code, _, out := r.Call(t, "POST", "/v1/needs/"+f.need+"/withdraw", "", as(t, r, ownCommunity)...)
		expect(t, code, out, 201, "withdraw the need")
	}
	entitlement := func(programme, action string) func(f fixture) string {
		return func(f fixture) string {
			return "/v1/households/" + f.household + "/entitlements/" + programme + "/" + action
		}
	}
	visit := func(who string) string {
		return `{"visitor":"` + who + `","kind":"home","visited_at":"` + time.Now().UTC().Add(-time.Hour).Format(time.RFC3339) + `"}`
	}
	return []idemCase{
		{route: "POST /v1/households/{id}/visits", path: func(f fixture) string { return "/v1/households/" + f.household + "/visits" },
			owner: ownCommunity, body: visit("Wang Fang"), other: visit("Li Na"), outsider: otherCommunity,
			next: func(t *testing.T, r *nodetest.Running, f fixture, _ map[string]any) {
				code, _, out := r.Call(t, "POST", "/v1/households/"+f.household+"/assessments", `{"assessment":{"income":4}}`, as(t, r, ownCommunity)...)
				expect(t, code, out, 201, "reassess")
			}},
		{route: "POST /v1/households/{id}/assessments", path: func(f fixture) string { return "/v1/households/" + f.household + "/assessments" },
			owner: ownStreet, body: `{"assessment":{"income":3},"note":"lost her job"}`, other: `{"assessment":{"income":2}}`, outsider: otherCommunity,
			next: func(t *testing.T, r *nodetest.Running, f fixture, _ map[string]any) {
				code, _, out := r.Call(t, "POST", "/v1/households/"+f.household+"/visits", visit("Wang Fang"), as(t, r, ownCommunity)...)
				expect(t, code, out, 201, "visit")
			}},
		{route: "POST /v1/referrals/{id}/follow-up", completed: true, path: func(f fixture) string { return "/v1/referrals/" + f.referral + "/follow-up" },
			owner: ownCommunity, body: `{"outcome":"resolved","satisfaction":5}`, other: `{"outcome":"partly","satisfaction":4}`, outsider: otherCommunity},
		{route: "POST /v1/households/{id}/entitlements/{programme}/apply", path: entitlement("temporary_assistance", "apply"),
			owner: ownCommunity, body: ``, outsider: otherCommunity,
			next: func(t *testing.T, r *nodetest.Running, f fixture, _ map[string]any) {
				code, _, out := r.Call(t, "POST", entitlement("temporary_assistance", "grant")(f), "", as(t, r, ownCommunity)...)
				expect(t, code, out, 201, "grant")
			}},
		{route: "POST /v1/households/{id}/entitlements/{programme}/grant", applied: "temporary_assistance",
			path: entitlement("temporary_assistance", "grant"), owner: ownCommunity, body: ``, outsider: ownProvider},
		{route: "POST /v1/households/{id}/entitlements/{programme}/refuse", applied: "temporary_assistance",
			path: entitlement("temporary_assistance", "refuse"), owner: ownCommunity,
			body: `{"note":"income above the line"}`, other: `{"note":"moved away"}`, outsider: otherCommunity,
			next: func(t *testing.T, r *nodetest.Running, f fixture, _ map[string]any) {
				code, _, out := r.Call(t, "POST", entitlement("temporary_assistance", "apply")(f), "", as(t, r, ownCommunity)...)
				expect(t, code, out, 201, "apply again")
			}},
		{route: "POST /v1/households", path: func(fixture) string { return "/v1/households" }, owner: ownCommunity,
			body:  `{"community":"huayang-01","needs":[{"category":"legal_aid"}]}`,
			other: `{"community":"huayang-01","needs":[{"category":"material_aid"}]}`, outsider: otherCommunity,
			next: func(t *testing.T, r *nodetest.Running, _ fixture, first map[string]any) {
				id := first["household_id"].(string)
				code, _, out := r.Call(t, "POST", "/v1/households/"+id+"/needs", `{"needs":[{"category":"homework_tutoring"}]}`, as(t, r, ownCommunity)...)
				expect(t, code, out, 201, "another need")
			}},
		{route: "POST /v1/households/batch", path: func(fixture) string { return "/v1/households/batch" }, owner: ownStreet,
			body: `{"households":[{"community":"huayang-01","needs":[{"category":"legal_aid"}]},{"community":"huayang-02","needs":[{"category":"homework_tutoring"}]}]}`,
			// The first two households as before and a third: another batch, refused
			// whole (its third household was registered, and the first two replayed).
			other: `{"households":[{"community":"huayang-01","needs":[{"category":"legal_aid"}]},{"community":"huayang-02","needs":[{"category":"homework_tutoring"}]},` +
				`{"community":"huayang-01","needs":[{"category":"material_aid"}]}]}`,
			outsider: otherStreet},
		{route: "POST /v1/households/{id}/needs", path: func(f fixture) string { return "/v1/households/" + f.household + "/needs" }, owner: ownCommunity,
			body: `{"needs":[{"category":"legal_aid"}]}`, other: `{"needs":[{"category":"material_aid"}]}`, outsider: otherCommunity,
			next: func(t *testing.T, r *nodetest.Running, _ fixture, first map[string]any) {
				id := first["needs"].([]any)[0].(map[string]any)["need_id"].(string)
				code, _, out := r.Call(t, "POST", "/v1/needs/"+id+"/withdraw", "", as(t, r, ownCommunity)...)
				expect(t, code, out, 201, "withdraw the new need")
			}},
		{route: "POST /v1/offers", path: func(fixture) string { return "/v1/offers" }, owner: ownProvider,
			body:     `{"provider":"prov-a","category":"material_aid","capacity":2,"scope":{"tier":"street","area":"huayang"}}`,
			other:    `{"provider":"prov-a","category":"material_aid","capacity":3,"scope":{"tier":"street","area":"huayang"}}`,
			outsider: otherProvider,
			next: func(t *testing.T, r *nodetest.Running, _ fixture, first map[string]any) {
				code, _, out := r.Call(t, "POST", "/v1/offers/"+first["offer_id"].(string)+"/withdraw", "", as(t, r, ownProvider)...)
				expect(t, code, out, 201, "withdraw the offer")
			}},
		{route: "POST /v1/offers/{id}/capacity", path: func(f fixture) string { return "/v1/offers/" + f.offer + "/capacity" }, owner: ownProvider,
			body: `{"capacity":40}`, other: `{"capacity":41}`, outsider: otherProvider,
			next: func(t *testing.T, r *nodetest.Running, f fixture, _ map[string]any) {
				code, _, out := r.Call(t, "POST", "/v1/offers/"+f.offer+"/capacity", `{"capacity":42}`, as(t, r, ownProvider)...)
				expect(t, code, out, 201, "another capacity")
			}},
		{route: "POST /v1/offers/{id}/withdraw", path: func(f fixture) string { return "/v1/offers/" + f.offer + "/withdraw" }, owner: ownProvider,
			body: ``, outsider: otherProvider},
		{route: "POST /v1/needs/{id}/withdraw", path: func(f fixture) string { return "/v1/needs/" + f.need + "/withdraw" }, owner: ownCommunity,
			body: `{"note":"moved away"}`, other: `{"note":"moved to Minhang"}`, outsider: otherCommunity},
		{route: "POST /v1/referrals/{id}/accept", path: func(f fixture) string { return "/v1/referrals/" + f.referral + "/accept" }, owner: ownCommunity,
			body: ``, other: `{"note":"after a call"}`, outsider: otherCommunity, next: startService},
		{route: "POST /v1/referrals/{id}/decline", path: func(f fixture) string { return "/v1/referrals/" + f.referral + "/decline" }, owner: ownCommunity,
			body: `{"reason":"household_refused"}`, other: `{"reason":"not_suitable"}`, outsider: ownStreet, next: withdrawNeed},
		{route: "POST /v1/referrals/{id}/escalate", path: func(f fixture) string { return "/v1/referrals/" + f.referral + "/escalate" }, owner: ownCommunity,
			body: ``, other: `{"note":"needs the street"}`, outsider: otherCommunity, next: withdrawNeed},
		{route: "POST /v1/referrals/{id}/start", accepted: true, path: func(f fixture) string { return "/v1/referrals/" + f.referral + "/start" }, owner: ownProvider,
			body: ``, outsider: otherProvider,
			next: func(t *testing.T, r *nodetest.Running, f fixture, _ map[string]any) {
				code, _, out := r.Call(t, "POST", "/v1/referrals/"+f.referral+"/complete", "", as(t, r, ownProvider)...)
				expect(t, code, out, 201, "complete")
			}},
		{route: "POST /v1/referrals/{id}/complete", accepted: true, started: true, path: func(f fixture) string { return "/v1/referrals/" + f.referral + "/complete" },
			owner: ownProvider, body: ``, outsider: otherProvider},
		{route: "POST /v1/subscriptions", path: func(fixture) string { return "/v1/subscriptions" }, owner: ownProvider,
			body:     subscriptionBody(ownProvider, "https://example.org/hooks/a"),
			other:    subscriptionBody(ownProvider, "https://example.org/hooks/b"),
			outsider: foreignCentre,
			next: func(t *testing.T, r *nodetest.Running, _ fixture, first map[string]any) {
				code, _, out := r.Call(t, "DELETE", "/v1/subscriptions/"+subscriptionID(first), "", as(t, r, ownProvider)...)
				expect(t, code, out, 200, "delete the subscription")
			}},
		{route: "POST /v1/subscriptions/{id}/dead-letters/{delivery}/redeliver", subscription: true,
			path: func(f fixture) string {
				return "/v1/subscriptions/" + f.subscription + "/dead-letters/" + f.dead + "/redeliver"
			},
			owner: ownCommunity, body: ``, outsider: otherCommunity,
			next: func(t *testing.T, r *nodetest.Running, f fixture, _ map[string]any) {
				code, _, out := r.Call(t, "DELETE", "/v1/subscriptions/"+f.subscription, "", as(t, r, ownCommunity)...)
				expect(t, code, out, 200, "delete the subscription")
			}},
	}
}

// TestEveryCommandIsIdempotent runs every mutating endpoint through the
// idempotency rule of docs/api.md: the first attempt applied and its answer lost,
// the retry (also with a stale If-Match, after the state moved on) gets the first
// answer back; the same key with another body is refused; another principal
// sending the key is refused and told nothing; concurrent duplicates take effect
// once. Publishing reference data is left out: it is idempotent by its content.
func TestEveryCommandIsIdempotent(t *testing.T) {
	t.Parallel()
	r := nodetest.Start(t, redistest.Real(t), "node-idem")
	cases := idemCases()
	covered := map[string]bool{}
	for _, c := range cases {
		covered[c.route] = true
	}
	for _, route := range r.Node.API().Routes() {
		if (strings.HasPrefix(route, "POST ") || strings.HasPrefix(route, "PUT ")) && !covered[route] && route != "PUT /v1/reference/{district}" {
			t.Errorf("no idempotency case for %s", route)
		}
	}
	for i, c := range cases {
		t.Run(c.route, func(t *testing.T) {
			f := prepared(t, r, c)
			defer tidy(t, r, f)
			key := fmt.Sprintf("idem-%d-%s", i, f.referral)
			owner := []string{"Authorization", "Bearer " + r.Token(t, c.owner), "Idempotency-Key", key}
			claim(t, r, c.outsider, key) // a key used by another principal is not the owner's
			r.Settle(t)
			code, _, first := r.Call(t, "POST", c.path(f), c.body, owner...)
			if code != 201 && code != 200 && code != 202 {
				t.Fatalf("first attempt: %d %v", code, first)
			}
			r.Settle(t)
			events := eventsOf(t, r, c.owner, key)
			if len(events) == 0 {
				t.Fatal("the first attempt wrote nothing under its key")
			}
			if c.next != nil {
				c.next(t, r, f, first)
				r.Settle(t)
			}
			before := r.Head(t)
			// The answer was lost: the retry, plain and with a stale If-Match, gets it.
			for _, extra := range [][]string{nil, {"If-Match", `"1"`}} {
				code, _, again := r.Call(t, "POST", c.path(f), c.body, append(slices.Clone(owner), extra...)...)
				if code != 200 || !sameAnswer(first, again) {
					t.Fatalf("retry %v: %d %v, first %v", extra, code, again, first)
				}
			}
			// The same key for another request of the owner's: refused as reused.
			if c.other != "" {
				code, _, out := r.Call(t, "POST", c.path(f), c.other, owner...)
				if code != 422 || !strings.HasSuffix(fmt.Sprint(out["type"]), "#idempotency-key-reused") {
					t.Fatalf("another body under the key: %d %v", code, out)
				}
			}
			// Another principal sending the same request under the same key is
			// refused by access, and told nothing of the first command.
			code, hdr, out := r.Call(t, "POST", c.path(f), c.body, "Authorization", "Bearer "+r.Token(t, c.outsider), "Idempotency-Key", key, "If-Match", `"1"`)
			if c.route == "POST /v1/households/batch" {
				for _, item := range out["results"].([]any) {
					if st := item.(map[string]any)["status"].(float64); st != 403 {
						t.Fatalf("a batch by %s under the owner's key: item %v", c.outsider, item)
					}
				}
			} else if code != 403 {
				t.Fatalf("%s under the owner's key: %d %v", c.outsider, code, out)
			} else {
				checkRefusal(t, c.outsider, f, c.path(f)+c.body, hdr, out)
			}
			for _, id := range ids(first) {
				if strings.Contains(fmt.Sprint(out), id) && !strings.Contains(c.path(f)+c.body, id) {
					t.Fatalf("the refusal to %s carries %s of the first answer: %v", c.outsider, id, out)
				}
			}
			if after := r.Head(t); after != before {
				t.Fatalf("retries and refusals appended %d entries", after-before)
			}
			// Concurrent duplicates on a fresh resource: one effect, one answer.
			g := prepared(t, r, c)
			defer tidy(t, r, g)
			r.Settle(t)
			dup := fmt.Sprintf("idem-dup-%d-%s", i, g.referral)
			answers := make([]map[string]any, 8)
			codes := make([]int, 8)
			var wg sync.WaitGroup
			for k := range answers {
				wg.Go(func() {
					codes[k], _, answers[k] = r.Call(t, "POST", c.path(g), c.body, "Authorization", "Bearer "+r.Token(t, c.owner), "Idempotency-Key", dup)
				})
			}
			wg.Wait()
			created := 0
			for k := range answers {
				switch {
				case codes[k] == 201 || codes[k] == 202 || codes[k] == 200 && c.route == "POST /v1/households/batch" && answers[k]["results"].([]any)[0].(map[string]any)["status"].(float64) == 201:
					created++
				case codes[k] != 200:
					t.Fatalf("a concurrent duplicate: %d %v", codes[k], answers[k])
				}
				if !sameAnswer(answers[0], answers[k]) {
					t.Fatalf("concurrent duplicates answered differently: %v and %v", answers[0], answers[k])
				}
			}
			if created != 1 {
				t.Fatalf("%d of the concurrent duplicates say they took effect", created)
			}
			r.Settle(t)
			if n := len(eventsOf(t, r, c.owner, dup)); n != len(events) {
				t.Fatalf("concurrent duplicates wrote %d events under their key; one attempt writes %d", n, len(events))
			}
		})
	}
}

// prepared makes a fixture in the state a case needs.
func prepared(t *testing.T, r *nodetest.Running, c idemCase) fixture {
	t.Helper()
	f := newFixture(t, r, c.accepted || c.completed)
	if c.subscription {
		f.subscription = subscriptionID(subscribe(t, r, c.owner))
		f.dead = deadLetter(t, r, f.subscription)
	}
	if c.applied != "" {
		path := "/v1/households/" + f.household + "/entitlements/" + c.applied + "/apply"
		if code, _, out := r.Call(t, "POST", path, "", "Authorization", "Bearer "+r.Token(t, ownCommunity)); code != 201 {
			t.Fatalf("apply: %d %v", code, out)
		}
	}
	if c.started || c.completed {
		code, _, out := r.Call(t, "POST", "/v1/referrals/"+f.referral+"/start", "", "Authorization", "Bearer "+r.Token(t, ownProvider))
		if code != 201 {
			t.Fatalf("start: %d %v", code, out)
		}
		r.Need(t, f.need, func(v projections.NeedView) bool { return v.Status == "in_service" })
	}
	if c.completed {
		complete(t, r, f)
	}
	return f
}

// complete has the provider complete the fixture's service, started already.
func complete(t *testing.T, r *nodetest.Running, f fixture) {
	t.Helper()
	code, _, out := r.Call(t, "POST", "/v1/referrals/"+f.referral+"/complete", "", "Authorization", "Bearer "+r.Token(t, ownProvider))
	if code != 201 {
		t.Fatalf("complete: %d %v", code, out)
	}
	r.Need(t, f.need, func(v projections.NeedView) bool { return v.Status == "completed" })
}

// claim has a principal use a key first for a command of its own.
func claim(t *testing.T, r *nodetest.Running, p domain.Principal, key string) {
	t.Helper()
	if p == foreignCentre {
		return // it may do nothing in this node's district
	}
	path, body := "/v1/offers", `{"provider":"`+p.Provider+`","category":"material_aid","capacity":1,"scope":{"tier":"street","area":"xinhua"}}`
	if p.Role == domain.RoleCentre {
		community := map[string]string{"xinhua-01": "xinhua-01", "xinhua": "xinhua-01", "huayang": "huayang-02"}[p.Area]
		path, body = "/v1/households", `{"community":"`+community+`","needs":[{"category":"legal_aid"}]}`
	}
	if code, _, out := r.Call(t, "POST", path, body, "Authorization", "Bearer "+r.Token(t, p), "Idempotency-Key", key); code != 201 {
		t.Fatalf("%s's own command under %s: %d %v", p, key, code, out)
	}
}

// tidy withdraws a fixture's need if it still waits, so that it does not take the
// offer of the next fixture.
func tidy(t *testing.T, r *nodetest.Running, f fixture) {
	t.Helper()
	r.Settle(t)
	r.Call(t, "POST", "/v1/needs/"+f.need+"/withdraw", "", "Authorization", "Bearer "+r.Token(t, ownCommunity))
	r.Settle(t)
}

// sameAnswer reports whether two answers are one, but for "replayed" (a batch's
// items too).
func sameAnswer(a, b map[string]any) bool {
	strip := func(m map[string]any) string {
		m = maps.Clone(m)
		delete(m, "replayed")
		if items, ok := m["results"].([]any); ok {
			out := make([]any, len(items))
			for i, x := range items {
				item := maps.Clone(x.(map[string]any))
				delete(item, "status")
				if res, ok := item["result"].(map[string]any); ok {
					res = maps.Clone(res)
					delete(res, "replayed")
					item["result"] = res
				}
				out[i] = item
			}
			m["results"] = out
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	return strip(a) == strip(b)
}

// idShape is the shape of the ids tierlink makes (UUIDs).
var idShape = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// ids lists the ids an answer carries.
func ids(answer map[string]any) []string {
	b, _ := json.Marshal(answer)
	return idShape.FindAllString(string(b), -1)
}

// eventsOf returns the ids of the events in the log written under a principal's
// key (a batch's households' too).
func eventsOf(t *testing.T, r *nodetest.Running, p domain.Principal, key string) []string {
	t.Helper()
	msgs, err := r.Client.XRange(context.Background(), "tl:{changning}:log", "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	id := "idem:" + p.String() + "/" + key
	var out []string
	for _, m := range msgs {
		for _, v := range m.Values {
			var e struct {
				CommandID string `json:"command_id"`
			}
			if s, ok := v.(string); ok && json.Unmarshal([]byte(s), &e) == nil && (e.CommandID == id || strings.HasPrefix(e.CommandID, id+"#")) {
				out = append(out, m.ID)
			}
		}
	}
	return out
}

// TestWebFormsSentTwiceTakeEffectOnce sends a centre's accept form and household
// form twice, as a double click or a reload would: the second is answered as the
// first, and the log holds one effect.
func TestWebFormsSentTwiceTakeEffectOnce(t *testing.T) {
	t.Parallel()
	r := nodetest.Start(t, redistest.Real(t), "node-web-idem")
	f := newFixture(t, r, false)
	b := browser(t)
	base := r.Server.URL
	signIn(t, b, base, r.Token(t, ownCommunity))
	_, _, html := page(t, b, "GET", base+"/ui/inbox", nil, "en")
	form := regexp.MustCompile(`action="/ui/referrals/` + f.referral + `/accept"><input type="hidden" name="csrf" value="([0-9a-f]+)"><input type="hidden" name="idempotency_key" value="([0-9a-f]+)">`).FindStringSubmatch(html)
	if form == nil {
		t.Fatalf("no accept form with a key in the inbox: %s", html)
	}
	values := url.Values{"csrf": {form[1]}, "idempotency_key": {form[2]}}
	for attempt := range 2 {
		code, hdr, body := page(t, b, "POST", base+"/ui/referrals/"+f.referral+"/accept", values, "en")
		if code != http.StatusSeeOther || hdr.Get("Location") != "/ui/inbox?done=accept" {
			t.Fatalf("accept, attempt %d: %d → %s %s", attempt+1, code, hdr.Get("Location"), body)
		}
	}
	r.Settle(t)
	if n := len(eventsOf(t, r, ownCommunity, "form-"+form[2])); n != 1 {
		t.Fatalf("the accept form sent twice wrote %d events", n)
	}
	_, _, html = page(t, b, "GET", base+"/ui/households/new", nil, "en")
	hh := regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"><input type="hidden" name="idempotency_key" value="([0-9a-f]+)">`).FindStringSubmatch(html)
	if hh == nil {
		t.Fatalf("no household form with a key: %s", html)
	}
	values = url.Values{"csrf": {hh[1]}, "idempotency_key": {hh[2]}, "community": {"huayang-01"}, "need": {"legal_aid"}, "urgency": {"normal"}}
	var where []string
	for range 2 {
		code, hdr, _ := page(t, b, "POST", base+"/ui/households", values, "en")
		if code != http.StatusSeeOther {
			t.Fatalf("register: %d", code)
		}
		where = append(where, hdr.Get("Location"))
	}
	if where[0] != where[1] || !strings.HasPrefix(where[0], "/ui/households/") {
		t.Fatalf("the household form sent twice went to %v", where)
	}
	// The same form sent again with other values (edited after a lost answer) is
	// the person's mistake, told in their language: not a server fault.
	edited := url.Values{}
	for k, v := range values {
		edited[k] = v
	}
	edited.Set("need", "counselling")
	if code, _, body := page(t, b, "POST", base+"/ui/households", edited, "en"); code != http.StatusUnprocessableEntity ||
		!strings.Contains(body, "sent before with other values") {
		t.Fatalf("the household form sent again with other values: %d %s", code, body)
	}
	// Another centre's session cannot use the form's key to reach the household.
	o := browser(t)
	signIn(t, o, base, r.Token(t, otherCommunity))
	_, _, other := page(t, o, "GET", base+"/ui/households/new", nil, "en")
	csrf := regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`).FindStringSubmatch(other)[1]
	values.Set("csrf", csrf)
	code, hdr, body := page(t, o, "POST", base+"/ui/households", values, "en")
	if code != http.StatusForbidden || strings.Contains(body, strings.TrimPrefix(where[0], "/ui/households/")) || hdr.Get("Location") != "" {
		t.Fatalf("another centre under the form's key: %d → %s", code, hdr.Get("Location"))
	}
}

// TestEveryCommandFormCarriesItsOwnKey renders every page with command forms as
// the person it is for and checks each form but signing in and out carries a key of
// its own, and that together they cover every command route of the pages.
func TestEveryCommandFormCarriesItsOwnKey(t *testing.T) {
	t.Parallel()
	r := nodetest.Start(t, redistest.Real(t), "node-web-keys")
	proposed := newFixture(t, r, false)
	newFixture(t, r, true)                                  // an accepted referral: its provider's page offers "start"
	prepared(t, r, idemCase{accepted: true, started: true}) // one in service: "complete"
	base := r.Server.URL
	formRE := regexp.MustCompile(`(?s)<form method="post" action="([^"]+)"[^>]*>(.*?)</form>`)
	keyRE := regexp.MustCompile(`name="idempotency_key" value="([0-9a-f]{32})"`)
	seen := map[string]bool{}
	keys := map[string]bool{}
	for _, v := range []struct {
		who   domain.Principal
		pages []string
	}{
		{ownCommunity, []string{"/ui/inbox", "/ui/households/new", "/ui/households/" + proposed.household}},
		{ownProvider, []string{"/ui/offers", "/ui/referrals"}},
	} {
		b := browser(t)
		signIn(t, b, base, r.Token(t, v.who))
		for _, p := range v.pages {
			code, _, html := page(t, b, "GET", base+p, nil, "en")
			if code != http.StatusOK {
				t.Fatalf("%s as %s: %d", p, v.who, code)
			}
			for _, m := range formRE.FindAllStringSubmatch(html, -1) {
				action := regexp.MustCompile(`/[0-9a-f-]{36}/`).ReplaceAllString(m[1], "/{id}/")
				if action == "/ui/signout" {
					continue
				}
				seen[action] = true
				k := keyRE.FindStringSubmatch(m[2])
				if k == nil {
					t.Errorf("the form %s on %s has no key of its own", m[1], p)
					continue
				}
				if keys[k[1]] {
					t.Errorf("the form %s on %s shares its key with another form", m[1], p)
				}
				keys[k[1]] = true
			}
		}
	}
	for _, action := range []string{"/ui/referrals/{id}/accept", "/ui/referrals/{id}/decline", "/ui/referrals/{id}/escalate",
		"/ui/referrals/{id}/start", "/ui/referrals/{id}/complete", "/ui/households", "/ui/offers", "/ui/offers/{id}/capacity", "/ui/offers/{id}/withdraw",
		"/ui/households/{id}/needs", "/ui/needs/{id}/withdraw"} {
		if !seen[action] {
			t.Errorf("no page showed a form for %s (forms seen: %v; referral %s)", action, slices.Sorted(maps.Keys(seen)), proposed.referral)
		}
	}
}

// deadLetter puts a notification of the subscription among its dead letters, as the
// dispatcher does when a receiver refuses one, and returns its delivery id.
func deadLetter(t *testing.T, r *nodetest.Running, subscription string) string {
	t.Helper()
	outbox, err := webhook.NewOutbox(r.Client, "changning")
	if err != nil {
		t.Fatal(err)
	}
	id := uuid.NewString()
	n := notification.Notification{DeliveryID: id, Subscription: subscription, Kind: domain.KindReferralProposed, Key: "r", Position: 1,
		Time: time.Now(), Body: []byte(`{}`)}
	now := time.Now()
	err = outbox.MoveToDeadLetters(context.Background(), subscription, "0-1",
		webhook.DeadLetter{Notification: n, Reason: "the receiver refused it with status 410", Attempts: 1, First: now, Last: now},
		webhook.Attempt{DeliveryID: id, Kind: n.Kind, Position: 1, Attempt: 1, Time: now, Status: 410, Outcome: webhook.OutcomeDead})
	if err != nil {
		t.Fatal(err)
	}
	return id
}
