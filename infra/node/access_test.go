package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/loadgen"
	"github.com/tierlink/tierlink/infra/node"
	"github.com/tierlink/tierlink/infra/node/nodetest"
	"github.com/tierlink/tierlink/infra/redistest"
	"github.com/tierlink/tierlink/projections"
)

// The principals of the access matrix: the household lives in huayang-01 (Huayang
// Road street, Changning district); the offer is provider prov-a's.
var (
	operator        = domain.Principal{Role: domain.RoleOperator}
	ownProvider     = domain.Principal{Role: domain.RoleProvider, Provider: "prov-a"}
	otherProvider   = domain.Principal{Role: domain.RoleProvider, Provider: "prov-b"}
	ownCommunity    = domain.Principal{Role: domain.RoleCentre, Tier: domain.TierCommunity, Area: "huayang-01"}
	otherCommunity  = domain.Principal{Role: domain.RoleCentre, Tier: domain.TierCommunity, Area: "xinhua-01"}
	ownStreet       = domain.Principal{Role: domain.RoleCentre, Tier: domain.TierStreet, Area: "huayang"}
	otherStreet     = domain.Principal{Role: domain.RoleCentre, Tier: domain.TierStreet, Area: "xinhua"}
	ownDistrict     = domain.Principal{Role: domain.RoleCentre, Tier: domain.TierDistrict, Area: "changning"}
	matrixPrincipal = []domain.Principal{operator, ownProvider, otherProvider, ownCommunity, otherCommunity, ownStreet, otherStreet, ownDistrict}
)

// fixture is a household in huayang-01 with a counselling need proposed, at the
// community tier, an offer of prov-a's scoped to that community.
type fixture struct {
	household, need, offer, referral string
	// subscription is a subscription of the case's owner, for the cases that need
	// one, and dead a notification of it that delivery gave up on.
	subscription, dead string
}

func newFixture(t *testing.T, r *nodetest.Running, accepted bool) fixture {
	t.Helper()
	as := func(p domain.Principal) []string { return []string{"Authorization", "Bearer " + r.Token(t, p)} }
	body := `{"provider":"prov-a","category":"counselling","capacity":1,"scope":{"tier":"community","area":"huayang-01"}}`
	code, _, o := r.Call(t, "POST", "/v1/offers", body, as(ownProvider)...)
	if code != http.StatusCreated {
		t.Fatalf("offer: %d %v", code, o)
	}
	code, _, hh := r.Call(t, "POST", "/v1/households", `{"community":"huayang-01","needs":[{"category":"counselling"}]}`, as(ownCommunity)...)
	if code != http.StatusCreated {
		t.Fatalf("household: %d %v", code, hh)
	}
	f := fixture{household: hh["household_id"].(string), offer: o["offer_id"].(string)}
	f.need = hh["needs"].([]any)[0].(map[string]any)["need_id"].(string)
	// The need may be proposed an earlier fixture's offer that a refusal left free:
	// all are prov-a's.
	v := r.Need(t, f.need, func(v projections.NeedView) bool { return v.Status == "proposed" })
	f.offer = v.Referral.OfferID
	if v.Tier != domain.TierCommunity {
		t.Fatalf("fixture proposed at tier %d", v.Tier)
	}
	f.referral = v.Referral.ID
	if accepted {
		if code, _, out := r.Call(t, "POST", "/v1/referrals/"+f.referral+"/accept", "", as(ownCommunity)...); code != http.StatusCreated {
			t.Fatalf("accept: %d %v", code, out)
		}
		r.Need(t, f.need, func(v projections.NeedView) bool { return v.Status == "accepted" })
	}
	return f
}

