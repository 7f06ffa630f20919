package app

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/projections"
)

// IndicatorViews reads the indicator counters and index sizes of a district.
type IndicatorViews interface {
	// Counters returns sets of counters by name, in order.
	Counters(ctx context.Context, district string, names []string) ([]map[string]int64, error)
	// Count returns how many members an index has with a score from min to max.
	Count(ctx context.Context, district, index string, min, max float64) (int64, error)
}

// IndicatorRequest asks for an area's indicators over periods of a kind.
type IndicatorRequest struct {
	Tier, Area string
	// Period is day, week or month; From and To bound it (To included).
	Period   string
	From, To time.Time
}

// DueSoonWithin is how soon a deadline counts as due soon (Indicators.DueSoon).
const DueSoonWithin = 24 * time.Hour

// MaxPeriods bounds the periods of one indicators answer.
const MaxPeriods = 92

// Rates are the indicators of one set of needs.
type Rates struct {
	Demand int64 `json:"demand"`
	// Accessibility is the share of needs proposed an offer at the community or
	// street tier (supply near the household); Obtainment, the share that got the service.
	Accessibility float64 `json:"accessibility_rate"`
	Obtainment    float64 `json:"obtainment_rate"`
	Linked        int64   `json:"linked"`
	// TimeToLinkP50 and P90 bound the time from registration to the first proposal:
	// the upper bound of the histogram bucket that holds the percentile ("" if none linked).
	TimeToLinkP50 string           `json:"time_to_link_p50,omitempty"`
	TimeToLinkP90 string           `json:"time_to_link_p90,omitempty"`
	Escalations   map[string]int64 `json:"escalations_by_tier"`
}

// PeriodIndicators are an area's indicators for the needs and households registered in one period.
type PeriodIndicators struct {
	Period     string           `json:"period"`
	Households int64            `json:"households"`
	Helped     int64            `json:"households_helped"`
	Coverage   float64          `json:"coverage"`
	All        Rates            `json:"all"`
	ByCategory map[string]Rates `json:"by_category"`
}

// GapRow is the unmet demand of one category in one street: needs on the waitlist
// (a need held for an allocation round is not one: supply that fits it exists).
type GapRow struct {
	Street   string `json:"street"`
	Category string `json:"category"`
	Waiting  int64  `json:"waiting"`
}

// Indicators are an area's indicators by period, and its present state.
type Indicators struct {
	Tier    string             `json:"tier"`
	Area    string             `json:"area"`
	Period  string             `json:"period"`
	Zone    string             `json:"zone"`
	Periods []PeriodIndicators `json:"periods"`
	Overdue int64              `json:"overdue_referrals"`
	// DueSoon counts the referrals awaiting an answer whose deadline is within the
	// next 24 hours (not yet overdue).
	DueSoon    int64 `json:"due_within_24h"`
	Waitlisted int64 `json:"waitlisted_needs"`
	// Held counts the needs held for an allocation round: waiting too, but for a
	// round that shares supply that exists, so not in the supply gap. Waiting needs
	// are Waitlisted + Held.
	Held      int64    `json:"held_needs"`
	SupplyGap []GapRow `json:"supply_gap"`
	// FollowUps are the follow-ups recorded in the requested periods, summed.
	FollowUps FollowUpIndicators `json:"follow_ups"`
	At        time.Time          `json:"at"`
}

// FollowUpIndicators are the outcomes of the follow-ups recorded in an area: in
// all, by the need's category, and by the provider of the offer that served it.
type FollowUpIndicators struct {
	All        FollowUpRates            `json:"all"`
	ByCategory map[string]FollowUpRates `json:"by_category"`
	ByProvider map[string]FollowUpRates `json:"by_provider"`
}

