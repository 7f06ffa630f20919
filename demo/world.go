// Package demo builds a living demo district and plays days of activity on it: a
// Changning-like geography of about 180 communities, providers of every kind with
// offers across the taxonomy and realistic scarcity, households drawn from plausible
// shares of the target groups, and centres and providers acting on what the matcher
// proposes. Everything is drawn from one seed, so a seed gives the same district and
// the same days.
package demo

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/tierlink/tierlink/domain"
)

// District is the code of the demo district (the sample district, grown).
const District = "changning"

// streets lists Changning's nine streets and one town with a plausible number of
// residents' committees each (185 in all, about the real district's). The codes are
// those of the shipped sample, so the demo grows the sample instead of replacing it.
var streets = []struct {
	code        string
	zh, en      string
	communities int
}{
	{"huayang", "华阳路", "Huayang Road", 20},
	{"jiangsu", "江苏路", "Jiangsu Road", 14},
	{"xinhua", "新华路", "Xinhua Road", 21},
	{"zhoujiaqiao", "周家桥", "Zhoujiaqiao", 16},
	{"tianshan", "天山路", "Tianshan Road", 20},
	{"xianxia", "仙霞新村", "Xianxia Xincun", 27},
	{"hongqiao", "虹桥", "Hongqiao", 18},
	{"chengjiaqiao", "程家桥", "Chengjiaqiao", 14},
	{"beixinjing", "北新泾", "Beixinjing", 17},
	{"xinjing", "新泾", "Xinjing", 18},
}

// linkedEverywhere are the categories every community centre links itself; each
// also links a few of optional.
var (
	linkedEverywhere = []string{"material_aid", "daily_living_help", "application_help"}
	optional         = []string{"elderly_care", "home_nursing", "counselling", "homework_tutoring", "after_school_care",
		"support_groups", "legal_aid", "social_integration", "employment_support", "smart_monitoring"}
)

// World is the demo district: its reference data, its providers and their standing
// offers, and the draw of households.
type World struct {
	Reference *domain.Reference
	Providers []Provider
	seed      uint64
}

// ProviderKind is the kind of organisation a provider is.
type ProviderKind string

// Provider kinds.
const (
	KindDepartment ProviderKind = "government_department"
	KindCharity    ProviderKind = "charity"
	KindSocialWork ProviderKind = "social_work_organisation"
	KindCompany    ProviderKind = "company"
	KindVolunteers ProviderKind = "volunteer_team"
)

// Provider is a demo provider and the offers it posts at the start.
type Provider struct {
	ID     string
	Kind   ProviderKind
	Name   domain.Text
	Offers []OfferPlan
}

// OfferPlan is an offer a provider posts.
type OfferPlan struct {
	Category    string
	Capacity    int
	Tier        int
	Area        string
	Eligibility domain.Eligibility
}

// NewWorld builds the demo district from a seed, with base's taxonomy and policy
// and its providers' names in the reference data, set up for the play's showcase
// inboxes (ShowcaseCommunity, ShowcaseStreet, ShowcaseProvider).
func NewWorld(base *domain.Reference, seed uint64) (*World, error) {
	return newWorld(base, seed, true)
}

// DrawnWorld builds the demo district as the seed draws it, without the showcase
// the play sets up: the quality benchmark's scenarios stay the same whatever the
// demo shows.
func DrawnWorld(base *domain.Reference, seed uint64) (*World, error) {
	return newWorld(base, seed, false)
}

