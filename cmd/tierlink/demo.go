package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/tierlink/tierlink/app"
	"github.com/tierlink/tierlink/demo"
	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/node"
	"github.com/tierlink/tierlink/infra/reference"
)

// demoPrincipals are the demo's users worth signing in as, beside the operator and
// the district centre: a street's and a community's centre, and two providers.
var demoPrincipals = []domain.Principal{
	{Role: domain.RoleCentre, Tier: domain.TierStreet, Area: "xianxia"},
	{Role: domain.RoleCentre, Tier: domain.TierCommunity, Area: "xianxia-01"},
	{Role: domain.RoleProvider, Provider: "xinhang-social-work"},
	{Role: domain.RoleProvider, Provider: "cn-civil-affairs"},
}

// demoPlay is a demo to play: its world, its clock and its span.
type demoPlay struct {
	world *demo.World
	clock *demo.Clock
	seed  uint64
	days  int
	end   time.Time
}

// newDemoPlay builds the demo district of seed, to play days days up to end.
func newDemoPlay(base *domain.Reference, seed uint64, days int, end time.Time) (*demoPlay, error) {
	if days < 1 || days > 366 {
		return nil, fmt.Errorf("--demo-days %d: play from 1 to 366 days", days)
	}
	w, err := demo.NewWorld(base, seed)
	if err != nil {
		return nil, err
	}
	return &demoPlay{world: w, clock: demo.NewClock(demo.Start(end, days)), seed: seed, days: days, end: end}, nil
}

// run plays the demo on a running node, logging each day.
func (d *demoPlay) run(ctx context.Context, e demo.Engine, log *slog.Logger, url string) error {
	started := time.Now()
	log.Info("demo: playing the district's last days", "days", d.days, "seed", d.seed, "communities", len(d.world.Communities()), "providers", len(d.world.Providers))
	t, err := demo.Play(ctx, e, d.world, demo.Config{Seed: d.seed, Days: d.days, Clock: d.clock, End: d.end, Logger: log,
		Progress: func(t demo.Totals) {
			log.Info(fmt.Sprintf("demo: day %d/%d", t.Day, t.Days), "households", t.Households, "needs", t.Needs, "offers", t.Offers,
				"accepted", t.Accepted, "declined", t.Declined, "escalated", t.Escalated, "completed", t.Completed,
				"followed_up", t.FollowUps, "visits", t.Visits, "reassessed", t.Reassessed, "applied", t.Applied)
		}})
	if err != nil {
		return err
	}
	log.Info("demo: ready", "took", time.Since(started).Round(time.Millisecond).String(), "households", t.Households, "needs", t.Needs,
		"offers", t.Offers, "accepted", t.Accepted, "declined", t.Declined, "escalated", t.Escalated, "left_unanswered", t.Unanswered,
		"completed", t.Completed, "followed_up", t.FollowUps, "reopened", t.Reopened, "visits", t.Visits, "reassessed", t.Reassessed,
		"applied", t.Applied, "granted", t.Granted, "refused", t.Refused, "open", url+"/ui/")
	return nil
}

// remoteEngine plays the demo on a tierlink that runs in another process on the same
// Redis: this process only appends; the server's matcher and projections follow.
type remoteEngine struct {
	n *node.Node
}

func (r remoteEngine) Application() *app.Application { return r.n.Application() }

func (r remoteEngine) Tick(ctx context.Context, at time.Time) error { return r.n.Tick(ctx, at) }

// SettleMatcher waits for the read models too: this process cannot see the server's matcher.
func (r remoteEngine) SettleMatcher(ctx context.Context) error { return r.Settle(ctx) }

// errNoServer is returned when no tierlink follows the log the demo writes.
var errNoServer = errors.New("the log is not being followed: is tierlink serve running with this REDIS_URL?")

