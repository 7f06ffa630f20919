package web

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tierlink/tierlink/app"
	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/projections"
)

// The operator's dashboard (issue 13): the headline figures of a span of China days
// (today, 7 days, 30 days, a calendar month) against the span before it, what is
// due soon, the chart and table by period, and the supply gap.

// dashSpan is one choice of the dashboard's period chooser.
type dashSpan struct {
	Label, Href string
	Current     bool
}

// tile is one headline figure: its name, its value, its change against the
// previous span, and its definition.
type tile struct {
	Name, Value, Change, Definition string
	// Trend is "up", "down" or "" (no change, or nothing to compare).
	Trend string
}

// catRow is one service category's figures of the chosen span.
type catRow struct {
	Code                      string
	Demand                    int64
	Accessibility, Obtainment string
	AcceptP50, AcceptP90      string
	StartP50, StartP90        string
}

// dashView is what the dashboard's template shows, its texts in the reader's language.
type dashView struct {
	Spans []dashSpan
	// Month is the calendar month of the month span ("2026-11"); MaxMonth the current one.
	Month, MaxMonth, Span string
	// Range says which days the figures count, and against which.
	Range   string
	Rates   []tile
	Present []tile
	ByCat   []catRow
	// Gaps says the largest supply gaps in words ("" if none).
	Gaps string
	// Period is the chart's and table's period kind (day, week, month).
	Period string
}

// nodeOf is the node a page shows: a centre's own, the district for an operator;
// anyone else is refused with the message of refusal.
func (s *Server) nodeOf(w http.ResponseWriter, r *http.Request, v visitor, refusal string) (tier int, area string, ok bool) {
	switch v.who.Role {
	case domain.RoleCentre:
		return v.who.Tier, v.who.Area, true
	case domain.RoleOperator:
		return domain.TierDistrict, s.district(), true
	}
	s.render(w, r, v, http.StatusForbidden, "error", map[string]any{"Error": translate(v.lang, refusal)})
	return 0, "", false
}

// dashboard shows an area's indicators: an operator's district, a centre's node.
func (s *Server) dashboard(w http.ResponseWriter, r *http.Request, v visitor) {
	tier, area, ok := s.nodeOf(w, r, v, "error.dashboard")
	if !ok {
		return
	}
	q := r.URL.Query()
	period := q.Get("period")
	if period != projections.PeriodWeek && period != projections.PeriodMonth {
		period = projections.PeriodDay
	}
	span, month := q.Get("span"), q.Get("month")
	if !validSpan(span) {
		span = app.Span7Days
	}
	if span != app.SpanMonth {
		month = ""
	}
	reads := s.cfg.App.Queries.Reads
	ind, err := reads.Indicators(r.Context(), app.IndicatorRequest{Tier: domain.TierName(tier), Area: area, Period: period}, v.who)
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	req := app.OverviewRequest{Tier: domain.TierName(tier), Area: area, Span: span, Month: month}
	ov, err := reads.Overview(r.Context(), req, v.who)
	var fe *domain.FieldError
	if errors.As(err, &fe) && month != "" { // a month not begun, or not a month: the current one
		req.Month = ""
		ov, err = reads.Overview(r.Context(), req, v.who)
	}
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	recent, err := reads.RecentDecisions(r.Context(), domain.TierName(tier), area, 10, v.who)
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	counts, err := reads.WatchCounts(r.Context(), v.who, domain.TierName(tier), area)
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	areas, categories, _ := s.names(r, v)
	name := func(names map[string]domain.Text, code string) string {
		if n, ok := names[code]; ok {
			if v.lang == LangEN {
				return n.En
			}
			return n.Zh
		}
		return code
	}
	view := newDashView(v.lang, period, ov, ind, func(c string) string { return name(areas, c) }, func(c string) string { return name(categories, c) })
	data := map[string]any{"Live": viewDashboard, "Ind": ind, "Tier": tier, "Area": area, "Recent": recent, "Chart": newChart(ind.Periods, period),
		"Gap": newGapTable(ind.SupplyGap), "Dash": view, "Title": translate(v.lang, "dash.title"),
		"Watch": watchRows(counts), "WatchQuiet": counted(v.lang, "area", len(counts.Rows)-len(watchRows(counts))), "WatchKinds": watchKinds, "Adviser": newAdviserFigures(ind, s.adviserNames(r, v), v.lang)}
	s.render(w, r, v, http.StatusOK, "dashboard", data)
}

func validSpan(span string) bool {
	for _, s := range app.Spans {
		if s == span {
			return true
		}
	}
	return false
}