func newWorld(base *domain.Reference, seed uint64, showcase bool) (*World, error) {
	rng := rand.New(rand.NewPCG(seed, 0x6465_6d6f)) // "demo"
	d := domain.DistrictNode{Code: District, Name: domain.Text{Zh: "长宁区", En: "Changning District"}}
	for _, s := range streets {
		suffixZh, suffixEn := "街道", " Street"
		if s.code == "xinjing" {
			suffixZh, suffixEn = "镇", " Town"
		}
		st := domain.StreetNode{Code: s.code, Name: domain.Text{Zh: s.zh + suffixZh, En: s.en + suffixEn}}
		for i := 1; i <= s.communities; i++ {
			caps := append([]string(nil), linkedEverywhere...)
			for _, j := range rng.Perm(len(optional))[:2+rng.IntN(3)] {
				code := fmt.Sprintf("%s-%02d", s.code, i)
				if showcase && code == ShowcaseCommunity && (optional[j] == "counselling" || optional[j] == "support_groups") {
					continue // its street links them: the street's inbox has work from it
				}
				caps = append(caps, optional[j])
			}
			st.Communities = append(st.Communities, domain.CommunityNode{
				Code:         fmt.Sprintf("%s-%02d", s.code, i),
				Name:         domain.Text{Zh: fmt.Sprintf("%s第%d居委", s.zh, i), En: fmt.Sprintf("%s Community %d", s.en, i)},
				Capabilities: caps,
			})
		}
		d.Streets = append(d.Streets, st)
	}
	cats := base.Taxonomy.Categories()
	ref, err := domain.NewReference([]domain.DistrictNode{d}, cats, base.Policy)
	if err == nil {
		ref, err = ref.WithProgrammes(base.Programmes()) // the sample's catalogue of programmes
	}
	if err != nil {
		return nil, fmt.Errorf("demo geography: %w", err)
	}
	w := &World{Reference: ref, seed: seed}
	w.Providers = providers(rng, d)
	if showcase {
		showcaseOffers(w.Providers)
	}
	dir := make([]domain.ProviderNode, 0, len(w.Providers))
	for _, p := range w.Providers {
		dir = append(dir, domain.ProviderNode{Code: p.ID, Name: p.Name, Kind: string(p.Kind)})
	}
	if w.Reference, err = ref.WithProviders(map[string][]domain.ProviderNode{d.Code: dir}); err != nil {
		return nil, fmt.Errorf("demo providers: %w", err)
	}
	for _, p := range w.Providers {
		for _, o := range p.Offers {
			if _, err := ref.Taxonomy.Category(o.Category); err != nil {
				return nil, fmt.Errorf("demo provider %s: %w", p.ID, err)
			}
		}
	}
	return w, nil
}

// The inboxes the README advertises: a community's, its street's, and a provider's
// referrals. The play makes sure that each has work waiting when it ends.
const (
	ShowcaseStreet    = "xianxia"
	ShowcaseCommunity = "xianxia-01"
	ShowcaseProvider  = "xinhang-social-work"
)

// showcaseCategory is what the showcase community links itself (its volunteer team
// offers it there); showcaseStreetCategory is what it refers up to its street, where
// the showcase provider offers it.
const (
	showcaseCategory       = "daily_living_help"
	showcaseStreetCategory = "support_groups"
)

// showcaseOffers adds, after the draw (so that a seed's other offers stay the
// same), the offers the showcase inboxes need if the draw did not make them: the
// volunteer team's in the showcase community, the showcase provider's in its street.
func showcaseOffers(ps []Provider) {
	want := []struct {
		provider string
		plan     OfferPlan
	}{
		{ShowcaseStreet + "-volunteers", OfferPlan{Category: showcaseCategory, Capacity: 4, Tier: domain.TierCommunity, Area: ShowcaseCommunity}},
		{ShowcaseProvider, OfferPlan{Category: showcaseStreetCategory, Capacity: 6, Tier: domain.TierStreet, Area: ShowcaseStreet}},
	}
	for _, x := range want {
		for i := range ps {
			if ps[i].ID != x.provider {
				continue
			}
			found := false
			for _, o := range ps[i].Offers {
				found = found || (o.Category == x.plan.Category && o.Tier == x.plan.Tier && o.Area == x.plan.Area)
			}
			if !found {
				ps[i].Offers = append(ps[i].Offers, x.plan)
			}
		}
	}
}

// Communities lists the demo district's community codes in the tree's order.
func (w *World) Communities() []string {
	var out []string
	for _, d := range w.Reference.Geography.Districts() {
		for _, s := range d.Streets {
			for _, c := range s.Communities {
				out = append(out, c.Code)
			}
		}
	}
	return out
}

