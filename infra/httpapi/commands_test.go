package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tierlink/tierlink/app"
	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/eventlog/applog"
	"github.com/tierlink/tierlink/infra/eventlog/memlog"
	"github.com/tierlink/tierlink/infra/reference"
)

// The command tests serve the API over the in-memory log, with the sample
// reference data: district changning, street huayang, communities huayang-01 and
// huayang-02.
const testDistrict = "changning"

// Principals of the command tests, each with its bearer token (its name).
var testPrincipals = map[string]domain.Principal{
	"centre":   mustPrincipal(domain.RoleCentre, "", domain.TierCommunity, "huayang-01"),
	"other":    mustPrincipal(domain.RoleCentre, "", domain.TierCommunity, "huayang-02"),
	"district": mustPrincipal(domain.RoleCentre, "", domain.TierDistrict, testDistrict),
	"provider": mustPrincipal(domain.RoleProvider, "p1", 0, ""),
	"operator": mustPrincipal(domain.RoleOperator, "", 0, ""),
}

func mustPrincipal(role domain.Role, provider string, tier int, area string) domain.Principal {
	p, err := domain.NewPrincipal(role, provider, tier, area)
	if err != nil {
		panic(err)
	}
	return p
}

type tokenAuth struct{}

func (tokenAuth) Authenticate(_ context.Context, secret string) (domain.Principal, string, error) {
	p, ok := testPrincipals[secret]
	if !ok {
		return domain.Principal{}, "", ErrUnknownToken
	}
	return p, secret, nil
}

type alwaysUp struct{}

func (alwaysUp) Ping(context.Context) error { return nil }

type testReferences struct{ ref *domain.Reference }

func (r testReferences) Current() *domain.Reference { return r.ref }

// noViews stands for the read models, which the commands do not read.
type noViews struct {
	app.Views
	app.NeedViews
}

// apiFixture is the API over an in-memory log, at a fixed time.
type apiFixture struct {
	t   *testing.T
	log *memlog.Log
	srv *Server
	now time.Time
}

func newAPIFixture(t *testing.T) *apiFixture {
	t.Helper()
	ref, err := reference.Default()
	if err != nil {
		t.Fatal(err)
	}
	registry := domain.NewRegistry()
	l, err := memlog.New(registry)
	if err != nil {
		t.Fatal(err)
	}
	f := &apiFixture{t: t, log: l, now: time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)}
	newID := func() string { return uuid.Must(uuid.NewV7()).String() }
	a, err := app.New(app.Config{
		Log: applog.New(l, []string{testDistrict}), NeedViews: noViews{}, Referrals: l, Views: noViews{},
		Registry: registry, References: testReferences{ref}, NewID: newID,
		Now: func() time.Time { return f.now },
	})
	if err != nil {
		t.Fatal(err)
	}
	f.srv, err = New(Config{App: a, Auth: tokenAuth{}, Health: alwaysUp{}, Metrics: http.NotFoundHandler(), NewID: newID,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// call sends a request as who (a name of testPrincipals) and returns the status
// and the JSON answer.
func (f *apiFixture) call(who, method, path, body string) (int, map[string]any) {
	f.t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+who)
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	w := httptest.NewRecorder()
	f.srv.ServeHTTP(w, r)
	var out map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
		f.t.Fatalf("%s %s: %d %q: %v", method, path, w.Code, w.Body, err)
	}
	return w.Code, out
}

// must sends a request that must succeed, and returns its answer.
func (f *apiFixture) must(who, method, path, body string) map[string]any {
	f.t.Helper()
	code, out := f.call(who, method, path, body)
	if code != http.StatusCreated {
		f.t.Fatalf("%s %s %s: %d %v", method, path, body, code, out)
	}
	return out
}

