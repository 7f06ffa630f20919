package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/node"
	"github.com/tierlink/tierlink/infra/redistest"
	"github.com/tierlink/tierlink/infra/reference"
	"github.com/tierlink/tierlink/infra/tokens"
)

// composePrefix is how the README runs the binary of the compose stack's image.
const composePrefix = "docker compose run --rm tierlink "

// shellWords splits a command line as a POSIX shell would for plain words and
// single- or double-quoted strings (no escapes, variables or globs).
func shellWords(t *testing.T, line string) []string {
	t.Helper()
	var words []string
	var word strings.Builder
	inWord := false
	var quote rune
	for _, r := range line {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			word.WriteRune(r)
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, word.String())
				word.Reset()
				inWord = false
			}
		case strings.ContainsRune(`\$*?;&|<>`+"`", r):
			t.Fatalf("the README's command %q uses %q, which this test does not read", line, r)
		default:
			word.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		t.Fatalf("unterminated quote in %q", line)
	}
	if inWord {
		words = append(words, word.String())
	}
	return words
}

// TestComposeFirstToken runs the command the README gives for the first operator
// token in compose mode, as written, on a redis-server of the test's own (Docker
// itself is not needed): it prints a token once, which then signs in to the API.
// It also checks the compose file and the Dockerfile that turn the README's
// "docker compose run --rm tierlink" into this binary with the stack's REDIS_URL.
func TestComposeFirstToken(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var line string
	for l := range strings.SplitSeq(string(readme), "\n") {
		if strings.HasPrefix(l, composePrefix+"tokens create ") {
			line = l
			break
		}
	}
	if line == "" {
		t.Fatalf("the README gives no %q command for the first token", composePrefix+"tokens create")
	}
	args := shellWords(t, strings.TrimPrefix(line, composePrefix))

	compose, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	_, service, _ := strings.Cut(string(compose), "\n  tierlink:\n")
	service, _, _ = strings.Cut(service, "\n\n")
	for _, want := range []string{"build: .", "REDIS_URL: redis://redis:6379/0"} {
		if !strings.Contains(service, want) {
			t.Errorf("docker-compose.yml's tierlink service lacks %q: docker compose run would not reach the stack's Redis", want)
		}
	}
	dockerfile, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^ENTRYPOINT \["/usr/local/bin/tierlink"\]$`).Match(dockerfile) ||
		!strings.Contains(string(dockerfile), "-o /out/tierlink ./cmd/tierlink") {
		t.Error("the image's entrypoint is not the tierlink binary: docker compose run's arguments would not be its command line")
	}

	srv := redistest.Real(t)
	t.Setenv("REDIS_URL", "redis://"+srv.Addr+"/0")
	code, out, errOut := runQuickly(t, args...)
	if code != 0 || errOut != "" {
		t.Fatalf("tierlink %s: exit %d, stderr %q", strings.Join(args, " "), code, errOut)
	}
	secret := regexp.MustCompile(`(?m)^tl_[0-9a-f]{64}$`).FindString(out)
	if secret == "" || !strings.Contains(out, "for operator") || !strings.Contains(out, "shown only now") {
		t.Fatalf("no operator token printed: %q", out)
	}

	ctx := context.Background()
	client := srv.Client(t)
	store, err := tokens.NewStore(client)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := store.Authenticate(ctx, secret, time.Now())
	if err != nil || tok.Principal.Role != domain.RoleOperator {
		t.Fatalf("the printed token: %+v, %v; want a live operator token", tok, err)
	}
	ref, err := reference.Default()
	if err != nil {
		t.Fatal(err)
	}
	n, err := node.New(node.Config{Client: client, Consumer: "compose-test", Reference: ref, TickInterval: -1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.PublishReference(ctx); err != nil {
		t.Fatal(err)
	}
	district := ref.Geography.Districts()[0].Code
	for bearer, want := range map[string]int{secret: http.StatusOK, "tl_" + strings.Repeat("0", 64): http.StatusUnauthorized} {
		req := httptest.NewRequest(http.MethodGet, "/v1/reference/"+district, nil)
		req.Header.Set("Authorization", "Bearer "+bearer)
		rec := httptest.NewRecorder()
		n.Handler().ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("GET /v1/reference/%s with %s: %d, want %d: %s", district, bearer[:8], rec.Code, want, rec.Body)
		}
	}

	code, out, _ = runQuickly(t, "tokens", "list")
	if code != 0 || !strings.Contains(out, tok.ID) || !strings.Contains(out, tokens.Printable(tok.Label)) {
		t.Errorf("tokens list after it: exit %d, %q", code, out)
	}
}
