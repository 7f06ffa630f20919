package quality

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// Options says what Run measures.
type Options struct {
	// Needs is how many needs each scenario has; Seed draws them.
	Needs int
	Seed  uint64
	// Regimes to measure (nil: every regime).
	Regimes []Regime
	// Matchers lists the matcher's runs, one row each (nil: one run with the
	// scenario's own policy).
	Matchers []MatcherRun
	// Progress, if set, is told how far each step has got.
	Progress func(Progress)
}

// Report is the quality benchmark of every regime measured.
type Report struct {
	Needs   int            `json:"needs"`
	Seed    uint64         `json:"seed"`
	Regimes []RegimeReport `json:"regimes"`
	Seconds float64        `json:"seconds"`
}

// RegimeReport is the benchmark of one scenario: what it holds, then one row per
// algorithm (the optimum first).
type RegimeReport struct {
	Regime Regime `json:"regime"`
	Needs  int    `json:"needs"`
	Offers int    `json:"offers"`
	// Capacity sums the offers' capacity; CapacityRatio is that ÷ the needs.
	Capacity      int     `json:"capacity"`
	CapacityRatio float64 `json:"capacity_of_demand"`
	// Plentiful lists the categories whose capacity is at least their demand.
	Plentiful []string `json:"plentiful_categories"`
	// Servable counts the needs some offer fits; MaxServable is the most that can be
	// served together; Optimum the largest hardship-weighted total.
	Servable        int       `json:"servable"`
	MaxServable     int       `json:"max_servable"`
	Optimum         int64     `json:"optimum"`
	Edges           int       `json:"edges"`
	GenerateSeconds float64   `json:"generate_seconds"`
	Rows            []Metrics `json:"rows"`
}

// Run generates the scenario of each regime and measures on it the matcher's runs,
// the baselines and the optimum.
func Run(ctx context.Context, opts Options) (Report, error) {
	began := time.Now()
	regimes := opts.Regimes
	if len(regimes) == 0 {
		regimes = Regimes()
	}
	rep := Report{Needs: opts.Needs, Seed: opts.Seed}
	for _, r := range regimes {
		tell(opts.Progress, Progress{Regime: r, Step: "generate", Total: 1})
		t := time.Now()
		sc, err := Generate(Config{Regime: r, Needs: opts.Needs, Seed: opts.Seed})
		if err != nil {
			return rep, fmt.Errorf("regime %s: %w", r, err)
		}
		generated := time.Since(t)
		tell(opts.Progress, Progress{Regime: r, Step: "generate", Done: 1, Total: 1})
		rr, err := Measurements(ctx, sc, opts.Matchers, opts.Progress)
		if err != nil {
			return rep, fmt.Errorf("regime %s, seed %d: %w", r, opts.Seed, err)
		}
		rr.GenerateSeconds = generated.Seconds()
		rep.Regimes = append(rep.Regimes, rr)
	}
	rep.Seconds = time.Since(began).Seconds()
	return rep, nil
}

func tell(progress func(Progress), p Progress) {
	if progress != nil {
		progress(p)
	}
}

// Measurements plays a scenario through the matcher's runs and the baselines,
// solves its optimum, and measures each against it.
func Measurements(ctx context.Context, sc *Scenario, matchers []MatcherRun, progress func(Progress)) (RegimeReport, error) {
	if len(matchers) == 0 {
		matchers = []MatcherRun{{Label: "matcher"}}
	}
	rr := RegimeReport{Regime: sc.Regime, Needs: len(sc.Needs), Offers: len(sc.Offers)}
	demand, capacity := sc.Demand(), sc.Capacity()
	for c, k := range capacity {
		rr.Capacity += k
		if k >= demand[c] {
			rr.Plentiful = append(rr.Plentiful, c)
		}
	}
	sort.Strings(rr.Plentiful)
	rr.CapacityRatio = ratio(float64(rr.Capacity), float64(len(sc.Needs)))
	for n := range sc.Needs {
		if sc.Servable(n) {
			rr.Servable++
		}
	}
	var outs []Outcome
	for _, m := range matchers {
		label := m.Label
		if label == "" {
			label = "matcher"
		}
		out, err := Simulate(ctx, sc, m, func(done, total int) {
			tell(progress, Progress{Regime: sc.Regime, Step: label, Done: done, Total: total})
		})
		if err != nil {
			return rr, err
		}
		outs = append(outs, out)
	}
	for _, b := range []struct {
		name string
		play func(context.Context, *Scenario) (Outcome, error)
	}{{FirstFitName, FirstFit}, {BalanceName, Balance}} {
		tell(progress, Progress{Regime: sc.Regime, Step: b.name, Total: 1})
		out, err := b.play(ctx, sc)
		if err != nil {
			return rr, err
		}
		tell(progress, Progress{Regime: sc.Regime, Step: b.name, Done: 1, Total: 1})
		outs = append(outs, out)
	}
	tell(progress, Progress{Regime: sc.Regime, Step: OracleName, Total: 1})
	opt, err := Oracle(sc)
	if err != nil {
		return rr, err
	}
	tell(progress, Progress{Regime: sc.Regime, Step: OracleName, Done: 1, Total: 1})
	rr.MaxServable, rr.Optimum, rr.Edges = opt.MaxServable, opt.Total, opt.Edges
	rr.Rows = append(rr.Rows, Measure(sc, opt, opt.Weighted))
	for _, out := range outs {
		rr.Rows = append(rr.Rows, Measure(sc, opt, out))
	}
	return rr, nil
}