// TestAccessMatrix sends every endpoint as every role, on its own area or provider
// and on another's, and checks each is allowed or refused with 403, and that a
// refused command appends nothing.
func TestAccessMatrix(t *testing.T) {
	t.Parallel()
	r := nodetest.Start(t, redistest.Real(t), "node-access")
	allowed := func(ps ...domain.Principal) map[domain.Principal]bool {
		m := map[domain.Principal]bool{}
		for _, p := range ps {
			m[p] = true
		}
		return m
	}
	type endpoint struct {
		name     string
		accepted bool // the fixture's referral accepted first
		method   string
		path     func(f fixture) string
		body     string
		allow    map[domain.Principal]bool
		ok       int
	}
	centresOfHousehold := allowed(ownCommunity, ownStreet, ownDistrict)
	// The reference data as it is: publishing it again changes nothing (200).
	_, _, cur := r.Call(t, "GET", "/v1/reference/changning", "", "Authorization", "Bearer "+r.Token(t, operator))
	sameReference, _ := json.Marshal(cur)
	run := 0
	for _, ep := range []endpoint{
		{"register a household", false, "POST", func(fixture) string { return "/v1/households" },
			`{"community":"huayang-01","needs":[{"category":"legal_aid"}]}`, centresOfHousehold, 201},
		{"register needs", false, "POST", func(f fixture) string { return "/v1/households/" + f.household + "/needs" },
			`{"needs":[{"category":"legal_aid"}]}`, centresOfHousehold, 201},
		{"read a need", false, "GET", func(f fixture) string { return "/v1/needs/" + f.need }, "",
			allowed(operator, ownCommunity, ownStreet, ownDistrict), 200},
		{"read a case", false, "GET", func(f fixture) string { return "/v1/households/" + f.household }, "",
			allowed(operator, ownCommunity, ownStreet, ownDistrict), 200},
		{"read a household's history", false, "GET", func(f fixture) string { return "/v1/households/" + f.household + "/history" }, "",
			allowed(operator, ownCommunity, ownStreet, ownDistrict), 200},
		{"read a household's entitlements", false, "GET", func(f fixture) string { return "/v1/households/" + f.household + "/entitlements" }, "",
			allowed(operator, ownCommunity, ownStreet, ownDistrict), 200},
		{"apply for a programme", false, "POST", func(f fixture) string {
			return "/v1/households/" + f.household + "/entitlements/temporary_assistance/apply"
		}, "", centresOfHousehold, 201},
		{"record a visit", false, "POST", func(f fixture) string { return "/v1/households/" + f.household + "/visits" },
			`{"visitor":"Wang Fang","kind":"phone","visited_at":"` + time.Now().UTC().Add(-time.Hour).Format(time.RFC3339) + `"}`, centresOfHousehold, 201},
		{"reassess a household", false, "POST", func(f fixture) string { return "/v1/households/" + f.household + "/assessments" },
			`{"assessment":{"income":3},"note":"lost her job"}`, centresOfHousehold, 201},
		{"follow up a referral", true, "POST", func(f fixture) string { return "/v1/referrals/" + f.referral + "/follow-up" },
			`{"outcome":"resolved","satisfaction":4}`, centresOfHousehold, 201},
		{"read an offer", false, "GET", func(f fixture) string { return "/v1/offers/" + f.offer }, "",
			allowed(operator, ownProvider, ownCommunity, otherCommunity, ownStreet, otherStreet, ownDistrict), 200},
		{"read a community inbox", false, "GET", func(fixture) string { return "/v1/inboxes/community/huayang-01" }, "",
			allowed(operator, ownCommunity, ownStreet, ownDistrict), 200},
		{"read a street waitlist", false, "GET", func(fixture) string { return "/v1/waitlists/street/huayang" }, "",
			allowed(operator, ownStreet, ownDistrict), 200},
		{"read a street watch list", false, "GET", func(fixture) string { return "/v1/watchlists/street/huayang" }, "",
			allowed(operator, ownStreet, ownDistrict), 200},
		{"read a community's watch counts", false, "GET", func(fixture) string { return "/v1/watchlists/community/huayang-01/counts" }, "",
			allowed(operator, ownCommunity, ownStreet, ownDistrict), 200},
		{"read a household's watch reasons", false, "GET", func(f fixture) string { return "/v1/households/" + f.household + "/watch" }, "",
			allowed(operator, ownCommunity, ownStreet, ownDistrict), 200},
		{"read a provider's referrals", false, "GET", func(fixture) string { return "/v1/providers/prov-a/referrals" }, "",
			allowed(operator, ownProvider), 200},
		{"read indicators", false, "GET", func(fixture) string { return "/v1/indicators/street/huayang?period=week" }, "",
			allowed(matrixPrincipal...), 200},
		{"read reference data", false, "GET", func(fixture) string { return "/v1/reference/changning" }, "",
			allowed(matrixPrincipal...), 200},
		{"publish reference data", false, "PUT", func(fixture) string { return "/v1/reference/changning" }, string(sameReference),
			allowed(operator), 200},
		{"withdraw a need", false, "POST", func(f fixture) string { return "/v1/needs/" + f.need + "/withdraw" }, "", centresOfHousehold, 201},
		{"post an offer", false, "POST", func(fixture) string { return "/v1/offers" },
			`{"provider":"prov-a","category":"material_aid","capacity":2,"scope":{"tier":"street","area":"huayang"}}`, allowed(ownProvider), 201},
		{"change an offer's capacity", false, "POST", func(f fixture) string { return "/v1/offers/" + f.offer + "/capacity" },
			"", allowed(ownProvider), 201},
		{"withdraw an offer", false, "POST", func(f fixture) string { return "/v1/offers/" + f.offer + "/withdraw" }, "", allowed(ownProvider), 201},
		{"accept a referral", false, "POST", func(f fixture) string { return "/v1/referrals/" + f.referral + "/accept" }, "", allowed(ownCommunity), 201},
		{"decline a referral", false, "POST", func(f fixture) string { return "/v1/referrals/" + f.referral + "/decline" },
			`{"reason":"household_refused"}`, allowed(ownCommunity), 201},
		{"escalate a referral", false, "POST", func(f fixture) string { return "/v1/referrals/" + f.referral + "/escalate" }, "", allowed(ownCommunity), 201},
		{"start a service", true, "POST", func(f fixture) string { return "/v1/referrals/" + f.referral + "/start" }, "", allowed(ownProvider), 201},
		{"complete a service", true, "POST", func(f fixture) string { return "/v1/referrals/" + f.referral + "/complete" }, "", allowed(ownProvider), 201},
	} {
		for _, p := range matrixPrincipal {
			run++
			t.Run(fmt.Sprintf("%s as %s", ep.name, p), func(t *testing.T) {
				f := newFixture(t, r, ep.accepted)
				if ep.name == "follow up a referral" {
					as := []string{"Authorization", "Bearer " + r.Token(t, ownProvider)}
					if code, _, out := r.Call(t, "POST", "/v1/referrals/"+f.referral+"/start", "", as...); code != 201 {
						t.Fatalf("start: %d %v", code, out)
					}
					complete(t, r, f)
				}
				body := ep.body
				if strings.HasSuffix(ep.path(f), "/capacity") {
					body = fmt.Sprintf(`{"capacity":%d}`, 2+run) // fixtures may share an offer
				}
				r.Settle(t)
				before := r.Head(t)
				want := http.StatusForbidden
				if ep.allow[p] {
					want = ep.ok
				}
				if ep.name == "complete a service" && ep.allow[p] {
					as := []string{"Authorization", "Bearer " + r.Token(t, p)}
					if code, _, out := r.Call(t, "POST", "/v1/referrals/"+f.referral+"/start", "", as...); code != 201 {
						t.Fatalf("start: %d %v", code, out)
					}
					before = r.Head(t)
				}
				code, hdr, out := r.Call(t, ep.method, ep.path(f), body, "Authorization", "Bearer "+r.Token(t, p))
				if code != want {
					t.Fatalf("%s %s as %s: %d %v, want %d", ep.method, ep.path(f), p, code, out, want)
				}
				if code >= 400 {
					checkRefusal(t, p, f, ep.method+" "+ep.path(f)+" "+body, hdr, out)
					if after := r.Head(t); after != before {
						t.Fatalf("a refused command appended %d events", after-before)
					}
				}
				if ep.method == "GET" {
					return
				}
				// The same request under a key, with a stale If-Match: allowed, it is
				// answered with its first answer; refused, it stays refused even when
				// the key was used by the party allowed, and says nothing more.
				key := []string{"Idempotency-Key", "matrix-" + f.referral, "If-Match", `"1"`}
				if want != http.StatusForbidden {
					r.Settle(t)
					code2, _, again := r.Call(t, ep.method, ep.path(f), body, append([]string{"Authorization", "Bearer " + r.Token(t, p)}, key...)...)
					if ep.name == "publish reference data" {
						if code2 != http.StatusOK {
							t.Fatalf("publishing the same reference data again: %d %v", code2, again)
						}
						return
					}
					code, _, out = r.Call(t, ep.method, ep.path(f), body, append([]string{"Authorization", "Bearer " + r.Token(t, p)}, key[:2]...)...)
					if code2 != http.StatusCreated && code2 != http.StatusPreconditionFailed || code != http.StatusOK && code2 == http.StatusCreated {
						t.Fatalf("the request under a key: %d %v, then %d %v", code2, again, code, out)
					}
					return
				}
				owner := ownerOf(ep.allow)
				r.Settle(t)
				if ep.name == "complete a service" {
					if code, _, out := r.Call(t, "POST", "/v1/referrals/"+f.referral+"/start", "", "Authorization", "Bearer "+r.Token(t, owner)); code != 201 {
						t.Fatalf("start: %d %v", code, out)
					}
				}
				before = r.Head(t)
				code, _, first := r.Call(t, ep.method, ep.path(f), body, append([]string{"Authorization", "Bearer " + r.Token(t, owner)}, key[:2]...)...)
				if code != ep.ok {
					t.Fatalf("the owner %s under a key: %d %v", owner, code, first)
				}
				r.Settle(t)
				mid := r.Head(t)
				code, hdr, out = r.Call(t, ep.method, ep.path(f), body, append([]string{"Authorization", "Bearer " + r.Token(t, p)}, key...)...)
				if code != http.StatusForbidden {
					t.Fatalf("%s replaying %s's key with a stale If-Match: %d %v", p, owner, code, out)
				}
				checkRefusal(t, p, f, ep.method+" "+ep.path(f)+" "+body, hdr, out)
				for _, v := range first {
					if s, ok := v.(string); ok && len(s) > 8 && !strings.Contains(ep.path(f)+body+p.String(), s) && strings.Contains(fmt.Sprint(out), s) {
						t.Fatalf("the refusal carries the first answer's %q: %v", s, out)
					}
				}
				if after := r.Head(t); after != mid || mid == before && ep.method != "PUT" {
					t.Fatalf("the owner's command appended %d events, the refused replay %d", mid-before, after-mid)
				}
			})
		}
	}
}

