package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/node"
	"github.com/tierlink/tierlink/infra/node/nodetest"
	"github.com/tierlink/tierlink/infra/redistest"
	"github.com/tierlink/tierlink/infra/viewstore"
	"github.com/tierlink/tierlink/projections"
)

// TestReadModelsAgreeWithTheLog runs a random district morning through the API
// (households and needs, offers, answers of every kind, withdrawals, service steps,
// clock ticks), then folds the log with the domain's own aggregates and checks
// every read model against it: each need's state, tier and referral; each offer's
// committed units; the inboxes hold exactly the proposed referrals, under the right
// node; the waitlists and the supply gap exactly the waitlisted needs; demand counts
// every need. Then it rebuilds the read models and checks them again.
func TestReadModelsAgreeWithTheLog(t *testing.T) {
	t.Parallel()
	for _, seed := range []uint64{1, 2} {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			r := nodetest.Start(t, redistest.Real(t), "node-fold")
			rng := rand.New(rand.NewPCG(seed, 77))
			communities := []string{"huayang-01", "huayang-02", "xinhua-01", "jiangsu-01"}
			categories := []string{"counselling", "material_aid", "respite_care"}
			var needs []string
			clock := time.Now()
			for step := 0; step < 120; step++ {
				switch k := rng.IntN(10); {
				case k < 4:
					needs = append(needs, r.Register(t, communities[rng.IntN(len(communities))], categories[rng.IntN(len(categories))])...)
				case k < 6:
					r.Offer(t, communities[rng.IntN(len(communities))], categories[rng.IntN(len(categories))], 1+rng.IntN(2))
				case k < 9 && len(needs) > 0:
					n := needs[rng.IntN(len(needs))]
					v := r.Need(t, n, func(projections.NeedView) bool { return true })
					if v.Referral == nil {
						continue
					}
					action := []string{"accept", "decline", "escalate", "start", "complete"}[rng.IntN(5)]
					body := ""
					if action == "decline" {
						body = `{"reason":"not_suitable"}`
					}
					// Answers the referral's state refuses are fine: the log says what took.
					r.Call(t, "POST", "/v1/referrals/"+v.Referral.ID+"/"+action, body)
					// Half the accepted referrals the provider serves at once.
					if action == "accept" && rng.IntN(2) == 0 {
						r.Call(t, "POST", "/v1/referrals/"+v.Referral.ID+"/start", "")
						r.Call(t, "POST", "/v1/referrals/"+v.Referral.ID+"/complete", "")
					}
				case k == 9 && len(needs) > 0:
					if rng.IntN(2) == 0 {
						r.Call(t, "POST", "/v1/needs/"+needs[rng.IntN(len(needs))]+"/withdraw", "")
					} else {
						clock = clock.Add(time.Duration(1+rng.IntN(72)) * time.Hour)
						if err := r.Node.Tick(context.Background(), clock); err != nil {
							t.Fatal(err)
						}
					}
				}
			}
			r.Settle(t)
			checkReadModels(t, r, seed)
			if _, err := node.RebuildProjections(context.Background(), r.Client, r.Node.Store(), []string{"changning"}, nil); err != nil {
				t.Fatal(err)
			}
			r.Settle(t)
			checkReadModels(t, r, seed)
		})
	}
}