// WriteTable writes the report as one fixed-width table per regime.
func (r Report) WriteTable(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "quality of matching: %d needs a regime, seed %d (%.1f s in all)\n", r.Needs, r.Seed, r.Seconds)
	for _, rr := range r.Regimes {
		fmt.Fprintf(&b, "\n== %s: %d needs, %d offers, capacity %d (%.0f %% of demand); %d servable, at most %d served together; optimum %d; %d edges\n",
			rr.Regime, rr.Needs, rr.Offers, rr.Capacity, 100*rr.CapacityRatio, rr.Servable, rr.MaxServable, rr.Optimum, rr.Edges)
		fmt.Fprintf(&b, "   categories with capacity ≥ demand: %s\n", listOrNone(rr.Plentiful))
		rows := [][]string{{"algorithm", "served", "/max", "weighted/opt", "local tier", "local scope", "top10%", "/opt", "AUC", "longest", "median", "p90", "median(pl)", "p90(pl)",
			"overtaken (never served)", "overtaken past max_wait", "worst lateness", "time"}}
		for _, m := range rr.Rows {
			auc := "-"
			if m.AUC != nil {
				auc = fmt.Sprintf("%.3f", *m.AUC)
			}
			longest, median, p90, mpl, ppl := "-", "-", "-", "-", "-"
			if m.Waits != nil {
				longest, median, p90 = hours(m.Waits.Longest), hours(m.Waits.Median), hours(m.Waits.P90)
				if m.Waits.MedianPlentiful != nil {
					mpl, ppl = hours(*m.Waits.MedianPlentiful), hours(*m.Waits.P90Plentiful)
				}
			}
			past, worst := "-", "-"
			if p := m.PastMaxWait; p != nil {
				past = fmt.Sprint(p.Needs)
				if p.Needs > 0 {
					worst = hours(p.WorstHours)
				}
			}
			rows = append(rows, []string{m.Algorithm, fmt.Sprint(m.Served), fmt.Sprintf("%.3f", m.ServedRatio), fmt.Sprintf("%.3f", m.WeightedRatio),
				fmt.Sprintf("%.3f", m.Local), fmt.Sprintf("%.3f", m.LocalScope), fmt.Sprintf("%.3f", m.TopDecile), fmt.Sprintf("%.3f", m.TopDecileRatio), auc,
				longest, median, p90, mpl, ppl, fmt.Sprint(m.Overtaken), past, worst, fmt.Sprintf("%.1fs", m.Seconds)})
		}
		writeColumns(&b, rows)
	}
	b.WriteString(Legend)
	_, err := io.WriteString(w, b.String())
	return err
}

// Legend explains the columns of WriteTable's tables; it ends them.
const Legend = `
Columns
-------
served          needs proposed an offer
/max            served ÷ the most needs any assignment serves (optimum with every edge worth 1)
weighted/opt    Σ (hardship + urgency points) served ÷ the weighted optimum
local tier      share of served needs proposed at the most local tier possible: the tier of
                their most local fitting offer (at least the street when the community does
                not link the category); where the decision was taken. The matcher proposes
                a waitlisted need at the district tier even with its community's offer; the
                baselines and the optimum count the offer's scope tier (or the district
                below the need's first tier)
local scope     share of served needs given an offer whose scope tier is the lowest among
                the offers that fit them: where the service comes from
top10%          share of the tenth of needs in deepest hardship that is served; /opt: ÷ the
                optimum's
AUC             P(hardship of a served need > that of an unserved one), servable needs only,
                ties half; 0.5 = chance
longest         longest wait of a servable need (to its proposal, or to the month's end if
                never served)
median, p90     registration → proposal of served needs; (pl): only categories with
                capacity ≥ demand
overtaken (never served)
                needs never served that fitted an offer given to a need registered after them
overtaken past max_wait
                needs that, at a moment when they had waited longer than max_wait and were
                still unserved, fitted a unit (of an offer they fit, valid then) that was
                proposed to a need that had not waited longer than max_wait; measured
                against the row's own max_wait, or for rows without one (old rules, no
                max_wait, the baselines) the scenario policy's (the default's 336h); "-"
                for the optimum, which has no time
worst lateness  the longest such a need had waited past max_wait when it was overtaken
time            wall time of the algorithm (the optimum: both solves)

The optimum's local shares and overtaken count depend on which of several optimal
assignments the solver returns; only its totals are unique.
`

func listOrNone(xs []string) string {
	if len(xs) == 0 {
		return "none"
	}
	return strings.Join(xs, ", ")
}

// hours renders a wait in hours readably: minutes under an hour, days from two days.
func hours(h float64) string {
	switch {
	case h*60 < 59.5: // not "60m"
		return fmt.Sprintf("%.0fm", h*60)
	case h < 48:
		return fmt.Sprintf("%.1fh", h)
	}
	return fmt.Sprintf("%.1fd", h/24)
}

// writeColumns writes rows as fixed-width columns: the first left-aligned, the
// others right-aligned, two spaces apart.
func writeColumns(b *strings.Builder, rows [][]string) {
	var widths []int
	for _, r := range rows {
		for i, c := range r {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	for _, r := range rows {
		for i, c := range r {
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c))
			switch {
			case i == 0:
				b.WriteString(c + pad)
			default:
				b.WriteString("  " + pad + c)
			}
		}
		b.WriteString("\n")
	}
}
