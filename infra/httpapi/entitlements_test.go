package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// send is call with an Idempotency-Key (if not "").
func (f *apiFixture) send(who, key, method, path, body string) (int, map[string]any) {
	f.t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+who)
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		r.Header.Set("Idempotency-Key", key)
	}
	w := httptest.NewRecorder()
	f.srv.ServeHTTP(w, r)
	var out map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
		f.t.Fatalf("%s %s: %d %q: %v", method, path, w.Code, w.Body, err)
	}
	return w.Code, out
}

// TestEntitlementsAccess checks who may read and change a household's
// entitlements, the idempotency rule, and the refusals.
func TestEntitlementsAccess(t *testing.T) {
	f := newAPIFixture(t)
	hh := f.must("centre", "POST", "/v1/households", `{"community":"huayang-01","target_groups":["child_in_difficulty"],
		"assessment":{"education":2},"needs":[{"category":"legal_aid"}]}`)["household_id"].(string)
	base := "/v1/households/" + hh + "/entitlements"
	apply := base + "/education_assistance/apply"
	for _, tc := range []struct {
		who          string
		read, change int
	}{
		{"other", http.StatusForbidden, http.StatusForbidden},
		{"provider", http.StatusForbidden, http.StatusForbidden},
		{"operator", http.StatusOK, http.StatusForbidden},
		{"centre", http.StatusOK, http.StatusCreated},
	} {
		code, out := f.send(tc.who, "", "GET", base, "")
		if code != tc.read {
			t.Fatalf("%s reads: %d %v, want %d", tc.who, code, out, tc.read)
		}
		if code == http.StatusForbidden && strings.Contains(out["detail"].(string), "huayang-01") {
			t.Fatalf("%s's refusal names the household's community: %v", tc.who, out)
		}
		if code, out = f.send(tc.who, "k1", "POST", apply, ""); code != tc.change {
			t.Fatalf("%s applies: %d %v, want %d", tc.who, code, out, tc.change)
		}
	}
	// Retry after success replays the first answer; another body under the key is refused.
	code, out := f.send("centre", "k1", "POST", apply, "")
	if code != http.StatusOK || out["replayed"] != true || out["status"] != "applied" {
		t.Fatalf("the retry: %d %v", code, out)
	}
	if code, out = f.send("centre", "k1", "POST", base+"/children_in_difficulty/apply", ""); code != http.StatusUnprocessableEntity ||
		!strings.HasSuffix(out["type"].(string), "#idempotency-key-reused") {
		t.Fatalf("the key reused: %d %v", code, out)
	}
	// Another principal's key: refused without revealing the first command.
	if code, out = f.send("other", "k1", "POST", apply, ""); code != http.StatusForbidden || strings.Contains(out["detail"].(string), "education") {
		t.Fatalf("another principal under the key: %d %v", code, out)
	}
	refuse := base + "/education_assistance/refuse"
	for _, tc := range []struct {
		name, path, body string
		status           int
		problem          string
	}{
		{"unknown programme", base + "/astrology/apply", "", http.StatusNotFound, "not-found"},
		{"applied twice", apply, "", http.StatusConflict, "refused"},
		{"granted before applying", base + "/children_in_difficulty/grant", "", http.StatusConflict, "refused"},
		{"refused without a note", refuse, `{"note":""}`, http.StatusUnprocessableEntity, "invalid-field"},
		{"unknown field", refuse, `{"note":"x","why":"y"}`, http.StatusBadRequest, "unknown-field"},
	} {
		code, out := f.send("centre", "", "POST", tc.path, tc.body)
		if code != tc.status || !strings.HasSuffix(out["type"].(string), "#"+tc.problem) {
			t.Errorf("%s: %d %v, want %d %s", tc.name, code, out, tc.status, tc.problem)
		}
	}
	if code, out := f.send("centre", "", "POST", refuse, `{"note":"income above the line"}`); code != http.StatusCreated || out["status"] != "refused" {
		t.Fatalf("refuse: %d %v", code, out)
	}
	_, out = f.send("centre", "", "GET", base, "")
	doc, err := OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	checkFits(t, doc, "Entitlements", out, true)
	statuses := map[string]any{}
	for _, it := range out["items"].([]any) {
		e := it.(map[string]any)
		statuses[e["programme"].(map[string]any)["code"].(string)] = e["status"]
	}
	if statuses["education_assistance"] != "refused" || statuses["children_in_difficulty"] != "eligible" || statuses["housing_assistance"] != "not_eligible" {
		t.Fatalf("statuses %v", statuses)
	}
}

// TestPublishRefusesBadRule: a rule that names an unknown fact is refused at its
// pointer, with the programme and the place of the error.
func TestPublishRefusesBadRule(t *testing.T) {
	f := newAPIFixture(t)
	code, ref := f.send("operator", "", "GET", "/v1/reference/"+testDistrict, "")
	if code != http.StatusOK || len(ref["programmes"].([]any)) != 10 {
		t.Fatalf("the reference data: %d", code)
	}
	ref["programmes"].([]any)[2].(map[string]any)["rule"] = "income >= 4 && salary < 3"
	body, err := json.Marshal(ref)
	if err != nil {
		t.Fatal(err)
	}
	code, out := f.send("operator", "", "PUT", "/v1/reference/"+testDistrict, string(body))
	errs, _ := out["errors"].([]any)
	if code != http.StatusUnprocessableEntity || len(errs) != 1 || errs[0].(map[string]any)["pointer"] != "/programmes/2/rule" ||
		!strings.Contains(errs[0].(map[string]any)["detail"].(string), "programme extreme_hardship_support: rule at 1:16: undeclared reference to 'salary'") {
		t.Fatalf("a bad rule: %d %v", code, out)
	}
}