// newDashView puts the figures in words.
func newDashView(lang, period string, ov app.Overview, ind app.Indicators, place, cat func(string) string) dashView {
	tr := func(key string) string { return translate(lang, key) }
	d := dashView{Period: period, Span: ov.Span, Month: ov.Month, MaxMonth: ov.At.In(projections.Zone).Format("2006-01")}
	for _, sp := range app.Spans {
		q := url.Values{"span": {sp}}
		if period != projections.PeriodDay {
			q.Set("period", period)
		}
		d.Spans = append(d.Spans, dashSpan{Label: tr("dash.span." + spanKey(sp)), Href: "?" + q.Encode(), Current: sp == ov.Span})
	}
	day := func(t time.Time) string { return t.In(projections.Zone).Format(time.DateOnly) }
	days := func(f app.Figures) string {
		last := f.To.AddDate(0, 0, -1)
		if f.Days == 1 {
			return day(f.From)
		}
		return day(f.From) + " – " + day(last)
	}
	d.Range = fmt.Sprintf(tr("dash.range"), days(ov.Current), days(ov.Previous))
	cur, prev := ov.Current, ov.Previous
	hasPrev := prev.All.Demand > 0
	d.Rates = []tile{
		rateTile(lang, "accessibility", cur.All.Accessibility, prev.All.Accessibility, cur.All.Demand > 0, hasPrev),
		rateTile(lang, "obtainment", cur.All.Obtainment, prev.All.Obtainment, cur.All.Demand > 0, hasPrev),
		rateTile(lang, "coverage", cur.Coverage, prev.Coverage, cur.Households > 0, prev.Households > 0),
		timeTile(lang, "accept", cur.All.Accept, prev.All.Accept),
		timeTile(lang, "start", cur.All.Start, prev.All.Start),
		{Name: tr("dash.tile.demand"), Value: strconv.FormatInt(cur.All.Demand, 10), Definition: tr("dash.def.demand"),
			Change: countChange(lang, cur.All.Demand, prev.All.Demand), Trend: trend(float64(cur.All.Demand - prev.All.Demand))},
	}
	d.Present = []tile{
		{Name: tr("dash.tile.overdue"), Value: strconv.FormatInt(ind.Overdue, 10), Definition: tr("dash.def.overdue")},
		{Name: tr("dash.tile.duesoon"), Value: strconv.FormatInt(ind.DueSoon, 10), Definition: tr("dash.def.duesoon")},
		{Name: tr("dash.tile.waitlisted"), Value: strconv.FormatInt(ind.Waitlisted, 10), Definition: tr("dash.def.waitlisted")},
		{Name: tr("dash.tile.held"), Value: strconv.FormatInt(ind.Held, 10), Definition: tr("dash.def.held")},
	}
	codes := make([]string, 0, len(cur.ByCategory))
	for c := range cur.ByCategory {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	for _, c := range codes {
		r := cur.ByCategory[c]
		d.ByCat = append(d.ByCat, catRow{Code: c, Demand: r.Demand, Accessibility: percent(r.Accessibility), Obtainment: percent(r.Obtainment),
			AcceptP50: humanDuration(lang, r.Accept.P50, r.Accept.P50Beyond, r.Accept.Count), AcceptP90: humanDuration(lang, r.Accept.P90, r.Accept.P90Beyond, r.Accept.Count),
			StartP50: humanDuration(lang, r.Start.P50, r.Start.P50Beyond, r.Start.Count), StartP90: humanDuration(lang, r.Start.P90, r.Start.P90Beyond, r.Start.Count)})
	}
	var gaps []string
	for _, g := range ind.SupplyGap {
		if len(gaps) == 3 {
			break
		}
		gaps = append(gaps, fmt.Sprintf(tr("dash.gaps.one"), cat(g.Category), place(g.Street), g.Waiting))
	}
	if len(gaps) > 0 {
		d.Gaps = fmt.Sprintf(tr("dash.gaps"), strings.Join(gaps, tr("dash.gaps.sep")))
	}
	return d
}

// spanKey is the message key part of a span ("dash.span.seven" for 7d).
func spanKey(span string) string {
	switch span {
	case app.Span7Days:
		return "seven"
	case app.Span30Days:
		return "thirty"
	}
	return span
}

// rateTile is a rate's tile, its change in percentage points.
func rateTile(lang, name string, cur, prev float64, hasCur, hasPrev bool) tile {
	t := tile{Name: translate(lang, "dash.tile."+name), Value: "—", Definition: translate(lang, "dash.def."+name)}
	if hasCur {
		t.Value = percent(cur)
	}
	switch {
	case !hasPrev:
		t.Change = translate(lang, "dash.change.none")
	case !hasCur:
		t.Change = fmt.Sprintf(translate(lang, "dash.change.was"), percent(prev))
	default:
		pp := math.Round(100 * (cur - prev))
		t.Trend = trend(pp)
		t.Change = changeText(lang, pp, "dash.change.pp")
	}
	return t
}

// timeTile is a time's tile: p50 / p90, and the previous span's.
func timeTile(lang, name string, cur, prev app.Quantiles) tile {
	t := tile{Name: translate(lang, "dash.tile."+name), Definition: translate(lang, "dash.def."+name)}
	t.Value = humanDuration(lang, cur.P50, cur.P50Beyond, cur.Count) + " / " + humanDuration(lang, cur.P90, cur.P90Beyond, cur.Count)
	if cur.Count == 0 {
		t.Value = "—"
	}
	if prev.Count == 0 {
		t.Change = translate(lang, "dash.change.none")
	} else {
		t.Change = fmt.Sprintf(translate(lang, "dash.change.was"),
			humanDuration(lang, prev.P50, prev.P50Beyond, prev.Count)+" / "+humanDuration(lang, prev.P90, prev.P90Beyond, prev.Count))
	}
	return t
}

// countChange says how a count changed against the previous span.
func countChange(lang string, cur, prev int64) string {
	if prev == 0 && cur == 0 {
		return translate(lang, "dash.change.none")
	}
	return changeText(lang, float64(cur-prev), "dash.change.count")
}

// changeText says a change by the text of key ("+%s …"), or that nothing changed.
func changeText(lang string, delta float64, key string) string {
	if delta == 0 {
		return translate(lang, "dash.change.same")
	}
	sign := "+"
	if delta < 0 {
		sign = "−"
	}
	return fmt.Sprintf(translate(lang, key), sign+strconv.FormatFloat(math.Abs(delta), 'f', 0, 64))
}

func trend(delta float64) string {
	switch {
	case delta > 0:
		return "up"
	case delta < 0:
		return "down"
	}
	return ""
}

// humanDuration says a duration in minutes, hours or days of the reader's language
// ("3.5 h", "2 天"); "—" when nothing was measured.
func humanDuration(lang string, d time.Duration, beyond bool, count int64) string {
	if count == 0 {
		return "—"
	}
	num := func(x float64) string { return strconv.FormatFloat(math.Round(x*10)/10, 'f', -1, 64) }
	var s string
	switch {
	case d < time.Hour:
		s = fmt.Sprintf(translate(lang, "dash.unit.min"), strconv.Itoa(int(math.Max(1, math.Round(d.Minutes())))))
	case d < 48*time.Hour:
		s = fmt.Sprintf(translate(lang, "dash.unit.h"), num(d.Hours()))
	default:
		s = fmt.Sprintf(translate(lang, "dash.unit.d"), num(d.Hours()/24))
	}
	if beyond {
		return fmt.Sprintf(translate(lang, "dash.unit.beyond"), s)
	}
	return s
}

// bar is one period of the dashboard's chart.
type bar struct {
	X, W, TX                           int
	YDemand, HDemand, YServed, HServed int
	Demand, Served                     int64
	Label, Short                       string
}

// chart is the dashboard's SVG bar chart of demand and needs served by period.
type chart struct {
	Width, Height, LabelY int
	Bars                  []bar
}

// newChart draws the periods' bars, each labelled whole: a day as "11-29" (the year
// is the table's), a week as "2026-W48", a month as "2026-11".
func newChart(periods []app.PeriodIndicators, kind string) chart {
	c := chart{Width: 640, Height: 220, LabelY: 212}
	var most int64 = 1
	for _, p := range periods {
		most = max(most, p.All.Demand)
	}
	plot := 190
	step := c.Width / max(1, len(periods))
	for i, p := range periods {
		served := int64(p.All.Obtainment*float64(p.All.Demand) + 0.5)
		hd := int(int64(plot) * p.All.Demand / most)
		hs := int(int64(plot) * served / most)
		short := p.Period
		if kind == projections.PeriodDay && len(short) == len("2006-01-02") {
			short = short[5:]
		}
		c.Bars = append(c.Bars, bar{X: i*step + step/6, W: step * 2 / 3, TX: i*step + step/2, YDemand: plot - hd, HDemand: hd,
			YServed: plot - hs, HServed: hs, Demand: p.All.Demand, Served: served, Label: p.Period, Short: short})
	}
	return c
}

// gapTable is the supply gap as a street × category table.
type gapTable struct {
	Streets, Categories []string
	Cells               map[string]int64
	Max                 int64
}

func newGapTable(rows []app.GapRow) gapTable {
	g := gapTable{Cells: map[string]int64{}}
	seenS, seenC := map[string]bool{}, map[string]bool{}
	for _, r := range rows {
		if !seenS[r.Street] {
			seenS[r.Street] = true
			g.Streets = append(g.Streets, r.Street)
		}
		if !seenC[r.Category] {
			seenC[r.Category] = true
			g.Categories = append(g.Categories, r.Category)
		}
		g.Cells[r.Street+"|"+r.Category] = r.Waiting
		g.Max = max(g.Max, r.Waiting)
	}
	sort.Strings(g.Streets)
	sort.Strings(g.Categories)
	return g
}
