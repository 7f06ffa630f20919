package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
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
	Ratio float64 `json:"api_to_lua_append,omitempty"`
	// WithoutSubscriptions is the same load run first with no subscriptions
	// (--subscriptions N with --compare-subscriptions), API then being the run with N.
	WithoutSubscriptions *loadgen.Report `json:"api_without_subscriptions,omitempty"`
	// Notifications is what the load's receiver measured of the run with N.
	Notifications *loadgen.NotifyReport `json:"notifications,omitempty"`
	// SubscriptionsRatio is the API's commands per second with N subscriptions over without.
	SubscriptionsRatio float64   `json:"api_with_to_without_subscriptions,omitempty"`
	At                 time.Time `json:"at"`
	// Summary is what was printed for a person.
	Summary string `json:"summary,omitempty"`
}

// maxLoadSubscriptions bounds --subscriptions.
const maxLoadSubscriptions = 100

const loadUsage = `Usage:
  tierlink load [flags]

Drives a running tierlink's API (--url) with households, needs and offers, and
measures it beside the raw limits of its Redis (REDIS_URL, the one it serves from:
the load issues its tokens there and times the matcher's decisions in the log).

With --subscriptions N it also runs a webhook receiver on 127.0.0.1, creates N
operator subscriptions of every kind to it (the server must run with
--webhook-allow-http), and measures the notifications delivered: how many a second,
from the event's append to the arrival, duplicates and signature failures. With
--compare-subscriptions (the default) the same load first runs with none, to show
what the subscriptions cost the API in the same run.
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
	subscriptions := fs.Int("subscriptions", 0, fmt.Sprintf("operator subscriptions of every kind to a receiver this command runs on 127.0.0.1 (0 to %d; the server needs --webhook-allow-http)", maxLoadSubscriptions))
	compare := fs.Bool("compare-subscriptions", true, "with --subscriptions: first run the same load with none, to compare the API's throughput in the same run")
	notifyDrain := fs.Duration("notify-drain", 30*time.Second, "with --subscriptions: how long to wait, after the load's drain, for the notifications still queued")
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
	if *subscriptions < 0 || *subscriptions > maxLoadSubscriptions || *notifyDrain < 0 {
		return invalid("load: --subscriptions from 0 to %d and a --notify-drain of 0 or more; got %d, %v", maxLoadSubscriptions, *subscriptions, *notifyDrain)
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

	phase := func(label string) (loadgen.Report, error) {
		bar := progressbar.NewOptions64(duration.Milliseconds(), progressbar.OptionSetWriter(stderr),
			progressbar.OptionSetDescription(label+"load"), progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
		defer func() { _ = bar.Finish() }()
		return loadgen.Run(ctx, loadgen.Config{
			URL: *url, Areas: areas, ProviderToken: provider, Categories: ref.Taxonomy.Codes(),
			Clients: *clients, Duration: *duration, Rate: *rate, OfferOneIn: *offerOneIn, NeedsPerHousehold: *perHousehold, Batch: *batch,
			Seed: uint64(time.Now().UnixNano()), Log: client, Drain: *drain,
			Progress: loadProgress(bar, label, *duration),
		})
	}
	var without *loadgen.Report
	var notified *loadgen.NotifyReport
	var report loadgen.Report
	if *subscriptions == 0 {
		if report, err = phase(""); err != nil {
			return err
		}
	} else {
		n := &notifyRun{url: *url, count: *subscriptions, areas: areas, drain: *notifyDrain, stderr: stderr}
		if n.operator, err = issueOperatorToken(ctx, toks); err != nil {
			return err
		}
		defer func() { _ = toks.Revoke(context.WithoutCancel(ctx), n.operator.id) }()
		if err := n.listen(); err != nil {
			return err
		}
		defer n.close()
		if *compare {
			a, err := phase("A, no subscriptions: ")
			if err != nil {
				return err
			}
			without = &a
		}
		if err := n.subscribe(ctx); err != nil {
			return err
		}
		if report, err = phase(fmt.Sprintf("B, %d subscriptions: ", n.count)); err != nil {
			return err
		}
		r := n.wait(ctx, report)
		notified = &r
		n.close() // before the raw limits: a backlog still delivered would load Redis
	}
	res := loadResult{API: report, At: time.Now().UTC(), WithoutSubscriptions: without, Notifications: notified}
	if without != nil && without.CommandsSec > 0 {
		res.SubscriptionsRatio = report.CommandsSec / without.CommandsSec
	}
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
	var summary bytes.Buffer
	printLoad(&summary, res)
	if base != nil {
		printComparison(&summary, res, *base)
	}
	res.Summary = summary.String()
	if _, err := stdout.Write(summary.Bytes()); err != nil {
		return err
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
func loadProgress(bar *progressbar.ProgressBar, label string, duration time.Duration) func(loadgen.Progress) {
	return func(p loadgen.Progress) {
		phase := label + "load"
		if p.Elapsed > duration {
			phase = label + "drain"
		}
		bar.Describe(fmt.Sprintf("%s: %d commands (%.0f/s), %d errors, %d needs undecided, lag matcher %d projection %d",
			phase, p.Commands, float64(p.Commands)/min(p.Elapsed, duration).Seconds(), p.Errors, p.Undecided, p.Lag.Matcher, p.Lag.Projection))
		_ = bar.Set64(min(p.Elapsed.Milliseconds(), duration.Milliseconds()))
	}
}

// printLoad prints a load run's figures for a person.
func printLoad(w io.Writer, res loadResult) {
	if a := res.WithoutSubscriptions; a != nil {
		fmt.Fprintf(w, "A. without subscriptions\n")
		printAPI(w, *a)
		fmt.Fprintf(w, "\nB. with %d subscriptions\n", res.Notifications.Subscriptions)
	}
	printAPI(w, res.API)
	if n := res.Notifications; n != nil {
		printNotifications(w, *n)
	}
	if a := res.WithoutSubscriptions; a != nil {
		b := res.API
		fmt.Fprintf(w, "\nwith %d subscriptions / without (same run)\n", res.Notifications.Subscriptions)
		fmt.Fprintf(w, "  commands/s            %10.0f / %.0f = %.3f\n", b.CommandsSec, a.CommandsSec, res.SubscriptionsRatio)
		if a.EventsSec > 0 {
			fmt.Fprintf(w, "  log events/s          %10.0f / %.0f\n", b.EventsSec, a.EventsSec)
		}
		fmt.Fprintf(w, "  command p50, p99      %.2f / %.2f ms, %.2f / %.2f ms\n", b.Latency.P50, a.Latency.P50, b.Latency.P99, a.Latency.P99)
		if b.Decisions != nil && a.Decisions != nil {
			fmt.Fprintf(w, "  need → decision p50, p99  %.2f / %.2f ms, %.2f / %.2f ms\n",
				b.Decisions.Latency.P50, a.Decisions.Latency.P50, b.Decisions.Latency.P99, a.Decisions.Latency.P99)
		}
		fmt.Fprintf(w, "  max lag matcher, read models  %d / %d, %d / %d entries\n", b.MaxLag.Matcher, a.MaxLag.Matcher, b.MaxLag.Projection, a.MaxLag.Projection)
	}
	if l := res.Limits; l != nil {
		fmt.Fprintf(w, "raw Redis (same run)  XADD %.0f/s, Lua append %.0f/s, XREADGROUP %.0f entries/s, XRANGE + decode %.0f entries/s\n",
			l.XADD, l.LuaAppend, l.XReadGroup, l.XRangeDecode)
		fmt.Fprintf(w, "API / Lua append      %10.2f\n", res.Ratio)
	}
}

// printAPI prints the figures of one load run.
func printAPI(w io.Writer, r loadgen.Report) {
	target := "flat out"
	if r.TargetRate > 0 {
		target = fmt.Sprintf("target %.0f/s", r.TargetRate)
	}
	fmt.Fprintf(w, "%d clients, %s, %.1f s: %d commands (%d needs, %d offers), %d errors\n", r.Clients, target, r.Seconds, r.Commands, r.Needs, r.Offers, r.Errors)
	fmt.Fprintf(w, "throughput            %10.0f commands/s, %.0f needs/s\n", r.CommandsSec, r.NeedsSec)
	if r.LogEvents > 0 {
		fmt.Fprintf(w, "events appended       %10.0f/s (%d to the log while sending, %d more in the drain)\n", r.EventsSec, r.LogEvents, r.LogEventsDrain)
	}
	fmt.Fprintf(w, "command latency       p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms\n",
		r.Latency.P50, r.Latency.P90, r.Latency.P99, r.Latency.P999, r.Latency.Max)
	if d := r.Decisions; d != nil {
		fmt.Fprintf(w, "need → decision       p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms (%d referred, %d held for a round, %d waitlisted, %d undecided)\n",
			d.Latency.P50, d.Latency.P90, d.Latency.P99, d.Latency.P999, d.Latency.Max, d.Referred, d.Held, d.Waitlisted, d.Undecided)
	}
	fmt.Fprintf(w, "consumer lag (max)    matcher %d, projection %d entries\n", r.MaxLag.Matcher, r.MaxLag.Projection)
	if r.Errors > 0 {
		fmt.Fprintf(w, "first error: %s\n", r.FirstError)
	}
}

// printNotifications prints what the load's receiver measured.
func printNotifications(w io.Writer, n loadgen.NotifyReport) {
	fmt.Fprintf(w, "notifications         %d accepted from %d subscriptions: %.0f/s while sending, %.0f/s over the load and drain (%.1f s)\n",
		n.Accepted, n.Subscriptions, n.SecLoad, n.Sec, n.Seconds)
	fmt.Fprintf(w, "append → delivery     p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms\n",
		n.Latency.P50, n.Latency.P90, n.Latency.P99, n.Latency.P999, n.Latency.Max)
	var kinds []string
	for _, k := range n.Kinds() {
		kinds = append(kinds, fmt.Sprintf("%s %d", k, n.ByKind[k]))
	}
	fmt.Fprintf(w, "  by kind             %s\n", strings.Join(kinds, ", "))
	fmt.Fprintf(w, "  duplicates %d, signature failures %d, other refusals %d, still queued at the end %d\n",
		n.Duplicates, n.BadSignatures, n.OtherRefusals, n.QueuedAtEnd)
	if n.QueuedAtEnd != 0 {
		fmt.Fprintf(w, "  delivery fell behind: the latencies above leave out the %d notifications never delivered (--notify-drain)\n", n.QueuedAtEnd)
	}
	if n.FirstRefusal != "" {
		fmt.Fprintf(w, "  first refusal: %s\n", n.FirstRefusal)
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
