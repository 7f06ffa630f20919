package web

import (
	"context"
	"io"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tierlink/tierlink/app"
	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/reference"
	"github.com/tierlink/tierlink/projections/projectionstest"
)

// indicatorViews adds the indicator counters and index counts to memViews
// (app.IndicatorViews).
type indicatorViews struct{ memViews }

func (m *indicatorViews) Counters(_ context.Context, _ string, names []string) ([]map[string]int64, error) {
	out := make([]map[string]int64, len(names))
	for i, n := range names {
		out[i] = m.Groups[n]
	}
	return out, nil
}
func (m *indicatorViews) Count(_ context.Context, _, index string, lo, hi float64) (int64, error) {
	var n int64
	for _, s := range m.Indexes[index] {
		if s >= lo && s <= hi {
			n++
		}
	}
	return n, nil
}

// dashboardServer registers three households on 2026-11-28 at 16:00 China time and
// plays the matcher's and the centres' decisions: one need proposed at the
// community tier, accepted 3.5 h and started 60 h after registration; one proposed
// and due within 24 h; one waitlisted (a supply gap). It returns the pages' server
// and its operator, with the clock at 2026-12-02 00:30 China time (just after
// midnight: nothing registered today).
func dashboardServer(t *testing.T) (*Server, domain.Principal) {
	t.Helper()
	ref, err := reference.Default()
	if err != nil {
		t.Fatal(err)
	}
	district := ref.Geography.Districts()[0].Code
	street := ref.Geography.Districts()[0].Streets[0]
	community := street.Communities[0].Code
	category := ref.Taxonomy.Categories()[0]
	now := time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)
	views := &indicatorViews{memViews{Memory: projectionstest.NewMemory()}}
	a, l := pagesApp(t, ref, views, &now)
	ctx := context.Background()
	centre, _ := domain.NewPrincipal(domain.RoleCentre, "", domain.TierCommunity, community)
	var needs []string
	for range 3 {
		res, err := a.Commands.RegisterHousehold.Handle(ctx, app.RegisterHouseholdInput{Community: community,
			Assessment: domain.Assessment{domain.DimIncome: 3}, Needs: []app.NeedInput{{Category: category.Code, Urgency: domain.UrgencyHigh}}},
			app.Meta{Principal: centre, Actor: centre.String()})
		if err != nil {
			t.Fatal(err)
		}
		needs = append(needs, res.Needs[0].NeedID)
	}
	models := foldLog(t, l, views, district)
	registered := now
	play := func(need string, after time.Duration, p domain.Payload) {
		models.decide(need, registered.Add(after), p)
	}
	now = time.Date(2026, 12, 1, 16, 30, 0, 0, time.UTC) // 2026-12-02 00:30 in Shanghai
	play(needs[0], 10*time.Minute, domain.ReferralProposed{ReferralID: "r0", OfferID: "o", Tier: 1, Rule: "best-candidate-at-tier", Candidates: 1,
		Deadline: registered.Add(48 * time.Hour)})
	play(needs[0], 210*time.Minute, domain.ReferralAccepted{ReferralID: "r0"})
	play(needs[0], 60*time.Hour, domain.ServiceStarted{ReferralID: "r0"})
	play(needs[1], now.Sub(registered)-10*time.Minute, domain.ReferralProposed{ReferralID: "r1", OfferID: "o", Tier: 1, Rule: "best-candidate-at-tier",
		Candidates: 1, Deadline: now.Add(5 * time.Hour)})
	play(needs[2], time.Minute, domain.NeedEscalated{From: 1, To: 3, Reason: domain.EscalatedNoSupply})
	play(needs[2], time.Minute, domain.NeedWaitlisted{Reason: domain.WaitlistedNoSupplyLeft})

	s, err := New(Config{App: a, Sessions: noSessions{}})
	if err != nil {
		t.Fatal(err)
	}
	operator, _ := domain.NewPrincipal(domain.RoleOperator, "", 0, "")
	return s, operator
}

// rawKey is a message key shown instead of its text.
var rawKey = regexp.MustCompile(`\b(dash|dashboard|nav|inbox|error|tier|count)\.[a-z][a-z.]*\b`)

