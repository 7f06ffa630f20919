package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/loadgen"
	"github.com/tierlink/tierlink/infra/tokens"
)

// issuedToken is a token the load issued itself: its id (to revoke) and secret.
type issuedToken struct{ id, secret string }

// issueOperatorToken issues the operator's token the load's subscriptions belong to.
func issueOperatorToken(ctx context.Context, toks *tokens.Store) (issuedToken, error) {
	secret, tok, err := toks.Create(ctx, domain.Principal{Role: domain.RoleOperator}, "tierlink load", time.Now())
	if err != nil {
		return issuedToken{}, err
	}
	return issuedToken{id: tok.ID, secret: secret}, nil
}

// notifyRun is the notification side of tierlink load --subscriptions: a receiver
// on 127.0.0.1, the subscriptions to it, and the wait for what they still queue.
type notifyRun struct {
	url      string
	count    int
	areas    []loadgen.Area
	drain    time.Duration
	stderr   io.Writer
	operator issuedToken

	sink   *loadgen.NotifySink
	ln     net.Listener
	srv    *http.Server
	client *http.Client
	subs   []string // the ids of the subscriptions created
}

// listen starts the receiver on a free loopback port.
func (n *notifyRun) listen() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("load: the notifications' receiver: %w", err)
	}
	n.ln, n.sink = ln, loadgen.NewNotifySink()
	n.srv = &http.Server{Handler: n.sink, ReadHeaderTimeout: 5 * time.Second}
	n.client = &http.Client{Timeout: 10 * time.Second}
	go func() { _ = n.srv.Serve(ln) }()
	fmt.Fprintf(n.stderr, "load: receiving notifications on http://%s/\n", ln.Addr())
	return nil
}

// subscribe creates the subscriptions, one path each, in the areas' districts in turn.
func (n *notifyRun) subscribe(ctx context.Context) error {
	for i := range n.count {
		path := fmt.Sprintf("/s/%d", i)
		n.sink.Expect(path)
		district := n.areas[i%len(n.areas)].District
		sub, err := loadgen.CreateSubscription(ctx, n.client, n.url, n.operator.secret, district,
			"http://"+n.ln.Addr().String()+path, domain.KindsFor(domain.RoleOperator))
		if errors.Is(err, loadgen.ErrPlainHTTPRefused) {
			return fmt.Errorf("load: %s refuses a subscription to the load's receiver on http://127.0.0.1: restart it with `tierlink serve --webhook-allow-http` (%w)", n.url, err)
		}
		if err != nil {
			return fmt.Errorf("load: subscription %d of %d: %w", i+1, n.count, err)
		}
		n.subs = append(n.subs, sub.ID)
		if err := n.sink.Add(path, []byte(sub.Secret)); err != nil {
			return err
		}
	}
	fmt.Fprintf(n.stderr, "load: %d subscriptions created\n", len(n.subs))
	return nil
}

// wait waits, after a run, until the subscriptions' queues are empty and nothing
// has arrived for two seconds (at most the drain), then reports on the run's notifications.
func (n *notifyRun) wait(ctx context.Context, run loadgen.Report) loadgen.NotifyReport {
	end := time.Now().Add(n.drain)
	var queued int64
	for {
		queued = 0
		for _, id := range n.subs {
			d, err := loadgen.QueueDepth(ctx, n.client, n.url, n.operator.secret, id)
			if err != nil {
				queued = -1
				break
			}
			queued += d
		}
		got, last := n.sink.Accepted()
		fmt.Fprintf(n.stderr, "\rnotifications: %d accepted, %d queued   ", got, queued)
		if (queued == 0 && time.Since(last) > 2*time.Second) || !time.Now().Before(end) || ctx.Err() != nil {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	fmt.Fprintln(n.stderr)
	r := n.sink.Report(n.count, run.Started, time.Duration(run.Seconds*float64(time.Second)))
	r.QueuedAtEnd = queued
	return r
}

// close deletes the subscriptions and stops the receiver (once).
func (n *notifyRun) close() {
	if n.srv == nil {
		return
	}
	defer func() { n.srv, n.subs = nil, nil }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, id := range n.subs {
		if err := loadgen.DeleteSubscription(ctx, n.client, n.url, n.operator.secret, id); err != nil {
			fmt.Fprintf(n.stderr, "load: deleting subscription %s: %v\n", id, err)
		}
	}
	_ = n.srv.Shutdown(ctx)
}