// ownerOf picks the party an endpoint is for among those allowed: the community
// centre or the provider before an operator.
func ownerOf(allow map[domain.Principal]bool) domain.Principal {
	for _, p := range []domain.Principal{ownCommunity, ownProvider, operator} {
		if allow[p] {
			return p
		}
	}
	panic("no owner")
}

// checkRefusal checks a refusal is a problem that names nothing its caller may not
// see: none of the fixture's ids, areas or providers, except those the caller sent
// itself or that name the caller.
func checkRefusal(t *testing.T, p domain.Principal, f fixture, sent string, hdr http.Header, out map[string]any) {
	t.Helper()
	if hdr.Get("Content-Type") != "application/problem+json" || out["detail"] == "" {
		t.Fatalf("refusal is not a problem: %s %v", hdr.Get("Content-Type"), out)
	}
	if hdr.Get("Cache-Control") != "" && !strings.Contains(hdr.Get("Cache-Control"), "no-store") {
		t.Fatalf("a refusal may be cached: %s", hdr.Get("Cache-Control"))
	}
	body, _ := json.Marshal(out)
	for _, secret := range []string{f.household, f.need, f.offer, f.referral, f.subscription, "huayang-01", "huayang", "changning", "xinhua-01", "xinhua", "prov-a", "prov-b"} {
		word := regexp.MustCompile(`(^|[^A-Za-z0-9-])` + regexp.QuoteMeta(secret) + `($|[^A-Za-z0-9-])`)
		if secret == "" || word.MatchString(sent) || word.MatchString(p.String()) {
			continue
		}
		if word.Match(body) {
			t.Fatalf("a refusal to %s names %q, which it did not send: %s", p, secret, body)
		}
	}
}