// checkReadModels compares the read models with the log folded by the domain.
func checkReadModels(t *testing.T, r *nodetest.Running, seed uint64) {
	t.Helper()
	ctx := context.Background()
	entries, err := r.Node.Store().ReadPartition(ctx, "changning", 1, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	needs, offers := map[string]domain.Need{}, map[string]domain.Offer{}
	households := map[string]domain.Household{}
	community := map[string]string{}
	for _, e := range entries {
		switch e.Event.AggregateType {
		case domain.AggregateHousehold:
			households[e.Event.AggregateID] = households[e.Event.AggregateID].Evolve(e.Event)
		case domain.AggregateNeed:
			needs[e.Event.AggregateID] = needs[e.Event.AggregateID].Evolve(e.Event)
			if p, ok := e.Event.Payload.(domain.NeedRegistered); ok {
				community[e.Event.AggregateID] = p.Community
			}
		case domain.AggregateOffer:
			offers[e.Event.AggregateID] = offers[e.Event.AggregateID].Evolve(e.Event)
		}
	}
	st, _ := r.Node.Views().Store("changning")
	geo := r.Node.Reference().Geography
	inboxes, waitlists, held := map[string]map[string]bool{}, map[string]map[string]bool{}, map[string]map[string]bool{}
	gap := map[string]int64{}
	for id, n := range needs {
		b, ok, err := st.Get(ctx, projections.NeedsModel, id)
		if err != nil || !ok {
			t.Fatalf("seed %d: need %s has no view (%v)", seed, id, err)
		}
		var v projections.NeedView
		_ = json.Unmarshal(b, &v)
		ref := ""
		if v.Referral != nil {
			ref = v.Referral.ID
		}
		if v.Status != n.Status || v.Tier != n.Tier || ref != n.ReferralID || v.Version != n.Version {
			t.Fatalf("seed %d: need %s: view %s tier %d referral %q v%d, log %s tier %d referral %q v%d",
				seed, id, v.Status, v.Tier, ref, v.Version, n.Status, n.Tier, n.ReferralID, n.Version)
		}
		c, _ := geo.Community(community[id])
		switch n.Status {
		case domain.StatusProposed:
			ix := projections.InboxIndex(n.Tier, c.AreaOf(n.Tier))
			if inboxes[ix] == nil {
				inboxes[ix] = map[string]bool{}
			}
			inboxes[ix][n.ReferralID] = true
		case domain.StatusWaitlisted:
			for tier := domain.TierCommunity; tier <= domain.TierDistrict; tier++ {
				ix := projections.WaitlistIndex(tier, c.AreaOf(tier))
				if waitlists[ix] == nil {
					waitlists[ix] = map[string]bool{}
				}
				waitlists[ix][id] = true
			}
			gap[c.Street+"|"+n.Category]++
		case domain.StatusHeld: // waiting for its allocation round: not on the waitlist, no gap
			for tier := domain.TierCommunity; tier <= domain.TierDistrict; tier++ {
				ix := projections.HeldIndex(tier, c.AreaOf(tier))
				if held[ix] == nil {
					held[ix] = map[string]bool{}
				}
				held[ix][id] = true
			}
		}
	}
	for id, o := range offers {
		b, ok, _ := st.Get(ctx, projections.OffersModel, id)
		if !ok {
			t.Fatalf("seed %d: offer %s has no view", seed, id)
		}
		var v projections.OfferView
		_ = json.Unmarshal(b, &v)
		if committed := v.Proposed + v.Accepted + v.InService + v.Completed; committed != o.Committed || v.Capacity != o.Capacity || v.Version != o.Version {
			t.Fatalf("seed %d: offer %s: view commits %d of %d at v%d, log %d of %d at v%d (%+v)", seed, id, committed, v.Capacity, v.Version, o.Committed, o.Capacity, o.Version, v)
		}
	}
	// Every view is at its aggregate's version: its ETag is what If-Match expects.
	for id, h := range households {
		b, ok, _ := st.Get(ctx, projections.HouseholdsModel, id)
		var v projections.HouseholdView
		if !ok || json.Unmarshal(b, &v) != nil || v.Version != h.Version {
			t.Fatalf("seed %d: household %s: view at v%d (found %v), log at v%d", seed, id, v.Version, ok, h.Version)
		}
	}
	// Every node's inbox, every area's waitlist and held needs hold exactly what the log says.
	var nodes []struct {
		tier int
		area string
	}
	for _, d := range geo.Districts() {
		nodes = append(nodes, struct {
			tier int
			area string
		}{domain.TierDistrict, d.Code})
		for _, s := range d.Streets {
			nodes = append(nodes, struct {
				tier int
				area string
			}{domain.TierStreet, s.Code})
			for _, c := range s.Communities {
				nodes = append(nodes, struct {
					tier int
					area string
				}{domain.TierCommunity, c.Code})
			}
		}
	}
	members := func(index string) map[string]bool {
		out := map[string]bool{}
		ms, err := st.Range(ctx, index, viewstoreMember{}, 10_000)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			out[m.ID] = true
		}
		return out
	}
	for _, nd := range nodes {
		for _, pair := range []struct {
			index string
			want  map[string]bool
		}{{projections.InboxIndex(nd.tier, nd.area), inboxes[projections.InboxIndex(nd.tier, nd.area)]},
			{projections.WaitlistIndex(nd.tier, nd.area), waitlists[projections.WaitlistIndex(nd.tier, nd.area)]},
			{projections.HeldIndex(nd.tier, nd.area), held[projections.HeldIndex(nd.tier, nd.area)]}} {
			got := members(pair.index)
			if len(got) != len(pair.want) {
				t.Fatalf("seed %d: %s holds %v, the log says %v", seed, pair.index, got, pair.want)
			}
			for id := range pair.want {
				if !got[id] {
					t.Fatalf("seed %d: %s lacks %s", seed, pair.index, id)
				}
			}
		}
	}
	sets, err := st.Counters(ctx, []string{projections.GapCounters("changning")})
	if err != nil {
		t.Fatal(err)
	}
	for field, v := range sets[0] {
		if v != gap[field] {
			t.Fatalf("seed %d: supply gap %s = %d, the log says %d", seed, field, v, gap[field])
		}
	}
	for field, v := range gap {
		if sets[0][field] != v {
			t.Fatalf("seed %d: supply gap %s = %d, the log says %d", seed, field, sets[0][field], v)
		}
	}
}

// viewstoreMember is the start of an index.
type viewstoreMember = viewstore.Member
