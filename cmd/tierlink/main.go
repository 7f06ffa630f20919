// Command tierlink runs the tierlink engine: it links households in hardship to the
// services that providers offer, tier by tier, on an event log in Redis.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/redis/go-redis/v9"
)

const usage = `tierlink links households in hardship to the services providers offer.

Usage:
  tierlink serve [--addr 127.0.0.1:8080] [--consumer NAME] [--tick 1m] [--demo]
                                           (--demo: seed the demo district and play its last days)
  tierlink demo [--seed 1] [--days 14]     (play the demo against a running tierlink)
  tierlink tokens create|list|revoke ...   (API tokens; tierlink tokens for help)
  tierlink projections rebuild             (rebuild the read models from the log)
  tierlink load [--url URL] [--clients 8] [--duration 10s] [--rate 0] [--batch 1] [--json FILE]
                                           (drive a running tierlink's API; measure it)
  tierlink surge [--needs 1000000] [--offers 100000] [--json FILE] [--svg FILE]
                                           (a city-wide lockdown day on an empty Redis)
  tierlink quality [--needs 10000] [--seed 1] [--regimes balanced,scarce,...] [--rules allocation|old]
                   [--round 1h|1m,1h,24h] [--max-wait 336h|0s,168h,336h] [--spare 2] [--json]
                                           (the matcher against the exact offline optimum and
                                            two online baselines, on seeded district months)

Environment:
  REDIS_URL   the Redis that holds the event log (redis://host:6379/0).
              Unset: an embedded in-process server whose data lasts only as
              long as the process.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "tierlink:", err)
		}
		os.Exit(2)
	}
}

// run dispatches a subcommand; it is main without the process around it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("name a subcommand")
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stderr)
	case "demo":
		return demoCmd(ctx, args[1:], stdout, stderr)
	case "surge":
		return surgeCmd(ctx, args[1:], stdout, stderr)
	case "load":
		return loadCmd(ctx, args[1:], stdout, stderr)
	case "quality":
		return qualityCmd(ctx, args[1:], stdout, stderr)
	case "projections":
		return projectionsCmd(ctx, args[1:], stdout, stderr)
	case "tokens":
		return tokensCmd(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown subcommand %q", args[0])
	}
}

// newLogger logs JSON when stderr is not a terminal (a service manager, a file),
// and text for a person at a terminal.
func newLogger(w io.Writer) *slog.Logger {
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			return slog.New(slog.NewTextHandler(w, nil))
		}
	}
	return slog.New(slog.NewJSONHandler(w, nil))
}

// redisFromEnv connects to the Redis of REDIS_URL, which a command that works on a
// serving tierlink's data needs (why says what for, when it is unset).
func redisFromEnv(command, why string) (*redis.Client, error) {
	url := os.Getenv("REDIS_URL")
	if url == "" {
		return nil, fmt.Errorf("%s: set REDIS_URL to the Redis tierlink serve uses (%s)", command, why)
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL %q: %w (expected redis://host:port/db)", url, err)
	}
	if opts.PoolSize == 0 {
		opts.PoolSize = poolSize
	}
	return redis.NewClient(opts), nil
}

// poolSize is the Redis connection pool's size unless REDIS_URL sets pool_size: every
// consumer group's subscriber holds a connection in its blocking read, so go-redis's
// default (10 per CPU) starves the other calls of a node with several districts.
const poolSize = 256