// FollowUpRates are the outcomes of a set of follow-ups: how many were recorded,
// how many found the need resolved, partly resolved or not resolved, the share
// resolved, and the mean satisfaction.
type FollowUpRates struct {
	Recorded    int64 `json:"recorded"`
	Resolved    int64 `json:"resolved"`
	Partly      int64 `json:"partly"`
	NotResolved int64 `json:"not_resolved"`
	// ResolutionRate is Resolved ÷ Recorded (0 when none was recorded).
	ResolutionRate float64 `json:"resolution_rate"`
	// Satisfaction is the mean satisfaction, 1 to 5 (0 when none was recorded).
	Satisfaction    float64 `json:"satisfaction"`
	satisfactionSum int64
}

// followUpIndicators sums the follow-up counters of periods.
func followUpIndicators(sets []map[string]int64) FollowUpIndicators {
	out := FollowUpIndicators{ByCategory: map[string]FollowUpRates{}, ByProvider: map[string]FollowUpRates{}}
	add := func(r FollowUpRates, field string, v int64) FollowUpRates {
		switch field {
		case projections.FieldFollowUps:
			r.Recorded += v
		case string(domain.OutcomeResolved):
			r.Resolved += v
		case string(domain.OutcomePartly):
			r.Partly += v
		case string(domain.OutcomeNotResolved):
			r.NotResolved += v
		case projections.FieldSatisfaction:
			r.satisfactionSum += v
		}
		return r
	}
	for _, set := range sets {
		for field, v := range set {
			switch name, rest, _ := strings.Cut(field, "|"); {
			case rest == "":
				out.All = add(out.All, name, v)
			case strings.HasPrefix("|"+rest, projections.FollowUpByCategory):
				k := strings.TrimPrefix("|"+rest, projections.FollowUpByCategory)
				out.ByCategory[k] = add(out.ByCategory[k], name, v)
			case strings.HasPrefix("|"+rest, projections.FollowUpByProvider):
				k := strings.TrimPrefix("|"+rest, projections.FollowUpByProvider)
				out.ByProvider[k] = add(out.ByProvider[k], name, v)
			}
		}
	}
	rates := func(r FollowUpRates) FollowUpRates {
		r.ResolutionRate = ratio(r.Resolved, r.Recorded)
		r.Satisfaction = ratio(r.satisfactionSum, r.Recorded)
		return r
	}
	out.All = rates(out.All)
	for k, r := range out.ByCategory {
		out.ByCategory[k] = rates(r)
	}
	for k, r := range out.ByProvider {
		out.ByProvider[k] = rates(r)
	}
	return out
}

// indicatorsOf finds a node's tier and district and the read models' counters.
func (r Reads) indicatorsOf(tierName, area string) (int, string, IndicatorViews, error) {
	tier, district, err := r.node(tierName, area)
	if err != nil {
		return 0, "", nil, err
	}
	iv, ok := r.views.(IndicatorViews)
	if !ok {
		return 0, "", nil, fmt.Errorf("app: the read models have no indicators")
	}
	return tier, district, iv, nil
}

