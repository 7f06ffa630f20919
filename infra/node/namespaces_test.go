package node_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"testing"

	"github.com/tierlink/tierlink/infra/redistest"
	"github.com/tierlink/tierlink/projections"
)

// TestReadModelNamespacesStayApart reads every key the read models hold (documents
// of each model, indexes, counters, checkpoints) through the endpoint of each model
// that reads by id: an id is found only in its own model; under any other it is
// 404, never another model's document (a referral's key read as a need was a 500).
func TestReadModelNamespacesStayApart(t *testing.T) {
	r := start(t, redistest.Real(t), "node-namespaces")
	offer(t, r, "xinhua-02", "counselling", 1)
	ids := register(t, r, "xinhua-02", "counselling", "homework_tutoring")
	proposed := need(t, r, ids[0], referred)
	settle(t, r)

	// The endpoint that reads each model's documents by id.
	endpoints := []struct {
		model, method, path, suffix string
		found                       int // the status of an id of its own model
	}{
		{projections.NeedsModel, "GET", "/v1/needs/", "", http.StatusOK},
		{projections.HouseholdsModel, "GET", "/v1/households/", "", http.StatusOK},
		{projections.OffersModel, "GET", "/v1/offers/", "", http.StatusOK},
		{projections.ReferralsModel, "POST", "/v1/referrals/", "/accept", 0}, // not accepted here
	}
	keys, err := r.client.Keys(context.Background(), "tl:{changning}:view:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	key := regexp.MustCompile(`^tl:\{changning\}:view:g[0-9]+:([^:]+):(.+)$`)
	seen := map[string]int{}
	for _, k := range keys {
		m := key.FindStringSubmatch(k)
		if m == nil {
			t.Fatalf("read-model key %q is not view:g<n>:<model>:<id>", k)
		}
		model, id := m[1], m[2]
		seen[model]++
		for _, ep := range endpoints {
			want := http.StatusNotFound
			if ep.model == model {
				if want = ep.found; want == 0 {
					continue
				}
			}
			code, _, body := call(t, r, ep.method, ep.path+url.PathEscape(id)+ep.suffix, "")
			if code != want {
				t.Errorf("%s %s%s%s (a key of %s): %d %v, want %d", ep.method, ep.path, id, ep.suffix, model, code, body, want)
			}
		}
	}
	for _, ep := range endpoints {
		if seen[ep.model] == 0 {
			t.Fatalf("no document of %s to read: keys %v", ep.model, keys)
		}
	}
	// The referral's own key finds its need.
	if code, _, body := call(t, r, "POST", "/v1/referrals/"+proposed.Referral.ID+"/accept", ""); code != http.StatusCreated && code != http.StatusOK {
		t.Fatalf("accepting referral %s: %d %v", proposed.Referral.ID, code, body)
	}
}
