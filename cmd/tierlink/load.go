package main

import (
	"context"
	"encoding/json"
	"flag"
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
	API          loadgen.Report `json:"api"`
	RawAppendSec float64        `json:"raw_lua_appends_per_s"`
	Ratio        float64        `json:"api_to_raw"`
	At           time.Time      `json:"at"`
}

// loadCmd drives a running tierlink's API and measures it beside the raw append rate.
func loadCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "http://127.0.0.1:8080", "the running tierlink's API")
	clients := fs.Int("clients", 8, "concurrent clients")
	duration := fs.Duration("duration", 10*time.Second, "how long to send commands (and to measure the raw append after)")
	jsonOut := fs.String("json", "", "also write the results as JSON to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *clients < 1 || *clients > 1024 || *duration < time.Second {
		return fmt.Errorf("load: --clients from 1 to 1024 and --duration of 1s or more, got %d and %v", *clients, *duration)
	}
	client, err := redisFromEnv("load", "for its tokens, and to measure the raw append beside it")
	if err != nil {
		return err
	}
	defer client.Close()
	ref, err := reference.Default()
	if err != nil {
		return err
	}
	district := ref.Geography.Districts()[0]
	var communities []string
	for _, s := range district.Streets {
		for _, c := range s.Communities {
			communities = append(communities, c.Code)
		}
	}
	toks, err := tokens.NewStore(client)
	if err != nil {
		return err
	}
	centre, ctok, err := toks.Create(ctx, domain.Principal{Role: domain.RoleCentre, Tier: domain.TierDistrict, Area: district.Code}, "tierlink load", time.Now())
	if err != nil {
		return err
	}
	defer func() { _ = toks.Revoke(context.WithoutCancel(ctx), ctok.ID) }()
	provider, ptok, err := toks.Create(ctx, domain.Principal{Role: domain.RoleProvider, Provider: "load-provider"}, "tierlink load", time.Now())
	if err != nil {
		return err
	}
	defer func() { _ = toks.Revoke(context.WithoutCancel(ctx), ptok.ID) }()

	bar := progressbar.NewOptions64(duration.Milliseconds(), progressbar.OptionSetWriter(stderr),
		progressbar.OptionSetDescription("load"), progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
	report, err := loadgen.Run(ctx, loadgen.Config{
		URL: *url, CentreToken: centre, ProviderToken: provider, Communities: communities, Categories: ref.Taxonomy.Codes(),
		Clients: *clients, Duration: *duration, Seed: uint64(time.Now().UnixNano()),
		Progress: func(done int64, elapsed time.Duration) {
			bar.Describe(fmt.Sprintf("load: %d commands", done))
			_ = bar.Set64(min(elapsed.Milliseconds(), duration.Milliseconds()))
		},
	})
	_ = bar.Finish()
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "measuring the raw Lua append for %v…\n", *duration)
	raw, err := loadgen.RawAppend(ctx, client, *clients, *duration)
	if err != nil {
		return err
	}
	res := loadResult{API: report, RawAppendSec: raw, At: time.Now().UTC()}
	if raw > 0 {
		res.Ratio = report.CommandsSec / raw
	}
	fmt.Fprintf(stdout, "%d clients, %.1f s: %d commands, %d errors\n", report.Clients, report.Seconds, report.Commands, report.Errors)
	fmt.Fprintf(stdout, "API commands/s        %10.0f   latency p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms\n",
		report.CommandsSec, report.Latency.P50, report.Latency.P99, report.Latency.P999, report.Latency.Max)
	fmt.Fprintf(stdout, "raw Lua appends/s     %10.0f   (the same Redis, %d writers)\n", raw, *clients)
	fmt.Fprintf(stdout, "API / raw             %10.2f\n", res.Ratio)
	if report.Errors > 0 {
		fmt.Fprintf(stdout, "first error: %s\n", report.FirstError)
	}
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(res, "", "  ")
		if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", *jsonOut, err)
		}
	}
	return nil
}
