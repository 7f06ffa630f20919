package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/loadgen"
	"github.com/tierlink/tierlink/infra/reference"
	"github.com/tierlink/tierlink/infra/tokens"
)

// loadResult is what tierlink load prints as JSON.
type loadResult struct {
	API    loadgen.Report  `json:"api"`
	Limits *loadgen.Limits `json:"raw_redis,omitempty"`
	// Ratio is the API's commands per second over the raw Lua append's.
	Ratio float64   `json:"api_to_lua_append,omitempty"`
	At    time.Time `json:"at"`
}

const loadUsage = `Usage:
  tierlink load [flags]

Drives a running tierlink's API (--url) with households, needs and offers, and
measures it beside the raw limits of its Redis (REDIS_URL, the one it serves from:
the load issues its tokens there and times the matcher's decisions in the log).
`

// loadCmd drives a running tierlink's API and measures it beside the raw Redis limits.
func loadCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newCommand("load", loadUsage, stdout)
	url := fs.String("url", "http://127.0.0.1:8080", "the running tierlink's API")
	clients := fs.Int("clients", 8, "concurrent clients")
	duration := fs.Duration("duration", 10*time.Second, "how long to send commands")
	rate := fs.Float64("rate", 0, "target requests per second over all clients (0: flat out)")
	perHousehold := fs.Int("needs-per-household", 1, "needs each household registers (distinct categories)")
	batch := fs.Int("batch", 1, "households a request registers (more than 1: POST /v1/households/batch, up to 500)")
	offerOneIn := fs.Int("offer-one-in", 20, "one command in this many posts an offer")
	drain := fs.Duration("drain", 10*time.Second, "how long to wait after the last command for the matcher's decisions")
	raw := fs.Bool("raw", true, "measure the raw Redis limits (XADD, Lua append, XREADGROUP, XRANGE + decode) after the load, for --duration each")
	jsonOut := fs.String("json", "", "also write the results as JSON to this file, to compare runs")
	baseline := fs.String("baseline", "", "a JSON file an earlier run wrote: print this run's figures beside it")
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := fs.noArgs(); err != nil {
		return err
	}
	base, err := readBaseline(*baseline)
	if err != nil {
		return err
	}
	if *batch < 1 || *batch > 500 {
		return invalid("load: --batch from 1 to 500, got %d", *batch)
	}
	if *clients < 1 || *clients > 1024 || *duration < time.Second || *rate < 0 || *offerOneIn < 1 || *drain < 0 {
		return invalid("load: --clients from 1 to 1024, --duration of 1s or more, --rate of 0 or more, --offer-one-in of 1 or more; got %d, %v, %v, %d",
			*clients, *duration, *rate, *offerOneIn)
	}
	client, err := redisFromEnv("load", "for its tokens, to time the matcher's decisions in the log, and to measure the raw limits beside it")
	if err != nil {
		return err
	}
	defer client.Close()
	ref, err := reference.Default()
	if err != nil {
		return err
	}
	toks, err := tokens.NewStore(client)
	if err != nil {
		return err
	}
	areas, provider, revoke, err := issueLoadTokens(ctx, toks, ref)
	defer revoke()
	if err != nil {
		return err
	}

	bar := progressbar.NewOptions64(duration.Milliseconds(), progressbar.OptionSetWriter(stderr),
		progressbar.OptionSetDescription("load"), progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
	report, err := loadgen.Run(ctx, loadgen.Config{
		URL: *url, Areas: areas, ProviderToken: provider, Categories: ref.Taxonomy.Codes(),
		Clients: *clients, Duration: *duration, Rate: *rate, OfferOneIn: *offerOneIn, NeedsPerHousehold: *perHousehold, Batch: *batch,
		Seed: uint64(time.Now().UnixNano()), Log: client, Drain: *drain,
		Progress: loadProgress(bar, *duration),
	})
	_ = bar.Finish()
	if err != nil {
		return err
	}
	res := loadResult{API: report, At: time.Now().UTC()}
	if *raw {
		fmt.Fprintf(stderr, "measuring the raw Redis limits (%v each)…\n", *duration)
		l, err := loadgen.RawLimits(ctx, client, *clients, *duration, true)
		if err != nil {
			return err
		}
		res.Limits = &l
		if l.LuaAppend > 0 {
			res.Ratio = report.CommandsSec / l.LuaAppend
		}
	}
	printLoad(stdout, res)
	if base != nil {
		printComparison(stdout, res, *base)
	}
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(res, "", "  ")
		if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", *jsonOut, err)
		}
	}
	return nil
}

// readBaseline reads the JSON an earlier run wrote with --json (none for "").
func readBaseline(path string) (*loadResult, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--baseline: %w", err)
	}
	base := &loadResult{}
	if err := json.Unmarshal(b, base); err != nil {
		return nil, fmt.Errorf("--baseline %s is not the JSON of tierlink load --json: %w", path, err)
	}
	return base, nil
}

