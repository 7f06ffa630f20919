package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/tierlink/tierlink/domain"
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
}

func newFixture(t *testing.T, r running, accepted bool) fixture {
	t.Helper()
	as := func(p domain.Principal) []string { return []string{"Authorization", "Bearer " + r.token(t, p)} }
	body := `{"provider":"prov-a","category":"counselling","capacity":1,"scope":{"tier":"community","area":"huayang-01"}}`
	code, _, o := call(t, r, "POST", "/v1/offers", body, as(ownProvider)...)
	if code != http.StatusCreated {
		t.Fatalf("offer: %d %v", code, o)
	}
	code, _, hh := call(t, r, "POST", "/v1/households", `{"community":"huayang-01","needs":[{"category":"counselling"}]}`, as(ownCommunity)...)
	if code != http.StatusCreated {
		t.Fatalf("household: %d %v", code, hh)
	}
	f := fixture{household: hh["household_id"].(string), offer: o["offer_id"].(string)}
	f.need = hh["needs"].([]any)[0].(map[string]any)["need_id"].(string)
	// The need may be proposed an earlier fixture's offer that a refusal left free:
	// all are prov-a's.
	v := need(t, r, f.need, func(v projections.NeedView) bool { return v.Status == "proposed" })
	f.offer = v.Referral.OfferID
	if v.Tier != domain.TierCommunity {
		t.Fatalf("fixture proposed at tier %d", v.Tier)
	}
	f.referral = v.Referral.ID
	if accepted {
		if code, _, out := call(t, r, "POST", "/v1/referrals/"+f.referral+"/accept", "", as(ownCommunity)...); code != http.StatusCreated {
			t.Fatalf("accept: %d %v", code, out)
		}
		need(t, r, f.need, func(v projections.NeedView) bool { return v.Status == "accepted" })
	}
	return f
}

// TestAccessMatrix sends every endpoint as every role, on its own area or provider
// and on another's, and checks each is allowed or refused with 403, and that a
// refused command appends nothing.
func TestAccessMatrix(t *testing.T) {
	r := start(t, redistest.Real(t), "node-access")
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
	for _, ep := range []endpoint{
		{"register a household", false, "POST", func(fixture) string { return "/v1/households" },
			`{"community":"huayang-01","needs":[{"category":"legal_aid"}]}`, centresOfHousehold, 201},
		{"register needs", false, "POST", func(f fixture) string { return "/v1/households/" + f.household + "/needs" },
			`{"needs":[{"category":"legal_aid"}]}`, centresOfHousehold, 201},
		{"read a need", false, "GET", func(f fixture) string { return "/v1/needs/" + f.need }, "",
			allowed(operator, ownCommunity, ownStreet, ownDistrict), 200},
		{"withdraw a need", false, "POST", func(f fixture) string { return "/v1/needs/" + f.need + "/withdraw" }, "", centresOfHousehold, 201},
		{"post an offer", false, "POST", func(fixture) string { return "/v1/offers" },
			`{"provider":"prov-a","category":"material_aid","capacity":2,"scope":{"tier":"street","area":"huayang"}}`, allowed(ownProvider), 201},
		{"change an offer's capacity", false, "POST", func(f fixture) string { return "/v1/offers/" + f.offer + "/capacity" },
			`{"capacity":3}`, allowed(ownProvider), 201},
		{"withdraw an offer", false, "POST", func(f fixture) string { return "/v1/offers/" + f.offer + "/withdraw" }, "", allowed(ownProvider), 201},
		{"accept a referral", false, "POST", func(f fixture) string { return "/v1/referrals/" + f.referral + "/accept" }, "", allowed(ownCommunity), 201},
		{"decline a referral", false, "POST", func(f fixture) string { return "/v1/referrals/" + f.referral + "/decline" },
			`{"reason":"household_refused"}`, allowed(ownCommunity), 201},
		{"escalate a referral", false, "POST", func(f fixture) string { return "/v1/referrals/" + f.referral + "/escalate" }, "", allowed(ownCommunity), 201},
		{"start a service", true, "POST", func(f fixture) string { return "/v1/referrals/" + f.referral + "/start" }, "", allowed(ownProvider), 201},
		{"complete a service", true, "POST", func(f fixture) string { return "/v1/referrals/" + f.referral + "/complete" }, "", allowed(ownProvider), 201},
	} {
		for _, p := range matrixPrincipal {
			t.Run(fmt.Sprintf("%s as %s", ep.name, p), func(t *testing.T) {
				f := newFixture(t, r, ep.accepted)
				settle(t, r)
				before := head(t, r)
				want := http.StatusForbidden
				if ep.allow[p] {
					want = ep.ok
				}
				if ep.name == "complete a service" && ep.allow[p] {
					as := []string{"Authorization", "Bearer " + r.token(t, p)}
					if code, _, out := call(t, r, "POST", "/v1/referrals/"+f.referral+"/start", "", as...); code != 201 {
						t.Fatalf("start: %d %v", code, out)
					}
					before = head(t, r)
				}
				code, hdr, out := call(t, r, ep.method, ep.path(f), ep.body, "Authorization", "Bearer "+r.token(t, p))
				if code != want {
					t.Fatalf("%s %s as %s: %d %v, want %d", ep.method, ep.path(f), p, code, out, want)
				}
				if want == http.StatusForbidden {
					if hdr.Get("Content-Type") != "application/problem+json" || out["detail"] == "" {
						t.Fatalf("refusal is not a problem: %s %v", hdr.Get("Content-Type"), out)
					}
					if after := head(t, r); after != before {
						t.Fatalf("a refused command appended %d events", after-before)
					}
				}
			})
		}
	}
}

// TestRequestsWithoutAValidTokenAreRefused checks that /v1 asks for a bearer token,
// refuses unknown and revoked ones with 401, and leaves health and metrics open.
func TestRequestsWithoutAValidTokenAreRefused(t *testing.T) {
	r := start(t, redistest.Real(t), "node-auth")
	secret, tok, err := r.node.Tokens().Create(context.Background(), ownDistrict, "to revoke", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if code, _, out := call(t, r, "GET", "/v1/needs/x", "", "Authorization", "Bearer "+secret); code != 404 {
		t.Fatalf("a good token: %d %v", code, out)
	}
	if err := r.node.Tokens().Revoke(context.Background(), tok.ID); err != nil {
		t.Fatal(err)
	}
	before := head(t, r)
	for name, auth := range map[string]string{
		"no header":     "",
		"basic scheme":  "Basic dXNlcjpwYXNz",
		"empty bearer":  "Bearer ",
		"unknown token": "Bearer tl_" + fmt.Sprintf("%064d", 7),
		"revoked token": "Bearer " + secret,
	} {
		req, _ := http.NewRequest("POST", r.srv.URL+"/v1/households", nil)
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
	if after := head(t, r); after != before {
		t.Fatalf("unauthenticated requests appended %d events", after-before)
	}
	for _, path := range []string{"/healthz", "/metrics"} {
		resp, err := http.Get(r.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d without a token", path, resp.StatusCode)
		}
	}
}
