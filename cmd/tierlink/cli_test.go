package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// everyCommand is every command and action line whose --help the tests ask for.
var everyCommand = [][]string{
	{"serve"}, {"demo"}, {"load"}, {"surge"}, {"quality"},
	{"projections"}, {"projections", "rebuild"},
	{"tokens"}, {"tokens", "create"}, {"tokens", "list"}, {"tokens", "revoke"},
	{"webhook-receiver"},
}

// redisEnvs are the REDIS_URL settings under which a command line must be read
// without Redis: unset, a closed port, and a listener that counts who connects.
func redisEnvs(t *testing.T) (envs map[string]string, connections func() int64) {
	t.Helper()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()
	counting, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { counting.Close() })
	var n atomic.Int64
	go func() {
		for {
			c, err := counting.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			c.Close()
		}
	}()
	return map[string]string{
		"unset":    "",
		"closed":   "redis://" + closedAddr + "/0",
		"counting": "redis://" + counting.Addr().String() + "/0",
	}, n.Load
}

// setRedisURL sets REDIS_URL for the test, or unsets it for "".
func setRedisURL(t *testing.T, url string) {
	t.Helper()
	t.Setenv("REDIS_URL", url)
	if url == "" {
		os.Unsetenv("REDIS_URL")
	}
}

// runQuickly runs tierlink with args, failing the test if it takes more than a few
// seconds (a command line that waits on a Redis that is not there).
func runQuickly(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	started := time.Now()
	code = runMain(ctx, args, &out, &errOut)
	if d := time.Since(started); d > 6*time.Second {
		t.Errorf("tierlink %s took %v: it waited for something", strings.Join(args, " "), d)
	}
	return code, out.String(), errOut.String()
}

// TestHelpOnEveryCommand asks every command and action for help, in each of the
// ways a person would: each prints its usage on stdout, nothing on stderr, exits
// 0, and neither needs nor touches Redis.
func TestHelpOnEveryCommand(t *testing.T) {
	envs, connections := redisEnvs(t)
	var lines [][]string
	for _, h := range []string{"--help", "-h", "-help", "help"} {
		lines = append(lines, []string{h})
	}
	for _, c := range everyCommand {
		for _, h := range []string{"--help", "-h"} {
			lines = append(lines, append(append([]string{}, c...), h))
		}
		lines = append(lines, append([]string{"help"}, c[0]))
	}
	lines = append(lines, []string{"tokens", "help"}, []string{"projections", "help"}, []string{"help", "help"})
	for name, url := range envs {
		setRedisURL(t, url)
		for _, args := range lines {
			code, out, errOut := runQuickly(t, args...)
			line := fmt.Sprintf("REDIS_URL %s: tierlink %s", name, strings.Join(args, " "))
			if code != 0 || errOut != "" {
				t.Errorf("%s: exit %d, stderr %q; want 0 and nothing", line, code, errOut)
			}
			if !strings.HasPrefix(out, "Usage:") && !strings.Contains(out, "\nUsage:\n") {
				t.Errorf("%s: no usage on stdout: %q", line, out)
			}
			if strings.Contains(out, "unknown action") || strings.Contains(out, "unknown command") || strings.Contains(out, "set REDIS_URL") {
				t.Errorf("%s: the usage complains: %q", line, out)
			}
		}
	}
	if n := connections(); n != 0 {
		t.Errorf("asking for help connected to REDIS_URL %d times", n)
	}
}

// flagsInUsage reads the flag names a command's usage lists under "Flags:".
func flagsInUsage(usage string) []string {
	_, flags, _ := strings.Cut(usage, "\nFlags:\n")
	var names []string
	for _, m := range regexp.MustCompile(`(?m)^  (--[a-z0-9-]+)`).FindAllStringSubmatch(flags, -1) {
		names = append(names, m[1])
	}
	return names
}

