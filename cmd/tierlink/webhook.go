package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/tierlink/tierlink/infra/webhook"
)

const webhookUsage = `Usage:
  tierlink webhook-receiver --secret S [--addr 127.0.0.1:9090] [--tolerance 5m] [--remember 10000]

Receives tierlink's notifications for someone trying them by hand: verifies each
POST's X-Tierlink-Signature with the subscription's secret, drops a delivery id
(or a signature) it has seen, prints each accepted notification (time, delivery
id, position, the JSON body indented) on stdout and each refused one with its
reason on stderr. It needs no Redis. The secret may come from the environment
variable TIERLINK_WEBHOOK_SECRET instead, to keep it out of the shell's history.
`

// webhookSecretEnv is the environment variable read when --secret is not given.
const webhookSecretEnv = "TIERLINK_WEBHOOK_SECRET"

// webhookReceiverCmd runs a webhook.Receiver until ctx is done.
func webhookReceiverCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newCommand("webhook-receiver", webhookUsage, stdout)
	secret := fs.String("secret", "", "the subscription's secret (default $"+webhookSecretEnv+")")
	addr := fs.String("addr", "127.0.0.1:9090", "the address to listen on, HOST:PORT")
	tolerance := fs.Duration("tolerance", webhook.DefaultTolerance, "how far a signature's timestamp may be from this clock, either way")
	remember := fs.Int("remember", webhook.DefaultRemember, "how many recent deliveries to remember to drop replays")
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := fs.noArgs(); err != nil {
		return err
	}
	if *secret == "" {
		*secret = os.Getenv(webhookSecretEnv)
	}
	switch {
	case *secret == "":
		return misused(fs.usage(), "webhook-receiver: give the subscription's secret with --secret S or %s", webhookSecretEnv)
	case *tolerance <= 0:
		return invalid("webhook-receiver: --tolerance %s: give a positive duration, e.g. 5m", *tolerance)
	case *remember < 1:
		return invalid("webhook-receiver: --remember %d: give at least 1", *remember)
	}
	var mu sync.Mutex // one notification's lines at a time
	rc, err := webhook.NewReceiver(webhook.Config{
		Secret:    []byte(*secret),
		Tolerance: *tolerance,
		Remember:  *remember,
		OnAccept: func(n webhook.Notification) {
			mu.Lock()
			defer mu.Unlock()
			printNotification(stdout, n)
		},
		OnRefuse: func(r webhook.Refusal) {
			mu.Lock()
			defer mu.Unlock()
			id := r.DeliveryID
			if id == "" {
				id = "-"
			}
			verb := "refused"
			if r.Status == http.StatusNoContent {
				verb = "dropped"
			}
			fmt.Fprintf(stderr, "%s %s %d delivery %s from %s: %s\n", time.Now().Format(time.RFC3339), verb, r.Status, id, r.Remote, r.Reason)
		},
	})
	if err != nil {
		return fmt.Errorf("webhook-receiver: %w", err)
	}
	ln, err := listen("--addr", *addr)
	if err != nil {
		return fmt.Errorf("webhook-receiver: %w", err)
	}
	srv := &http.Server{Handler: rc, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}
	fmt.Fprintf(stderr, "webhook-receiver: listening on http://%s/ (Ctrl-C to stop)\n", ln.Addr())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("webhook-receiver: serving on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("webhook-receiver: stopping: %w", err)
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("webhook-receiver: serving on %s: %w", ln.Addr(), err)
	}
	return nil
}

// printNotification writes an accepted notification: a line saying when, which
// delivery and which position, then its body indented (as received when it is not JSON).
func printNotification(w io.Writer, n webhook.Notification) {
	pos := n.Position
	if pos == "" {
		pos = "-"
	}
	fmt.Fprintf(w, "%s delivery %s position %s\n", n.Received.Format(time.RFC3339), n.DeliveryID, pos)
	var b bytes.Buffer
	if err := json.Indent(&b, n.Body, "", "  "); err != nil {
		b.Reset()
		b.Write(n.Body)
	}
	b.WriteByte('\n')
	_, _ = w.Write(b.Bytes())
}
