package web

import (
	"context"
	"encoding/json"
	"html/template"
	"io"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tierlink/tierlink/app"
	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/reference"
	"github.com/tierlink/tierlink/projections"
	"github.com/tierlink/tierlink/projections/projectionstest"
)

// memViews is a district's read models in memory: the cases projection writes
// them (projections.Store) and the application reads them (app.Views).
type memViews struct {
	*projectionstest.Memory
}

func decode[T any](m *memViews, model, id string) (*T, bool) {
	b, ok := m.Docs[model+"/"+id]
	if !ok {
		return nil, false
	}
	var v T
	if json.Unmarshal(b, &v) != nil {
		return nil, false
	}
	return &v, true
}

func (m *memViews) Household(_ context.Context, id string) (projections.HouseholdView, bool, error) {
	if h, ok := decode[projections.HouseholdView](m, projections.HouseholdsModel, id); ok {
		return *h, true, nil
	}
	return projections.HouseholdView{}, false, nil
}
func (m *memViews) Offer(_ context.Context, id string) (projections.OfferView, bool, error) {
	if o, ok := decode[projections.OfferView](m, projections.OffersModel, id); ok {
		return *o, true, nil
	}
	return projections.OfferView{}, false, nil
}
func (m *memViews) Needs(_ context.Context, _ string, ids []string) ([]*projections.NeedView, error) {
	out := make([]*projections.NeedView, len(ids))
	for i, id := range ids {
		out[i], _ = decode[projections.NeedView](m, projections.NeedsModel, id)
	}
	return out, nil
}
func (m *memViews) Offers(_ context.Context, _ string, ids []string) ([]*projections.OfferView, error) {
	out := make([]*projections.OfferView, len(ids))
	for i, id := range ids {
		out[i], _ = decode[projections.OfferView](m, projections.OffersModel, id)
	}
	return out, nil
}
func (m *memViews) NeedsOfReferrals(_ context.Context, _ string, ids []string) ([]string, error) {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = string(m.Docs[projections.ReferralsModel+"/"+id])
	}
	return out, nil
}
func (m *memViews) Page(_ context.Context, _, index string, after app.Cursor, limit int) ([]app.Cursor, error) {
	var all []app.Cursor
	for id, s := range m.Indexes[index] {
		all = append(all, app.Cursor{ID: id, Score: s})
	}
	slices.SortFunc(all, func(a, b app.Cursor) int {
		if a.Score != b.Score {
			if a.Score < b.Score {
				return -1
			}
			return 1
		}
		return strings.Compare(a.ID, b.ID)
	})
	var out []app.Cursor
	for _, c := range all {
		if after.ID != "" && (c.Score < after.Score || c.Score == after.Score && c.ID <= after.ID) {
			continue
		}
		if len(out) < limit {
			out = append(out, c)
		}
	}
	return out, nil
}
func (m *memViews) Latest(context.Context, string, string, int) ([]string, error) { return nil, nil }
func (m *memViews) WatchDocs(_ context.Context, _ string, ids []string) ([]*projections.WatchDoc, error) {
	out := make([]*projections.WatchDoc, len(ids))
	for i, id := range ids {
		out[i], _ = decode[projections.WatchDoc](m, projections.WatchModel, id)
	}
	return out, nil
}
func (m *memViews) Count(_ context.Context, _, index string, lo, hi float64) (int64, error) {
	var n int64
	for _, x := range m.Members(index) {
		if x.Score >= lo && x.Score <= hi {
			n++
		}
	}
	return n, nil
}
func (m *memViews) FindNeed(_ context.Context, id string) (projections.NeedView, bool, error) {
	if v, ok := decode[projections.NeedView](m, projections.NeedsModel, id); ok {
		return *v, true, nil
	}
	return projections.NeedView{}, false, nil
}

type fixedReferences struct{ ref *domain.Reference }

func (r fixedReferences) Current() *domain.Reference { return r.ref }

