package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3filter"

	"github.com/tierlink/tierlink/app"
	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/httpapi"
	"github.com/tierlink/tierlink/infra/node/nodetest"
	"github.com/tierlink/tierlink/infra/redistest"
)

// TestBadInputOnEveryCommand sends every class of bad input to every mutating
// route the server answers (taken from Server.Routes, so that a new route must be
// added here): each is refused with its problem before anything else happens, and
// nothing is appended to the log.
func TestBadInputOnEveryCommand(t *testing.T) {
	t.Parallel()
	r := nodetest.Start(t, redistest.Real(t), "node-edges")
	f := newFixture(t, r, false)
	_, _, ref := r.Call(t, "GET", "/v1/reference/changning", "", "Authorization", "Bearer "+r.Token(t, operator))
	member := func(k string, v any) string {
		b, _ := json.Marshal(map[string]any{k: v})
		return string(b[1 : len(b)-1])
	}
	// A good body of each route, as its first member and the rest, and who sends it.
	type body struct {
		first, rest string
		who         domain.Principal
	}
	good := map[string]body{
		"POST /v1/households": {`"community":"huayang-01"`, `"needs":[{"category":"legal_aid"}]`, ownCommunity},
		"POST /v1/households/batch": {`"households":[{"community":"huayang-01","needs":[{"category":"legal_aid"}]}]`, "",
			ownCommunity},
		"POST /v1/households/{id}/needs": {`"needs":[{"category":"legal_aid"}]`, "", ownCommunity},
		"POST /v1/offers": {`"category":"legal_aid"`, `"provider":"prov-a","capacity":1,"scope":{"tier":"community","area":"huayang-01"}`,
			ownProvider},
		"POST /v1/offers/{id}/capacity":                                 {`"capacity":4`, "", ownProvider},
		"POST /v1/offers/{id}/withdraw":                                 {"", "", ownProvider},
		"POST /v1/needs/{id}/withdraw":                                  {`"note":"moved away"`, "", ownCommunity},
		"POST /v1/households/{id}/entitlements/{programme}/apply":       {"", "", ownCommunity},
		"POST /v1/households/{id}/entitlements/{programme}/grant":       {"", "", ownCommunity},
		"POST /v1/households/{id}/entitlements/{programme}/refuse":      {`"note":"income above the line"`, "", ownCommunity},
		"POST /v1/households/{id}/visits":                               {`"visitor":"Wang Fang"`, `"kind":"phone","visited_at":"2026-11-29T09:00:00Z"`, ownCommunity},
		"POST /v1/households/{id}/assessments":                          {`"assessment":{"income":3}`, `"note":"lost her job"`, ownCommunity},
		"POST /v1/referrals/{id}/follow-up":                             {`"outcome":"resolved"`, `"satisfaction":5`, ownCommunity},
		"POST /v1/referrals/{id}/accept":                                {`"note":"ok"`, "", ownCommunity},
		"POST /v1/referrals/{id}/decline":                               {`"reason":"household_refused"`, `"note":"no"`, ownCommunity},
		"POST /v1/referrals/{id}/escalate":                              {`"note":"up"`, "", ownCommunity},
		"POST /v1/referrals/{id}/start":                                 {"", "", ownProvider},
		"POST /v1/referrals/{id}/complete":                              {"", "", ownProvider},
		"PUT /v1/reference/{district}":                                  {member("policy", ref["policy"]), member("district", ref["district"]) + "," + member("categories", ref["categories"]), operator},
		"POST /v1/subscriptions":                                        {`"district":"changning"`, `"url":"https://example.org/h","kinds":["digest"]`, ownCommunity},
		"DELETE /v1/subscriptions/{id}":                                 {"", "", ownCommunity},
		"POST /v1/subscriptions/{id}/dead-letters/{delivery}/redeliver": {"", "", ownCommunity},
	}
	ids := map[string]string{"households": f.household, "offers": f.offer, "needs": f.need, "referrals": f.referral, "reference": "changning",
		"subscriptions": subscriptionID(subscribe(t, r, ownCommunity))}
	// The limits of docs/problems.md: 64 KiB a body, 1 MiB a batch.
	limit := func(route string) int {
		if strings.HasSuffix(route, "/batch") {
			return 1 << 20
		}
		return 64 << 10
	}
	join := func(members ...string) string {
		var nonEmpty []string
		for _, m := range members {
			if m != "" {
				nonEmpty = append(nonEmpty, m)
			}
		}
		return "{" + strings.Join(nonEmpty, ",") + "}"
	}
	type class struct {
		name     string
		body     func(b body) string // "" when the class does not apply to the route
		headers  []string
		status   int
		kind     string
		pointer  func(b body) string
		needsKey bool
	}
	key := func(b body) string { k, _, _ := strings.Cut(b.first, ":"); return strings.Trim(k, `"`) }
	classes := []class{
		{name: "wrong content type", body: func(b body) string { return join(b.first, b.rest) },
			headers: []string{"Content-Type", "application/json-patch+json"}, status: 415, kind: "unsupported-media-type"},
		{name: "text content type", body: func(b body) string { return join(b.first, b.rest) },
			headers: []string{"Content-Type", "text/plain; charset=utf-8"}, status: 415, kind: "unsupported-media-type"},
		{name: "duplicate key", body: func(b body) string { return join(b.first, b.first, b.rest) }, needsKey: true,
			status: 400, kind: "duplicate-field", pointer: func(b body) string { return "/" + key(b) }},
		{name: "case-changed key", body: func(b body) string {
			return join(`"`+strings.ToUpper(key(b))+`"`+strings.TrimPrefix(b.first, `"`+key(b)+`"`), b.rest)
		},
			needsKey: true, status: 400, kind: "unknown-field", pointer: func(b body) string { return "/" + strings.ToUpper(key(b)) }},
		{name: "unknown field", body: func(b body) string { return join(b.first, b.rest, `"name":"Li Wei"`) },
			status: 400, kind: "unknown-field", pointer: func(body) string { return "/name" }},
		{name: "trailing garbage", body: func(b body) string { return join(b.first, b.rest) + ` {"x":1}` }, status: 400, kind: "malformed-json"},
		{name: "oversize body", status: 413, kind: "body-too-large"}, // its body is made per route below
		// Decoding comes first: a good body with a malformed If-Match gets as far as
		// the headers, so this class also shows that the good bodies are good.
		{name: "malformed If-Match", body: func(b body) string { return join(b.first, b.rest) },
			headers: []string{"If-Match", "3"}, status: 400, kind: "invalid-header"},
	}
	r.Settle(t)
	mutating := 0
	for _, route := range r.Node.API().Routes() {
		method, pattern, _ := strings.Cut(route, " ")
		if method == "GET" {
			continue
		}
		mutating++
		b, ok := good[route]
		if !ok {
			t.Errorf("%s: no good body in this test; add one", route)
			continue
		}
		path := pattern
		for prefix, id := range ids {
			if strings.HasPrefix(pattern, "/v1/"+prefix+"/") {
				path = strings.NewReplacer("{id}", id, "{district}", id, "{delivery}", "d-1", "{programme}", "temporary_assistance").Replace(pattern)
			}
		}
		for _, c := range classes {
			if c.needsKey && b.first == "" {
				continue // the route takes no field: the unknown field class covers it
			}
			t.Run(c.name+" to "+route, func(t *testing.T) {
				var sent string
				if c.body != nil {
					sent = c.body(b)
				} else {
					sent = `{"note":"` + strings.Repeat("x", limit(route)) + `"}`
				}
				before := r.Head(t)
				headers := append([]string{"Authorization", "Bearer " + r.Token(t, b.who)}, c.headers...)
				code, hdr, out := r.Call(t, method, path, sent, headers...)
				if code != c.status || hdr.Get("Content-Type") != "application/problem+json" || out["type"] != problemType(c.kind) || out["detail"] == "" {
					t.Fatalf("%s %s with %.80s: %d %s %v, want %d %s", method, path, sent, code, hdr.Get("Content-Type"), out, c.status, c.kind)
				}
				if c.pointer != nil {
					errs, _ := out["errors"].([]any)
					if len(errs) != 1 || errs[0].(map[string]any)["pointer"] != c.pointer(b) {
						t.Fatalf("errors %v, want the pointer %s", out["errors"], c.pointer(b))
					}
				}
				if after := r.Head(t); after != before {
					t.Fatalf("a refused request appended %d events", after-before)
				}
			})
		}
	}
	if mutating != len(good) {
		t.Errorf("%d mutating routes, %d good bodies: remove the bodies of routes that are gone", mutating, len(good))
	}
}