// Settle waits until the server's read models hold the whole log, twice 50 ms apart
// (the server's matcher appends its decisions within that, which moves the head).
func (r remoteEngine) Settle(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	stable := 0
	for stable < 2 {
		if time.Now().After(deadline) {
			return errNoServer
		}
		caught := true
		for _, p := range r.n.Partitions() {
			h, err := r.n.Store().Head(ctx, p)
			if err != nil {
				return err
			}
			cp, err := r.n.Application().Queries.Reads.Checkpoint(ctx, p)
			if err != nil {
				return err
			}
			caught = caught && cp == h
		}
		if caught {
			stable++
		} else {
			stable = 0
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

const demoUsage = `Usage:
  tierlink demo [flags]

Plays the demo district's last days against a tierlink serve already running on
the same REDIS_URL, then prints tokens to sign in with. (tierlink serve --demo does
the same in one process, on the embedded store.)
`

// demoCmd plays the demo against a running tierlink: it publishes the demo
// district's geography as an operator, then registers, answers and serves through
// the application, on the Redis of REDIS_URL.
func demoCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newCommand("demo", demoUsage, stdout)
	seed := fs.Uint64("seed", 1, "the demo's seed")
	days := fs.Int("days", demo.DefaultDays, "how many days of activity to play (at once: against a running server the demo acts now)")
	perDay := fs.Int("households-per-day", 60, "households registered on a weekday")
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := fs.noArgs(); err != nil {
		return err
	}
	if *days < 1 || *days > 366 || *perDay < 1 {
		return invalid("demo: --days from 1 to 366 and --households-per-day of 1 or more, got %d and %d", *days, *perDay)
	}
	client, err := redisFromEnv("demo", "the Redis of the running tierlink serve that the demo plays on; or run tierlink serve --demo")
	if err != nil {
		return err
	}
	defer client.Close()
	base, err := reference.Default()
	if err != nil {
		return err
	}
	w, err := demo.NewWorld(base, *seed)
	if err != nil {
		return err
	}
	log := newLogger(stderr)
	host, _ := os.Hostname()
	n, err := node.New(node.Config{Client: client, Consumer: "demo-" + host, Reference: w.Reference, Logger: log, TickInterval: -1})
	if err != nil {
		return err
	}
	if _, err := n.LoadReference(ctx); err != nil {
		return err
	}
	dn := w.Reference.Geography.Districts()[0]
	cats := w.Reference.Taxonomy.Categories()
	operator := domain.Principal{Role: domain.RoleOperator}
	res, err := n.Application().Commands.PublishReference.Handle(ctx, dn.Code, app.ReferenceInput{District: dn, Categories: cats, Policy: w.Reference.Policy, Providers: w.Reference.Providers(dn.Code)},
		app.Meta{Principal: operator, Actor: "demo/operator"})
	if err != nil {
		return fmt.Errorf("publish the demo district's geography: %w", err)
	}
	if res.Changed {
		fmt.Fprintf(stderr, "published the demo geography (%d communities); waiting for the server to put it in force…\n", len(w.Communities()))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(3 * time.Second): // servers check for new reference data every 2 s
		}
	}
	if _, err := n.LoadReference(ctx); err != nil {
		return err
	}
	started := time.Now()
	t, err := demo.Play(ctx, remoteEngine{n}, w, demo.Config{Seed: *seed, Days: *days, HouseholdsPerDay: *perDay, Logger: log,
		Progress: func(t demo.Totals) {
			fmt.Fprintf(stderr, "day %d/%d: %d households, %d needs, %d offers, %d accepted, %d completed\n", t.Day, t.Days, t.Households, t.Needs, t.Offers, t.Accepted, t.Completed)
		}})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "demo played in %v: %d providers, %d offers, %d households with %d needs; %d accepted, %d declined, %d escalated, %d left unanswered, %d completed\n",
		time.Since(started).Round(time.Millisecond), t.Providers, t.Offers, t.Households, t.Needs, t.Accepted, t.Declined, t.Escalated, t.Unanswered, t.Completed)
	if t.Refused > 0 {
		fmt.Fprintf(stdout, "%d of the demo's commands were refused because someone else acted first (see the log at debug level)\n", t.Refused)
	}
	fmt.Fprintln(stdout, "Sign in to the web UI (/ui/) with these tokens (revoke them with tierlink tokens revoke):")
	for _, p := range demoPrincipals {
		secret, _, err := n.Tokens().Create(ctx, p, "tierlink demo: "+p.String(), time.Now())
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "  %-32s %s\n", p, secret)
	}
	return nil
}
