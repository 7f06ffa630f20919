package web

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tierlink/tierlink/app"
	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/reference"
	"github.com/tierlink/tierlink/projections/projectionstest"
)

// TestProviderNamesOnThePages proposes two needs, one an offer of a provider the
// reference data names and one of a provider it does not, and reads the street
// centre's inbox and the case pages in both languages: the named provider reads by
// its name in the reader's language, the other by its code; a provider's own
// offers page says whose it is.
func TestProviderNamesOnThePages(t *testing.T) {
	base, err := reference.Default()
	if err != nil {
		t.Fatal(err)
	}
	district := base.Geography.Districts()[0].Code
	named := domain.Text{Zh: "新华社工服务社", En: "Xinhua Social Work"}
	ref, err := base.WithProviders(map[string][]domain.ProviderNode{district: {{Code: "prov-a", Name: named, Kind: "social_work_organisation"}}})
	if err != nil {
		t.Fatal(err)
	}
	street := ref.Geography.Districts()[0].Streets[0]
	community := street.Communities[0].Code
	category := ref.Taxonomy.Categories()[0]
	now := time.Date(2026, 12, 1, 1, 0, 0, 0, time.UTC)
	views := &memViews{Memory: projectionstest.NewMemory()}
	a, l := pagesApp(t, ref, views, &now)
	ctx := context.Background()
	centre, _ := domain.NewPrincipal(domain.RoleCentre, "", domain.TierCommunity, community)
	streetCentre, _ := domain.NewPrincipal(domain.RoleCentre, "", domain.TierStreet, street.Code)
	var households, needs, offers []string
	for range 2 {
		res, err := a.Commands.RegisterHousehold.Handle(ctx, app.RegisterHouseholdInput{Community: community,
			Assessment: domain.Assessment{domain.DimIncome: 3}, Needs: []app.NeedInput{{Category: category.Code, Urgency: domain.UrgencyHigh}}},
			app.Meta{Principal: centre, Actor: centre.String()})
		if err != nil {
			t.Fatal(err)
		}
		households, needs = append(households, res.HouseholdID), append(needs, res.Needs[0].NeedID)
	}
	for _, prov := range []string{"prov-a", "prov-b"} {
		who, _ := domain.NewPrincipal(domain.RoleProvider, prov, 0, "")
		res, err := a.Commands.PostOffer.Handle(ctx, app.PostOfferInput{Provider: prov, Category: category.Code, Capacity: 2,
			ScopeTier: "street", ScopeArea: street.Code}, app.Meta{Principal: who, Actor: who.String()})
		if err != nil {
			t.Fatal(err)
		}
		offers = append(offers, res.OfferID)
	}
	models := foldLog(t, l, views, district)
	for i, n := range needs {
		for _, p := range []domain.Payload{domain.NeedEscalated{From: 1, To: 2, Reason: domain.EscalatedNoSupply},
			domain.ReferralProposed{ReferralID: fmt.Sprintf("r%d", i), OfferID: offers[i], Tier: 2, Rule: "best-fit", Candidates: 1, Deadline: now.Add(48 * time.Hour)}} {
			models.decide(n, now, p)
		}
	}
	s, err := New(Config{App: a, Sessions: noSessions{}})
	if err != nil {
		t.Fatal(err)
	}
	page := func(lang string, who domain.Principal, h func(w *httptest.ResponseRecorder, v visitor)) string {
		t.Helper()
		w := httptest.NewRecorder()
		h(w, visitor{lang: lang, who: who, session: "s"})
		body, _ := io.ReadAll(w.Result().Body)
		if w.Code != 200 {
			t.Fatalf("%s: %d %s", lang, w.Code, body)
		}
		return string(body)
	}
	for _, lang := range []string{LangZH, LangEN} {
		what := func(key, provider string) string {
			return escape(fmt.Sprintf(translate(lang, key), textIn(lang, category.Label), provider))
		}
		wantA, wantB := what("inbox.offer.what.named", textIn(lang, named)), what("inbox.offer.what", "prov-b")
		inbox := page(lang, streetCentre, func(w *httptest.ResponseRecorder, v visitor) {
			s.inbox(w, httptest.NewRequest("GET", "/ui/inbox", nil), v)
		})
		if !strings.Contains(inbox, wantA) || !strings.Contains(inbox, wantB) {
			t.Errorf("%s: the inbox lacks %q or %q:\n%s", lang, wantA, wantB, inbox)
		}
		for i, want := range []string{wantA, wantB} {
			cs := page(lang, centre, func(w *httptest.ResponseRecorder, v visitor) {
				r := httptest.NewRequest("GET", "/ui/households/"+households[i], nil)
				r.SetPathValue("id", households[i])
				s.caseView(w, r, v)
			})
			if !strings.Contains(cs, want) {
				t.Errorf("%s: the case page lacks %q:\n%s", lang, want, cs)
			}
		}
		for prov, want := range map[string]string{"prov-a": escape(textIn(lang, named)), "prov-b": "prov-b"} {
			who, _ := domain.NewPrincipal(domain.RoleProvider, prov, 0, "")
			mine := page(lang, who, func(w *httptest.ResponseRecorder, v visitor) {
				s.offers(w, httptest.NewRequest("GET", "/ui/offers", nil), v)
			})
			if !strings.Contains(mine, `<p class="who">`+want+"</p>") {
				t.Errorf("%s: the offers page of %s does not say whose it is (%q):\n%s", lang, prov, want, mine)
			}
		}
	}
}