// TestRequestsWithoutAValidTokenAreRefused checks that /v1 asks for a bearer token,
// refuses unknown and revoked ones with 401, and leaves health and metrics open.
func TestRequestsWithoutAValidTokenAreRefused(t *testing.T) {
	// Not parallel: the revoked token must stop working within a second of the
	// node's two-second trust, which a loaded machine could make it miss.
	r := nodetest.Start(t, redistest.Real(t), "node-auth")
	secret, tok, err := r.Node.Tokens().Create(context.Background(), ownDistrict, "to revoke", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if code, _, out := r.Call(t, "GET", "/v1/needs/x", "", "Authorization", "Bearer "+secret); code != 404 {
		t.Fatalf("a good token: %d %v", code, out)
	}
	if err := r.Node.Tokens().Revoke(context.Background(), tok.ID); err != nil {
		t.Fatal(err)
	}
	// A node trusts a token check for two seconds: the revoked token stops working within them.
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if code, _, _ := r.Call(t, "GET", "/v1/needs/x", "", "Authorization", "Bearer "+secret); code == 401 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a revoked token still works after three seconds")
		}
	}
	before := r.Head(t)
	for name, auth := range map[string]string{
		"no header":     "",
		"basic scheme":  "Basic dXNlcjpwYXNz",
		"empty bearer":  "Bearer ",
		"unknown token": "Bearer tl_" + fmt.Sprintf("%064d", 7),
		"revoked token": "Bearer " + secret,
	} {
		req, _ := http.NewRequest("POST", r.Server.URL+"/v1/households", nil)
		req.Header.Set("Content-Type", "application/json")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var p map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&p)
		resp.Body.Close()
		if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" || p["detail"] == "" {
			t.Errorf("%s: %d %q %v", name, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), p)
		}
	}
	if after := r.Head(t); after != before {
		t.Fatalf("unauthenticated requests appended %d events", after-before)
	}
	for _, path := range []string{"/healthz", "/metrics"} {
		resp, err := http.Get(r.Server.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d without a token", path, resp.StatusCode)
		}
	}
}

