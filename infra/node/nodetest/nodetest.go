// Package nodetest runs tierlink nodes for tests: on a test's own redis-server, with
// the HTTP API served, tokens issued on first use, every answer checked against the
// OpenAPI document, and waits for needs and for the consumers to catch up. Every
// node-level test uses it.
package nodetest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/redis/go-redis/v9"

	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/eventlog"
	"github.com/tierlink/tierlink/infra/httpapi"
	"github.com/tierlink/tierlink/infra/node"
	"github.com/tierlink/tierlink/infra/redistest"
	"github.com/tierlink/tierlink/infra/reference"
	"github.com/tierlink/tierlink/projections"
)

// Running is a node running on a test's redis-server, its HTTP API served.
type Running struct {
	// Node is the running node.
	Node *node.Node
	// Server serves the node's HTTP API and pages.
	Server *httptest.Server
	// Client is a client of the test's redis-server.
	Client *redis.Client
	// Stop ends the node and its server (the test's end does it otherwise).
	Stop func()
	// Spec routes requests to the operations of the OpenAPI document.
	Spec   routers.Router
	tokens *sync.Map // principal → bearer token, issued on first use
}

// Run publishes the configuration's reference data and runs a node on it until
// stop is called or the test ends.
func Run(tb testing.TB, cfg node.Config) (n *node.Node, stop func()) {
	tb.Helper()
	n, err := node.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	if err := n.PublishReference(context.Background()); err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = n.Run(ctx); close(done) }()
	stop = func() { cancel(); <-done }
	tb.Cleanup(stop)
	return n, stop
}

// WebhookKey is the nodes' webhook key: fixed, so that a test can derive the
// secret a subscription was given.
var WebhookKey = []byte("tierlink-test-webhook-key-32-byt")

// Start runs a node on the server as the given consumer until Stop is called.
func Start(tb testing.TB, srv redistest.Server, consumer string) *Running {
	tb.Helper()
	return StartWith(tb, srv, consumer, 0)
}

// StartWith runs a node with a matcher lease of the given time to live (0: the
// default), its configuration changed by opts.
func StartWith(tb testing.TB, srv redistest.Server, consumer string, leaseTTL time.Duration, opts ...func(*node.Config)) *Running {
	tb.Helper()
	ref, err := reference.Default()
	if err != nil {
		tb.Fatal(err)
	}
	// The tests see a need proposed at once: the harness keeps the default
	// allocation rules but holds no need for a round (a test of rounds sets its own
	// reference through opts).
	if a := ref.Policy.Allocation; a != nil {
		ref.Policy.Allocation = &domain.Allocation{Spare: a.Spare, MaxWait: a.MaxWait}
	}
	client := srv.Client(tb)
	cfg := node.Config{
		Client: client, Consumer: consumer, Reference: ref,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Subscription: eventlog.SubscriptionConfig{
			MaxIdle: 300 * time.Millisecond, ClaimInterval: 100 * time.Millisecond, BlockTime: 50 * time.Millisecond,
		},
		TickInterval: -1, // the tests tick by hand
		LeaseTTL:     leaseTTL,
		WebhookKey:   WebhookKey,
	}
	for _, o := range opts {
		o(&cfg)
	}
	n, stopNode := Run(tb, cfg)
	hs := httptest.NewServer(n.Handler())
	var once sync.Once
	stop := func() { once.Do(func() { hs.Close(); stopNode() }) }
	tb.Cleanup(stop)
	doc, err := httpapi.OpenAPI()
	if err != nil {
		tb.Fatal(err)
	}
	spec, err := gorillamux.NewRouter(doc)
	if err != nil {
		tb.Fatal(err)
	}
	return &Running{Server: hs, Stop: stop, Client: client, Node: n, tokens: &sync.Map{}, Spec: spec}
}

