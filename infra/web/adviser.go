package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tierlink/tierlink/app"
	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/projections"
	"github.com/tierlink/tierlink/watch"
)

// The adviser's desk (issue 16): the centre's watch list, and on a case page the
// household's watch reasons, visits, follow-ups and the history of its score.

// watchLine is one reason a household is on the watch list, in words, with the
// place of the case page where it is acted on.
type watchLine struct {
	Kind  watch.Kind
	Text  string
	Late  bool
	Act   string // the case page's anchor: #visit, #n-<need>, #reassess, #entitlements
	Label string // what acting on it is called
}

// watchCard is one household of the watch list.
type watchCard struct {
	watch.Item
	Ref   string
	Lines []watchLine
}

// watchLimit is how many households a page of the watch list shows.
const watchLimit = 50

// watchPage lists the households on the centre's watch list now (an operator sees
// the district's), each with every reason in words and a link to act on it.
func (s *Server) watchPage(w http.ResponseWriter, r *http.Request, v visitor) {
	tier, area, ok := s.nodeOf(w, r, v, "error.watch")
	if !ok {
		return
	}
	reads := s.cfg.App.Queries.Reads
	page, err := reads.Watchlist(r.Context(), v.who, domain.TierName(tier), area, r.URL.Query().Get("after"), watchLimit)
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	names := s.adviserNames(r, v)
	cards := make([]watchCard, 0, len(page.Items))
	for _, it := range page.Items {
		cards = append(cards, watchCard{Item: it, Ref: shortRef(it.HouseholdID), Lines: watchLines(v.lang, page.At, it.Reasons, names)})
	}
	s.render(w, r, v, http.StatusOK, "watch", map[string]any{"Items": cards, "Total": counted(v.lang, "household", page.Total), "Next": page.Next,
		"First": r.URL.Query().Get("after") == "", "Tier": tier, "Area": area, "Act": v.who.Role == domain.RoleCentre,
		"Title": translate(v.lang, "watch.title")})
}

// adviserNames are the names the adviser's pages say codes by.
type adviserNames struct {
	categories, programmes, providers map[string]domain.Text
}

// adviserNames reads the names of the categories and programmes.
func (s *Server) adviserNames(r *http.Request, v visitor) adviserNames {
	_, categories, providers := s.names(r, v)
	n := adviserNames{categories: categories, providers: providers, programmes: map[string]domain.Text{}}
	if ref, err := s.cfg.App.Queries.Reads.Reference(r.Context(), s.district(), v.who); err == nil {
		for _, p := range ref.Programmes {
			n.programmes[p.Code] = p.Name
		}
	}
	return n
}

// days counts whole days from a time to now (never below 0).
func days(now, since time.Time) int { return max(0, int(now.Sub(since)/(24*time.Hour))) }

// watchLines says each reason in lang at now.
func watchLines(lang string, now time.Time, reasons []watch.Reason, names adviserNames) []watchLine {
	tf := func(key string, args ...any) string { return fmt.Sprintf(translate(lang, key), args...) }
	date := func(t time.Time) string { return local(t).Format("2006-01-02") }
	out := make([]watchLine, 0, len(reasons))
	for _, rs := range reasons {
		l := watchLine{Kind: rs.Kind}
		switch rs.Kind {
		case watch.NotContacted:
			l.Text = tf("watch.reason.not_contacted", days(now, rs.Last), rs.Limit, date(rs.Last))
			l.Act, l.Label = "#visit", translate(lang, "watch.act.visit")
		case watch.NeedWaiting:
			l.Text = tf("watch.reason.need_waiting", textOr(names.categories, lang, rs.Category), days(now, rs.Last), rs.Limit)
			l.Act, l.Label = "#n-"+rs.NeedID, translate(lang, "watch.act.need")
		case watch.RepeatedDeclines:
			l.Text = tf("watch.reason.repeated_declines", rs.Count, date(rs.Last))
			l.Act, l.Label = "#visit", translate(lang, "watch.act.visit")
		case watch.ReassessmentDue:
			l.Text = tf("watch.reason.reassessment_due", date(rs.Last), rs.Limit)
			l.Act, l.Label = "#reassess", translate(lang, "watch.act.reassess")
		case watch.FollowUpDue:
			l.Late = !rs.Due.IsZero() && now.After(rs.Due)
			key := "watch.reason.follow_up_due"
			if l.Late {
				key = "watch.reason.follow_up_late"
			}
			l.Text = tf(key, textOr(names.categories, lang, rs.Category), date(rs.Due))
			l.Act, l.Label = "#n-"+rs.NeedID, translate(lang, "watch.act.follow_up")
		case watch.Unclaimed:
			l.Text = tf("watch.reason.unclaimed", textOr(names.programmes, lang, rs.Programme))
			l.Act, l.Label = "#entitlements", translate(lang, "watch.act.entitlements")
		default:
			l.Text = string(rs.Kind)
		}
		out = append(out, l)
	}
	return out
}