// TestReadModelsOverTheAPI reads a case, an offer, an inbox page by page, a
// provider's pseudonymous referrals and a waitlist.
func TestReadModelsOverTheAPI(t *testing.T) {
	t.Parallel()
	r := nodetest.Start(t, redistest.Real(t), "node-reads")
	as := func(p domain.Principal) []string { return []string{"Authorization", "Bearer " + r.Token(t, p)} }
	body := `{"provider":"prov-a","category":"counselling","capacity":5,"scope":{"tier":"community","area":"huayang-01"},
		"eligibility":{"target_groups":["elderly"]}}`
	code, _, o := r.Call(t, "POST", "/v1/offers", body, as(ownProvider)...)
	if code != 201 {
		t.Fatalf("offer: %d %v", code, o)
	}
	offerID := o["offer_id"].(string)
	var households, needs []string
	for i := 0; i < 5; i++ {
		code, _, hh := r.Call(t, "POST", "/v1/households", `{"community":"huayang-01","target_groups":["elderly","disabled"],
			"needs":[{"category":"counselling"},{"category":"respite_care"}]}`, as(ownCommunity)...)
		if code != 201 {
			t.Fatalf("household: %d %v", code, hh)
		}
		households = append(households, hh["household_id"].(string))
		needs = append(needs, hh["needs"].([]any)[0].(map[string]any)["need_id"].(string))
	}
	for _, n := range needs {
		r.Need(t, n, nodetest.Referred)
	}
	r.Settle(t)
	// The case: the household and both its needs.
	code, _, c := r.Call(t, "GET", "/v1/households/"+households[0], "", as(ownStreet)...)
	if code != 200 || len(c["needs"].([]any)) != 2 || c["household"].(map[string]any)["community"] != "huayang-01" {
		t.Fatalf("case: %d %v", code, c)
	}
	// The history: who registered it, and what the matcher did, in order.
	code, _, hist := r.Call(t, "GET", "/v1/households/"+households[0]+"/history", "", as(ownDistrict)...)
	items, _ := hist["items"].([]any)
	if code != 200 || len(items) < 4 {
		t.Fatalf("history: %d %v", code, hist)
	}
	first := items[0].(map[string]any)
	if first["event"] != "household.registered" || !strings.HasPrefix(first["actor"].(string), "centre:community:huayang-01/token:") {
		t.Fatalf("history starts with %v", first)
	}
	sawMatcher := false
	for _, it := range items {
		sawMatcher = sawMatcher || it.(map[string]any)["actor"] == "system:matcher"
	}
	if !sawMatcher {
		t.Fatalf("no decision of the matcher in the history: %v", items)
	}
	// The offer: five units proposed.
	code, _, ov := r.Call(t, "GET", "/v1/offers/"+offerID, "", as(ownProvider)...)
	if code != 200 || ov["proposed"] != float64(5) || ov["free"] != float64(0) {
		t.Fatalf("offer view: %d %v", code, ov)
	}
	// The community centre's inbox, two at a time: five referrals, each once, by deadline.
	seen := map[string]bool{}
	cursor := ""
	for pages := 0; pages < 10; pages++ {
		code, _, page := r.Call(t, "GET", "/v1/inboxes/community/huayang-01?limit=2&cursor="+cursor, "", as(ownCommunity)...)
		if code != 200 {
			t.Fatalf("inbox: %d %v", code, page)
		}
		for _, it := range page["items"].([]any) {
			id := it.(map[string]any)["referral_id"].(string)
			if seen[id] {
				t.Fatalf("referral %s on two pages", id)
			}
			seen[id] = true
		}
		next, _ := page["next_cursor"].(string)
		if next == "" {
			break
		}
		cursor = next
	}
	if len(seen) != 5 {
		t.Fatalf("the inbox listed %d referrals, want 5", len(seen))
	}
	if code, _, out := r.Call(t, "GET", "/v1/inboxes/community/huayang-01?cursor=garbage", "", as(ownCommunity)...); code != 400 {
		t.Fatalf("a bad cursor: %d %v", code, out)
	}
	if code, _, out := r.Call(t, "GET", "/v1/inboxes/community/huayang-01?limit=1000", "", as(ownCommunity)...); code != 422 {
		t.Fatalf("a page too long: %d %v", code, out)
	}
	// The provider sees no household data before the centre accepts; from then on a
	// pseudonym and the one ground that admitted it (minimum necessary).
	providerItems := func() map[string]map[string]any {
		t.Helper()
		code, _, pr := r.Call(t, "GET", "/v1/providers/prov-a/referrals", "", as(ownProvider)...)
		if code != 200 || len(pr["items"].([]any)) != 5 {
			t.Fatalf("provider referrals: %d %v", code, pr)
		}
		out := map[string]map[string]any{}
		for _, it := range pr["items"].([]any) {
			item := it.(map[string]any)
			raw, _ := json.Marshal(item)
			for _, h := range households {
				if strings.Contains(string(raw), h) {
					t.Fatalf("the provider sees a household id: %s", raw)
				}
			}
			if strings.Contains(string(raw), "disabled") || strings.Contains(string(raw), "hardship") || strings.Contains(string(raw), "respite") {
				t.Fatalf("the provider sees more than the referral needs: %s", raw)
			}
			out[item["referral_id"].(string)] = item
		}
		return out
	}
	var acceptedReferral string
	for id, item := range providerItems() {
		if item["household"] != nil || item["community"] != nil || item["eligibility_ground"] != nil {
			t.Fatalf("a proposed referral shows the household: %v", item)
		}
		acceptedReferral = id
	}
	if code, _, out := r.Call(t, "POST", "/v1/referrals/"+acceptedReferral+"/accept", "", as(ownCommunity)...); code != 201 {
		t.Fatalf("accept: %d %v", code, out)
	}
	r.Settle(t)
	if item := providerItems()[acceptedReferral]; item["eligibility_ground"] != "elderly" || !strings.HasPrefix(item["household"].(string), "hh-") {
		t.Fatalf("an accepted referral's provider item %v", item)
	}
	// The district's indicators today: ten needs, half proposed near the household,
	// none served yet; five waiting for respite care in Huayang Road street.
	code, _, ind := r.Call(t, "GET", "/v1/indicators/district/changning?period=day", "", as(ownProvider)...)
	if code != 200 {
		t.Fatalf("indicators: %d %v", code, ind)
	}
	periods := ind["periods"].([]any)
	today := periods[len(periods)-1].(map[string]any)
	all := today["all"].(map[string]any)
	if all["demand"] != float64(10) || all["accessibility_rate"] != 0.5 || all["obtainment_rate"] != float64(0) || today["households"] != float64(5) {
		t.Fatalf("today's indicators %v", today)
	}
	gap := ind["supply_gap"].([]any)
	if ind["waitlisted_needs"] != float64(5) || len(gap) != 1 || gap[0].(map[string]any)["category"] != "respite_care" || gap[0].(map[string]any)["waiting"] != float64(5) {
		t.Fatalf("present state %v %v", ind["waitlisted_needs"], gap)
	}
	if code, _, out := r.Call(t, "GET", "/v1/indicators/district/changning?period=year", "", as(ownProvider)...); code != 422 {
		t.Fatalf("an unknown period: %d %v", code, out)
	}
	// Prometheus sees the time to link and the district's gauges.
	resp, err := http.Get(r.Server.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metricsText, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`tierlink_time_to_link_seconds_count{partition="changning",tier="community"} 5`,
		`tierlink_waitlisted_needs{partition="changning"} 5`, `tierlink_held_needs{partition="changning"} 0`, `tierlink_overdue_referrals{partition="changning"} 0`} {
		if !strings.Contains(string(metricsText), want) {
			t.Fatalf("metrics lack %q:\n%s", want, metricsText)
		}
	}
	// Respite care is offered nowhere: five needs wait on the street's waitlist.
	code, _, wl := r.Call(t, "GET", "/v1/waitlists/street/huayang", "", as(ownStreet)...)
	if code != 200 || len(wl["items"].([]any)) != 5 {
		t.Fatalf("waitlist: %d %v", code, wl)
	}
}

