package node_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/node"
	"github.com/tierlink/tierlink/infra/node/nodetest"
	"github.com/tierlink/tierlink/infra/redistest"
)

// foreignCentre is a centre of another district's node: it holds no area of this
// node's district, so it may neither subscribe there nor do anything else.
var foreignCentre = domain.Principal{Role: domain.RoleCentre, Tier: domain.TierCommunity, Area: "minhang-01"}

// subscriptionBody is a subscription a principal may ask for in Changning.
func subscriptionBody(p domain.Principal, url string) string {
	kinds := `["referral.proposed","referral.accepted"]`
	if p.Role != domain.RoleProvider {
		kinds = `["referral.proposed","need.waitlisted","digest"]`
	}
	return `{"district":"changning","url":"` + url + `","kinds":` + kinds + `,"categories":["counselling"]}`
}

// subscribe creates a subscription of the principal's and returns its answer.
func subscribe(t *testing.T, r *nodetest.Running, p domain.Principal, headers ...string) map[string]any {
	t.Helper()
	code, hdr, out := r.Call(t, "POST", "/v1/subscriptions", subscriptionBody(p, "https://example.org/hooks/"+string(p.Role)),
		append([]string{"Authorization", "Bearer " + r.Token(t, p)}, headers...)...)
	if code != http.StatusCreated {
		t.Fatalf("subscribe as %s: %d %v", p, code, out)
	}
	sub := out["subscription"].(map[string]any)
	if hdr.Get("Location") != "/v1/subscriptions/"+sub["id"].(string) {
		t.Fatalf("Location %q for %v", hdr.Get("Location"), sub["id"])
	}
	return out
}

func subscriptionID(created map[string]any) string {
	return created["subscription"].(map[string]any)["id"].(string)
}