// TestUsageListsEveryFlag checks that the top-level usage names every command and
// every flag each command defines, and that tokens' usage names every flag of
// tokens create; a command's own --help lists its flags from its flag set.
func TestUsageListsEveryFlag(t *testing.T) {
	setRedisURL(t, "")
	_, top, _ := runQuickly(t, "--help")
	_, tokensTop, _ := runQuickly(t, "tokens", "--help")
	for _, c := range everyCommand {
		if !strings.Contains(top, "tierlink "+c[0]) {
			t.Errorf("the usage does not name %s", c[0])
		}
		_, usage, _ := runQuickly(t, append(append([]string{}, c...), "--help")...)
		want, where := top, "the top-level usage"
		if len(c) == 2 && c[0] == "tokens" {
			want, where = tokensTop, "tierlink tokens --help"
		}
		for _, f := range flagsInUsage(usage) {
			if !regexp.MustCompile(regexp.QuoteMeta(f) + `\b`).MatchString(want) {
				t.Errorf("%s does not list %s of tierlink %s", where, f, strings.Join(c, " "))
			}
		}
	}
	for _, c := range [][]string{{"serve"}, {"tokens", "create"}} {
		_, usage, _ := runQuickly(t, append(append([]string{}, c...), "--help")...)
		if len(flagsInUsage(usage)) < 5 {
			t.Errorf("tierlink %s --help lists too few flags: %q", strings.Join(c, " "), usage)
		}
	}
	for _, f := range []string{"--addr", "--demo-seed", "--demo-days", "--pprof"} {
		if !strings.Contains(top, f) {
			t.Errorf("the usage lacks serve's %s", f)
		}
	}
}

// TestUnknownFlagExitsTwo gives every command and action a flag it does not have,
// and tierlink a command and actions it does not have: each exits 2 with a plain
// message and the usage on stderr, nothing on stdout, without touching Redis.
func TestUnknownFlagExitsTwo(t *testing.T) {
	envs, connections := redisEnvs(t)
	type bad struct {
		args []string
		want string
	}
	var cases []bad
	for _, c := range everyCommand {
		args := append(append([]string{}, c...), "--no-such-flag")
		want := "flag provided but not defined: -no-such-flag"
		if len(c) == 1 && (c[0] == "tokens" || c[0] == "projections") {
			want = "unknown action"
		}
		cases = append(cases, bad{args, want})
	}
	cases = append(cases,
		bad{nil, "name a command"},
		bad{[]string{"frob"}, `unknown command "frob"`},
		bad{[]string{"help", "frob"}, `unknown command "frob"`},
		bad{[]string{"tokens"}, "name an action"},
		bad{[]string{"tokens", "frob"}, `unknown action "frob"`},
		bad{[]string{"tokens", "revoke"}, "give one token id"},
		bad{[]string{"tokens", "list", "extra"}, "takes no arguments"},
		bad{[]string{"projections"}, "name the action"},
		bad{[]string{"projections", "frob"}, `unknown action "frob"`},
		bad{[]string{"serve", "--tick"}, "flag needs an argument"},
		bad{[]string{"serve", "--tick", "soon"}, "invalid value"},
		bad{[]string{"quality", "extra"}, "takes no arguments"},
		bad{[]string{"webhook-receiver"}, "give the subscription's secret with --secret S or TIERLINK_WEBHOOK_SECRET"},
		bad{[]string{"webhook-receiver", "--secret", "s", "extra"}, "takes no arguments"},
	)
	t.Setenv(webhookSecretEnv, "")
	for name, url := range envs {
		setRedisURL(t, url)
		for _, c := range cases {
			code, out, errOut := runQuickly(t, c.args...)
			line := fmt.Sprintf("REDIS_URL %s: tierlink %s", name, strings.Join(c.args, " "))
			if code != 2 {
				t.Errorf("%s: exit %d, want 2", line, code)
			}
			if out != "" {
				t.Errorf("%s: wrote on stdout: %q", line, out)
			}
			first, rest, _ := strings.Cut(errOut, "\n")
			if !strings.HasPrefix(first, "tierlink: ") || !strings.Contains(first, c.want) || !strings.Contains(rest, "Usage:\n") {
				t.Errorf("%s: stderr %q; want a line saying %q, then the usage", line, errOut, c.want)
			}
		}
	}
	if n := connections(); n != 0 {
		t.Errorf("a wrong command line connected to REDIS_URL %d times", n)
	}
}