// TestIfMatch answers a referral with the need's version from its ETag: a stale
// version gets 412 and appends nothing; the read one takes effect; a retry with the
// same Idempotency-Key gets the first answer back.
func TestIfMatch(t *testing.T) {
	t.Parallel()
	r := nodetest.Start(t, redistest.Real(t), "node-ifmatch")
	f := newFixture(t, r, false)
	centre := []string{"Authorization", "Bearer " + r.Token(t, ownCommunity)}
	code, hdr, _ := r.Call(t, "GET", "/v1/needs/"+f.need, "", centre...)
	etag := hdr.Get("ETag")
	if code != 200 || etag == "" {
		t.Fatalf("need: %d, ETag %q", code, etag)
	}
	var v int64
	if _, err := fmt.Sscanf(etag, `"%d"`, &v); err != nil {
		t.Fatalf("ETag %q: %v", etag, err)
	}
	r.Settle(t)
	before := r.Head(t)
	stale := fmt.Sprintf(`"%d"`, v-1)
	if code, _, out := r.Call(t, "POST", "/v1/referrals/"+f.referral+"/accept", "", append(centre, "If-Match", stale)...); code != 412 {
		t.Fatalf("a stale If-Match: %d %v", code, out)
	}
	if code, _, out := r.Call(t, "POST", "/v1/referrals/"+f.referral+"/accept", "", append(centre, "If-Match", "soon")...); code != 400 {
		t.Fatalf("a malformed If-Match: %d %v", code, out)
	}
	if after := r.Head(t); after != before {
		t.Fatalf("refused commands appended %d events", after-before)
	}
	headers := append(centre, "If-Match", etag, "Idempotency-Key", "accept-once")
	if code, _, out := r.Call(t, "POST", "/v1/referrals/"+f.referral+"/accept", "", headers...); code != 201 {
		t.Fatalf("accept at the read version: %d %v", code, out)
	}
	if code, _, out := r.Call(t, "POST", "/v1/referrals/"+f.referral+"/accept", "", headers...); code != 200 || out["replayed"] != true {
		t.Fatalf("the retry: %d %v", code, out)
	}
}

// TestEveryRouteIsInTheOpenAPIDocument checks the document served at
// /v1/openapi.json names every route the server answers, and no other.
func TestEveryRouteIsInTheOpenAPIDocument(t *testing.T) {
	t.Parallel()
	r := nodetest.Start(t, redistest.Real(t), "node-openapi")
	resp, err := http.Get(r.Server.URL + "/v1/openapi.json") // no token needed
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || resp.StatusCode != 200 || doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi.json: %d %v %q", resp.StatusCode, err, doc.OpenAPI)
	}
	inDoc := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			if method != "parameters" && method != "summary" {
				inDoc[strings.ToUpper(method)+" "+path] = true
			}
		}
	}
	served := map[string]bool{"GET /healthz": true, "GET /metrics": true}
	for _, route := range r.Node.API().Routes() {
		served[route] = true
	}
	for route := range served {
		if !inDoc[route] {
			t.Errorf("%s is served but not in the document", route)
		}
	}
	for route := range inDoc {
		if !served[route] {
			t.Errorf("%s is in the document but not served", route)
		}
	}
}