// issueLoadTokens issues the run's tokens: each district's centre (with the
// district's communities) and a provider; revoke revokes those issued.
func issueLoadTokens(ctx context.Context, toks *tokens.Store, ref *domain.Reference) (areas []loadgen.Area, provider string, revoke func(), err error) {
	var issued []string
	revoke = func() {
		for _, id := range issued {
			_ = toks.Revoke(context.WithoutCancel(ctx), id)
		}
	}
	issue := func(p domain.Principal) (string, error) {
		secret, tok, err := toks.Create(ctx, p, "tierlink load", time.Now())
		if err != nil {
			return "", err
		}
		issued = append(issued, tok.ID)
		return secret, nil
	}
	for _, d := range ref.Geography.Districts() {
		a := loadgen.Area{District: d.Code}
		for _, s := range d.Streets {
			for _, c := range s.Communities {
				a.Communities = append(a.Communities, c.Code)
			}
		}
		if a.CentreToken, err = issue(domain.Principal{Role: domain.RoleCentre, Tier: domain.TierDistrict, Area: d.Code}); err != nil {
			return nil, "", revoke, err
		}
		areas = append(areas, a)
	}
	provider, err = issue(domain.Principal{Role: domain.RoleProvider, Provider: "load-provider"})
	return areas, provider, revoke, err
}

// loadProgress shows a run's progress on the bar: the load, then the drain.
func loadProgress(bar *progressbar.ProgressBar, duration time.Duration) func(loadgen.Progress) {
	return func(p loadgen.Progress) {
		phase := "load"
		if p.Elapsed > duration {
			phase = "drain"
		}
		bar.Describe(fmt.Sprintf("%s: %d commands (%.0f/s), %d errors, %d needs undecided, lag matcher %d projection %d",
			phase, p.Commands, float64(p.Commands)/min(p.Elapsed, duration).Seconds(), p.Errors, p.Undecided, p.Lag.Matcher, p.Lag.Projection))
		_ = bar.Set64(min(p.Elapsed.Milliseconds(), duration.Milliseconds()))
	}
}

// printLoad prints a load run's figures for a person.
func printLoad(w io.Writer, res loadResult) {
	r := res.API
	target := "flat out"
	if r.TargetRate > 0 {
		target = fmt.Sprintf("target %.0f/s", r.TargetRate)
	}
	fmt.Fprintf(w, "%d clients, %s, %.1f s: %d commands (%d needs, %d offers), %d errors\n", r.Clients, target, r.Seconds, r.Commands, r.Needs, r.Offers, r.Errors)
	fmt.Fprintf(w, "throughput            %10.0f commands/s, %.0f needs/s\n", r.CommandsSec, r.NeedsSec)
	fmt.Fprintf(w, "command latency       p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms\n",
		r.Latency.P50, r.Latency.P90, r.Latency.P99, r.Latency.P999, r.Latency.Max)
	if d := r.Decisions; d != nil {
		fmt.Fprintf(w, "need → decision       p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms (%d referred, %d held for a round, %d waitlisted, %d undecided)\n",
			d.Latency.P50, d.Latency.P90, d.Latency.P99, d.Latency.P999, d.Latency.Max, d.Referred, d.Held, d.Waitlisted, d.Undecided)
	}
	fmt.Fprintf(w, "consumer lag (max)    matcher %d, projection %d entries\n", r.MaxLag.Matcher, r.MaxLag.Projection)
	if l := res.Limits; l != nil {
		fmt.Fprintf(w, "raw Redis (same run)  XADD %.0f/s, Lua append %.0f/s, XREADGROUP %.0f entries/s, XRANGE + decode %.0f entries/s\n",
			l.XADD, l.LuaAppend, l.XReadGroup, l.XRangeDecode)
		fmt.Fprintf(w, "API / Lua append      %10.2f\n", res.Ratio)
	}
	if r.Errors > 0 {
		fmt.Fprintf(w, "first error: %s\n", r.FirstError)
	}
}

// printComparison prints a run's main figures beside a baseline run's.
func printComparison(w io.Writer, now, base loadResult) {
	row := func(name string, a, b float64, unit string) {
		change := "n/a"
		if b != 0 {
			change = fmt.Sprintf("%+.0f%%", 100*(a-b)/b)
		}
		fmt.Fprintf(w, "  %-24s %10.2f %-10s baseline %10.2f  (%s)\n", name, a, unit, b, change)
	}
	fmt.Fprintf(w, "beside the baseline of %s:\n", base.At.Format(time.RFC3339))
	row("commands/s", now.API.CommandsSec, base.API.CommandsSec, "")
	row("needs/s", now.API.NeedsSec, base.API.NeedsSec, "")
	row("command p99", now.API.Latency.P99, base.API.Latency.P99, "ms")
	if now.API.Decisions != nil && base.API.Decisions != nil {
		row("need → decision p50", now.API.Decisions.Latency.P50, base.API.Decisions.Latency.P50, "ms")
		row("need → decision p99", now.API.Decisions.Latency.P99, base.API.Decisions.Latency.P99, "ms")
	}
	row("max matcher lag", float64(now.API.MaxLag.Matcher), float64(base.API.MaxLag.Matcher), "entries")
	if now.Limits != nil && base.Limits != nil {
		row("raw Lua append/s", now.Limits.LuaAppend, base.Limits.LuaAppend, "")
	}
}