// Token returns a bearer token of the principal, issued once per node.
func (r *Running) Token(tb testing.TB, p domain.Principal) string {
	tb.Helper()
	if s, ok := r.tokens.Load(p); ok {
		return s.(string)
	}
	secret, _, err := r.Node.Tokens().Create(context.Background(), p, "test "+p.String(), time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	s, _ := r.tokens.LoadOrStore(p, secret)
	return s.(string)
}

// DistrictCentre is the Changning district centre: its node holds every sample community.
var DistrictCentre = domain.Principal{Role: domain.RoleCentre, Tier: domain.TierDistrict, Area: "changning"}

// PrincipalFor picks who sends a request in these tests: the party the endpoint is
// for. A referral's answer comes from the centre it is addressed to, a service step
// and an offer's change from the offer's provider, the rest from the district centre.
func (r *Running) PrincipalFor(tb testing.TB, method, path, body string) domain.Principal {
	tb.Helper()
	ctx := context.Background()
	parts := strings.Split(strings.Trim(path, "/"), "/")
	provider := func(offerID string) domain.Principal {
		_, evs, _ := r.Node.Store().FindAggregate(ctx, []string{"changning"}, domain.AggregateRef{Type: domain.AggregateOffer, ID: offerID})
		o := domain.Offer{Provider: "p"} // an unknown offer: any provider gets its 404
		for _, e := range evs {
			o = o.Evolve(e)
		}
		return domain.Principal{Role: domain.RoleProvider, Provider: o.Provider}
	}
	switch {
	case method == "POST" && path == "/v1/offers":
		var req struct{ Provider string }
		if json.Unmarshal([]byte(body), &req) != nil || !domain.ValidID(req.Provider) {
			req.Provider = "p" // a body the API refuses anyway
		}
		return domain.Principal{Role: domain.RoleProvider, Provider: req.Provider}
	case len(parts) == 4 && parts[1] == "offers":
		return provider(parts[2])
	case len(parts) == 4 && parts[1] == "referrals":
		// The party a referral was addressed to: the centre of the need's community at
		// the tier it was proposed at, the provider of its offer (whatever became of
		// the referral since).
		needID, ok, _ := r.Node.Views().Find(ctx, projections.ReferralsModel, parts[2])
		if !ok {
			return DistrictCentre
		}
		_, evs, _ := r.Node.Store().FindAggregate(ctx, []string{"changning"}, domain.AggregateRef{Type: domain.AggregateNeed, ID: string(needID)})
		to, ok := domain.AddresseeOf(evs, parts[2])
		if !ok {
			return DistrictCentre
		}
		if parts[3] == "start" || parts[3] == "complete" {
			return provider(to.OfferID)
		}
		var n domain.Need
		for _, e := range evs {
			n = n.Evolve(e)
		}
		c, _ := r.Node.Reference().Geography.Community(n.Community)
		return domain.Principal{Role: domain.RoleCentre, Tier: to.Tier, Area: c.AreaOf(to.Tier)}
	}
	return DistrictCentre
}

// Call sends a request as PrincipalFor's principal, with headers given as name,
// value pairs (an empty value removes the header), checks the answer against the
// OpenAPI document and returns its status, headers and JSON body.
func (r *Running) Call(tb testing.TB, method, path, body string, headers ...string) (int, http.Header, map[string]any) {
	tb.Helper()
	req, _ := http.NewRequest(method, r.Server.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+r.Token(tb, r.PrincipalFor(tb, method, path, body)))
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r.CheckAgainstSpec(tb, req, resp, b)
	var out map[string]any
	if len(bytes.TrimSpace(b)) > 0 && (strings.Contains(resp.Header.Get("Content-Type"), "json")) {
		if err := json.Unmarshal(b, &out); err != nil {
			tb.Fatalf("%s %s: body %q: %v", method, path, b, err)
		}
	}
	return resp.StatusCode, resp.Header, out
}

// CheckAgainstSpec checks a response against the OpenAPI document: its route is in
// it, and its status, headers and body are what the document says.
func (r *Running) CheckAgainstSpec(tb testing.TB, req *http.Request, resp *http.Response, body []byte) {
	tb.Helper()
	if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed {
		if _, _, err := r.Spec.FindRoute(req); err != nil {
			return // a path the API does not have: answered with a problem, not in the document
		}
	}
	route, params, err := r.Spec.FindRoute(req)
	if err != nil {
		tb.Fatalf("%s %s is not in the OpenAPI document: %v", req.Method, req.URL.Path, err)
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}},
		Status: resp.StatusCode, Header: resp.Header, Body: io.NopCloser(bytes.NewReader(body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		tb.Fatalf("%s %s answered %d, which the OpenAPI document does not allow: %v\n%s", req.Method, req.URL.Path, resp.StatusCode, err, body)
	}
}

// Register registers a household of the community with a need of each category
// and returns the needs' ids.
func (r *Running) Register(tb testing.TB, community string, categories ...string) []string {
	tb.Helper()
	var needs []string
	for _, c := range categories {
		needs = append(needs, `{"category":"`+c+`"}`)
	}
	code, _, out := r.Call(tb, "POST", "/v1/households", `{"community":"`+community+`","needs":[`+strings.Join(needs, ",")+`]}`)
	if code != http.StatusCreated {
		tb.Fatalf("register: %d %v", code, out)
	}
	var ids []string
	for _, n := range out["needs"].([]any) {
		ids = append(ids, n.(map[string]any)["need_id"].(string))
	}
	return ids
}

// Offer posts an offer of changning-youth to the community and returns its id.
func (r *Running) Offer(tb testing.TB, community, category string, capacity int) string {
	tb.Helper()
	body, _ := json.Marshal(map[string]any{"provider": "changning-youth", "category": category, "capacity": capacity,
		"scope": map[string]string{"tier": "community", "area": community}})
	code, _, out := r.Call(tb, "POST", "/v1/offers", string(body))
	if code != http.StatusCreated {
		tb.Fatalf("offer: %d %v", code, out)
	}
	return out["offer_id"].(string)
}

// Need waits until the need's view satisfies ok.
func (r *Running) Need(tb testing.TB, id string, ok func(projections.NeedView) bool) projections.NeedView {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var last projections.NeedView
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest("GET", r.Server.URL+"/v1/needs/"+id, nil)
		req.Header.Set("Authorization", "Bearer "+r.Token(tb, DistrictCentre))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			tb.Fatal(err)
		}
		if resp.StatusCode == http.StatusOK {
			last = projections.NeedView{}
			_ = json.NewDecoder(resp.Body).Decode(&last)
			if ok(last) {
				resp.Body.Close()
				return last
			}
		}
		resp.Body.Close()
		time.Sleep(10 * time.Millisecond)
	}
	tb.Fatalf("need %s never reached the expected state; last %+v", id, last)
	return last
}