// TestRebuildWhileServing rebuilds the read models while commands keep coming: the
// rebuilt models equal the live ones, serving never stops, and what comes after the
// switch is projected into the new generation.
func TestRebuildWhileServing(t *testing.T) {
	t.Parallel()
	r := nodetest.Start(t, redistest.Real(t), "node-rebuild")
	var ids []string
	for i := 0; i < 20; i++ {
		ids = append(ids, r.Register(t, "huayang-01", "counselling", "respite_care")...)
	}
	r.Offer(t, "huayang-01", "counselling", 10)
	r.Settle(t)
	views := func() map[string]string {
		out := map[string]string{}
		for _, id := range ids {
			v := r.Need(t, id, func(projections.NeedView) bool { return true })
			b, _ := json.Marshal(v)
			out[id] = string(b)
		}
		return out
	}
	before := views()
	ctx := context.Background()
	type rebuilt struct {
		stats node.RebuildStats
		err   error
	}
	done := make(chan rebuilt, 1)
	go func() {
		stats, err := node.RebuildProjections(ctx, r.Client, r.Node.Store(), []string{"changning"}, nil)
		done <- rebuilt{stats, err}
	}()
	for i := 0; i < 10; i++ { // commands while the rebuild runs
		ids = append(ids, r.Register(t, "xinhua-01", "legal_aid")...)
	}
	res := <-done
	stats, err := res.stats, res.err
	if err != nil {
		t.Fatal(err)
	}
	if stats.Events == 0 || stats.Partitions != 1 {
		t.Fatalf("rebuild stats %+v", stats)
	}
	r.Settle(t)
	after := views()
	for id, b := range before {
		var v1, v2 projections.NeedView
		_ = json.Unmarshal([]byte(b), &v1)
		_ = json.Unmarshal([]byte(after[id]), &v2)
		if v1.Status != v2.Status || v1.Version != v2.Version || len(v1.Steps) != len(v2.Steps) {
			t.Fatalf("need %s rebuilt differently:\n%s\n%s", id, b, after[id])
		}
	}
	st, _ := r.Node.Views().Store("changning")
	if g, _ := st.Generation(ctx); g != 1 {
		t.Fatalf("generation %d after the rebuild", g)
	}
	keys, _ := r.Client.Keys(ctx, "tl:{changning}:view:g0:*").Result()
	if len(keys) != 0 {
		t.Fatalf("%d keys of the old generation left", len(keys))
	}
	// After the switch, new needs are projected into the new generation.
	n := r.Register(t, "huayang-01", "legal_aid")[0]
	r.Need(t, n, func(v projections.NeedView) bool { return v.Status != "" })
}

// TestLoadGenerator drives the API with two clients for a second at a target rate,
// with offers in every command's community now and then: commands are sent and land
// with no errors; every need registered gets the matcher's decision, timed from the
// log; the lag is read from /metrics; the raw limits are measured and their scratch
// keys deleted afterwards.
func TestLoadGenerator(t *testing.T) {
	t.Parallel()
	r := nodetest.Start(t, redistest.Real(t), "node-load")
	ctx := context.Background()
	report, err := loadgen.Run(ctx, loadgen.Config{
		URL: r.Server.URL, ProviderToken: r.Token(t, ownProvider),
		Areas:      []loadgen.Area{{District: "changning", CentreToken: r.Token(t, ownDistrict), Communities: []string{"huayang-01", "xinhua-02"}}},
		Categories: []string{"counselling", "material_aid"}, NeedsPerHousehold: 2, OfferOneIn: 3,
		Clients: 2, Duration: time.Second, Rate: 200, Seed: 1, Log: r.Client,
	})
	if err != nil {
		t.Fatal(err)
	}
	if report.Commands == 0 || report.Errors != 0 || report.Latency.P50 > report.Latency.P99 || report.Latency.P99 > report.Latency.Max {
		t.Fatalf("report %+v", report)
	}
	if report.CommandsSec > 200*1.2 {
		t.Fatalf("%.0f commands/s at a target of 200/s", report.CommandsSec)
	}
	if h := r.Head(t); h < report.Commands {
		t.Fatalf("%d commands sent, the log holds %d events", report.Commands, h)
	}
	d := report.Decisions
	if d == nil || d.Undecided != 0 || d.Referred+d.Waitlisted+d.Held != report.Needs || d.Referred == 0 || d.Waitlisted == 0 {
		t.Fatalf("decisions %+v for %d needs", d, report.Needs)
	}
	if l := d.Latency; l.Count != int(report.Needs) || l.P50 <= 0 || l.P50 > l.P90 || l.P90 > l.P99 || l.P99 > l.P999 || l.P999 > l.Max {
		t.Fatalf("need → decision latency %+v", l)
	}
	if len(report.Lag) == 0 {
		t.Fatal("no lag read from /metrics")
	}
	// Batches of ten households a request: ten commands each, every need decided.
	batched, err := loadgen.Run(ctx, loadgen.Config{
		URL: r.Server.URL, ProviderToken: r.Token(t, ownProvider),
		Areas:      []loadgen.Area{{District: "changning", CentreToken: r.Token(t, ownDistrict), Communities: []string{"huayang-01", "xinhua-02"}}},
		Categories: []string{"counselling", "material_aid", "legal_aid"}, Batch: 10, OfferOneIn: 1000,
		Clients: 2, Duration: 500 * time.Millisecond, Seed: 2, Log: r.Client,
	})
	if err != nil {
		t.Fatal(err)
	}
	if batched.Errors != 0 || batched.Needs == 0 || batched.Needs != batched.Commands-batched.Offers || batched.Commands-batched.Offers < 10 ||
		batched.Decisions.Undecided != 0 || batched.Decisions.Latency.Count != int(batched.Needs) {
		t.Fatalf("batched report %+v, decisions %+v", batched, batched.Decisions)
	}
	limits, err := loadgen.RawLimits(ctx, r.Client, 2, 300*time.Millisecond, true)
	if err != nil || limits.LuaAppend <= 0 || limits.XADD <= 0 || limits.XReadGroup <= 0 || limits.XRangeDecode <= 0 || limits.Entries == 0 {
		t.Fatalf("raw limits %+v %v", limits, err)
	}
	if keys, _ := r.Client.Keys(ctx, "tl:{loadraw*").Result(); len(keys) != 0 {
		t.Fatalf("the raw measures left %d keys", len(keys))
	}
}

