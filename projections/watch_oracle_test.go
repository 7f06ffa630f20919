package projections_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/entitlement"
	"github.com/tierlink/tierlink/projections"
	"github.com/tierlink/tierlink/projections/projectionstest"
	"github.com/tierlink/tierlink/watch"
)

var (
	oStart      = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	oCategories = []string{"counselling", "legal_aid", "material_aid", "tutoring"}
	oGroups     = []domain.TargetGroup{domain.GroupElderly, domain.GroupLivingAlone, domain.GroupDisabled,
		domain.GroupChildDifficulty, domain.GroupLowIncome, domain.GroupSeriouslyIll}
	oAreas = [][2]string{{"c1", "s1"}, {"c2", "s1"}, {"c3", "s2"}}
)

func oProgramme(code, rule string) domain.Programme {
	t := domain.Text{Zh: code, En: code}
	return domain.Programme{Code: code, Name: t, Department: t, HowToApply: t, Because: t, Rule: rule}
}

// oPublication is the district's reference data: the first with the default
// adviser rules and one catalogue, the second (republished once) with others.
func oPublication(second bool) domain.ReferencePublished {
	street := func(code string, coms ...string) domain.StreetNode {
		st := domain.StreetNode{Code: code, Name: domain.Text{Zh: code, En: code}}
		for _, c := range coms {
			st.Communities = append(st.Communities, domain.CommunityNode{Code: c, Name: domain.Text{Zh: c, En: c}, Capabilities: oCategories[:2]})
		}
		return st
	}
	var cats []domain.Category
	for _, c := range oCategories {
		cats = append(cats, domain.Category{Code: c, Group: domain.GroupCare, Label: domain.Text{Zh: c, En: c}})
	}
	pol := domain.Policy{
		Deadlines:     domain.Deadlines{Community: domain.Duration(time.Hour), Street: domain.Duration(time.Hour), District: domain.Duration(time.Hour)},
		Hardship:      domain.HardshipWeights{Dimensions: map[domain.Dimension]int{domain.DimIncome: 1}, AssessmentPoints: 70, GroupCap: 30},
		UrgencyPoints: map[domain.Urgency]int{domain.UrgencyLow: 0, domain.UrgencyNormal: 10, domain.UrgencyHigh: 25, domain.UrgencyCritical: 50},
	}
	progs := []domain.Programme{
		oProgramme("p-elderly", `"elderly" in groups && hardship >= 30`),
		oProgramme("p-legal", `"legal_aid" in needs || income >= 3`),
		oProgramme("p-many", `size(needs) >= 2`),
	}
	if second {
		pol.Adviser = &domain.Adviser{
			ContactDays:  map[domain.TargetGroup]int{domain.GroupElderly: 20, domain.GroupDisabled: 45},
			ReassessDays: map[string]int{"*": 60, string(domain.GroupSeriouslyIll): 30},
			WaitDays:     3, Declines: 1, FollowUpDays: 5,
		}
		progs = []domain.Programme{
			oProgramme("p-elderly", `"elderly" in groups`),
			oProgramme("p-legal", `"legal_aid" in needs || income >= 3`),
			oProgramme("p-poor", `hardship >= 50`),
		}
	}
	return domain.ReferencePublished{
		District:   domain.DistrictNode{Code: "d", Name: domain.Text{Zh: "d", En: "d"}, Streets: []domain.StreetNode{street("s1", "c1", "c2"), street("s2", "c3")}},
		Categories: cats, Policy: pol, Programmes: progs,
	}
}

// oLog draws a random log: households of several groups, their needs and what
// happens to them, visits, reassessments, applications, ticks of time over about
// 120 days, and the reference data republished once.
type oLog struct {
	r       *rand.Rand
	now     time.Time
	events  []domain.Event
	version map[string]int64
	hhs     []*oHousehold
	needs   []*oNeed
	seq     int
	repub   bool
}

type oHousehold struct {
	id, community, street string
	open                  map[string]string // category → need
	applied               map[string]string
}

type oNeed struct {
	id, hh, category, state string // waiting, proposed, accepted, in_service, completed, withdrawn
	tier                    int
	referral                string
	followed                bool
}

func (l *oLog) add(typ, id string, p domain.Payload) {
	l.version[typ+id]++
	l.events = append(l.events, domain.Event{Type: p.EventType(), AggregateType: typ, AggregateID: id,
		AggregateVersion: l.version[typ+id], Time: l.now, Actor: "test", Payload: p})
}

func (l *oLog) id(prefix string) string { l.seq++; return fmt.Sprintf("%s%d", prefix, l.seq) }