// propose writes the matcher's proposal of the offer for the need at a tier,
// answer due in a day, and returns the referral's id.
func (f *apiFixture) propose(needID, offerID string, tier int) string {
	f.t.Helper()
	ctx := context.Background()
	version := func(ref domain.AggregateRef) int64 {
		_, evs, err := f.log.FindAggregate(ctx, []string{testDistrict}, ref)
		if err != nil {
			f.t.Fatal(err)
		}
		return int64(len(evs))
	}
	referralID := "ref-" + needID
	need := domain.AggregateRef{Type: domain.AggregateNeed, ID: needID}
	offer := domain.AggregateRef{Type: domain.AggregateOffer, ID: offerID}
	evs, err := f.log.Registry().Envelop([]domain.Change{
		{Aggregate: need, ExpectedVersion: version(need), Payloads: []domain.Payload{domain.ReferralProposed{
			ReferralID: referralID, OfferID: offerID, Tier: tier, Rule: "test", Candidates: 1, Deadline: f.now.Add(24 * time.Hour)}}},
		{Aggregate: offer, ExpectedVersion: version(offer), Payloads: []domain.Payload{domain.OfferUnitReserved{ReferralID: referralID, NeedID: needID}}},
	}, domain.Meta{Partition: testDistrict, Time: f.now, Actor: "matcher", CommandID: "match:" + needID}, uuid.NewString)
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.log.Append(ctx, evs); err != nil {
		f.t.Fatal(err)
	}
	return referralID
}

// world registers a household with two needs, posts an offer, and proposes it for
// the first need at the community tier and for the second at the district's.
type world struct{ household, need, offer, referral, districtReferral string }

func (f *apiFixture) world() world {
	f.t.Helper()
	var w world
	hh := f.must("centre", "POST", "/v1/households", `{"community":"huayang-01","needs":[{"category":"legal_aid"},{"category":"counselling"}]}`)
	w.household = hh["household_id"].(string)
	needs := hh["needs"].([]any)
	w.need = needs[0].(map[string]any)["need_id"].(string)
	other := needs[1].(map[string]any)["need_id"].(string)
	w.offer = f.must("provider", "POST", "/v1/offers", `{"category":"legal_aid","capacity":2,"scope":{"tier":"district","area":"changning"}}`)["offer_id"].(string)
	w.referral = f.propose(w.need, w.offer, domain.TierCommunity)
	counselling := f.must("provider", "POST", "/v1/offers", `{"category":"counselling","capacity":2,"scope":{"tier":"district","area":"changning"}}`)["offer_id"].(string)
	w.districtReferral = f.propose(other, counselling, domain.TierDistrict)
	return w
}

// fieldProblem is what a test expects of one element of a problem's errors.
type fieldProblem struct {
	pointer string
	says    string // a phrase of its detail
}