// TestValueOutOfRangeExitsTwo: a flag's value out of range exits 2 with a message
// naming the flag (the usage is not repeated); a failure of the work exits 1.
func TestValueOutOfRangeExitsTwo(t *testing.T) {
	setRedisURL(t, "")
	for _, args := range [][]string{
		{"surge", "--needs", "0"}, {"load", "--batch", "501"}, {"quality", "--spare", "-1"},
		{"serve", "--demo-days", "0"}, {"serve", "--tick", "1ms"}, {"demo", "--days", "0"},
		{"tokens", "create", "--role", "operator", "--expires", "soon"},
		{"tokens", "create", "--role", "centre", "--tier", "town", "--area", "x"},
	} {
		code, out, errOut := runQuickly(t, args...)
		if code != 2 || out != "" || !strings.HasPrefix(errOut, "tierlink: ") || !strings.Contains(errOut, "--") {
			t.Errorf("tierlink %s: exit %d, stdout %q, stderr %q; want 2 and a line naming the flag", strings.Join(args, " "), code, out, errOut)
		}
	}
	code, _, errOut := runQuickly(t, "tokens", "list")
	if code != 1 || !strings.Contains(errOut, "set REDIS_URL") {
		t.Errorf("tokens list without REDIS_URL: exit %d, %q; want 1 and what to set", code, errOut)
	}
}

// recordingLogger records go-redis's internal log lines.
type recordingLogger struct {
	mu    sync.Mutex
	lines []string
}

func (r *recordingLogger) Printf(_ context.Context, format string, v ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, fmt.Sprintf(format, v...))
}

func (r *recordingLogger) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.lines)
}

// slogBuffer is a concurrency-safe buffer for a test's slog handler.
type slogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *slogBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *slogBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRedisLogLinesStayOut: a pool that cannot dial makes go-redis log a line of
// its own (pool.go: "failed to dial after 5 attempts"); under tierlink it goes to
// slog at debug level, and the command's own error says what to do.
func TestRedisLogLinesStayOut(t *testing.T) {
	envs, _ := redisEnvs(t)
	rec := &recordingLogger{}
	redis.SetLogger(rec)
	t.Cleanup(quietRedis)
	c := redis.NewClient(&redis.Options{Addr: strings.TrimSuffix(strings.TrimPrefix(envs["closed"], "redis://"), "/0")})
	_ = c.Ping(context.Background()).Err()
	c.Close()
	if rec.count() == 0 {
		t.Fatal("go-redis logged nothing on a closed port: this test no longer sees its lines")
	}
	before := rec.count()

	var logged slogBuffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() { slog.SetDefault(old) })
	setRedisURL(t, envs["closed"])
	code, out, errOut := runQuickly(t, "tokens", "list")
	if code != 1 || out != "" || !strings.Contains(errOut, "does not answer") || !strings.Contains(errOut, "is REDIS_URL right") {
		t.Errorf("tokens list on a closed port: exit %d, stdout %q, stderr %q; want 1 and a plain message", code, out, errOut)
	}
	if strings.Contains(errOut, "connection pool") || strings.Count(errOut, "\n") != 1 {
		t.Errorf("more than the command's message reaches stderr: %q", errOut)
	}
	if rec.count() != before {
		t.Errorf("go-redis still logs through its own logger: %q", rec.lines[before:])
	}
	if s := logged.String(); !strings.Contains(s, "level=DEBUG") || !strings.Contains(s, "from=go-redis") {
		t.Errorf("go-redis's lines do not reach slog at debug level: %q", s)
	}
}

// TestServeOnTakenPortPrintsNoToken starts serve on an address something else
// holds, for the API and for the profiles: it fails with a message saying what to
// do, before it starts a store or prints a token.
func TestServeOnTakenPortPrintsNoToken(t *testing.T) {
	setRedisURL(t, "")
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	addr := taken.Addr().String()
	for _, args := range [][]string{
		{"serve", "--addr", addr},
		{"serve", "--addr", addr, "--demo"},
		{"serve", "--addr", "127.0.0.1:0", "--pprof", addr},
	} {
		code, out, errOut := runQuickly(t, args...)
		line := "tierlink " + strings.Join(args, " ")
		if code != 1 || !strings.Contains(errOut, addr+": the address is already in use") || !strings.Contains(errOut, "HOST:PORT") {
			t.Errorf("%s: exit %d, stderr %q; want 1 and the address taken", line, code, errOut)
		}
		if strings.Contains(out+errOut, "tl_") || strings.Contains(out+errOut, "token") || strings.Contains(errOut, "embedded") {
			t.Errorf("%s: went on before failing: stdout %q, stderr %q", line, out, errOut)
		}
	}
}