func (l *oLog) openNeed(h *oHousehold) {
	cat := oCategories[l.r.IntN(len(oCategories))]
	if _, open := h.open[cat]; open {
		return
	}
	n := &oNeed{id: l.id("n"), hh: h.id, category: cat, state: "waiting", tier: 1}
	h.open[cat] = n.id
	l.needs = append(l.needs, n)
	l.add(domain.AggregateHousehold, h.id, domain.NeedsOpened{Needs: []domain.OpenedNeed{{NeedID: n.id, Category: cat}}})
	l.add(domain.AggregateNeed, n.id, domain.NeedRegistered{HouseholdID: h.id, Community: h.community, Street: h.street,
		Category: cat, Urgency: domain.UrgencyNormal, Hardship: 40})
}

func (l *oLog) pick(states ...string) *oNeed {
	var c []*oNeed
	for _, n := range l.needs {
		if slices.Contains(states, n.state) {
			c = append(c, n)
		}
	}
	if len(c) == 0 {
		return nil
	}
	return c[l.r.IntN(len(c))]
}

func (l *oLog) close(n *oNeed) {
	h := l.household(n.hh)
	delete(h.open, n.category)
	l.add(domain.AggregateHousehold, h.id, domain.NeedClosed{NeedID: n.id, Category: n.category})
}

func (l *oLog) household(id string) *oHousehold {
	for _, h := range l.hhs {
		if h.id == id {
			return h
		}
	}
	return nil
}

func (l *oLog) step() {
	r := l.r
	l.now = l.now.Add(time.Duration(r.IntN(14*60)) * time.Minute)
	if len(l.hhs) == 0 || r.IntN(12) == 0 {
		area := oAreas[r.IntN(len(oAreas))]
		h := &oHousehold{id: l.id("h"), community: area[0], street: area[1], open: map[string]string{}, applied: map[string]string{}}
		var groups []domain.TargetGroup
		for _, g := range oGroups {
			if r.IntN(4) == 0 {
				groups = append(groups, g)
			}
		}
		l.hhs = append(l.hhs, h)
		l.add(domain.AggregateHousehold, h.id, domain.HouseholdRegistered{Community: h.community, Street: h.street, District: "d",
			TargetGroups: groups, Assessment: domain.Assessment{domain.DimIncome: r.IntN(5)}, Hardship: r.IntN(101)})
		l.openNeed(h)
		return
	}
	h := l.hhs[r.IntN(len(l.hhs))]
	switch k := r.IntN(20); {
	case k == 0:
		l.openNeed(h)
	case k <= 2:
		if n := l.pick("waiting"); n != nil {
			n.state, n.referral = "proposed", l.id("r")
			l.add(domain.AggregateNeed, n.id, domain.ReferralProposed{ReferralID: n.referral, OfferID: "o1", Tier: n.tier, Rule: "x", Candidates: 1, Deadline: l.now.Add(time.Hour)})
		}
	case k == 3:
		if n := l.pick("proposed"); n != nil {
			n.state = "waiting"
			l.add(domain.AggregateNeed, n.id, domain.ReferralDeclined{ReferralID: n.referral, OfferID: "o1", Reason: "other"})
		}
	case k == 4:
		if n := l.pick("proposed", "accepted"); n != nil {
			n.state = "waiting"
			l.add(domain.AggregateNeed, n.id, domain.ReferralCancelled{ReferralID: n.referral, OfferID: "o1", Reason: "offer_withdrawn"})
		}
	case k == 5:
		if n := l.pick("proposed", "waiting"); n != nil && n.tier < 3 {
			ref := ""
			if n.state == "proposed" {
				ref = n.referral
			}
			n.state, n.tier = "waiting", n.tier+1
			l.add(domain.AggregateNeed, n.id, domain.NeedEscalated{From: n.tier - 1, To: n.tier, Reason: "no_supply", ReferralID: ref})
		} else if n := l.pick("waiting"); n != nil {
			if r.IntN(2) == 0 {
				l.add(domain.AggregateNeed, n.id, domain.NeedWaitlisted{Reason: "no_supply"})
			} else {
				l.add(domain.AggregateNeed, n.id, domain.NeedHeld{Tier: n.tier, Until: l.now.Add(time.Hour), Competing: 2, Free: 1})
			}
		}
	case k == 6:
		if n := l.pick("proposed"); n != nil {
			n.state = "accepted"
			l.add(domain.AggregateNeed, n.id, domain.ReferralAccepted{ReferralID: n.referral})
		}
	case k == 7:
		if n := l.pick("accepted"); n != nil {
			n.state = "in_service"
			l.add(domain.AggregateNeed, n.id, domain.ServiceStarted{ReferralID: n.referral})
		}
	case k == 8:
		if n := l.pick("in_service"); n != nil {
			n.state = "completed"
			l.add(domain.AggregateNeed, n.id, domain.ServiceCompleted{ReferralID: n.referral})
			l.close(n)
		}
	case k == 9:
		if n := l.pick("waiting", "proposed"); n != nil && r.IntN(3) == 0 {
			ref := ""
			if n.state == "proposed" {
				ref = n.referral
			}
			n.state = "withdrawn"
			l.add(domain.AggregateNeed, n.id, domain.NeedWithdrawn{ReferralID: ref})
			l.close(n)
		}
	case k == 10:
		var c []*oNeed
		for _, n := range l.needs {
			if n.state == "completed" && !n.followed {
				c = append(c, n)
			}
		}
		if len(c) > 0 {
			n := c[r.IntN(len(c))]
			n.followed = true
			l.add(domain.AggregateNeed, n.id, domain.FollowUpRecorded{ReferralID: n.referral, OfferID: "o1", Outcome: "resolved", Satisfaction: 4})
		}
	case k <= 12:
		// A visit, sometimes recorded days after it took place.
		at := l.now.Add(-time.Duration(r.IntN(4*24)) * time.Hour)
		l.add(domain.AggregateHousehold, h.id, domain.HouseholdVisited{Visitor: "a", Kind: "home", VisitedAt: at})
	case k == 13:
		l.add(domain.AggregateHousehold, h.id, domain.HouseholdReassessed{Assessment: domain.Assessment{domain.DimIncome: r.IntN(5)}, Hardship: r.IntN(101)})
	case k == 14:
		prog := []string{"p-elderly", "p-legal", "p-many", "p-poor"}[r.IntN(4)]
		switch h.applied[prog] {
		case "":
			h.applied[prog] = "applied"
			l.add(domain.AggregateHousehold, h.id, domain.EntitlementApplied{Programme: prog})
		case "applied":
			if r.IntN(2) == 0 {
				h.applied[prog] = "granted"
				l.add(domain.AggregateHousehold, h.id, domain.EntitlementGranted{Programme: prog})
			} else {
				h.applied[prog] = "refused"
				l.add(domain.AggregateHousehold, h.id, domain.EntitlementRefused{Programme: prog, Note: "no"})
			}
		}
	case k == 15 && !l.repub && l.now.After(oStart.Add(50*domain.Day)):
		l.repub = true
		l.add(domain.AggregateReference, "d", oPublication(true))
	default:
		// A tick: time passes.
		l.now = l.now.Add(time.Duration(r.IntN(48)) * time.Hour)
	}
}

