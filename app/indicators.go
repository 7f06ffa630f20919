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
	Tier       string             `json:"tier"`
	Area       string             `json:"area"`
	Period     string             `json:"period"`
	Zone       string             `json:"zone"`
	Periods    []PeriodIndicators `json:"periods"`
	Overdue    int64              `json:"overdue_referrals"`
	Waitlisted int64              `json:"waitlisted_needs"`
	// Held counts the needs held for an allocation round: waiting too, but for a
	// round that shares supply that exists, so not in the supply gap. Waiting needs
	// are Waitlisted + Held.
	Held      int64     `json:"held_needs"`
	SupplyGap []GapRow  `json:"supply_gap"`
	At        time.Time `json:"at"`
}

// Indicators returns an area's indicators. Anyone signed in may read them: they
// hold counts, no household's data (providers read the supply gap to see where to
// post offers).
func (r Reads) Indicators(ctx context.Context, req IndicatorRequest, _ domain.Principal) (Indicators, error) {
	tier, district, err := r.node(req.Tier, req.Area)
	if err != nil {
		return Indicators{}, err
	}
	iv, ok := r.views.(IndicatorViews)
	if !ok {
		return Indicators{}, fmt.Errorf("app: the read models have no indicators")
	}
	now := r.cfg.Now()
	periods, err := periodsBetween(req, now)
	if err != nil {
		return Indicators{}, err
	}
	out := Indicators{Tier: req.Tier, Area: req.Area, Period: req.Period, Zone: projections.Zone.String(), At: now, Periods: []PeriodIndicators{}, SupplyGap: []GapRow{}}
	names := make([]string, len(periods))
	for i, p := range periods {
		names[i] = projections.IndicatorCounters(tier, req.Area, p)
	}
	sets, err := iv.Counters(ctx, district, append(names, projections.GapCounters(district)))
	if err != nil {
		return Indicators{}, err
	}
	for i, p := range periods {
		out.Periods = append(out.Periods, periodIndicators(p, sets[i]))
	}
	// The present: referrals past their deadline in the area's inboxes, needs
	// waiting (on the waitlist, or held for an allocation round).
	for _, n := range r.nodesIn(tier, req.Area) {
		c, err := iv.Count(ctx, district, projections.InboxIndex(n.tier, n.area), 0, float64(now.UnixMilli()))
		if err != nil {
			return Indicators{}, err
		}
		out.Overdue += c
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

// periodsBetween names the periods of a request, defaulting to the last 7 days, 8
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
		from = map[string]time.Time{projections.PeriodDay: to.AddDate(0, 0, -6), projections.PeriodWeek: to.AddDate(0, 0, -7*7),
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