// visitKinds are the kinds of visit the case page's form offers.
var visitKinds = []domain.VisitKind{domain.VisitHome, domain.VisitPhone, domain.VisitCentre}

// outcomes are the follow-up outcomes the case page's form offers.
var outcomes = []domain.FollowUpOutcome{domain.OutcomeResolved, domain.OutcomePartly, domain.OutcomeNotResolved}

// assessmentRow is one dated assessment of the score's history, with its change.
type assessmentRow struct {
	projections.AssessmentView
	Change string // "+12", "−5", "" for the first
}

// scoreHistory lists a household's assessments newest first, each with its change.
func scoreHistory(as []projections.AssessmentView) []assessmentRow {
	out := make([]assessmentRow, len(as))
	for i, a := range as {
		row := assessmentRow{AssessmentView: a}
		if i > 0 {
			switch d := a.Hardship - as[i-1].Hardship; {
			case d > 0:
				row.Change = "+" + strconv.Itoa(d)
			case d < 0:
				row.Change = "−" + strconv.Itoa(-d)
			default:
				row.Change = "±0"
			}
		}
		out[len(as)-1-i] = row
	}
	return out
}

// newestVisits lists visits newest first.
func newestVisits(vs []projections.VisitView) []projections.VisitView {
	out := make([]projections.VisitView, len(vs))
	for i, v := range vs {
		out[len(vs)-1-i] = v
	}
	return out
}

// dimensionLevels pairs each assessment dimension with its current level, for the
// reassessment form.
type dimensionLevel struct {
	Dim   domain.Dimension
	Level int
}

func dimensionLevels(a domain.Assessment) []dimensionLevel {
	var out []dimensionLevel
	for _, d := range domain.AllDimensions() {
		out = append(out, dimensionLevel{Dim: d, Level: a[d]})
	}
	return out
}

// visitForm records a visit from the case page under the API's rules. The time
// entered is the district's (datetime-local in Asia/Shanghai), then stored in UTC.
func (s *Server) visitForm(w http.ResponseWriter, r *http.Request, v visitor) {
	id := r.PathValue("id")
	back := "/ui/households/" + url.PathEscape(id)
	at, err := time.ParseInLocation("2006-01-02T15:04", r.PostFormValue("visited_at"), projections.Zone)
	if err != nil {
		s.said(w, r, v, http.StatusUnprocessableEntity, "error.visit.field", back, "error.back.case")
		return
	}
	in := app.VisitInput{Visitor: r.PostFormValue("visitor"), Kind: domain.VisitKind(r.PostFormValue("kind")), VisitedAt: at,
		Found: strings.TrimSpace(r.PostFormValue("found"))}
	if _, err := s.cfg.App.Commands.RecordVisit.Handle(r.Context(), id, in, v.meta(r)); err != nil {
		s.adviserFailed(w, r, v, err, back, "error.visit.field")
		return
	}
	http.Redirect(w, r, back+"?done=visit#visit", http.StatusSeeOther)
}

// reassessForm records a new assessment from the case page: every dimension rated
// anew.
func (s *Server) reassessForm(w http.ResponseWriter, r *http.Request, v visitor) {
	id := r.PathValue("id")
	back := "/ui/households/" + url.PathEscape(id)
	a := domain.Assessment{}
	for _, d := range domain.AllDimensions() {
		raw := r.PostFormValue("dim." + string(d))
		if raw == "" {
			continue
		}
		level, err := strconv.Atoi(raw)
		if err != nil {
			s.said(w, r, v, http.StatusUnprocessableEntity, "error.reassess.field", back, "error.back.case")
			return
		}
		a[d] = level
	}
	in := app.ReassessInput{Assessment: a, Note: strings.TrimSpace(r.PostFormValue("note"))}
	if _, err := s.cfg.App.Commands.Reassess.Handle(r.Context(), id, in, v.meta(r)); err != nil {
		s.adviserFailed(w, r, v, err, back, "error.reassess.field")
		return
	}
	http.Redirect(w, r, back+"?done=reassessed#reassess", http.StatusSeeOther)
}