// TestSubscriptionsAccess sends every subscription endpoint as each principal, on
// a provider's subscription and on a centre's: its owner and operators may, every
// other principal is refused with 403 in the same words whether the subscription
// exists or not, and no refusal names anything of it; a refused command appends
// nothing.
func TestSubscriptionsAccess(t *testing.T) {
	t.Parallel()
	r := nodetest.Start(t, redistest.Real(t), "node-subs")
	principals := []domain.Principal{operator, ownProvider, otherProvider, ownCommunity, otherCommunity, foreignCentre}
	type endpoint struct {
		name, method string
		path         func(id string) string
		ok           int
	}
	endpoints := []endpoint{
		{"read", "GET", func(id string) string { return "/v1/subscriptions/" + id }, 200},
		{"read its deliveries", "GET", func(id string) string { return "/v1/subscriptions/" + id + "/deliveries?limit=10" }, 200},
		{"read its dead letters", "GET", func(id string) string { return "/v1/subscriptions/" + id + "/dead-letters" }, 200},
		{"redeliver", "POST", func(id string) string {
			return "/v1/subscriptions/" + id + "/dead-letters/0190d3c2-7d2e-7c5b-8a47-6a3c1c1e0f01/redeliver"
		}, 202},
		{"delete", "DELETE", func(id string) string { return "/v1/subscriptions/" + id }, 200},
	}
	const missing = "0190d3c2-0000-7000-8000-000000000000" // an id no subscription has
	for _, owner := range []domain.Principal{ownProvider, ownCommunity} {
		for _, ep := range endpoints {
			for _, p := range principals {
				t.Run(fmt.Sprintf("%s %s's subscription as %s", ep.name, owner, p), func(t *testing.T) {
					created := subscribe(t, r, owner)
					id := subscriptionID(created)
					as := []string{"Authorization", "Bearer " + r.Token(t, p)}
					before := r.Head(t)
					code, hdr, out := r.Call(t, ep.method, ep.path(id), "", as...)
					if p == owner || p == operator {
						if ep.name == "redeliver" && code == http.StatusNotFound {
							// A node that records deliveries has no such dead letter:
							// not found, to the owner, naming what it sent only.
							checkRefusal(t, p, fixture{household: id}, ep.path(id), hdr, out)
							return
						}
						if code != ep.ok {
							t.Fatalf("%s %s: %d %v, want %d", ep.method, ep.path(id), code, out, ep.ok)
						}
						if ep.name == "read" && (hdr.Get("ETag") != `"1"` || out["id"] != id || out["secret"] != nil) {
							t.Fatalf("read: ETag %q, %v", hdr.Get("ETag"), out)
						}
						return
					}
					if code != http.StatusForbidden {
						t.Fatalf("%s %s as %s: %d %v, want 403", ep.method, ep.path(id), p, code, out)
					}
					checkSubscriptionRefusal(t, p, created, ep.path(id), hdr, out)
					if after := r.Head(t); after != before {
						t.Fatalf("a refused command appended %d events", after-before)
					}
					// The same answer for a subscription that does not exist.
					code2, _, none := r.Call(t, ep.method, ep.path(missing), "", as...)
					if code2 != code || none["detail"] != out["detail"] || none["type"] != out["type"] {
						t.Fatalf("another's subscription: %d %v; none: %d %v", code, out, code2, none)
					}
				})
			}
		}
	}
	// An operator is told a subscription that does not exist is not found.
	if code, _, out := r.Call(t, "GET", "/v1/subscriptions/"+missing, "", "Authorization", "Bearer "+r.Token(t, operator)); code != 404 {
		t.Fatalf("an operator reading a missing subscription: %d %v", code, out)
	}
	// Anyone of the district may subscribe; a centre of another district may not,
	// and is told nothing of the district's subscriptions.
	before := r.Head(t)
	code, hdr, out := r.Call(t, "POST", "/v1/subscriptions", subscriptionBody(foreignCentre, "https://example.org/h"),
		"Authorization", "Bearer "+r.Token(t, foreignCentre))
	if code != http.StatusForbidden {
		t.Fatalf("a centre of another district subscribing: %d %v", code, out)
	}
	checkRefusal(t, foreignCentre, fixture{}, "changning", hdr, out)
	if after := r.Head(t); after != before {
		t.Fatalf("a refused subscription appended %d events", after-before)
	}
	// The lists: each principal sees only what it may manage.
	ids := map[domain.Principal]string{}
	for _, p := range []domain.Principal{ownProvider, ownCommunity} {
		ids[p] = subscriptionID(subscribe(t, r, p))
	}
	for _, p := range principals {
		code, _, out := r.Call(t, "GET", "/v1/subscriptions?district=changning", "", "Authorization", "Bearer "+r.Token(t, p))
		if code != 200 {
			t.Fatalf("list as %s: %d %v", p, code, out)
		}
		for _, it := range out["items"].([]any) {
			item := it.(map[string]any)
			raw, _ := json.Marshal(item["owner"])
			var owner domain.Principal
			if err := json.Unmarshal(raw, &owner); err != nil || p != operator && owner != p || item["deleted"] == true {
				t.Fatalf("%s lists %v", p, item)
			}
			for q, id := range ids {
				if item["id"] == id && p != q && p != operator {
					t.Fatalf("%s lists %s's subscription %v", p, q, item)
				}
			}
		}
	}
	if code, _, out := r.Call(t, "GET", "/v1/subscriptions?district=nowhere", "", "Authorization", "Bearer "+r.Token(t, operator)); code != 422 {
		t.Fatalf("a list of an unknown district: %d %v", code, out)
	}
}

// checkSubscriptionRefusal checks a refusal names nothing of the subscription: its
// id, owner, URL, kinds or secret, nor the fixture's areas and providers.
func checkSubscriptionRefusal(t *testing.T, p domain.Principal, created map[string]any, sent string, hdr http.Header, out map[string]any) {
	t.Helper()
	checkRefusal(t, p, fixture{}, sent, hdr, out)
	body, _ := json.Marshal(out)
	delete(out, "instance") // the path the caller sent
	rest, _ := json.Marshal(out)
	sub := created["subscription"].(map[string]any)
	for _, secret := range []string{sub["id"].(string), sub["url"].(string), created["secret"].(string), "example.org", "referral.accepted", "digest", "counselling"} {
		if strings.Contains(string(rest), secret) {
			t.Fatalf("a refusal to %s names %q: %s", p, secret, body)
		}
	}
}