// TestDashboardAtEachPeriod renders the operator's dashboard in both languages at
// each span of the period chooser, just after China midnight: the tab is titled,
// no text is a raw key, today and this month (a month not begun reads as this
// one) read "—" with nothing to compare while 7 and 30 days and last month show
// the rates, the times to accept and to start in the
// reader's units, what is due within 24 hours and the largest gaps in words; every
// figure has its definition; the day chart has 14 whole labels.
func TestDashboardAtEachPeriod(t *testing.T) {
	s, operator := dashboardServer(t)
	for _, lang := range []string{LangZH, LangEN} {
		for _, query := range []string{"span=today", "span=7d", "span=30d", "span=month", "span=month&month=2026-11", "", "span=month&month=2027-01"} {
			span, month, _ := strings.Cut(strings.TrimPrefix(query, "span="), "&month=")
			t.Run(lang+" "+query, func(t *testing.T) {
				r := httptest.NewRequest("GET", "/ui/dashboard?"+query, nil)
				w := httptest.NewRecorder()
				s.dashboard(w, r, visitor{lang: lang, who: operator, session: "s"})
				b, _ := io.ReadAll(w.Result().Body)
				body := string(b)
				if w.Code != 200 {
					t.Fatalf("%d %s", w.Code, body)
				}
				if m := rawKey.FindAllString(body, -1); len(m) > 0 {
					t.Errorf("raw keys shown: %v", m)
				}
				if want := "<title>" + translate(lang, "dash.title") + " · "; !strings.Contains(body, want) {
					t.Errorf("the tab is not titled %q", want)
				}
				has := func(what string, texts ...string) {
					t.Helper()
					for _, text := range texts {
						if !strings.Contains(body, text) {
							t.Errorf("%s: %q not shown", what, text)
						}
					}
				}
				tileShows := func(key, value string) {
					t.Helper()
					re := regexp.MustCompile(regexp.QuoteMeta(translate(lang, key)) + `</span>\s*<strong>` + regexp.QuoteMeta(value) + `</strong>`)
					if !re.MatchString(body) {
						t.Errorf("the tile %s does not read %q", translate(lang, key), value)
					}
				}
				en := lang == LangEN
				pick := func(zh, enText string) string {
					if en {
						return enText
					}
					return zh
				}
				for _, def := range []string{"dash.def.accessibility", "dash.def.obtainment", "dash.def.coverage", "dash.def.accept", "dash.def.start",
					"dash.def.overdue", "dash.def.duesoon", "dash.def.waitlisted", "dash.def.held", "dash.def.gap"} {
					has("definition", escape(translate(lang, def)))
				}
				tileShows("dash.tile.duesoon", "1")
				tileShows("dash.tile.overdue", "0")
				tileShows("dash.tile.waitlisted", "1")
				tileShows("dash.tile.held", "0")
				has("largest gaps", pick("缺口最大：", "Largest gaps: "), pick("（1 个等待）", " (1 waiting)"))
				if n := strings.Count(body, `class="axis"`); n != 14 {
					t.Errorf("the day chart has %d labels, want 14", n)
				}
				if strings.Contains(body, "≤") || regexp.MustCompile(`\d+m\d+s`).MatchString(body) {
					t.Error("a Go duration is shown")
				}
				// A day of the table with no need has no rate: it reads —, not 0 %.
				if regexp.MustCompile(`<td>0</td><td>0%</td>`).MatchString(body) {
					t.Error("a day with no need shows a rate of 0%")
				}
				if !regexp.MustCompile(`<td>0</td><td>—</td><td>—</td><td>—</td>`).MatchString(body) {
					t.Error("no day of the table without needs reads —")
				}
				switch {
				case span == app.SpanToday, span == app.SpanMonth && month != "2026-11": // nothing registered in December
					tileShows("dash.tile.accessibility", "—")
					tileShows("dash.tile.accept", "—")
					has("nothing to compare", translate(lang, "dash.change.none"))
					has("the first day", "2026-12-0")
				default:
					tileShows("dash.tile.accessibility", "67%")
					tileShows("dash.tile.obtainment", "33%")
					tileShows("dash.tile.coverage", "33%")
					tileShows("dash.tile.accept", pick("3.5 小时 / 3.9 小时", "3.5 h / 3.9 h"))
					tileShows("dash.tile.start", pick("2.5 天 / 2.9 天", "2.5 days / 2.9 days"))
					tileShows("dash.tile.demand", "3")
				}
				current := span
				if current == "" {
					current = app.Span7Days
				}
				if !strings.Contains(body, `href="?span=`+current+`" aria-current="page"`) && current != app.SpanMonth {
					t.Errorf("the chooser does not mark %s", current)
				}
			})
		}
	}
}

// TestNoPageTitleIsARawKey checks the tab title of every page in both languages.
func TestNoPageTitleIsARawKey(t *testing.T) {
	s := newTestServer(t)
	for page := range s.pages {
		for _, lang := range []string{LangZH, LangEN} {
			if key := page + ".title"; translate(lang, key) == key {
				t.Errorf("the %s page's title is its raw key in %s", page, lang)
			}
		}
	}
}

// TestDurationsInWords says durations in each language's units.
func TestDurationsInWords(t *testing.T) {
	for _, c := range []struct {
		d      time.Duration
		beyond bool
		count  int64
		zh, en string
	}{
		{0, false, 0, "—", "—"},
		{20 * time.Minute, false, 1, "20 分钟", "20 min"},
		{210 * time.Minute, false, 3, "3.5 小时", "3.5 h"},
		{47 * time.Hour, false, 3, "47 小时", "47 h"},
		{48 * time.Hour, false, 3, "2 天", "2 days"},
		{30 * 24 * time.Hour, true, 3, "超过 30 天", "over 30 days"},
	} {
		if zh, en := humanDuration(LangZH, c.d, c.beyond, c.count), humanDuration(LangEN, c.d, c.beyond, c.count); zh != c.zh || en != c.en {
			t.Errorf("%v: %q, %q; want %q, %q", c.d, zh, en, c.zh, c.en)
		}
	}
}
