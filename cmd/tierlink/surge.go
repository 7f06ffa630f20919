package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/schollz/progressbar/v3"

	"github.com/tierlink/tierlink/domain"

	"github.com/tierlink/tierlink/infra/loadgen"
	"github.com/tierlink/tierlink/infra/node"
	"github.com/tierlink/tierlink/infra/reference"
)

const surgeUsage = `Usage:
  tierlink surge [flags]

Plays a city-wide lockdown day: a node of sixteen districts runs in this process
on the Redis of REDIS_URL (an empty database: it writes several GB for a million
needs) while offers and then needs for food and medicine arrive in bulk; reports
when every need was decided, the memory, and the consumers' lag over time.
`

// surgeCmd plays a city-wide lockdown day: a node of sixteen districts runs in this
// process on the Redis of REDIS_URL while offers and then needs for food and
// medicine arrive in bulk; it reports when every need was decided, the memory, and
// the consumers' lag over time.
func surgeCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newCommand("surge", surgeUsage, stdout)
	needs := fs.Int("needs", 1_000_000, "needs that arrive (one household each, food or medicine)")
	offers := fs.Int("offers", 100_000, "offers posted before the needs arrive")
	streets := fs.Int("streets", 8, "streets per district")
	communities := fs.Int("communities", 8, "communities per street")
	jsonOut := fs.String("json", "", "write the report, with every sample, as JSON to this file")
	svgOut := fs.String("svg", "", "draw the consumer lag over time as an SVG chart in this file")
	raw := fs.Bool("raw", true, "after the surge, measure the raw Redis limits (XADD, Lua append, XREADGROUP, XRANGE + decode) with 16 writers, 5 s each")
	cpuOut := fs.String("cpuprofile", "", "write a CPU profile of the surge (go tool pprof) to this file")
	memOut := fs.String("memprofile", "", "write a heap profile, taken once everything has caught up, to this file")
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := fs.noArgs(); err != nil {
		return err
	}
	if *needs < 1 || *needs > 10_000_000 || *offers < 0 || *offers > 1_000_000 || *streets < 1 || *streets > 50 || *communities < 1 || *communities > 50 {
		return invalid("surge: --needs from 1 to 10000000, --offers from 0 to 1000000, --streets and --communities from 1 to 50")
	}
	client, err := redisFromEnv("surge", "an empty Redis database the surge may fill: it writes sixteen districts' logs, several GB for a million needs")
	if err != nil {
		return err
	}
	defer client.Close()
	base, err := reference.Default()
	if err != nil {
		return err
	}
	city, err := loadgen.City(base, *streets, *communities)
	if err != nil {
		return err
	}
	n, stop, done, err := startSurgeNode(ctx, client, city, stderr)
	if err != nil {
		return err
	}
	defer stop()
	if *cpuOut != "" {
		stopProfile, err := startCPUProfile(*cpuOut)
		if err != nil {
			return err
		}
		defer stopProfile()
	}
	fmt.Fprintf(stderr, "surge: %d offers, then %d needs across %d districts (%d communities each)…\n", *offers, *needs, len(n.Partitions()), *streets**communities)
	bar := progressbar.NewOptions64(int64(*needs), progressbar.OptionSetWriter(stderr), progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionSetDescription("surge"), progressbar.OptionClearOnFinish())
	rep, err := loadgen.Surge(ctx, loadgen.SurgeConfig{Store: n.Store(), Reference: city, Needs: *needs, Offers: *offers, Seed: 1,
		Lag: n.Lag, Redis: client, Absorbed: func() {
			if *memOut == "" {
				return
			}
			if f, err := os.Create(*memOut); err == nil {
				_ = pprof.WriteHeapProfile(f)
				_ = f.Close()
			}
		},
		Progress: func(s loadgen.SurgeSample) {
			bar.Describe(fmt.Sprintf("surge %.0f s: lag matcher %d, read models %d; heap %.0f MiB", s.Seconds, s.MatcherLag, s.ProjectionLag, s.HeapMiB))
			_ = bar.Set64(s.Arrived)
		}})
	_ = bar.Finish()
	stop()
	<-done
	if err != nil {
		return err
	}
	var limits *loadgen.Limits
	if *raw {
		fmt.Fprintln(stderr, "measuring the raw Redis limits (5 s each)…")
		l, err := loadgen.RawLimits(ctx, client, len(n.Partitions()), 5*time.Second, true)
		if err != nil {
			return err
		}
		limits = &l
	}
	printSurge(stdout, rep, limits)
	return writeSurgeFiles(*jsonOut, *svgOut, rep, limits)
}

