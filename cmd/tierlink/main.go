// Command tierlink runs the tierlink engine: it links households in hardship to the
// services that providers offer, tier by tier, on an event log in Redis.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

const usage = `tierlink links households in hardship to the services providers offer.

Usage:
  tierlink serve [--addr 127.0.0.1:8080] [--consumer NAME] [--tick 1m] [--pprof ADDR]
                 [--demo] [--demo-seed 1] [--demo-days 14]
                 [--secure-cookies] [--trusted-proxy CIDR,...]
                 [--session-idle 30m] [--session-lifetime 12h] [--webhook-allow-http]
      serve the API and the web pages on --addr (--demo: seed the demo district
      and play its last days)
  tierlink demo [--seed 1] [--days 14] [--households-per-day 60]
      play the demo against a running tierlink on the same REDIS_URL
  tierlink tokens create|list|revoke ...
      issue, list and revoke API tokens (tierlink tokens --help)
  tierlink projections rebuild
      rebuild the read models from the log
  tierlink load [--url URL] [--clients 8] [--duration 10s] [--rate 0] [--batch 1]
                [--needs-per-household 1] [--offer-one-in 20] [--drain 10s] [--raw=true]
                [--json FILE] [--baseline FILE]
                [--subscriptions 0] [--compare-subscriptions=true] [--notify-drain 30s]
      drive a running tierlink's API and measure it (--subscriptions N: and the
      notifications of N subscriptions to a receiver it runs on 127.0.0.1)
  tierlink surge [--needs 1000000] [--offers 100000] [--streets 8] [--communities 8]
                 [--raw=true] [--json FILE] [--svg FILE] [--cpuprofile FILE] [--memprofile FILE]
      a city-wide lockdown day on an empty Redis
  tierlink quality [--needs 10000] [--seed 1] [--regimes balanced,scarce,...] [--rules allocation|old]
                   [--round 1h|1m,1h,24h] [--max-wait 336h|0s,168h,336h] [--spare 2] [--json]
      the matcher against the exact offline optimum and two online baselines,
      on seeded district months
  tierlink webhook-receiver --secret S [--addr 127.0.0.1:9090] [--tolerance 5m] [--remember 10000]
      receive notifications by hand: verify their signatures, drop replays and
      print them (the secret may come from TIERLINK_WEBHOOK_SECRET instead)
  tierlink help [COMMAND]
      this text, or a command's

tierlink COMMAND --help says what each of the command's flags does.
Exit status: 0 when done (and after --help), 1 when the work failed, 2 when the
command line was wrong (a command, action or flag tierlink does not have, or a
value out of range).

Environment:
  REDIS_URL   the Redis that holds the event log (redis://host:6379/0).
              Unset: serve starts an embedded in-process server whose data lasts
              only as long as the process; the other commands that need Redis
              (demo, tokens, projections, load, surge) ask for it.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runMain(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// quietRedis keeps go-redis's internal log lines out of the output (see redisLogger).
func quietRedis() { redis.SetLogger(redisLogger{}) }

// run dispatches a subcommand; it is main without the process around it. A
// --help returns flag.ErrHelp once the usage is printed on stdout.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return misused(usage, "name a command")
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stdout, stderr)
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
	case "webhook-receiver":
		return webhookReceiverCmd(ctx, args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		if len(args) > 1 && !isHelp(args[1]) {
			return run(ctx, []string{args[1], "--help"}, stdout, stderr)
		}
		fmt.Fprint(stdout, usage)
		return flag.ErrHelp
	default:
		return misused(usage, "unknown command %q: use one of serve, demo, tokens, projections, load, surge, quality, webhook-receiver", args[0])
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
		return nil, fmt.Errorf("%s needs Redis: set REDIS_URL to the Redis tierlink serve uses, e.g. REDIS_URL=redis://127.0.0.1:6379/0 (%s)", command, why)
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, invalid("REDIS_URL %q: %w (expected redis://host:port/db)", url, err)
	}
	if opts.PoolSize == 0 {
		opts.PoolSize = poolSize
	}
	return redis.NewClient(opts), nil
}

// ping checks that the Redis of client answers within five seconds.
func ping(ctx context.Context, client *redis.Client) error {
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := client.Ping(pctx).Err(); err != nil {
		return fmt.Errorf("redis at %s does not answer: %w (is REDIS_URL right, and Redis running?)", client.Options().Addr, err)
	}
	return nil
}

// poolSize is the Redis connection pool's size unless REDIS_URL sets pool_size: every
// consumer group's subscriber holds a connection in its blocking read, so go-redis's
// default (10 per CPU) starves the other calls of a node with several districts.
const poolSize = 256