// oracle refolds the whole log from scratch with plain code and returns, at a
// time, each household on the watch list with its kinds, and the district's take-up
// ("<programme>|<field>" → count).
func oracle(t *testing.T, log []domain.Event, at time.Time) (map[string][]watch.Kind, map[string]int64) {
	type need struct {
		hh, category, state string
		registered          time.Time
		completions         map[string]time.Time
	}
	type hh struct {
		groups                                   []domain.TargetGroup
		hardship, income                         int
		registered, contact, assessed, lastVisit time.Time
		declines                                 []time.Time
		open                                     map[string]bool
		applied                                  map[string]string
	}
	var pub *domain.ReferencePublished
	hhs, needs := map[string]*hh{}, map[string]*need{}
	later := func(a *time.Time, b time.Time) {
		if b.After(*a) {
			*a = b
		}
	}
	for _, e := range log {
		switch p := e.Payload.(type) {
		case domain.ReferencePublished:
			pub = &p
		case domain.HouseholdRegistered:
			hhs[e.AggregateID] = &hh{groups: p.TargetGroups, hardship: p.Hardship, income: p.Assessment[domain.DimIncome],
				registered: e.Time, contact: e.Time, assessed: e.Time, open: map[string]bool{}, applied: map[string]string{}}
		case domain.NeedsOpened:
			later(&hhs[e.AggregateID].contact, e.Time)
			for _, n := range p.Needs {
				hhs[e.AggregateID].open[n.Category] = true
			}
		case domain.NeedClosed:
			delete(hhs[e.AggregateID].open, p.Category)
		case domain.HouseholdVisited:
			later(&hhs[e.AggregateID].contact, p.VisitedAt)
			later(&hhs[e.AggregateID].lastVisit, p.VisitedAt)
		case domain.HouseholdReassessed:
			h := hhs[e.AggregateID]
			later(&h.contact, e.Time)
			later(&h.assessed, e.Time)
			h.hardship, h.income = p.Hardship, p.Assessment[domain.DimIncome]
		case domain.EntitlementApplied:
			hhs[e.AggregateID].applied[p.Programme] = "applied"
		case domain.EntitlementGranted:
			hhs[e.AggregateID].applied[p.Programme] = "granted"
		case domain.EntitlementRefused:
			hhs[e.AggregateID].applied[p.Programme] = "refused"
		case domain.NeedRegistered:
			needs[e.AggregateID] = &need{hh: p.HouseholdID, category: p.Category, state: "waiting", registered: e.Time, completions: map[string]time.Time{}}
		case domain.ReferralProposed:
			needs[e.AggregateID].state = "live"
		case domain.ReferralDeclined:
			needs[e.AggregateID].state = "waiting"
			hhs[needs[e.AggregateID].hh].declines = append(hhs[needs[e.AggregateID].hh].declines, e.Time)
		case domain.ReferralCancelled, domain.NeedEscalated:
			needs[e.AggregateID].state = "waiting"
		case domain.ServiceCompleted:
			needs[e.AggregateID].state = "done"
			needs[e.AggregateID].completions[p.ReferralID] = e.Time
		case domain.NeedWithdrawn:
			needs[e.AggregateID].state = "done"
		case domain.FollowUpRecorded:
			n := needs[e.AggregateID]
			delete(n.completions, p.ReferralID)
			later(&hhs[n.hh].contact, e.Time)
		}
	}
	rules := domain.DefaultAdviser()
	var progs []domain.Programme
	if pub != nil {
		rules, progs = pub.Policy.AdviserRules(), pub.Programmes
	}
	cat, err := entitlement.Compile(progs)
	if err != nil {
		t.Fatal(err)
	}
	days := func(d int) time.Duration { return time.Duration(d) * 24 * time.Hour }
	out, takeUp := map[string][]watch.Kind{}, map[string]int64{}
	for id, h := range hhs {
		var kinds []watch.Kind
		contact, reassess := 0, 0
		for _, g := range h.groups {
			if d, ok := rules.ContactDays[g]; ok && (contact == 0 || d < contact) {
				contact = d
			}
			d, ok := rules.ReassessDays[string(g)]
			if !ok {
				d = rules.ReassessDays["*"]
			}
			if reassess == 0 || d < reassess {
				reassess = d
			}
		}
		if len(h.groups) == 0 {
			reassess = rules.ReassessDays["*"]
		}
		if contact > 0 && !at.Before(h.contact.Add(days(contact))) {
			kinds = append(kinds, watch.NotContacted)
		}
		declines, followUp, waiting := 0, false, false
		for _, d := range h.declines {
			if d.After(h.contact) {
				declines++
			}
		}
		for _, n := range needs {
			if n.hh != id {
				continue
			}
			since := n.registered
			if h.lastVisit.After(since) {
				since = h.lastVisit
			}
			if n.state == "waiting" && !at.Before(since.Add(days(rules.WaitDays))) {
				waiting = true
			}
			for _, c := range n.completions {
				if !at.Before(c) { // from the completion; due FollowUpDays after it
					followUp = true
				}
			}
		}
		if waiting {
			kinds = append(kinds, watch.NeedWaiting)
		}
		if declines >= rules.Declines {
			kinds = append(kinds, watch.RepeatedDeclines)
		}
		if !at.Before(h.assessed.Add(days(reassess))) {
			kinds = append(kinds, watch.ReassessmentDue)
		}
		if followUp {
			kinds = append(kinds, watch.FollowUpDue)
		}
		facts := entitlement.Household{Hardship: h.hardship, Assessment: map[string]int{"income": h.income}, Community: "x"}
		for _, g := range h.groups {
			facts.Groups = append(facts.Groups, string(g))
		}
		for c := range h.open {
			facts.Needs = append(facts.Needs, c)
		}
		unclaimed := false
		for _, res := range cat.Evaluate(facts) {
			code := res.Programme.Code
			s := h.applied[code]
			if res.Eligible && s == "" {
				unclaimed = true
			}
			add := func(f string, b bool) {
				if b {
					takeUp[code+"|"+f]++
				}
			}
			add("eligible", res.Eligible || s == "granted")
			add("applied", s != "")
			add("granted", s == "granted")
			add("refused", s == "refused")
		}
		if unclaimed {
			kinds = append(kinds, watch.Unclaimed)
		}
		if len(kinds) > 0 {
			out[id] = kinds
		}
	}
	return out, takeUp
}

