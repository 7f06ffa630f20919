package main

import (
	"bytes"
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tierlink/tierlink/infra/webhook"
)

// TestWebhookReceiverCommand starts tierlink webhook-receiver on a free port, with
// the secret from the environment, and POSTs to it a signed notification (printed),
// a badly signed one (401, on stderr) and a replay of the first (204, not printed twice).
func TestWebhookReceiverCommand(t *testing.T) {
	secret := []byte("whsec_cli")
	t.Setenv(webhookSecretEnv, string(secret))
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr slogBuffer
	done := make(chan int, 1)
	go func() { done <- runMain(ctx, []string{"webhook-receiver", "--addr", "127.0.0.1:0"}, &stdout, &stderr) }()
	defer func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("webhook-receiver exited %d after Ctrl-C: %s", code, stderr.String())
			}
		case <-time.After(10 * time.Second):
			t.Error("webhook-receiver did not stop")
		}
	}()
	listening := regexp.MustCompile(`listening on (http://[^ ]+/)`)
	var url string
	for deadline := time.Now().Add(5 * time.Second); url == "" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if m := listening.FindStringSubmatch(stderr.String()); m != nil {
			url = m[1]
		}
	}
	if url == "" {
		t.Fatalf("webhook-receiver does not say where it listens: %q", stderr.String())
	}
	body := []byte(`{"kind":"referral.accepted","referral":"r-7","household":"h-3f2a"}`)
	send := func(id string, sig string) int {
		t.Helper()
		req, err := http.NewRequest("POST", url, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(webhook.DeliveryIDHeader, id)
		req.Header.Set(webhook.PositionHeader, "1767225600000-3")
		req.Header.Set(webhook.SignatureHeader, sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	now := time.Now()
	if code := send("d-1", webhook.Sign(secret, now, body)); code != http.StatusNoContent {
		t.Errorf("signed notification: %d, want 204", code)
	}
	if code := send("d-2", webhook.Sign([]byte("whsec_wrong"), now, body)); code != http.StatusUnauthorized {
		t.Errorf("badly signed notification: %d, want 401", code)
	}
	if code := send("d-1", webhook.Sign(secret, now.Add(time.Second), body)); code != http.StatusNoContent {
		t.Errorf("replay: %d, want 204", code)
	}
	out, errOut := stdout.String(), stderr.String()
	want := "delivery d-1 position 1767225600000-3\n{\n  \"kind\": \"referral.accepted\",\n  \"referral\": \"r-7\",\n  \"household\": \"h-3f2a\"\n}\n"
	if !strings.HasSuffix(out, want) || strings.Count(out, "delivery ") != 1 {
		t.Errorf("stdout %q; want the notification once, ending %q", out, want)
	}
	if !strings.Contains(errOut, "refused 401 delivery d-2") || !strings.Contains(errOut, "signature does not match") {
		t.Errorf("stderr %q; want the refusal of d-2 with its reason", errOut)
	}
	if !strings.Contains(errOut, "dropped 204 delivery d-1") || !strings.Contains(errOut, "replay") {
		t.Errorf("stderr %q; want the replay of d-1 said to be dropped", errOut)
	}
}

// TestWebhookReceiverFlagValues: a tolerance or a memory out of range exits 2 with
// a line naming the flag; a secret given by flag needs no environment.
func TestWebhookReceiverFlagValues(t *testing.T) {
	t.Setenv(webhookSecretEnv, "")
	for _, args := range [][]string{
		{"webhook-receiver", "--secret", "s", "--tolerance", "0s"},
		{"webhook-receiver", "--secret", "s", "--tolerance", "-1m"},
		{"webhook-receiver", "--secret", "s", "--remember", "0"},
	} {
		code, out, errOut := runQuickly(t, args...)
		if code != 2 || out != "" || !strings.HasPrefix(errOut, "tierlink: ") || !strings.Contains(errOut, "--") || strings.Contains(errOut, "Usage:") {
			t.Errorf("tierlink %s: exit %d, stdout %q, stderr %q; want 2 and one line naming the flag", strings.Join(args, " "), code, out, errOut)
		}
	}
}
