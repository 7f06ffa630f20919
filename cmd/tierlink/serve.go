package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tierlink/tierlink/demo"
	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/embedded"
	"github.com/tierlink/tierlink/infra/node"
	"github.com/tierlink/tierlink/infra/reference"
	"github.com/tierlink/tierlink/infra/sessions"
	"github.com/tierlink/tierlink/infra/throttle"
)

// serveOptions are serve's flags, read and checked.
type serveOptions struct {
	addr, consumer, pprofAddr string
	tick                      time.Duration
	demoOn                    bool
	demoSeed                  uint64
	demoDays                  int
	secureCookies             bool
	proxies                   []netip.Prefix
	sessionIdle, lifetime     time.Duration
	webhookAllowHTTP          bool
}

const serveUsage = `Usage:
  tierlink serve [flags]

Serves the API and the web pages (/ui/) on --addr and runs the matcher, the read
models and the clock of every district, on the Redis of REDIS_URL. Without
REDIS_URL it starts an embedded in-process Redis, whose data lasts only as long as
the process, and prints API tokens for it.
`

// parseServe reads serve's flags and refuses values it cannot run with.
func parseServe(args []string, stdout io.Writer) (serveOptions, error) {
	var o serveOptions
	fs := newCommand("serve", serveUsage, stdout)
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8080", "listen address of the HTTP API")
	host, _ := os.Hostname()
	fs.StringVar(&o.consumer, "consumer", host, "this process's stable name in the consumer groups (keep it across restarts)")
	fs.DurationVar(&o.tick, "tick", time.Minute, "how often the time is written into each district's log (answer deadlines and offer dates are checked then)")
	fs.StringVar(&o.pprofAddr, "pprof", "", "serve Go's profiles (net/http/pprof) on this address, e.g. 127.0.0.1:6060 (off by default)")
	fs.BoolVar(&o.demoOn, "demo", false, "seed the demo district (about 180 communities) and play its last days, so that inboxes and the dashboard are alive")
	fs.Uint64Var(&o.demoSeed, "demo-seed", 1, "the demo's seed: a seed gives the same district and the same days")
	fs.IntVar(&o.demoDays, "demo-days", demo.DefaultDays, "how many days the demo plays")
	fs.BoolVar(&o.secureCookies, "secure-cookies", false, "mark the web's cookies Secure on plain HTTP too: set it behind a proxy that serves tierlink over HTTPS")
	trustedProxies := fs.String("trusted-proxy", "", "addresses or CIDRs of the proxies in front of tierlink, comma-separated: the limiter of failed authentications keys a request from one by the client X-Forwarded-For names (without it, every client behind the proxy shares the proxy's limit)")
	fs.DurationVar(&o.sessionIdle, "session-idle", sessions.DefaultIdleTimeout, "a web session unused for this long ends")
	fs.DurationVar(&o.lifetime, "session-lifetime", sessions.DefaultLifetime, "a web session ends this long after sign-in, however much it is used")
	fs.BoolVar(&o.webhookAllowHTTP, "webhook-allow-http", false, "let subscriptions use plain http to a loopback host, and deliver to loopback and private addresses (for a receiver on this machine or a lab network; never on a shared one)")
	if err := fs.parse(args); err != nil {
		return o, err
	}
	if err := fs.noArgs(); err != nil {
		return o, err
	}
	if o.consumer == "" {
		return o, invalid("--consumer is empty and the host has no name: pass --consumer NAME")
	}
	var err error
	if o.proxies, err = parsePrefixes(*trustedProxies); err != nil {
		return o, invalid("--trusted-proxy: %w", err)
	}
	if o.tick < time.Second {
		return o, invalid("--tick %v is too short: use 1s or more", o.tick)
	}
	if o.demoDays < 1 || o.demoDays > 366 {
		return o, invalid("--demo-days %d: play from 1 to 366 days", o.demoDays)
	}
	if o.sessionIdle < time.Minute || o.lifetime < o.sessionIdle {
		return o, invalid("--session-idle %v, --session-lifetime %v: give an idle timeout of 1m or more, and a lifetime no shorter", o.sessionIdle, o.lifetime)
	}
	return o, nil
}

// serve runs a node: it binds its addresses first, so that a taken port fails
// before anything is written or any token printed, then opens the store.
func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseServe(args, stdout)
	if err != nil {
		return err
	}
	ln, err := listen("--addr", o.addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	log := newLogger(stderr)
	if o.pprofAddr != "" {
		if err := servePprof(o.pprofAddr, log); err != nil {
			return err
		}
	}
	client, embeddedStore, closeStore, err := openStore(ctx, log)
	if err != nil {
		return err
	}
	defer closeStore()

	ref, err := reference.Default()
	if err != nil {
		return err
	}
	key, err := webhookKey(ctx, client, log)
	if err != nil {
		return err
	}
	cfg := node.Config{Client: client, Consumer: o.consumer, Reference: ref, Logger: log, TickInterval: o.tick,
		WebhookKey: key, WebhookAllowHTTP: o.webhookAllowHTTP,
		SecureCookies: o.secureCookies, Sessions: sessions.Config{IdleTimeout: o.sessionIdle, Lifetime: o.lifetime},
		AuthLimit: throttle.Config{TrustedProxies: o.proxies}}
	var play *demoPlay
	if o.demoOn {
		if play, err = newDemoPlay(ref, o.demoSeed, o.demoDays, time.Now()); err != nil {
			return err
		}
		// The demo ticks through its days itself; the node ticks once it is done.
		cfg.Reference, cfg.Clock, cfg.NewID, cfg.TickInterval = play.world.Reference, play.clock.Now, play.clock.IDs(o.demoSeed), -1
	}
	n, err := node.New(cfg)
	if err != nil {
		return err
	}
	if err := n.PublishReference(ctx); err != nil {
		return err
	}
	if embeddedStore {
		if err := issueLocalTokens(ctx, n, cfg.Reference, play != nil, stderr); err != nil {
			return err
		}
	}
	return runNode(ctx, n, ln, o, play, log)
}