// startSurgeNode starts a node over an empty database, publishes the city and
// waits until every district's matcher decides; stop stops it, done says when.
func startSurgeNode(ctx context.Context, client *redis.Client, city *domain.Reference, stderr io.Writer) (*node.Node, context.CancelFunc, <-chan error, error) {
	n, err := node.New(node.Config{Client: client, Consumer: "surge", Reference: city, TickInterval: -1,
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		return nil, func() {}, nil, err
	}
	for _, p := range n.Partitions() {
		if h, err := n.Store().Head(ctx, p); err != nil {
			return nil, func() {}, nil, err
		} else if h > 0 {
			return nil, func() {}, nil, fmt.Errorf("surge: the log of district %s already holds %d entries: point REDIS_URL at an empty database (e.g. redis://127.0.0.1:6379/15 after FLUSHDB there)", p, h)
		}
	}
	if err := n.PublishReference(ctx); err != nil {
		return nil, func() {}, nil, err
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- n.Run(rctx) }()
	// Every district's matcher takes its lease at once on an empty database.
	sctx, cancel := context.WithTimeout(rctx, 30*time.Second)
	err = n.Settle(sctx)
	cancel()
	if err != nil {
		stop()
		return nil, func() {}, nil, fmt.Errorf("surge: the node did not start deciding for every district: %w", err)
	}
	return n, stop, done, nil
}

// startCPUProfile writes a CPU profile to path until the returned func is called.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// printSurge prints a surge's figures for a person.
func printSurge(stdout io.Writer, rep loadgen.SurgeReport, limits *loadgen.Limits) {
	fmt.Fprintf(stdout, "%d needs and %d offers across %d districts\n", rep.Needs, rep.Offers, rep.Districts)
	fmt.Fprintf(stdout, "arrival              %8.1f s  (%.0f needs/s appended)\n", rep.ArrivalSeconds, float64(rep.Needs)/rep.ArrivalSeconds)
	fmt.Fprintf(stdout, "every need decided   %8.1f s  after the first arrived (referred or waitlisted)\n", rep.AbsorbedSeconds)
	fmt.Fprintf(stdout, "read models caught up%8.1f s\n", rep.ViewsSeconds)
	fmt.Fprintf(stdout, "peak memory          Go heap %.0f MiB, process RSS %.0f MiB, Redis %.0f MiB\n", rep.PeakHeapMiB, rep.PeakRSSMiB, rep.PeakRedisMiB)
	fmt.Fprintf(stdout, "heap per need        %8.0f B   (once everything caught up, after a GC: the matchers and the node's other parts)\n", rep.HeapPerNeed)
	if limits != nil {
		fmt.Fprintf(stdout, "raw Redis (same run)  XADD %.0f/s, Lua append %.0f/s, XREADGROUP %.0f entries/s, XRANGE + decode %.0f entries/s\n",
			limits.XADD, limits.LuaAppend, limits.XReadGroup, limits.XRangeDecode)
	}
}

// writeSurgeFiles writes the report as JSON and the lag chart as SVG, where asked.
func writeSurgeFiles(jsonOut, svgOut string, rep loadgen.SurgeReport, limits *loadgen.Limits) error {
	if jsonOut != "" {
		b, _ := json.MarshalIndent(struct {
			loadgen.SurgeReport
			Limits *loadgen.Limits `json:"raw_redis,omitempty"`
		}{rep, limits}, "", "  ")
		if err := os.WriteFile(jsonOut, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", jsonOut, err)
		}
	}
	if svgOut != "" {
		if err := os.WriteFile(svgOut, loadgen.SurgeSVG(rep), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", svgOut, err)
		}
	}
	return nil
}
