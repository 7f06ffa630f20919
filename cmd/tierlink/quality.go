package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/quality"
)

const qualityUsage = `Usage:
  tierlink quality [flags]

Measures the matcher's sharing of supply against the exact offline optimum and two
online baselines (first-fit, balance), on seeded months of the Changning district;
needs no Redis.
`

// qualityCmd measures the matcher's sharing of supply against the exact offline
// optimum and two online baselines, on seeded scenarios of the Changning district.
func qualityCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newCommand("quality", qualityUsage, stdout)
	needs := fs.Int("needs", 10_000, "needs registered in each regime's month")
	seed := fs.Uint64("seed", 1, "seed of the scenarios")
	regimes := fs.String("regimes", "all", "regimes to measure, comma-separated: balanced, scarce, very-scarce, interleaved, supply-after-demand (all: every one)")
	rounds := fs.String("round", "1h", "allocation round of every category (Allocation.Rounds[\"*\"]); a comma list such as 1m,1h,24h prints one matcher row per round")
	maxWait := fs.String("max-wait", "336h", "the policy's bound on waiting (Allocation.MaxWait; 0s for none); a comma list such as 0s,168h,336h prints one matcher row per round and bound")
	spare := fs.Int("spare", 2, "the policy's spare units (Allocation.Spare)")
	rules := fs.String("rules", "allocation", "the matcher's rules: allocation (the policy's Allocation as set by --round, --max-wait, --spare) or old (a policy without Allocation)")
	jsonOut := fs.Bool("json", false, "print the report as JSON instead of tables")
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := fs.noArgs(); err != nil {
		return err
	}
	if *needs < quality.MinNeeds || *needs > quality.MaxNeeds {
		return invalid("quality: --needs from %d to %d, got %d", quality.MinNeeds, quality.MaxNeeds, *needs)
	}
	opts := quality.Options{Needs: *needs, Seed: *seed}
	if *regimes != "all" {
		for _, name := range strings.Split(*regimes, ",") {
			r, err := quality.ParseRegime(strings.TrimSpace(name))
			if err != nil {
				return invalid("quality: --regimes: %w", err)
			}
			opts.Regimes = append(opts.Regimes, r)
		}
	}
	runs, err := matcherRuns(fs.FlagSet, *rules, *rounds, *maxWait, *spare)
	if err != nil {
		return err
	}
	opts.Matchers = runs
	opts.Progress = progressLines(stderr)
	rep, err := quality.Run(ctx, opts)
	if err != nil {
		return fmt.Errorf("quality: %w", err)
	}
	rulesText := describeRules(*rules, *rounds, *maxWait, *spare)
	if *jsonOut {
		b, err := json.MarshalIndent(struct {
			Rules string `json:"rules"`
			quality.Report
		}{rulesText, rep}, "", "  ")
		if err != nil {
			return fmt.Errorf("quality: %w", err)
		}
		_, err = stdout.Write(append(b, '\n'))
		return err
	}
	fmt.Fprintf(stdout, "rules: %s\n", rulesText)
	return rep.WriteTable(stdout)
}

// matcherRuns turns the rule flags into the matcher's runs: one without Allocation
// for the old rules, or one per round length and max_wait.
func matcherRuns(fs *flag.FlagSet, rules, rounds, maxWait string, spare int) ([]quality.MatcherRun, error) {
	switch rules {
	case "old":
		var set []string
		fs.Visit(func(f *flag.Flag) {
			if f.Name == "round" || f.Name == "max-wait" || f.Name == "spare" {
				set = append(set, "--"+f.Name)
			}
		})
		if len(set) > 0 {
			return nil, invalid("quality: --rules old has no allocation rules for %s to set", strings.Join(set, ", "))
		}
		return []quality.MatcherRun{{Label: "matcher (old rules)", Policy: func(p *domain.Policy) { p.Allocation = nil }}}, nil
	case "allocation":
	default:
		return nil, invalid("quality: --rules is old or allocation, got %q", rules)
	}
	if spare < 0 || spare > domain.MaxSpare {
		return nil, invalid("quality: --spare from 0 to %d, got %d", domain.MaxSpare, spare)
	}
	roundList, err := durations(rounds, 0, domain.MaxRound)
	if err != nil {
		return nil, invalid("quality: --round takes durations from 0s to %v, such as 1h or 1m,1h,24h; got %w", domain.MaxRound, err)
	}
	waitList, err := durations(maxWait, 0, 365*24*time.Hour)
	if err != nil {
		return nil, invalid("quality: --max-wait takes durations from 0s (no bound) to 8760h, such as 336h or 0s,168h,336h; got %w", err)
	}
	var runs []quality.MatcherRun
	for _, d := range roundList {
		for _, w := range waitList {
			bound := "no max_wait"
			if w > 0 {
				bound = "max_wait " + days(w)
			}
			runs = append(runs, quality.MatcherRun{Label: "matcher (round " + shortDuration(d) + ", " + bound + ")", Policy: func(p *domain.Policy) {
				p.Allocation = &domain.Allocation{Rounds: map[string]domain.Duration{"*": domain.Duration(d)}, Spare: spare, MaxWait: domain.Duration(w)}
			}})
		}
	}
	return runs, nil
}

// durations parses a comma list of durations, each from lo to hi.
func durations(list string, lo, hi time.Duration) ([]time.Duration, error) {
	var out []time.Duration
	for _, s := range strings.Split(list, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil || d < lo || d > hi {
			return nil, fmt.Errorf("%q", s)
		}
		out = append(out, d)
	}
	return out, nil
}

// describeRules says which rules the matcher's rows ran with.
func describeRules(rules, rounds, maxWait string, spare int) string {
	if rules == "old" {
		return "old (a policy without allocation rules)"
	}
	return fmt.Sprintf("allocation, rounds %s, max_wait %s, spare %d", strings.ReplaceAll(rounds, " ", ""), strings.ReplaceAll(maxWait, " ", ""), spare)
}

// days writes a duration of whole days as days (336h: 14d), any other as
// shortDuration does.
func days(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return shortDuration(d)
}

// shortDuration writes a duration without its zero parts: 1h, 90m, 336h.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// progressLines tells stderr how a run goes: the days the matcher has played, and
// a line when a step ends, with its wall time.
func progressLines(stderr io.Writer) func(quality.Progress) {
	var step string
	var began time.Time
	day := 0
	return func(p quality.Progress) {
		if key := string(p.Regime) + ": " + p.Step; key != step {
			step, began, day = key, time.Now(), 0
		}
		if p.Total > 1 && p.Done < p.Total {
			if d := p.Done * quality.Days / p.Total; d >= day+10 {
				day = d
				fmt.Fprintf(stderr, "quality: %s: day %d of %d\n", step, d, quality.Days)
			}
		}
		if p.Total > 0 && p.Done == p.Total {
			fmt.Fprintf(stderr, "quality: %s: %.1f s\n", step, time.Since(began).Seconds())
		}
	}
}