// supply is the typical capacity of one offer of a category: material aid is
// plentiful, respite care, counselling and child protection are scarce.
var supply = map[string]int{
	"material_aid": 60, "daily_living_help": 12, "elderly_care": 8, "home_nursing": 5, "rehabilitation": 4,
	"respite_care": 1, "smart_monitoring": 10, "medical_services": 8, "employment_support": 8, "skills_training": 12,
	"homework_tutoring": 6, "after_school_care": 5, "counselling": 1, "support_groups": 10, "legal_aid": 4,
	"application_help": 20, "child_protection": 1, "social_integration": 8,
}

// capacity draws an offer's capacity around the category's typical one.
func capacity(rng *rand.Rand, category string) int {
	c := supply[category]
	return max(1, c/2+rng.IntN(c+1))
}

var (
	poorGroups    = []domain.TargetGroup{domain.GroupSubsistence, domain.GroupLowIncome, domain.GroupExtremeHardship}
	elderlyGroups = []domain.TargetGroup{domain.GroupElderly, domain.GroupLivingAlone}
	childGroups   = []domain.TargetGroup{domain.GroupChildDifficulty, domain.GroupSingleParent}
)

// providers draws the district's providers: government departments at the district
// tier, charities at the district or street tier, social-work organisations
// contracted by streets, companies near their sites, and a volunteer team per street
// working in a few of its communities.
func providers(rng *rand.Rand, d domain.DistrictNode) []Provider {
	district := func(cat string, elig domain.Eligibility) OfferPlan {
		return OfferPlan{Category: cat, Capacity: 3 * capacity(rng, cat), Tier: domain.TierDistrict, Area: d.Code, Eligibility: elig}
	}
	street := func(cat, code string) OfferPlan {
		return OfferPlan{Category: cat, Capacity: capacity(rng, cat), Tier: domain.TierStreet, Area: code}
	}
	someStreets := func(n int) []string {
		var out []string
		for _, i := range rng.Perm(len(d.Streets))[:n] {
			out = append(out, d.Streets[i].Code)
		}
		return out
	}
	ps := []Provider{
		{ID: "cn-civil-affairs", Kind: KindDepartment, Name: domain.Text{Zh: "区民政局", En: "District Civil Affairs Bureau"},
			Offers: []OfferPlan{district("material_aid", domain.Eligibility{TargetGroups: poorGroups}), district("application_help", domain.Eligibility{}),
				district("respite_care", domain.Eligibility{TargetGroups: elderlyGroups})}},
		{ID: "cn-human-resources", Kind: KindDepartment, Name: domain.Text{Zh: "区人力资源和社会保障局", En: "District Human Resources and Social Security Bureau"},
			Offers: []OfferPlan{district("employment_support", domain.Eligibility{LocalResidentsOnly: true}), district("skills_training", domain.Eligibility{})}},
		{ID: "cn-education", Kind: KindDepartment, Name: domain.Text{Zh: "区教育局", En: "District Education Bureau"},
			Offers: []OfferPlan{district("homework_tutoring", domain.Eligibility{TargetGroups: childGroups}), district("after_school_care", domain.Eligibility{})}},
		{ID: "cn-health", Kind: KindDepartment, Name: domain.Text{Zh: "区卫生健康委员会", En: "District Health Commission"},
			Offers: []OfferPlan{district("medical_services", domain.Eligibility{}), district("home_nursing", domain.Eligibility{})}},
		{ID: "cn-disabled-federation", Kind: KindDepartment, Name: domain.Text{Zh: "区残疾人联合会", En: "District Disabled Persons' Federation"},
			Offers: []OfferPlan{district("rehabilitation", domain.Eligibility{TargetGroups: []domain.TargetGroup{domain.GroupDisabled}}),
				district("smart_monitoring", domain.Eligibility{TargetGroups: []domain.TargetGroup{domain.GroupDisabled}})}},
		{ID: "cn-womens-federation", Kind: KindDepartment, Name: domain.Text{Zh: "区妇女联合会", En: "District Women's Federation"},
			Offers: []OfferPlan{district("child_protection", domain.Eligibility{TargetGroups: childGroups}), district("counselling", domain.Eligibility{TargetGroups: childGroups})}},
		{ID: "cn-justice", Kind: KindDepartment, Name: domain.Text{Zh: "区司法局", En: "District Justice Bureau"},
			Offers: []OfferPlan{district("legal_aid", domain.Eligibility{})}},
		{ID: "changning-charity", Kind: KindCharity, Name: domain.Text{Zh: "长宁区慈善基金会", En: "Changning Charity Foundation"},
			Offers: []OfferPlan{district("material_aid", domain.Eligibility{}), district("medical_services", domain.Eligibility{TargetGroups: []domain.TargetGroup{domain.GroupSeriouslyIll}})}},
		{ID: "sunflower-children", Kind: KindCharity, Name: domain.Text{Zh: "向日葵儿童关爱基金", En: "Sunflower Children's Fund"},
			Offers: []OfferPlan{district("homework_tutoring", domain.Eligibility{}), district("child_protection", domain.Eligibility{})}},
		{ID: "silver-years", Kind: KindCharity, Name: domain.Text{Zh: "银龄关爱公益基金", En: "Silver Years Care Fund"}},
		{ID: "xinhang-social-work", Kind: KindSocialWork, Name: domain.Text{Zh: "心航社会工作服务社", En: "Xinhang Social Work Service"}},
		{ID: "hengxin-social-work", Kind: KindSocialWork, Name: domain.Text{Zh: "恒信社工事务所", En: "Hengxin Social Work Agency"}},
		{ID: "ledao-social-work", Kind: KindSocialWork, Name: domain.Text{Zh: "乐道社区服务中心", En: "Ledao Community Service Centre"}},
		{ID: "anxin-home-care", Kind: KindCompany, Name: domain.Text{Zh: "安馨居家养老服务有限公司", En: "Anxin Home Care Ltd"}},
		{ID: "zhihu-monitoring", Kind: KindCompany, Name: domain.Text{Zh: "智护科技有限公司", En: "Zhihu Monitoring Technology Ltd"}},
		{ID: "kangjian-nursing", Kind: KindCompany, Name: domain.Text{Zh: "康健护理站", En: "Kangjian Nursing Station"}},
		{ID: "lianhua-supermarkets", Kind: KindCompany, Name: domain.Text{Zh: "联华超市长宁分公司", En: "Lianhua Supermarkets, Changning"}},
	}
	byID := map[string]*Provider{}
	for i := range ps {
		byID[ps[i].ID] = &ps[i]
	}
	add := func(id string, o OfferPlan) { byID[id].Offers = append(byID[id].Offers, o) }
	for _, s := range someStreets(6) {
		add("silver-years", street("elderly_care", s))
	}
	for _, s := range someStreets(4) {
		add("xinhang-social-work", street("counselling", s))
		add("xinhang-social-work", street("support_groups", s))
	}
	for _, s := range someStreets(5) {
		add("hengxin-social-work", street("application_help", s))
		add("hengxin-social-work", street("social_integration", s))
	}
	for _, s := range someStreets(4) {
		add("ledao-social-work", street("after_school_care", s))
		add("ledao-social-work", street("support_groups", s))
	}
	for _, s := range someStreets(5) {
		add("anxin-home-care", street("daily_living_help", s))
		add("anxin-home-care", street("elderly_care", s))
	}
	for _, s := range someStreets(2) {
		add("anxin-home-care", street("respite_care", s))
	}
	for _, s := range someStreets(7) {
		add("zhihu-monitoring", street("smart_monitoring", s))
	}
	for _, s := range someStreets(3) {
		add("kangjian-nursing", street("home_nursing", s))
		add("kangjian-nursing", street("rehabilitation", s))
	}
	for _, s := range someStreets(8) {
		add("lianhua-supermarkets", street("material_aid", s))
	}
	// A volunteer team per street, each in four to seven of its communities, doing
	// what its communities link themselves.
	for _, s := range d.Streets {
		name := strings.TrimSuffix(strings.TrimSuffix(s.Name.Zh, "街道"), "镇")
		enName := strings.TrimSuffix(strings.TrimSuffix(s.Name.En, " Street"), " Town")
		v := Provider{ID: s.Code + "-volunteers", Kind: KindVolunteers, Name: domain.Text{Zh: name + "志愿者服务队", En: enName + " Volunteer Team"}}
		for _, i := range rng.Perm(len(s.Communities))[:4+rng.IntN(4)] {
			c := s.Communities[i]
			for _, cat := range []string{"daily_living_help", "homework_tutoring", "social_integration", "elderly_care"} {
				if !contains(c.Capabilities, cat) || rng.IntN(2) == 0 {
					continue
				}
				v.Offers = append(v.Offers, OfferPlan{Category: cat, Capacity: 1 + rng.IntN(3), Tier: domain.TierCommunity, Area: c.Code})
			}
		}
		ps = append(ps, v)
	}
	return ps
}