// projected reads the watch read model at a time: the households of the district's
// index due by then, with the kinds of their reasons.
func projected(t *testing.T, st *projectionstest.Memory, rules domain.Adviser, at time.Time) map[string][]watch.Kind {
	out := map[string][]watch.Kind{}
	for _, m := range st.Members(projections.WatchIndex(domain.TierDistrict, "d")) {
		if m.Score > float64(at.UnixMilli()) {
			continue
		}
		var d projections.WatchDoc
		if err := json.Unmarshal(st.Docs[projections.WatchModel+"/"+m.ID], &d); err != nil {
			t.Fatal(err)
		}
		var kinds []watch.Kind
		for _, r := range watch.Reasons(d.Household, rules, at) {
			if len(kinds) == 0 || kinds[len(kinds)-1] != r.Kind {
				kinds = append(kinds, r.Kind)
			}
		}
		out[m.ID] = kinds
	}
	return out
}

func diff(want, got map[string][]watch.Kind) string {
	var b strings.Builder
	for id, k := range want {
		if !slices.Equal(k, got[id]) {
			fmt.Fprintf(&b, "%s: want %v, got %v; ", id, k, got[id])
		}
	}
	for id, k := range got {
		if _, ok := want[id]; !ok {
			fmt.Fprintf(&b, "%s: want nothing, got %v; ", id, k)
		}
	}
	return b.String()
}