// followUpForm records the follow-up of a completed referral from the case page.
func (s *Server) followUpForm(w http.ResponseWriter, r *http.Request, v visitor) {
	referral := r.PathValue("id")
	household := r.PostFormValue("household")
	back := "/ui/inbox"
	if domain.ValidID(household) {
		back = "/ui/households/" + url.PathEscape(household)
	}
	satisfaction, _ := strconv.Atoi(r.PostFormValue("satisfaction"))
	in := app.FollowUpInput{Outcome: domain.FollowUpOutcome(r.PostFormValue("outcome")), Satisfaction: satisfaction,
		Note: strings.TrimSpace(r.PostFormValue("note"))}
	res, err := s.cfg.App.Commands.RecordFollowUp.Handle(r.Context(), referral, in, v.meta(r))
	if err != nil {
		s.adviserFailed(w, r, v, err, back, "error.follow_up.field")
		return
	}
	done := "followed_up"
	if res.ReopenedAs != "" {
		done = "reopened"
	}
	http.Redirect(w, r, back+"?done="+done+"#n-"+url.PathEscape(res.NeedID), http.StatusSeeOther)
}

// adviserFailed says why an adviser's command was refused, in the reader's language.
func (s *Server) adviserFailed(w http.ResponseWriter, r *http.Request, v visitor, err error, back, fieldKey string) {
	var fe *domain.FieldError
	switch {
	case errors.As(err, &fe):
		s.said(w, r, v, http.StatusUnprocessableEntity, fieldKey, back, "error.back.case")
	case errors.Is(err, domain.ErrRefused), errors.Is(err, app.ErrConflict), errors.Is(err, app.ErrPreconditionFailed):
		s.said(w, r, v, http.StatusConflict, "error.adviser.refused", back, "error.back.case")
	default:
		s.fail(w, r, v, err)
	}
}

// watchKinds are the reasons the dashboard counts, in the list's order.
var watchKinds = []watch.Kind{watch.NotContacted, watch.NeedWaiting, watch.RepeatedDeclines, watch.ReassessmentDue, watch.FollowUpDue, watch.Unclaimed}

// takeUpRow is one programme's take-up, named in the reader's language.
type takeUpRow struct {
	app.TakeUpRow
	Name string
}

// followUpRow is the follow-ups of one category or provider, named.
type followUpRow struct {
	app.FollowUpRates
	Name  string
	Stars string // the mean satisfaction, "4.2 / 5"
}

// adviserFigures are the dashboard's take-up, resolution and satisfaction figures.
type adviserFigures struct {
	TakeUp     []takeUpRow
	FollowUps  followUpRow
	ByCategory []followUpRow
	ByProvider []followUpRow
}

// newAdviserFigures names the indicators' take-up and follow-up rows, the rows
// with the most follow-ups first.
func newAdviserFigures(ind app.Indicators, names adviserNames, lang string) adviserFigures {
	all := ind.FollowUps.All
	f := adviserFigures{FollowUps: followUpRow{FollowUpRates: all, Stars: stars(all.Recorded, all.Satisfaction)}}
	for _, row := range ind.TakeUp {
		f.TakeUp = append(f.TakeUp, takeUpRow{TakeUpRow: row, Name: textOr(names.programmes, lang, row.Programme)})
	}
	rows := func(m map[string]app.FollowUpRates, name func(string) string) []followUpRow {
		out := make([]followUpRow, 0, len(m))
		for code, r := range m {
			out = append(out, followUpRow{FollowUpRates: r, Name: name(code), Stars: stars(r.Recorded, r.Satisfaction)})
		}
		sort.Slice(out, func(i, j int) bool {
			if out[i].Recorded != out[j].Recorded {
				return out[i].Recorded > out[j].Recorded
			}
			return out[i].Name < out[j].Name
		})
		return out
	}
	f.ByCategory = rows(ind.FollowUps.ByCategory, func(c string) string { return textOr(names.categories, lang, c) })
	f.ByProvider = rows(ind.FollowUps.ByProvider, func(p string) string { return textOr(names.providers, lang, p) })
	return f
}

// stars says a mean satisfaction as "4.2 / 5", or "—" without follow-ups.
func stars(n int64, mean float64) string {
	if n == 0 {
		return "—"
	}
	return strconv.FormatFloat(mean, 'f', 1, 64) + " / 5"
}

// watchRows keeps the node's own row and the areas with a household on their list,
// in the geography's order: a district has some two hundred areas, most of them
// with none on a given day.
func watchRows(c app.WatchCounts) []app.WatchCountRow {
	var out []app.WatchCountRow
	for i, row := range c.Rows {
		if i == 0 || row.Households > 0 {
			out = append(out, row)
		}
	}
	return out
}