// listen binds addr (the value of flag), saying plainly when it is taken.
func listen(flag, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return nil, fmt.Errorf("%s %s: the address is already in use (another tierlink?): stop what listens there, or pass %s HOST:PORT to use another", flag, addr, flag)
	case err != nil:
		return nil, fmt.Errorf("%s %s: cannot listen: %w (pass %s HOST:PORT, e.g. 127.0.0.1:8080)", flag, addr, err, flag)
	}
	return ln, nil
}

// servePprof serves Go's profiles on their own address.
func servePprof(addr string, log *slog.Logger) error {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	ln, err := listen("--pprof", addr)
	if err != nil {
		return err
	}
	go func() { _ = http.Serve(ln, mux) }()
	log.Info("profiles served", "addr", "http://"+ln.Addr().String()+"/debug/pprof/")
	return nil
}

// openStore connects to the Redis of REDIS_URL, or starts the embedded one, and
// checks that it answers; close closes what it opened.
func openStore(ctx context.Context, log *slog.Logger) (client *redis.Client, embeddedStore bool, close func(), err error) {
	var closers []func()
	close = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	if os.Getenv("REDIS_URL") != "" {
		if client, err = redisFromEnv("serve", ""); err != nil {
			return nil, false, close, err
		}
		opts := client.Options()
		log.Info("event log on Redis", "addr", opts.Addr, "db", opts.DB)
	} else {
		srv, err := embedded.Start("127.0.0.1:0")
		if err != nil {
			return nil, false, close, err
		}
		closers = append(closers, func() { srv.Close() })
		client = redis.NewClient(&redis.Options{Addr: srv.Addr(), PoolSize: poolSize})
		embeddedStore = true
		log.Warn("no REDIS_URL: using an embedded in-process Redis; its data lasts only as long as this process", "addr", srv.Addr())
	}
	closers = append(closers, func() { client.Close() })
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err = client.Ping(pctx).Err()
	cancel()
	if err != nil {
		return nil, false, close, fmt.Errorf("redis does not answer: %w (is REDIS_URL right, and Redis running?)", err)
	}
	return client, embeddedStore, close, nil
}

// runNode serves the node's HTTP handler and runs its consumers (and the demo's
// play) until ctx ends or one of them stops, then shuts down.
func runNode(ctx context.Context, n *node.Node, ln net.Listener, o serveOptions, play *demoPlay, log *slog.Logger) error {
	srv := &http.Server{Handler: n.Handler(), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}
	runDone := make(chan error, 1)
	go func() { runDone <- n.Run(ctx) }()
	serveDone := make(chan error, 1)
	go func() { serveDone <- srv.Serve(ln) }()
	log.Info("tierlink serving", "addr", "http://"+ln.Addr().String(), "consumer", o.consumer)
	if play != nil {
		go func() {
			if err := play.run(ctx, n, log, "http://"+ln.Addr().String()); err != nil && ctx.Err() == nil {
				log.Error("the demo stopped", "err", err)
			}
			play.clock.Real()
			n.Ticks(ctx, o.tick)
		}()
	}

	select {
	case <-ctx.Done():
	case err := <-serveDone:
		return fmt.Errorf("http server: %w", err)
	case err := <-runDone:
		if err == nil {
			err = errors.New("the consumers stopped")
		}
		_ = srv.Close()
		return fmt.Errorf("consumers: %w", err)
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("http shutdown", "err", err)
	}
	return <-runDone
}

// issueLocalTokens issues tokens for a store nobody else can reach (the embedded
// one: tierlink tokens needs REDIS_URL) and prints them: an operator, each
// district's centre, and a sample provider. They last as long as the process.
func issueLocalTokens(ctx context.Context, n *node.Node, ref *domain.Reference, demoOn bool, w io.Writer) error {
	ps := []domain.Principal{{Role: domain.RoleOperator}}
	for _, d := range ref.Geography.Districts() {
		ps = append(ps, domain.Principal{Role: domain.RoleCentre, Tier: domain.TierDistrict, Area: d.Code})
	}
	if demoOn {
		ps = append(ps, demoPrincipals...)
	} else {
		ps = append(ps, domain.Principal{Role: domain.RoleProvider, Provider: "sample-provider"})
	}
	fmt.Fprintln(w, "Embedded store: API tokens for this process (with REDIS_URL set, issue them with tierlink tokens create):")
	for _, p := range ps {
		secret, _, err := n.Tokens().Create(ctx, p, "embedded store: "+p.String(), time.Now())
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "  %-28s %s\n", p, secret)
	}
	return nil
}

// parsePrefixes reads a comma-separated list of addresses and CIDRs (an address
// is a prefix of its own).
func parsePrefixes(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if a, err := netip.ParseAddr(item); err == nil {
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(item)
		if err != nil {
			return nil, fmt.Errorf("%q is not an address or a CIDR (10.0.0.0/8)", item)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