// problemType is the type URI of a problem kind.
func problemType(kind string) string {
	return "https://github.com/tierlink/tierlink/blob/main/docs/problems.md#" + kind
}

// TestParametersAgreeWithTheSpec sends limit, cursor and If-Match values to every
// list endpoint (those whose operation declares limit) and to a command: the server
// refuses every value that openapi.yaml refuses (limit and If-Match: exactly those),
// with a problem, and takes the cursors a list gave.
func TestParametersAgreeWithTheSpec(t *testing.T) {
	t.Parallel()
	r := nodetest.Start(t, redistest.Real(t), "node-params")
	f := newFixture(t, r, false)
	newFixture(t, r, false)
	for i := 0; i < 2; i++ { // respite care is offered nowhere: on the street's waitlist
		r.Need(t, r.Register(t, "huayang-01", "respite_care")[0], nodetest.Waitlisted)
	}
	r.Settle(t)
	doc, err := httpapi.OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	// A cursor of the right form, too long for the spec.
	long := app.Cursor{ID: strings.Repeat("a", 400), Score: 1}.Encode()
	specAccepts := func(req *http.Request) error {
		t.Helper()
		route, params, err := r.Spec.FindRoute(req)
		if err != nil {
			t.Fatalf("%s %s: %v", req.Method, req.URL, err)
		}
		return openapi3filter.ValidateRequest(context.Background(), &openapi3filter.RequestValidationInput{
			Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, ExcludeRequestBody: true},
		})
	}
	// The list endpoints: every GET route whose operation takes a limit.
	paths := map[string]string{
		"GET /v1/inboxes/{tier}/{area}":    "/v1/inboxes/community/huayang-01",
		"GET /v1/waitlists/{tier}/{area}":  "/v1/waitlists/street/huayang",
		"GET /v1/providers/{id}/referrals": "/v1/providers/prov-a/referrals",
	}
	who := map[string]domain.Principal{"/v1/inboxes/community/huayang-01": ownCommunity, "/v1/waitlists/street/huayang": ownStreet,
		"/v1/providers/prov-a/referrals": ownProvider}
	// The lists that are not paged: a limit, no cursor.
	sub := subscriptionID(subscribe(t, r, ownProvider))
	limited := map[string]string{
		"GET /v1/subscriptions/{id}/deliveries":   "/v1/subscriptions/" + sub + "/deliveries",
		"GET /v1/subscriptions/{id}/dead-letters": "/v1/subscriptions/" + sub + "/dead-letters",
		// The watch lists page by ?after=, not ?cursor=; an operator reads them.
		"GET /v1/watchlists/{tier}/{area}": "/v1/watchlists/street/huayang",
	}
	limitedWho := map[string]domain.Principal{"/v1/watchlists/street/huayang": operator}
	lists := 0
	for _, route := range r.Node.API().Routes() {
		method, pattern, _ := strings.Cut(route, " ")
		op := doc.Paths.Value(pattern)
		if method != "GET" || op == nil || op.Get == nil || op.Get.Parameters.GetByInAndName("query", "limit") == nil {
			continue
		}
		lists++
		if op.Get.Parameters.GetByInAndName("query", "cursor") == nil {
			path, ok := limited[route]
			if !ok {
				t.Errorf("%s: a list endpoint this test does not know; add it", route)
				continue
			}
			reader, ok := limitedWho[path]
			if !ok {
				reader = ownProvider
			}
			as := []string{"Authorization", "Bearer " + r.Token(t, reader)}
			for _, q := range []string{"limit=0", "limit=-1", "limit=201", "limit=1001", "limit=abc", "limit=1.5", "limit=", "limit=1", "limit=200", "limit=1000", ""} {
				req, _ := http.NewRequest("GET", r.Server.URL+path+"?"+q, nil)
				specErr := specAccepts(req)
				code, _, out := r.Call(t, "GET", path+"?"+q, "", as...)
				if refused := code == 422; (specErr != nil) != refused || !refused && code != 200 {
					t.Errorf("%s?%s: the spec says %v, the server answers %d %v", path, q, specErr, code, out)
				}
			}
			continue
		}
		path, ok := paths[route]
		if !ok {
			t.Errorf("%s: a list endpoint this test does not know; add it", route)
			continue
		}
		as := []string{"Authorization", "Bearer " + r.Token(t, who[path])}
		_, _, first := r.Call(t, "GET", path+"?limit=1", "", as...)
		next, _ := first["next_cursor"].(string)
		if next == "" {
			t.Fatalf("%s: one item a page gave no next cursor: %v", path, first)
		}
		for _, q := range []string{"limit=0", "limit=-1", "limit=201", "limit=abc", "limit=1.5", "limit=", "limit=1", "limit=200",
			"cursor=", "cursor=" + next, "cursor=" + next + "&limit=2", "cursor=garbage", "cursor=%21%21", "cursor=" + long} {
			req, _ := http.NewRequest("GET", r.Server.URL+path+"?"+q, nil)
			specErr := specAccepts(req)
			code, _, out := r.Call(t, "GET", path+"?"+q, "", as...)
			refused := code == 400 || code == 422
			if specErr != nil && !refused {
				t.Errorf("%s?%s: the spec refuses it (%v), the server answers %d %v", path, q, specErr, code, out)
			}
			if specErr == nil && refused && !strings.HasPrefix(q, "cursor=garbage") {
				t.Errorf("%s?%s: the spec takes it, the server answers %d %v", path, q, code, out)
			}
			if refused && (out["detail"] == "" || out["type"] == nil) {
				t.Errorf("%s?%s: %d without a problem: %v", path, q, code, out)
			}
		}
	}
	if lists != len(paths)+len(limited) {
		t.Errorf("%d list endpoints, %d known to this test", lists, len(paths))
	}

	// If-Match on a command: exactly the values the spec refuses are 400.
	as := []string{"Authorization", "Bearer " + r.Token(t, ownProvider)}
	_, _, o := r.Call(t, "GET", "/v1/offers/"+f.offer, "", as...)
	same := fmt.Sprintf(`{"capacity":%v}`, o["capacity"]) // refused whatever the version: it is the capacity already
	before := r.Head(t)
	for _, im := range []string{`"1"`, `W/"1"`, `"999999999999999999"`, `*`, `1`, `"0"`, `"-1"`, `soon`, `"1", "2"`, `"9999999999999999999"`, `"1`, `W/1`} {
		path := "/v1/offers/" + f.offer + "/capacity"
		req, _ := http.NewRequest("POST", r.Server.URL+path, strings.NewReader(same))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("If-Match", im)
		specErr := specAccepts(req)
		code, _, out := r.Call(t, "POST", path, same, append(as, "If-Match", im)...)
		if (specErr != nil) != (code == 400) {
			t.Errorf("If-Match %s: the spec says %v, the server answers %d %v", im, specErr, code, out)
		}
		if code == 400 && out["type"] != problemType("invalid-header") {
			t.Errorf("If-Match %s: %v", im, out)
		}
	}
	if after := r.Head(t); after != before {
		t.Fatalf("refused commands appended %d events", after-before)
	}
}