// TestSubscriptionsRetriesAndRules: a retry after success under the same key gets
// the same subscription and secret, replayed; another principal's use of the key
// is its own command and learns nothing of the first; a stale If-Match on delete
// is 412; plain http is refused unless the node allows it to a loopback host; a
// provider may not ask for need.waitlisted; a node without a webhook key refuses
// to create subscriptions with notifications-off.
func TestSubscriptionsRetriesAndRules(t *testing.T) {
	t.Parallel()
	srv := redistest.Real(t)
	r := nodetest.Start(t, srv, "node-subs-rules")
	as := func(p domain.Principal) []string { return []string{"Authorization", "Bearer " + r.Token(t, p)} }
	key := []string{"Idempotency-Key", "subscribe-once"}
	first := subscribe(t, r, ownProvider, key...)
	secret, _ := first["secret"].(string)
	if !strings.HasPrefix(secret, "whsec_") || first["replayed"] != false {
		t.Fatalf("created: %v", first)
	}
	body := subscriptionBody(ownProvider, "https://example.org/hooks/provider")
	code, _, again := r.Call(t, "POST", "/v1/subscriptions", body, append(as(ownProvider), key...)...)
	if code != 200 || again["replayed"] != true || again["secret"] != secret || subscriptionID(again) != subscriptionID(first) || !sameAnswer(first, again) {
		t.Fatalf("the retry: %d %v, first %v", code, again, first)
	}
	code, _, out := r.Call(t, "POST", "/v1/subscriptions", subscriptionBody(ownProvider, "https://example.org/other"), append(as(ownProvider), key...)...)
	if code != 422 || !strings.HasSuffix(fmt.Sprint(out["type"]), "#idempotency-key-reused") {
		t.Fatalf("another body under the key: %d %v", code, out)
	}
	// Another provider's request under the same key is its own subscription.
	code, _, theirs := r.Call(t, "POST", "/v1/subscriptions", body, append(as(otherProvider), key...)...)
	if code != 201 || subscriptionID(theirs) == subscriptionID(first) || theirs["secret"] == secret {
		t.Fatalf("another provider under the same key: %d %v", code, theirs)
	}
	for _, s := range []string{subscriptionID(first), secret} {
		if strings.Contains(fmt.Sprint(theirs), s) {
			t.Fatalf("another provider's answer carries the first's %s: %v", s, theirs)
		}
	}
	// Another principal deleting under the owner's key is refused, told nothing.
	id := subscriptionID(first)
	delKey := []string{"Idempotency-Key", "delete-once"}
	before := r.Head(t)
	code, hdr, out := r.Call(t, "DELETE", "/v1/subscriptions/"+id, "", append(as(otherProvider), delKey...)...)
	if code != 403 {
		t.Fatalf("another provider deleting: %d %v", code, out)
	}
	checkSubscriptionRefusal(t, otherProvider, first, "", hdr, out)
	// A stale If-Match is 412; the read one deletes; the retry gets the first answer.
	code, hdr, _ = r.Call(t, "GET", "/v1/subscriptions/"+id, "", as(ownProvider)...)
	if code != 200 || hdr.Get("ETag") != `"1"` {
		t.Fatalf("read: %d ETag %q", code, hdr.Get("ETag"))
	}
	if code, _, out := r.Call(t, "DELETE", "/v1/subscriptions/"+id, "", append(as(ownProvider), "If-Match", `"2"`)...); code != 412 {
		t.Fatalf("a stale If-Match: %d %v", code, out)
	}
	if after := r.Head(t); after != before {
		t.Fatalf("refused deletions appended %d events", after-before)
	}
	code, _, deleted := r.Call(t, "DELETE", "/v1/subscriptions/"+id, "", append(as(ownProvider), append(delKey, "If-Match", `"1"`)...)...)
	if code != 200 || deleted["replayed"] != false || deleted["subscription"].(map[string]any)["deleted"] != true {
		t.Fatalf("delete: %d %v", code, deleted)
	}
	if code, _, again := r.Call(t, "DELETE", "/v1/subscriptions/"+id, "", append(as(ownProvider), append(delKey, "If-Match", `"1"`)...)...); code != 200 ||
		again["replayed"] != true || !sameAnswer(deleted, again) {
		t.Fatalf("the deletion retried: %d %v", code, again)
	}
	if code, _, out := r.Call(t, "DELETE", "/v1/subscriptions/"+id, "", as(ownProvider)...); code != 409 {
		t.Fatalf("deleting again under a new key: %d %v", code, out)
	}
	if code, _, out := r.Call(t, "POST", "/v1/subscriptions/"+id+"/dead-letters/d-1/redeliver", "", as(ownProvider)...); code != 409 {
		t.Fatalf("redelivering to a deleted subscription: %d %v", code, out)
	}
	// The creation retried after the deletion: still its first answer.
	if code, _, late := r.Call(t, "POST", "/v1/subscriptions", body, append(as(ownProvider), key...)...); code != 200 || !sameAnswer(first, late) {
		t.Fatalf("the creation retried after the deletion: %d %v", code, late)
	}
	// The rules of the body, each field named.
	for _, c := range []struct {
		name    string
		who     domain.Principal
		body    string
		pointer string
	}{
		{"plain http", ownProvider, subscriptionBody(ownProvider, "http://127.0.0.1:9000/hooks"), "/url"},
		{"plain http elsewhere", ownProvider, subscriptionBody(ownProvider, "http://example.org/hooks"), "/url"},
		{"a URL with user info", ownProvider, subscriptionBody(ownProvider, "https://me:pw@example.org/hooks"), "/url"},
		{"a provider asking for waitlisted needs", ownProvider,
			`{"district":"changning","url":"https://example.org/h","kinds":["referral.proposed","need.waitlisted"]}`, "/kinds/1"},
		{"no kinds", ownCommunity, `{"district":"changning","url":"https://example.org/h","kinds":[]}`, "/kinds"},
		{"an unknown kind", ownCommunity, `{"district":"changning","url":"https://example.org/h","kinds":["referral.lost"]}`, "/kinds/0"},
		{"an unknown category", ownCommunity, `{"district":"changning","url":"https://example.org/h","kinds":["digest"],"categories":["astrology"]}`, "/categories/0"},
		{"an unknown district", operator, `{"district":"nowhere","url":"https://example.org/h","kinds":["digest"]}`, "/district"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := r.Head(t)
			code, _, out := r.Call(t, "POST", "/v1/subscriptions", c.body, as(c.who)...)
			errs, _ := out["errors"].([]any)
			if code != 422 || len(errs) != 1 || errs[0].(map[string]any)["pointer"] != c.pointer {
				t.Fatalf("%s: %d %v, want 422 at %s", c.body, code, out, c.pointer)
			}
			if after := r.Head(t); after != before {
				t.Fatalf("a refused subscription appended %d events", after-before)
			}
		})
	}
	if code, _, out := r.Call(t, "GET", "/v1/subscriptions/"+id+"/deliveries?limit=201", "", as(ownProvider)...); code != 422 {
		t.Fatalf("too many deliveries asked for: %d %v", code, out)
	}
	if code, _, out := r.Call(t, "GET", "/v1/subscriptions/"+id+"/dead-letters?limit=1000", "", as(ownProvider)...); code != 200 {
		t.Fatalf("a thousand dead letters asked for: %d %v", code, out)
	}
	r.Stop()

	// A node that allows plain http takes it to a loopback host only.
	loose := nodetest.StartWith(t, srv, "node-subs-http", 0, func(c *node.Config) { c.WebhookAllowHTTP = true })
	if code, _, out := loose.Call(t, "POST", "/v1/subscriptions", subscriptionBody(ownProvider, "http://127.0.0.1:9000/hooks"),
		"Authorization", "Bearer "+loose.Token(t, ownProvider)); code != 201 {
		t.Fatalf("http to loopback where allowed: %d %v", code, out)
	}
	if code, _, out := loose.Call(t, "POST", "/v1/subscriptions", subscriptionBody(ownProvider, "http://example.org/hooks"),
		"Authorization", "Bearer "+loose.Token(t, ownProvider)); code != 422 {
		t.Fatalf("http elsewhere where http is allowed: %d %v", code, out)
	}
	loose.Stop()

	// A node without a webhook key cannot create subscriptions, and says so.
	off := nodetest.StartWith(t, srv, "node-subs-off", 0, func(c *node.Config) { c.WebhookKey = nil })
	before = off.Head(t)
	code, hdr, out = off.Call(t, "POST", "/v1/subscriptions", body, "Authorization", "Bearer "+off.Token(t, ownProvider))
	if code != 503 || out["type"] != problemType("notifications-off") || hdr.Get("Retry-After") != "" {
		t.Fatalf("a node without a webhook key: %d %v (Retry-After %q)", code, out, hdr.Get("Retry-After"))
	}
	if after := off.Head(t); after != before {
		t.Fatalf("a refused subscription appended %d events", after-before)
	}
	// Its other routes answer as usual.
	if code, _, out := off.Call(t, "GET", "/v1/subscriptions/"+id, "", "Authorization", "Bearer "+off.Token(t, ownProvider)); code != 200 {
		t.Fatalf("reading a subscription on a node without a key: %d %v", code, out)
	}
	if !slices.Contains(off.Node.API().Routes(), "DELETE /v1/subscriptions/{id}") {
		t.Fatal("no DELETE route")
	}
}