// TestWatchAgainstOracle runs random logs through the cases projection and, after
// every entry, compares the households on the district's watch list (and their
// kinds) at the entry's time and at later times, and the take-up counters, with a
// naive refold of the whole log.
func TestWatchAgainstOracle(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		l := &oLog{r: rand.New(rand.NewPCG(seed, 99)), now: oStart, version: map[string]int64{}}
		l.add(domain.AggregateReference, "d", oPublication(false))
		for l.now.Before(oStart.Add(120*domain.Day)) && len(l.events) < 420 {
			l.step()
		}
		st := projectionstest.NewMemory()
		p, err := projections.NewCases(st, "d")
		if err != nil {
			t.Fatal(err)
		}
		seen := map[watch.Kind]bool{}
		for i := range l.events {
			e := &l.events[i]
			if err := p.Handle(context.Background(), int64(i+1), e); err != nil {
				t.Fatalf("seed %d, entry %d (%s): %v", seed, i+1, e.Type, err)
			}
			rules := domain.DefaultAdviser()
			for j := i; j >= 0; j-- {
				if pub, ok := l.events[j].Payload.(domain.ReferencePublished); ok {
					rules = pub.Policy.AdviserRules()
					break
				}
			}
			for _, later := range []time.Duration{0, 6 * domain.Day, 40 * domain.Day} {
				at := e.Time.Add(later)
				want, takeUp := oracle(t, l.events[:i+1], at)
				got := projected(t, st, rules, at)
				if d := diff(want, got); d != "" {
					for id := range got {
						if _, ok := want[id]; !ok {
							t.Logf("doc %s: %s; members %v", id, st.Docs[projections.WatchModel+"/"+id], st.Indexes[projections.WatchIndex(domain.TierDistrict, "d")][id])
						}
					}
					t.Fatalf("seed %d, after entry %d (%s at %s), at +%s: %s", seed, i+1, e.Type, e.Time.Format(time.RFC3339), later, d)
				}
				for _, ks := range got {
					for _, k := range ks {
						seen[k] = true
					}
				}
				if later == 0 {
					counted := st.Groups[projections.TakeUpCounters(domain.TierDistrict, "d")]
					for f, n := range takeUp {
						if counted[f] != n {
							t.Fatalf("seed %d, after entry %d: take-up %s is %d, want %d (all: %v)", seed, i+1, f, counted[f], n, counted)
						}
					}
					for f, n := range counted {
						prog := strings.Split(f, "|")[0]
						if n != 0 && takeUp[f] == 0 && slices.ContainsFunc(rulesProgrammes(l.events[:i+1]), func(p string) bool { return p == prog }) {
							t.Fatalf("seed %d, after entry %d: take-up %s is %d, want 0", seed, i+1, f, n)
						}
					}
				}
			}
		}
		if seed == 1 && len(seen) < len(watch.Kinds()) {
			t.Errorf("seed 1 never showed every kind: %v", seen)
		}
	}
}

// rulesProgrammes lists the codes of the catalogue in force after a log.
func rulesProgrammes(log []domain.Event) []string {
	var out []string
	for _, e := range log {
		if p, ok := e.Payload.(domain.ReferencePublished); ok {
			out = out[:0]
			for _, pr := range p.Programmes {
				out = append(out, pr.Code)
			}
		}
	}
	return out
}