// TestOfferDatesAreBounded refuses an offer's dates outside 2000-01-01 to
// 2100-01-01 (the zero time among them, which would otherwise mean "no end") with
// a field error and nothing appended, and takes the bounds themselves.
func TestOfferDatesAreBounded(t *testing.T) {
	t.Parallel()
	r := nodetest.Start(t, redistest.Real(t), "node-dates")
	as := []string{"Authorization", "Bearer " + r.Token(t, ownProvider)}
	post := func(dates string) (int, map[string]any) {
		code, _, out := r.Call(t, "POST", "/v1/offers", `{"provider":"prov-a","category":"legal_aid","capacity":1,
			"scope":{"tier":"community","area":"huayang-01"}`+dates+`}`, as...)
		return code, out
	}
	r.Settle(t)
	before := r.Head(t)
	// Every date out of bounds is reported, each at its own pointer.
	for dates, pointers := range map[string][]string{
		`,"valid_until":"0001-01-01T00:00:00Z"`:                                     {"/valid_until"},
		`,"valid_from":"0001-01-01T00:00:00Z"`:                                      {"/valid_from"},
		`,"valid_from":"1999-12-31T23:59:59Z"`:                                      {"/valid_from"},
		`,"valid_from":"2000-01-01T08:00:00+08:01"`:                                 {"/valid_from"},
		`,"valid_until":"2100-01-01T00:00:00Z"`:                                     {"/valid_until"},
		`,"valid_until":"9999-12-31T23:59:59Z"`:                                     {"/valid_until"},
		`,"valid_from":"2100-01-01T00:00:00Z","valid_until":"2100-01-02T00:00:00Z"`: {"/valid_from", "/valid_until"},
	} {
		code, out := post(dates)
		errs, _ := out["errors"].([]any)
		var got []string
		for _, e := range errs {
			got = append(got, e.(map[string]any)["pointer"].(string))
		}
		if code != 422 || !slices.Equal(got, pointers) {
			t.Errorf("%s: %d %v, want 422 at %v", dates, code, out, pointers)
		}
	}
	if after := r.Head(t); after != before {
		t.Fatalf("refused offers appended %d events", after-before)
	}
	if code, out := post(`,"valid_from":"2000-01-01T00:00:00Z","valid_until":"2099-12-31T23:59:59Z"`); code != 201 {
		t.Fatalf("the bounds themselves: %d %v", code, out)
	}
	if code, out := post(``); code != 201 {
		t.Fatalf("no dates (from now, no end): %d %v", code, out)
	}
}