// Indicators returns an area's indicators. Anyone signed in may read them: they
// hold counts, no household's data (providers read the supply gap to see where to
// post offers).
func (r Reads) Indicators(ctx context.Context, req IndicatorRequest, _ domain.Principal) (Indicators, error) {
	tier, district, iv, err := r.indicatorsOf(req.Tier, req.Area)
	if err != nil {
		return Indicators{}, err
	}
	now := r.cfg.Now()
	periods, err := periodsBetween(req, now)
	if err != nil {
		return Indicators{}, err
	}
	out := Indicators{Tier: req.Tier, Area: req.Area, Period: req.Period, Zone: projections.Zone.String(), At: now, Periods: []PeriodIndicators{}, SupplyGap: []GapRow{}}
	names := make([]string, 0, 2*len(periods)+1)
	for _, p := range periods {
		names = append(names, projections.IndicatorCounters(tier, req.Area, p))
	}
	for _, p := range periods {
		names = append(names, projections.FollowUpCounters(tier, req.Area, p))
	}
	sets, err := iv.Counters(ctx, district, append(names, projections.GapCounters(district)))
	if err != nil {
		return Indicators{}, fmt.Errorf("read the indicator counters of %s %s: %w", req.Tier, req.Area, err)
	}
	for i, p := range periods {
		out.Periods = append(out.Periods, periodIndicators(p, sets[i]))
	}
	out.FollowUps = followUpIndicators(sets[len(periods) : 2*len(periods)])
	// The present: referrals past their deadline in the area's inboxes and those
	// due within a day, needs
	// waiting (on the waitlist, or held for an allocation round).
	for _, n := range r.nodesIn(tier, req.Area) {
		c, err := iv.Count(ctx, district, projections.InboxIndex(n.tier, n.area), 0, float64(now.UnixMilli()))
		if err != nil {
			return Indicators{}, err
		}
		out.Overdue += c
		soon, err := iv.Count(ctx, district, projections.InboxIndex(n.tier, n.area), float64(now.UnixMilli()+1), float64(now.Add(DueSoonWithin).UnixMilli()))
		if err != nil {
			return Indicators{}, err
		}
		out.DueSoon += soon
	}
	if out.Waitlisted, err = iv.Count(ctx, district, projections.WaitlistIndex(tier, req.Area), -1e18, 1e18); err != nil {
		return Indicators{}, err
	}
	if out.Held, err = iv.Count(ctx, district, projections.HeldIndex(tier, req.Area), -1e18, 1e18); err != nil {
		return Indicators{}, err
	}
	streets := map[string]bool{}
	for _, n := range r.nodesIn(tier, req.Area) {
		if n.tier == domain.TierStreet {
			streets[n.area] = true
		}
	}
	if tier == domain.TierCommunity {
		c := community(r.cfg, req.Area)
		streets[c.Street] = true
	}
	for field, v := range sets[len(sets)-1] {
		street, cat, _ := strings.Cut(field, "|")
		if v > 0 && streets[street] {
			out.SupplyGap = append(out.SupplyGap, GapRow{Street: street, Category: cat, Waiting: v})
		}
	}
	sort.Slice(out.SupplyGap, func(i, j int) bool {
		a, b := out.SupplyGap[i], out.SupplyGap[j]
		if a.Waiting != b.Waiting {
			return a.Waiting > b.Waiting
		}
		return a.Street+a.Category < b.Street+b.Category
	})
	return out, nil
}

// periodsBetween names the periods of a request, defaulting to the last 14 days, 8
// weeks or 6 months.
func periodsBetween(req IndicatorRequest, now time.Time) ([]string, error) {
	step := map[string]func(time.Time) time.Time{
		projections.PeriodDay:   func(t time.Time) time.Time { return t.AddDate(0, 0, 1) },
		projections.PeriodWeek:  func(t time.Time) time.Time { return t.AddDate(0, 0, 7) },
		projections.PeriodMonth: func(t time.Time) time.Time { return t.AddDate(0, 1, 0) },
	}[req.Period]
	if step == nil {
		return nil, &domain.FieldError{Field: "period", Reason: fmt.Errorf("%q is not day, week or month", req.Period)}
	}
	to, from := req.To, req.From
	if to.IsZero() {
		to = now
	}
	if from.IsZero() {
		from = map[string]time.Time{projections.PeriodDay: to.AddDate(0, 0, -13), projections.PeriodWeek: to.AddDate(0, 0, -7*7),
			projections.PeriodMonth: to.AddDate(0, -5, 0)}[req.Period]
	}
	if from.After(to) {
		return nil, &domain.FieldError{Field: "from", Reason: fmt.Errorf("%s is after to (%s)", from.Format(time.DateOnly), to.Format(time.DateOnly))}
	}
	var out []string
	last := projections.PeriodName(req.Period, to)
	for t := from; ; t = step(t) {
		name := projections.PeriodName(req.Period, t)
		if len(out) == 0 || out[len(out)-1] != name {
			out = append(out, name)
		}
		if name == last {
			break
		}
		if len(out) > MaxPeriods {
			return nil, &domain.FieldError{Field: "from", Reason: fmt.Errorf("more than %d periods: narrow from and to", MaxPeriods)}
		}
	}
	return out, nil
}