// TestEveryWrongFieldIsReported sends each command a body with several wrong or
// missing fields: the problem lists every one of them, in the order of the body,
// each with its pointer and what is wrong in words (a missing required field says
// "is required"); the detail is the first one's sentence, as when only it was told.
func TestEveryWrongFieldIsReported(t *testing.T) {
	f := newAPIFixture(t)
	w := f.world()
	long := strings.Repeat("x", domain.MaxNoteLength+1)
	for _, tc := range []struct {
		name, who, method, path, body string
		status                        int
		detail                        string // the problem's detail
		errors                        []fieldProblem
	}{
		{"a household", "centre", "POST", "/v1/households",
			`{"community":"","target_groups":["rich","elderly","elderly"],"assessment":{"mood":1,"health":9},
			"needs":[{"category":"legal_aid"},{"category":"astrology","urgency":"soon"},{"category":""},{"category":"legal_aid"}]}`,
			422, "community is required", []fieldProblem{
				{"/community", "is required"},
				{"/target_groups/0", `"rich" is not a target group`},
				{"/target_groups/2", "listed twice"},
				{"/assessment/health", "between 0 and"},
				{"/assessment/mood", "not an assessment dimension"},
				{"/needs/1/category", "astrology"},
				{"/needs/1/urgency", "not an urgency"},
				{"/needs/2/category", "is required"},
				{"/needs/3/category", "duplicates needs/0"},
			}},
		{"a household without needs", "centre", "POST", "/v1/households", `{"community":"nowhere"}`,
			422, `community: unknown community: "nowhere"`, []fieldProblem{{"/community", "unknown community"}, {"/needs", "is required"}}},
		{"needs", "centre", "POST", "/v1/households/" + w.household + "/needs",
			`{"needs":[{"category":"astrology"},{"category":""},{"category":"respite_care","urgency":"soon"}]}`,
			422, `needs/0/category: unknown service category: "astrology"`, []fieldProblem{
				{"/needs/0/category", "astrology"}, {"/needs/1/category", "is required"}, {"/needs/2/urgency", "not an urgency"}}},
		{"no needs", "centre", "POST", "/v1/households/" + w.household + "/needs", `{}`,
			422, "needs is required: list at least one need", []fieldProblem{{"/needs", "is required"}}},
		{"an offer", "provider", "POST", "/v1/offers",
			`{"category":"","scope":{"tier":"city","area":"x"},"eligibility":{"target_groups":["rich"]},"valid_until":"0001-01-01T00:00:00Z"}`,
			422, "category is required", []fieldProblem{
				{"/category", "is required"},
				{"/capacity", "is required"},
				{"/scope/tier", `"city" is not a tier`},
				{"/eligibility/target_groups/0", "not a target group"},
				{"/valid_until", "leave valid_until out"},
			}},
		{"an offer without scope", "provider", "POST", "/v1/offers", `{"category":"legal_aid","capacity":100001}`,
			422, "capacity must be between 1 and 100000", []fieldProblem{{"/capacity", "between 1 and"}, {"/scope/tier", "is required"}}},
		{"an offer without area", "provider", "POST", "/v1/offers", `{"category":"legal_aid","capacity":1,"scope":{"tier":"street"},"valid_from":"2026-12-01T00:00:00Z","valid_until":"2026-11-01T00:00:00Z"}`,
			422, "scope/area is required", []fieldProblem{{"/scope/area", "is required"}, {"/valid_until", "after valid_from"}}},
		{"a capacity", "provider", "POST", "/v1/offers/" + w.offer + "/capacity", `{}`,
			422, "capacity is required", []fieldProblem{{"/capacity", "is required"}}},
		{"a decline", "centre", "POST", "/v1/referrals/" + w.referral + "/decline", `{"note":"` + long + `"}`,
			422, "reason is required to decline", []fieldProblem{{"/reason", "is required"}, {"/note", "longer than"}}},
		{"a decline for no known reason", "centre", "POST", "/v1/referrals/" + w.referral + "/decline", `{"reason":"bored"}`,
			422, `reason: "bored" is not a decline reason`, []fieldProblem{{"/reason", "not a decline reason"}}},
		{"an acceptance", "centre", "POST", "/v1/referrals/" + w.referral + "/accept", `{"note":"` + long + `"}`,
			422, "note is longer than", []fieldProblem{{"/note", "longer than"}}},
		{"a withdrawal", "centre", "POST", "/v1/needs/" + w.need + "/withdraw", `{"note":"` + long + `"}`,
			422, "note is longer than", []fieldProblem{{"/note", "longer than"}}},
		{"an empty batch", "centre", "POST", "/v1/households/batch", `{}`,
			422, "households is required", []fieldProblem{{"/households", "is required"}}},
		{"reference data", "operator", "PUT", "/v1/reference/changning", `{}`,
			422, "district is required", []fieldProblem{{"/district", "is required"}, {"/categories", "is required"}, {"/policy", "is required"}}},
		{"reference data of another district", "operator", "PUT", "/v1/reference/changning", `{"district":{"code":"jingan"},"categories":[{"code":"x"}]}`,
			422, `district/code: "jingan" is not the district of the path`, []fieldProblem{
				{"/district/code", "not the district of the path"}, {"/categories", "invalid reference data"}, {"/policy", "is required"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := f.call(tc.who, tc.method, tc.path, tc.body)
			checkProblem(t, code, out, tc.status, "invalid-field", tc.detail, tc.errors)
		})
	}
}

// checkProblem fails unless a problem has the status, the kind, a detail that
// begins with detail, and exactly the errors, in order.
func checkProblem(t *testing.T, code int, out map[string]any, status int, kind, detail string, errs []fieldProblem) {
	t.Helper()
	got, _ := out["detail"].(string)
	if code != status || out["type"] != problemBase+kind || !strings.HasPrefix(got, detail) {
		t.Fatalf("%d %v %q, want %d %s %q…", code, out["type"], got, status, kind, detail)
	}
	list, _ := out["errors"].([]any)
	var pointers []string
	for _, e := range list {
		pointers = append(pointers, e.(map[string]any)["pointer"].(string))
	}
	var want []string
	for _, e := range errs {
		want = append(want, e.pointer)
	}
	if !slices.Equal(pointers, want) {
		t.Fatalf("pointers %q, want %q (%v)", pointers, want, out["errors"])
	}
	for i, e := range errs {
		if d := list[i].(map[string]any)["detail"].(string); !strings.Contains(d, e.says) {
			t.Errorf("%s: %q does not say %q", e.pointer, d, e.says)
		}
	}
}

// TestABatchTellsEachHouseholdsWrongFields: each refused household of a batch gets
// every wrong field, its pointers in the batch's body.
func TestABatchTellsEachHouseholdsWrongFields(t *testing.T) {
	f := newAPIFixture(t)
	code, out := f.call("centre", "POST", "/v1/households/batch", `{"households":[
		{"community":"huayang-01","needs":[{"category":"legal_aid"}]},
		{"needs":[{"category":"legal_aid"},{"category":""}]}]}`)
	if code != http.StatusOK {
		t.Fatalf("%d %v", code, out)
	}
	items := out["results"].([]any)
	if s := items[0].(map[string]any)["status"]; s != float64(http.StatusCreated) {
		t.Fatalf("the good household: %v", items[0])
	}
	second := items[1].(map[string]any)
	p, _ := second["problem"].(map[string]any)
	checkProblem(t, int(second["status"].(float64)), p, 422, "invalid-field", "community is required",
		[]fieldProblem{{"/households/1/community", "is required"}, {"/households/1/needs/1/category", "is required"}})
}

// TestWrongJSONTypesAreNamed sends values of the wrong JSON type: each is named
// with its pointer and the type expected in words; a date without its time says
// the format expected, with an example, and never Go's layout.
func TestWrongJSONTypesAreNamed(t *testing.T) {
	f := newAPIFixture(t)
	w := f.world()
	for _, tc := range []struct {
		name, who, method, path, body string
		detail                        string
		errors                        []fieldProblem
	}{
		{"a date without its time", "provider", "POST", "/v1/offers",
			`{"category":"legal_aid","capacity":1,"scope":{"tier":"district","area":"changning"},"valid_until":"2026-12-31"}`,
			"valid_until must be a date and time in RFC 3339", []fieldProblem{{"/valid_until", "such as 2026-12-31T00:00:00+08:00"}}},
		{"a date in another form", "provider", "POST", "/v1/offers",
			`{"category":"legal_aid","capacity":1,"scope":{"tier":"district","area":"changning"},"valid_from":"31/12/2026"}`,
			"valid_from must be a date and time in RFC 3339", []fieldProblem{{"/valid_from", `not "31/12/2026"`}}},
		{"every wrong type of an offer", "provider", "POST", "/v1/offers",
			`{"category":7,"capacity":"2","scope":{"tier":true,"area":["changning"]},"eligibility":{"target_groups":"elderly","local_residents_only":"yes"},"valid_from":1}`,
			"category must be a string, not a number", []fieldProblem{
				{"/category", "must be a string, not a number"},
				{"/capacity", "must be a whole number, not a string"},
				{"/scope/tier", "must be a string, not true or false"},
				{"/scope/area", "must be a string, not an array"},
				{"/eligibility/target_groups", "must be an array, not a string"},
				{"/eligibility/local_residents_only", "must be true or false, not a string"},
				{"/valid_from", "must be a date and time in RFC 3339"},
			}},
		{"a fraction for a whole number", "provider", "POST", "/v1/offers/" + w.offer + "/capacity", `{"capacity":2.5}`,
			"capacity must be a whole number, not 2.5", []fieldProblem{{"/capacity", "not 2.5"}}},
		{"a number too large", "provider", "POST", "/v1/offers/" + w.offer + "/capacity", `{"capacity":99999999999999999999}`,
			"capacity is too large a number", []fieldProblem{{"/capacity", "too large"}}},
		{"an object for a list", "centre", "POST", "/v1/households", `{"community":"huayang-01","needs":{"category":"legal_aid"},"assessment":{"income":"4"}}`,
			"needs must be an array, not an object", []fieldProblem{{"/needs", "must be an array"}, {"/assessment/income", "must be a whole number"}}},
		{"a list for the body", "centre", "POST", "/v1/referrals/" + w.referral + "/accept", `["ok"]`,
			"the body must be an object, not an array", []fieldProblem{{"", "must be an object"}}},
		{"a duration of reference data", "operator", "PUT", "/v1/reference/changning", `{"policy":{"deadlines":{"community":48}}}`,
			"policy/deadlines/community must be a duration", []fieldProblem{{"/policy/deadlines/community", `such as "48h"`}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := f.call(tc.who, tc.method, tc.path, tc.body)
			checkProblem(t, code, out, http.StatusBadRequest, "invalid-field", tc.detail, tc.errors)
			b, _ := json.Marshal(out)
			for _, layout := range []string{"2006", "15:04", "Z07:00", "parsing time", "json:"} {
				if strings.Contains(string(b), layout) {
					t.Fatalf("the problem quotes Go (%q): %s", layout, b)
				}
			}
		})
	}
}

// TestRefusalsDoNotAdviseARetry: a command the rules refuse in the resource's
// state (escalating at the district, the top tier) is a refused 409 that says the
// same request will be refused again; only a conflict advises sending it again.
func TestRefusalsDoNotAdviseARetry(t *testing.T) {
	f := newAPIFixture(t)
	w := f.world()
	code, out := f.call("district", "POST", "/v1/referrals/"+w.districtReferral+"/escalate", "")
	detail, _ := out["detail"].(string)
	if code != http.StatusConflict || out["type"] != problemBase+"refused" || !strings.Contains(detail, "cannot be escalated") ||
		!strings.Contains(detail, "refused again") || strings.Contains(detail, "retry") {
		t.Fatalf("escalate at the top tier: %d %v", code, out)
	}
	p, _ := problemFor(app.ErrConflict)
	if p.Status != http.StatusConflict || !strings.Contains(p.Detail, "send the command again") {
		t.Fatalf("a conflict: %+v", p)
	}
	if p, _ := problemFor(domain.ErrRefused); strings.Contains(p.Detail, "retry") || strings.Contains(p.Detail, "send the command again") {
		t.Fatalf("a refusal advises a retry: %+v", p)
	}
}

// TestAProblemListsAtMostMaxFieldProblems: a body with thousands of wrong values
// gets a problem of bounded size that says how many more there are.
func TestAProblemListsAtMostMaxFieldProblems(t *testing.T) {
	f := newAPIFixture(t)
	many := func(v string) string { return strings.TrimSuffix(strings.Repeat(v+",", 3*maxFieldProblems), ",") }
	for _, tc := range []struct {
		name, body string
		status     int
	}{
		{"unknown values", `{"community":"huayang-01","target_groups":[` + many(`"rich"`) + `],"needs":[{"category":"legal_aid"}]}`, 422},
		{"values of the wrong type", `{"community":"huayang-01","target_groups":[` + many(`1`) + `],"needs":[{"category":"legal_aid"}]}`, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := f.call("centre", "POST", "/v1/households", tc.body)
			list, _ := out["errors"].([]any)
			detail, _ := out["detail"].(string)
			if code != tc.status || len(list) != maxFieldProblems || !strings.Contains(detail, "299 more") {
				t.Fatalf("%d, %d errors, %q", code, len(list), detail)
			}
		})
	}
}