// TestHeldAndRoundsOnThePages registers two households, holds one need for an
// allocation round and proposes the other in one, and reads the street centre's
// inbox and the case pages in both languages: the held section names the held need
// with its round's time in the district's zone, the inbox card explains the round
// in words, and the case page tells the hold beside the status and in the story.
func TestHeldAndRoundsOnThePages(t *testing.T) {
	ref, err := reference.Default()
	if err != nil {
		t.Fatal(err)
	}
	district := ref.Geography.Districts()[0].Code
	street := ref.Geography.Districts()[0].Streets[0]
	community := street.Communities[0].Code
	category := ref.Taxonomy.Categories()[0]
	now := time.Date(2026, 12, 1, 1, 0, 0, 0, time.UTC)
	views := &memViews{Memory: projectionstest.NewMemory()}
	a, l := pagesApp(t, ref, views, &now)
	ctx := context.Background()
	centre, _ := domain.NewPrincipal(domain.RoleCentre, "", domain.TierCommunity, community)
	streetCentre, _ := domain.NewPrincipal(domain.RoleCentre, "", domain.TierStreet, street.Code)
	var households, needs []string
	for range 2 {
		res, err := a.Commands.RegisterHousehold.Handle(ctx, app.RegisterHouseholdInput{Community: community,
			Assessment: domain.Assessment{domain.DimIncome: 3}, Needs: []app.NeedInput{{Category: category.Code, Urgency: domain.UrgencyHigh}}},
			app.Meta{Principal: centre, Actor: centre.String()})
		if err != nil {
			t.Fatal(err)
		}
		households, needs = append(households, res.HouseholdID), append(needs, res.Needs[0].NeedID)
	}
	// The matcher's decisions, into the read models only (the pages read them there).
	models := foldLog(t, l, views, district)
	decide := func(need string, p domain.Payload) { models.decide(need, now, p) }
	until := now.Add(2 * time.Hour) // 11:00 in Shanghai
	for _, n := range needs {
		decide(n, domain.NeedEscalated{From: 1, To: 2, Reason: domain.EscalatedNoSupply})
		decide(n, domain.NeedHeld{Tier: 2, Until: until, Competing: 12, Free: 3})
	}
	decide(needs[1], domain.ReferralProposed{ReferralID: "r1", OfferID: "o1", Tier: 2, Rule: "allocation-round", Candidates: 3,
		Deadline: until.Add(48 * time.Hour), Round: &domain.RoundOutcome{Competing: 12, Units: 3, Priority: 84, Overdue: true, Unserved: 9, HighestUnserved: 61}})

	s, err := New(Config{App: a, Sessions: noSessions{}})
	if err != nil {
		t.Fatal(err)
	}
	page := func(lang string, who domain.Principal, path string, h func(w *httptest.ResponseRecorder, v visitor)) string {
		t.Helper()
		w := httptest.NewRecorder()
		h(w, visitor{lang: lang, who: who, session: "s"})
		body, _ := io.ReadAll(w.Result().Body)
		if w.Code != 200 {
			t.Fatalf("%s (%s): %d %s", path, lang, w.Code, body)
		}
		return string(body)
	}
	label := map[string]string{LangZH: category.Label.Zh, LangEN: category.Label.En}
	for _, c := range []struct {
		lang                                 string
		heldTitle, competition, round, first string
		status, hold, story                  string
	}{
		{LangZH, "等待分配轮次的需求", "12 个需求竞争 3 个名额", "分配轮次：12 户竞争 3 个名额；优先级 84（未获名额者最高 61）；等待超过上限，优先安排", "分配轮次（街道层级；共 3 个合适资源）",
			"等待分配轮次", "：街道层级，12-01 11:00 分配（12 个需求竞争 3 个名额）", "资源紧张，等待街道层级的分配轮次，12-01 11:00 分配（12 个需求竞争 3 个名额）"},
		{LangEN, "Held for the next allocation round", "12 needs for 3 places",
			"Allocation round: 12 households competed for 3 places; priority 84 (highest left without a place: 61); waited past the maximum wait, so it went first",
			"allocation round (street tier; 3 fitting offers)",
			"held for allocation round", " at the street tier until 12-01 11:00 (12 needs for 3 places)",
			"supply is scarce: held for an allocation round at the street tier until 12-01 11:00 (12 needs for 3 places)"},
	} {
		inbox := page(c.lang, streetCentre, "/ui/inbox", func(w *httptest.ResponseRecorder, v visitor) {
			s.inbox(w, httptest.NewRequest("GET", "/ui/inbox", nil), v)
		})
		held := inbox[strings.Index(inbox, `<section class="held"`):]
		card := inbox[strings.Index(inbox, `id="r-r1"`):strings.Index(inbox, `<section class="held"`)]
		for _, want := range []string{c.heldTitle, `id="h-` + needs[0] + `"`, label[c.lang], c.competition, ">12-01 11:00</time>",
			`datetime="2026-12-01T03:00:00Z"`, "/ui/households/" + households[0]} {
			if !strings.Contains(held, want) {
				t.Errorf("%s: the inbox's held section lacks %q:\n%s", c.lang, want, held)
			}
		}
		if strings.Contains(held, needs[1]) {
			t.Errorf("%s: the need proposed in its round is still listed as held", c.lang)
		}
		for _, want := range []string{c.first, escape(c.round)} {
			if !strings.Contains(card, want) {
				t.Errorf("%s: the inbox card lacks %q:\n%s", c.lang, want, card)
			}
		}
		cs := page(c.lang, centre, "/ui/households/h", func(w *httptest.ResponseRecorder, v visitor) {
			r := httptest.NewRequest("GET", "/ui/households/"+households[0], nil)
			r.SetPathValue("id", households[0])
			s.caseView(w, r, v)
		})
		for _, want := range []string{"<dd>" + escape(c.status+c.hold) + "</dd>", escape(c.story), escape(eventText(c.lang, "need.registered"))} {
			if !strings.Contains(cs, want) {
				t.Errorf("%s: the case page lacks %q:\n%s", c.lang, want, cs)
			}
		}
		won := page(c.lang, centre, "/ui/households/h", func(w *httptest.ResponseRecorder, v visitor) {
			r := httptest.NewRequest("GET", "/ui/households/"+households[1], nil)
			r.SetPathValue("id", households[1])
			s.caseView(w, r, v)
		})
		if !strings.Contains(won, escape(c.round)) || strings.Contains(won, "<dd>"+escape(c.status+c.hold)) {
			t.Errorf("%s: the case of the need won in its round does not tell the round, or still the hold:\n%s", c.lang, won)
		}
	}
}

// escape is a text as html/template writes it.
func escape(s string) string { return template.HTMLEscapeString(s) }