// TestOperatorPublishesReferenceData adds a community with an operator's token:
// nodes put it in force within seconds, households register there, the shipped
// files do not overwrite it on a restart, and a change that drops a code in use is
// refused with nothing published.
func TestOperatorPublishesReferenceData(t *testing.T) {
	t.Parallel()
	srv := redistest.Real(t)
	r := nodetest.Start(t, srv, "node-ref")
	op := []string{"Authorization", "Bearer " + r.Token(t, operator)}
	code, _, cur := r.Call(t, "GET", "/v1/reference/changning", "", op...)
	if code != 200 {
		t.Fatalf("reference: %d %v", code, cur)
	}
	district := cur["district"].(map[string]any)
	streets := district["streets"].([]any)
	huayang := streets[0].(map[string]any)
	huayang["communities"] = append(huayang["communities"].([]any), map[string]any{
		"code": "huayang-99", "name": map[string]string{"zh": "华阳路新社区", "en": "Huayang Road New Community"},
		"capabilities": []string{"counselling"},
	})
	body, _ := json.Marshal(map[string]any{"district": district, "categories": cur["categories"], "policy": cur["policy"]})
	before := r.Head(t)
	if code, _, out := r.Call(t, "PUT", "/v1/reference/changning", string(body), "Authorization", "Bearer "+r.Token(t, ownDistrict)); code != 403 {
		t.Fatalf("a centre publishing reference data: %d %v", code, out)
	}
	// Dropping a community in use is refused, and nothing is published.
	trimmed := map[string]any{}
	for k, v := range district {
		trimmed[k] = v
	}
	trimmed["streets"] = streets[1:]
	bad, _ := json.Marshal(map[string]any{"district": trimmed, "categories": cur["categories"], "policy": cur["policy"]})
	if code, _, out := r.Call(t, "PUT", "/v1/reference/changning", string(bad), op...); code != 422 {
		t.Fatalf("dropping a street: %d %v", code, out)
	}
	if after := r.Head(t); after != before {
		t.Fatalf("refused publications appended %d events", after-before)
	}
	keyed := append(slices.Clone(op), "Idempotency-Key", "publish-1")
	code, _, first := r.Call(t, "PUT", "/v1/reference/changning", string(body), keyed...)
	if code != 201 || first["changed"] != true || first["replayed"] != false {
		t.Fatalf("publish: %d %v", code, first)
	}
	// Its answer lost, the retry under the key is answered as every command's is:
	// 200, replayed, the same versions (it was 201).
	if code, _, again := r.Call(t, "PUT", "/v1/reference/changning", string(body), keyed...); code != 200 || again["replayed"] != true ||
		fmt.Sprint(again["versions"]) != fmt.Sprint(first["versions"]) {
		t.Fatalf("the publication retried: %d %v, first %v", code, again, first)
	}
	if code, _, out := r.Call(t, "PUT", "/v1/reference/changning", string(body), op...); code != 200 || out["changed"] != false {
		t.Fatalf("the same again: %d %v", code, out)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, _, out := r.Call(t, "POST", "/v1/households", `{"community":"huayang-99","needs":[{"category":"counselling"}]}`)
		if code == 201 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the new community is not in force after 5 s: %d %v", code, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A node started afterwards from the shipped files keeps the operator's data.
	r.Stop()
	r2 := nodetest.Start(t, srv, "node-ref-2")
	if code, _, out := r2.Call(t, "POST", "/v1/households", `{"community":"huayang-99","needs":[{"category":"counselling"}]}`); code != 201 {
		t.Fatalf("after a restart: %d %v", code, out)
	}
}

// TestLongInputGetsAShortProblem sends a community name of 60 KB: it is refused
// with a problem whose detail stays short, and nothing is appended.
func TestLongInputGetsAShortProblem(t *testing.T) {
	t.Parallel()
	r := nodetest.Start(t, redistest.Real(t), "node-long")
	before := r.Head(t)
	long := strings.Repeat("x", 60<<10)
	code, _, out := r.Call(t, "POST", "/v1/households", `{"community":"`+long+`","needs":[{"category":"counselling"}]}`)
	detail, _ := out["detail"].(string)
	if code != 422 && code != 403 || len(detail) > 1100 || detail == "" {
		t.Fatalf("a 60 KB community: %d, detail of %d bytes", code, len(detail))
	}
	if after := r.Head(t); after != before {
		t.Fatalf("appended %d events", after-before)
	}
}
