package node_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/node/nodetest"
	"github.com/tierlink/tierlink/infra/redistest"
	"github.com/tierlink/tierlink/projections"
)

// TestProviderSeesOneGroundOnlyAfterAcceptance registers a household in many target
// groups and proposes it an offer that lists every group: before the centre
// accepts, the provider's API list and web page show nothing of the household (no
// pseudonym, community or group); after, exactly one ground, the first of the
// offer's groups in the offer's order that the household is in, and none of its
// other groups.
func TestProviderSeesOneGroundOnlyAfterAcceptance(t *testing.T) {
	t.Parallel()
	r := nodetest.Start(t, redistest.Real(t), "node-minimum")
	as := func(p domain.Principal) []string { return []string{"Authorization", "Bearer " + r.Token(t, p)} }
	// Every group, in an order of the offer's own: living_alone comes before elderly.
	offerGroups := []string{"non_local_resident", "unemployed_able_to_work", "single_parent", "child_in_difficulty",
		"seriously_ill", "living_alone", "disabled", "elderly", "extreme_hardship", "low_income", "subsistence_allowance"}
	householdGroups := []string{"subsistence_allowance", "low_income", "elderly", "living_alone", "disabled", "seriously_ill"}
	const want = "seriously_ill" // the first of offerGroups the household is in
	gs, _ := json.Marshal(offerGroups)
	code, _, o := r.Call(t, "POST", "/v1/offers", `{"provider":"prov-a","category":"counselling","capacity":1,
		"scope":{"tier":"community","area":"huayang-01"},"eligibility":{"target_groups":`+string(gs)+`}}`, as(ownProvider)...)
	if code != http.StatusCreated {
		t.Fatalf("offer: %d %v", code, o)
	}
	hg, _ := json.Marshal(householdGroups)
	code, _, hh := r.Call(t, "POST", "/v1/households", `{"community":"huayang-01","target_groups":`+string(hg)+`,
		"needs":[{"category":"counselling"},{"category":"legal_aid"}]}`, as(ownCommunity)...)
	if code != http.StatusCreated {
		t.Fatalf("household: %d %v", code, hh)
	}
	household := hh["household_id"].(string)
	needID := hh["needs"].([]any)[0].(map[string]any)["need_id"].(string)
	v := r.Need(t, needID, nodetest.Referred)
	r.Settle(t)
	pseudonym := projections.Pseudonym("prov-a", household)

	// Everything the provider may read: its referrals, its offer, its web page.
	b := browser(t)
	signIn(t, b, r.Server.URL, r.Token(t, ownProvider))
	read := func() (item map[string]any, all string) {
		t.Helper()
		code, _, pr := r.Call(t, "GET", "/v1/providers/prov-a/referrals", "", as(ownProvider)...)
		items, _ := pr["items"].([]any)
		if code != 200 || len(items) != 1 {
			t.Fatalf("provider referrals: %d %v", code, pr)
		}
		code, _, ov := r.Call(t, "GET", "/v1/offers/"+v.Referral.OfferID, "", as(ownProvider)...)
		if code != 200 {
			t.Fatalf("offer: %d %v", code, ov)
		}
		delete(ov, "eligibility") // the offer's own groups
		raw, _ := json.Marshal([]any{items, ov})
		code, _, html := page(t, b, "GET", r.Server.URL+"/ui/referrals", nil, "en")
		if code != 200 || !strings.Contains(html, v.Referral.ID) {
			t.Fatalf("referrals page: %d %s", code, html)
		}
		return items[0].(map[string]any), string(raw) + html
	}
	never := func(all string) {
		t.Helper()
		for _, leak := range []string{household, needID, "hardship", "legal_aid", "Legal aid"} {
			if strings.Contains(all, leak) {
				t.Errorf("the provider reads %q:\n%s", leak, all)
			}
		}
	}

	// Proposed: the provider decides nothing yet, and sees nothing of the household.
	item, all := read()
	never(all)
	for k := range item {
		if !slices.Contains([]string{"referral_id", "offer_id", "category", "tier", "status", "proposed_at", "deadline"}, k) {
			t.Errorf("before acceptance the provider sees %s=%v", k, item[k])
		}
	}
	if strings.Contains(all, pseudonym) || strings.Contains(all, "Huayang") {
		t.Errorf("before acceptance the provider sees the household or its community:\n%s", all)
	}
	for _, g := range householdGroups {
		if strings.Contains(all, g) || strings.Contains(all, groupLabel(g)) {
			t.Errorf("before acceptance the provider sees the group %s:\n%s", g, all)
		}
	}

	// Accepted: the pseudonym, the community and exactly one ground.
	if code, _, out := r.Call(t, "POST", "/v1/referrals/"+v.Referral.ID+"/accept", "", as(ownCommunity)...); code != 201 {
		t.Fatalf("accept: %d %v", code, out)
	}
	r.Need(t, needID, func(v projections.NeedView) bool { return v.Status == "accepted" })
	r.Settle(t)
	item, all = read()
	never(all)
	if item["household"] != pseudonym || item["community"] != "huayang-01" || item["eligibility_ground"] != want {
		t.Fatalf("after acceptance: %v, want %s in huayang-01 eligible as %s", item, pseudonym, want)
	}
	for _, g := range householdGroups {
		if g != want && (strings.Contains(all, g) || strings.Contains(all, groupLabel(g))) {
			t.Errorf("the provider sees a second group, %s:\n%s", g, all)
		}
	}
	if !strings.Contains(all, groupLabel(want)) || !strings.Contains(all, pseudonym) {
		t.Errorf("the web page lacks the ground or the pseudonym:\n%s", all)
	}

	// The need withdrawn: the referral has ended and the household is out of sight.
	if code, _, out := r.Call(t, "POST", "/v1/needs/"+needID+"/withdraw", "", as(ownCommunity)...); code != 201 {
		t.Fatalf("withdraw: %d %v", code, out)
	}
	r.Need(t, needID, func(v projections.NeedView) bool { return v.Status == "withdrawn" })
	r.Settle(t)
	item, all = read()
	never(all)
	if item["status"] != "ended" || strings.Contains(all, pseudonym) || strings.Contains(all, want) {
		t.Errorf("an ended referral: %v\n%s", item, all)
	}
}

// groupLabel is a target group's English label on the web pages.
func groupLabel(g string) string {
	return map[string]string{"subsistence_allowance": "Subsistence allowance", "low_income": "Low income", "elderly": "Elderly",
		"living_alone": "Living alone", "disabled": "Disabled", "seriously_ill": "Seriously ill"}[g]
}