// periodIndicators computes a period's indicators from its counters.
func periodIndicators(period string, c map[string]int64) PeriodIndicators {
	p := PeriodIndicators{Period: period, Households: c[projections.FieldHouseholds], Helped: c[projections.FieldHelped], ByCategory: map[string]Rates{}}
	p.Coverage = ratio(p.Helped, p.Households)
	byCat := map[string]map[string]int64{}
	for field, v := range c {
		name, cat, ok := strings.Cut(field, "|")
		if !ok {
			continue
		}
		for _, k := range []string{cat, "*"} {
			if byCat[k] == nil {
				byCat[k] = map[string]int64{}
			}
			byCat[k][name] += v
		}
	}
	for cat, f := range byCat {
		r := Rates{Demand: f[projections.FieldDemand], Linked: f[projections.FieldLinked], Escalations: map[string]int64{}}
		r.Accessibility = ratio(f[projections.FieldNear], r.Demand)
		r.Obtainment = ratio(f[projections.FieldServed], r.Demand)
		for _, tier := range []int{domain.TierCommunity, domain.TierStreet} {
			if n := f[projections.FieldEscalatedFrom+domain.TierName(tier)]; n > 0 {
				r.Escalations[domain.TierName(tier)] = n
			}
		}
		r.TimeToLinkP50, r.TimeToLinkP90 = linkPercentile(f, r.Linked, 0.5), linkPercentile(f, r.Linked, 0.9)
		if cat == "*" {
			p.All = r
		} else {
			p.ByCategory[cat] = r
		}
	}
	if p.All.Escalations == nil {
		p.All.Escalations = map[string]int64{}
	}
	return p
}

// linkPercentile returns the upper bound of the histogram bucket holding a percentile.
func linkPercentile(f map[string]int64, linked int64, q float64) string {
	if linked == 0 {
		return ""
	}
	var seen int64
	for _, b := range projections.LinkBuckets {
		seen += f[projections.LinkBucket(b)]
		if float64(seen) >= q*float64(linked) {
			return "≤ " + b.String()
		}
	}
	return "> " + projections.LinkBuckets[len(projections.LinkBuckets)-1].String()
}

