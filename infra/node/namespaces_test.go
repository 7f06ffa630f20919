package node_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/tierlink/tierlink/infra/node/nodetest"
	"github.com/tierlink/tierlink/infra/redistest"
	"github.com/tierlink/tierlink/projections"
)

// TestReadModelNamespacesStayApart reads every key the read models hold (documents
// of each model, indexes, counters, checkpoints) through the endpoint of each model
// that reads by id: an id is found only in its own model; under any other it is
// 404, never another model's document (a referral's key read as a need was a 500).
func TestReadModelNamespacesStayApart(t *testing.T) {
	t.Parallel()
	r := nodetest.Start(t, redistest.Real(t), "node-namespaces")
	r.Offer(t, "xinhua-02", "counselling", 1)
	ids := r.Register(t, "xinhua-02", "counselling", "homework_tutoring")
	proposed := r.Need(t, ids[0], nodetest.Referred)
	r.Settle(t)

	// The endpoint that reads each model's documents by id.
	endpoints := []struct {
		model, method, path, suffix string
		found                       int // the status of an id of its own model
	}{
		{projections.NeedsModel, "GET", "/v1/needs/", "", http.StatusOK},
		{projections.HouseholdsModel, "GET", "/v1/households/", "", http.StatusOK},
		{projections.OffersModel, "GET", "/v1/offers/", "", http.StatusOK},
		{projections.ReferralsModel, "POST", "/v1/referrals/", "/accept", 0}, // not accepted here
		{projections.WatchModel, "GET", "/v1/households/", "/watch", http.StatusOK},
	}
	// The watch model is keyed by household id, as the households model is: a key of
	// either is the same household's, found by the endpoints of both.
	household := func(model string) string {
		if model == projections.WatchModel {
			return projections.HouseholdsModel
		}
		return model
	}
	keys, err := r.Client.Keys(context.Background(), "tl:{changning}:view:*").Result()
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
			if household(ep.model) == household(model) {
				if want = ep.found; want == 0 {
					continue
				}
			}
			code, _, body := r.Call(t, ep.method, ep.path+url.PathEscape(id)+ep.suffix, "")
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
	if code, _, body := r.Call(t, "POST", "/v1/referrals/"+proposed.Referral.ID+"/accept", ""); code != http.StatusCreated && code != http.StatusOK {
		t.Fatalf("accepting referral %s: %d %v", proposed.Referral.ID, code, body)
	}
}

// TestReferralsIndexedBeforeTheUpgradeKeepWorking moves a referral's index entry
// back to where read models built before the referral index had a model of its own
// kept it (a document "referral-<id>" of the needs model): its inbox still lists it,
// its centre can still answer it, and the old document is not a need.
func TestReferralsIndexedBeforeTheUpgradeKeepWorking(t *testing.T) {
	t.Parallel()
	r := nodetest.Start(t, redistest.Real(t), "node-legacy-index")
	f := newFixture(t, r, false)
	r.Settle(t)
	ctx := context.Background()
	keys, err := r.Client.Keys(ctx, "tl:{changning}:view:g*:"+projections.ReferralsModel+":"+f.referral).Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("the referral's index key: %v %v", keys, err)
	}
	legacy := strings.Replace(keys[0], ":"+projections.ReferralsModel+":", ":"+projections.NeedsModel+":referral-", 1)
	if err := r.Client.Rename(ctx, keys[0], legacy).Err(); err != nil {
		t.Fatal(err)
	}
	centre := []string{"Authorization", "Bearer " + r.Token(t, ownCommunity)}
	code, _, inbox := r.Call(t, "GET", "/v1/inboxes/community/huayang-01", "", centre...)
	if code != http.StatusOK || !strings.Contains(fmt.Sprint(inbox), f.need) {
		t.Fatalf("the inbox without the referral's new index entry: %d %v", code, inbox)
	}
	if code, _, body := r.Call(t, "GET", "/v1/needs/referral-"+f.referral, ""); code != http.StatusNotFound {
		t.Fatalf("the old index document read as a need: %d %v", code, body)
	}
	if code, _, body := r.Call(t, "POST", "/v1/referrals/"+f.referral+"/accept", "", centre...); code != http.StatusCreated {
		t.Fatalf("accepting a referral indexed the old way: %d %v", code, body)
	}
}