func contains[T comparable](xs []T, x T) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// groupShares are the chances that a household in need belongs to each target group
// (a household can be in several): older people, many living alone, dominate;
// children in difficulty and non-local residents are fewer.
var groupShares = []struct {
	group domain.TargetGroup
	share float64
}{
	{domain.GroupElderly, 0.38}, {domain.GroupLivingAlone, 0.14}, {domain.GroupSubsistence, 0.16},
	{domain.GroupLowIncome, 0.18}, {domain.GroupExtremeHardship, 0.03}, {domain.GroupDisabled, 0.11},
	{domain.GroupSeriouslyIll, 0.09}, {domain.GroupChildDifficulty, 0.05}, {domain.GroupSingleParent, 0.06},
	{domain.GroupUnemployed, 0.10}, {domain.GroupNonLocal, 0.08},
}

// needsOf lists the categories a group's households commonly need, with weights.
var needsOf = map[domain.TargetGroup][]string{
	domain.GroupElderly:         {"elderly_care", "elderly_care", "daily_living_help", "smart_monitoring", "home_nursing", "medical_services", "respite_care"},
	domain.GroupLivingAlone:     {"smart_monitoring", "daily_living_help", "support_groups", "counselling"},
	domain.GroupSubsistence:     {"material_aid", "material_aid", "application_help", "employment_support"},
	domain.GroupLowIncome:       {"material_aid", "application_help", "skills_training"},
	domain.GroupExtremeHardship: {"material_aid", "daily_living_help", "application_help", "medical_services"},
	domain.GroupDisabled:        {"rehabilitation", "rehabilitation", "home_nursing", "employment_support", "respite_care"},
	domain.GroupSeriouslyIll:    {"medical_services", "home_nursing", "application_help", "counselling"},
	domain.GroupChildDifficulty: {"homework_tutoring", "counselling", "after_school_care", "child_protection", "application_help"},
	domain.GroupSingleParent:    {"after_school_care", "homework_tutoring", "material_aid", "legal_aid"},
	domain.GroupUnemployed:      {"employment_support", "skills_training", "application_help"},
	domain.GroupNonLocal:        {"social_integration", "legal_aid", "after_school_care"},
}