// Referred says whether a need has a referral proposed.
func Referred(v projections.NeedView) bool { return v.Status == "proposed" }

// Waitlisted says whether a need is on the waitlist.
func Waitlisted(v projections.NeedView) bool { return v.Status == "waitlisted" }

// Settle waits until every consumer group has applied the whole log, as the
// node's metrics say.
func (r *Running) Settle(tb testing.TB) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	// The metrics are asked for uncompressed: gzipping them at every look cost the
	// node tests about a tenth of their time under the race detector.
	req, _ := http.NewRequest("GET", r.Server.URL+"/metrics", nil)
	req.Header.Set("Accept-Encoding", "identity")
	for time.Now().Before(deadline) {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			tb.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		lagging := false
		seen := 0
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "tierlink_consumer_lag{") {
				seen++
				if !strings.HasSuffix(line, " 0") {
					lagging = true
				}
			}
		}
		if seen >= 2 && !lagging {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	tb.Fatal("the consumers did not catch up with the log")
}

// Head returns the position of the Changning log's last entry.
func (r *Running) Head(tb testing.TB) int64 {
	tb.Helper()
	n, err := r.Client.HGet(context.Background(), "tl:{changning}:state", "head").Int64()
	if err != nil {
		tb.Fatalf("log head: %v", err) // every log opens with its reference data
	}
	return n
}