func ratio(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

type areaNode struct {
	tier int
	area string
}

// nodesIn lists the nodes of an area: itself and those below it.
func (r Reads) nodesIn(tier int, area string) []areaNode {
	var out []areaNode
	for _, d := range r.cfg.References.Current().Geography.Districts() {
		if tier == domain.TierDistrict && d.Code == area {
			out = append(out, areaNode{domain.TierDistrict, d.Code})
		}
		for _, s := range d.Streets {
			inStreet := tier == domain.TierStreet && s.Code == area
			if inStreet || (tier == domain.TierDistrict && d.Code == area) {
				out = append(out, areaNode{domain.TierStreet, s.Code})
			}
			for _, c := range s.Communities {
				if inStreet || (tier == domain.TierDistrict && d.Code == area) || (tier == domain.TierCommunity && c.Code == area) {
					out = append(out, areaNode{domain.TierCommunity, c.Code})
				}
			}
		}
	}
	return out
}

// Spans of the dashboard's period chooser: the China days (projections.Zone) whose
// registrations an Overview counts.
const (
	// SpanToday is the current day.
	SpanToday = "today"
	// Span7Days is the last 7 days, today included.
	Span7Days = "7d"
	// Span30Days is the last 30 days, today included.
	Span30Days = "30d"
	// SpanMonth is a calendar month (up to today, for the current one).
	SpanMonth = "month"
)

// Spans lists the spans of the period chooser, in order.
var Spans = []string{SpanToday, Span7Days, Span30Days, SpanMonth}

// OverviewRequest asks for an area's headline figures over a span of days.
type OverviewRequest struct {
	Tier, Area string
	// Span is today, 7d, 30d or month (7d if empty); Month ("2026-11") is the
	// calendar month of the month span (the current one if empty).
	Span, Month string
}

// Quantiles are the median and 90th percentile of a histogram of durations,
// estimated by interpolating within the bucket that holds each.
type Quantiles struct {
	// Count is how many durations the histogram holds; with none, P50 and P90 are 0.
	Count int64         `json:"count"`
	P50   time.Duration `json:"p50_ns"`
	P90   time.Duration `json:"p90_ns"`
	// P50Beyond and P90Beyond say the percentile lies past the histogram's last
	// bound (which P50 or P90 then is).
	P50Beyond bool `json:"p50_beyond,omitempty"`
	P90Beyond bool `json:"p90_beyond,omitempty"`
}

// SpanRates are the rates of the needs of a span (all of them, or a category's).
type SpanRates struct {
	Demand int64 `json:"demand"`
	// Near counts the needs proposed an offer at the community or street tier
	// (supply in reach); Served, those that got the service.
	Near          int64   `json:"near"`
	Served        int64   `json:"served"`
	Accessibility float64 `json:"accessibility_rate"`
	Obtainment    float64 `json:"obtainment_rate"`
	// Accept is the time from registration to the first acceptance by a centre;
	// Start, to the start of the service.
	Accept Quantiles `json:"time_to_accept"`
	Start  Quantiles `json:"time_to_start"`
}

// Figures are an area's indicators for the needs and households registered over a
// span of China days, From (a day's start) to To (a day's end, excluded).
type Figures struct {
	From       time.Time            `json:"from"`
	To         time.Time            `json:"to"`
	Days       int                  `json:"days"`
	Households int64                `json:"households"`
	Helped     int64                `json:"households_helped"`
	Coverage   float64              `json:"coverage"`
	All        SpanRates            `json:"all"`
	ByCategory map[string]SpanRates `json:"by_category"`
}

// Overview is an area's headline figures for a span and for the span before it.
type Overview struct {
	Tier  string `json:"tier"`
	Area  string `json:"area"`
	Span  string `json:"span"`
	Month string `json:"month,omitempty"`
	Zone  string `json:"zone"`
	// Current is the span asked for; Previous, as many days just before it (for a
	// calendar month, the month before: whole, or its first days as many as the
	// current month has had).
	Current  Figures   `json:"current"`
	Previous Figures   `json:"previous"`
	At       time.Time `json:"at"`
}

// Overview returns an area's headline figures for a span of days and the span
// before it. Anyone signed in may read them, as the indicators.
func (r Reads) Overview(ctx context.Context, req OverviewRequest, _ domain.Principal) (Overview, error) {
	tier, district, iv, err := r.indicatorsOf(req.Tier, req.Area)
	if err != nil {
		return Overview{}, err
	}
	if req.Span == "" {
		req.Span = Span7Days
	}
	now := r.cfg.Now()
	cur, prev, err := spanDays(req.Span, req.Month, now)
	if err != nil {
		return Overview{}, err
	}
	out := Overview{Tier: req.Tier, Area: req.Area, Span: req.Span, Zone: projections.Zone.String(), At: now}
	if req.Span == SpanMonth {
		out.Month = cur[0].Format("2006-01")
	}
	var names []string
	for _, days := range [][]time.Time{cur, prev} {
		for _, d := range days {
			names = append(names, projections.IndicatorCounters(tier, req.Area, projections.PeriodName(projections.PeriodDay, d)))
		}
	}
	sets, err := iv.Counters(ctx, district, names)
	if err != nil {
		return Overview{}, err
	}
	out.Current = spanFigures(cur, sets[:len(cur)])
	out.Previous = spanFigures(prev, sets[len(cur):])
	return out, nil
}

// spanDays returns the starts of the China days of a span and of the span before it.
func spanDays(span, month string, now time.Time) (cur, prev []time.Time, err error) {
	n := now.In(projections.Zone)
	today := time.Date(n.Year(), n.Month(), n.Day(), 0, 0, 0, 0, projections.Zone)
	days := func(from time.Time, count int) []time.Time {
		out := make([]time.Time, count)
		for i := range out {
			out[i] = from.AddDate(0, 0, i)
		}
		return out
	}
	switch span {
	case SpanToday, Span7Days, Span30Days:
		count := map[string]int{SpanToday: 1, Span7Days: 7, Span30Days: 30}[span]
		from := today.AddDate(0, 0, 1-count)
		return days(from, count), days(from.AddDate(0, 0, -count), count), nil
	case SpanMonth:
		first := time.Date(n.Year(), n.Month(), 1, 0, 0, 0, 0, projections.Zone)
		if month != "" {
			m, err := time.ParseInLocation("2006-01", month, projections.Zone)
			if err != nil {
				return nil, nil, &domain.FieldError{Field: "month", Reason: fmt.Errorf("%q is not a month (2026-11)", month)}
			}
			if m.After(first) {
				return nil, nil, &domain.FieldError{Field: "month", Reason: fmt.Errorf("%s has not begun", month)}
			}
			first = m
		}
		next, before := first.AddDate(0, 1, 0), first.AddDate(0, -1, 0)
		count := int(next.Sub(first).Hours()/24 + 0.5)
		prevCount := int(first.Sub(before).Hours()/24 + 0.5)
		if today.Before(next) { // the current month, up to today
			count = int(today.Sub(first).Hours()/24+0.5) + 1
			prevCount = min(prevCount, count)
		}
		return days(first, count), days(before, prevCount), nil
	}
	return nil, nil, &domain.FieldError{Field: "span", Reason: fmt.Errorf("%q is not today, 7d, 30d or month", span)}
}

// spanFigures adds up the day counters of a span.
func spanFigures(days []time.Time, sets []map[string]int64) Figures {
	f := Figures{From: days[0], To: days[len(days)-1].AddDate(0, 0, 1), Days: len(days), ByCategory: map[string]SpanRates{}}
	byCat := map[string]map[string]int64{}
	for _, c := range sets {
		f.Households += c[projections.FieldHouseholds]
		f.Helped += c[projections.FieldHelped]
		for field, v := range c {
			name, cat, ok := strings.Cut(field, "|")
			if !ok {
				continue
			}
			for _, k := range []string{cat, "*"} {
				if byCat[k] == nil {
					byCat[k] = map[string]int64{}
				}
				byCat[k][name] += v
			}
		}
	}
	f.Coverage = ratio(f.Helped, f.Households)
	for cat, c := range byCat {
		r := SpanRates{Demand: c[projections.FieldDemand], Near: c[projections.FieldNear], Served: c[projections.FieldServed]}
		r.Accessibility, r.Obtainment = ratio(r.Near, r.Demand), ratio(r.Served, r.Demand)
		r.Accept = quantiles(c, c[projections.FieldAccepted], projections.AcceptBucketAt)
		r.Start = quantiles(c, c[projections.FieldStarted], projections.StartBucketAt)
		if cat == "*" {
			f.All = r
		} else {
			f.ByCategory[cat] = r
		}
	}
	return f
}

// quantiles estimates the median and 90th percentile of a duration histogram.
func quantiles(c map[string]int64, count int64, bucket func(int) string) Quantiles {
	q := Quantiles{Count: count}
	if count <= 0 {
		return Quantiles{}
	}
	q.P50, q.P50Beyond = quantile(c, count, bucket, 0.5)
	q.P90, q.P90Beyond = quantile(c, count, bucket, 0.9)
	return q
}

// quantile interpolates a percentile within the bucket that holds it; past the
// last bound it returns that bound and true.
func quantile(c map[string]int64, count int64, bucket func(int) string, q float64) (time.Duration, bool) {
	target := q * float64(count)
	var seen int64
	var lo time.Duration
	for i, hi := range projections.DurationBuckets {
		n := c[bucket(i)]
		if n > 0 && float64(seen+n) >= target {
			frac := (target - float64(seen)) / float64(n)
			return lo + time.Duration(frac*float64(hi-lo)), false
		}
		seen += n
		lo = hi
	}
	return lo, true
}