// householdPlan is one household to register: where, in which groups, its
// assessment and its needs.
type householdPlan struct {
	community  string
	groups     []domain.TargetGroup
	assessment domain.Assessment
	needs      []needPlan
}

type needPlan struct {
	category string
	urgency  domain.Urgency
}

// drawHousehold draws a household of one of communities.
func drawHousehold(rng *rand.Rand, communities []string) householdPlan {
	h := householdPlan{community: communities[rng.IntN(len(communities))], assessment: domain.Assessment{}}
	for len(h.groups) == 0 {
		for _, g := range groupShares {
			if rng.Float64() < g.share {
				h.groups = append(h.groups, g.group)
			}
		}
	}
	for _, dim := range domain.AllDimensions() {
		h.assessment[dim] = min(domain.MaxLevel, rng.IntN(3)+rng.IntN(len(h.groups)+1))
	}
	seen := map[string]bool{}
	for n := 1 + rng.IntN(3); len(h.needs) < n; {
		g := h.groups[rng.IntN(len(h.groups))]
		cat := needsOf[g][rng.IntN(len(needsOf[g]))]
		if seen[cat] {
			n-- // the household already needs it: one need fewer
			continue
		}
		seen[cat] = true
		u := domain.UrgencyNormal
		switch r := rng.IntN(20); {
		case r == 0:
			u = domain.UrgencyCritical
		case r < 5:
			u = domain.UrgencyHigh
		case r < 8:
			u = domain.UrgencyLow
		}
		h.needs = append(h.needs, needPlan{category: cat, urgency: u})
	}
	return h
}
