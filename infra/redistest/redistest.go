// Package redistest starts Redis servers for tests: a real redis-server on a free
// loopback port that the test owns, or the embedded server. Tests never touch a
// Redis they did not start.
package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tierlink/tierlink/infra/embedded"
)

// RequireEnv names the environment variable that makes a missing redis-server a
// test failure rather than a fall-back to the embedded server; CI sets it.
const RequireEnv = "TIERLINK_REQUIRE_REDIS"

// Server is a Redis server started for one test.
type Server struct {
	Addr     string
	Embedded bool
}

// Client returns a client of the server, closed when the test ends.
func (s Server) Client(tb testing.TB) *redis.Client {
	tb.Helper()
	c := redis.NewClient(&redis.Options{Addr: s.Addr, PoolSize: 64})
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// Real starts a redis-server of the test's own on a free loopback port, with no
// persistence, stopped when the test ends. Where the machine has no redis-server it
// falls back to the embedded server and says so, unless RequireEnv is set.
func Real(tb testing.TB) Server {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv(RequireEnv) != "" {
			tb.Fatalf("redis-server not found and %s is set: install redis-server (Debian: apt-get install redis-server)", RequireEnv)
		}
		tb.Logf("redis-server not found; using the embedded server instead")
		return Embedded(tb)
	}
	return Server{Addr: startServer(tb, bin)}
}

// startServer starts one redis-server of the test's own and returns its address.
func startServer(tb testing.TB, bin string, extra ...string) string {
	tb.Helper()
	return start(tb, bin, tb.TempDir(), extra).Addr
}

// Process is a redis-server of the test's own that the test may kill and start
// again on the same port and data directory.
type Process struct {
	// Addr is the server's address; it stays the same across restarts.
	Addr string
	bin  string
	dir  string
	args []string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// Durable starts a redis-server of the test's own that writes every change to its
// append-only file before it answers (appendonly yes, appendfsync always), so that
// what it acknowledged survives a kill -9 and a restart on the same data. extra are
// more redis-server arguments. Where the machine has no redis-server it skips the
// test (the embedded server cannot be killed and restarted), or fails it if
// RequireEnv is set.
func Durable(tb testing.TB, extra ...string) *Process {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv(RequireEnv) != "" {
			tb.Fatalf("redis-server not found and %s is set: install redis-server (Debian: apt-get install redis-server)", RequireEnv)
		}
		tb.Skip("redis-server not found: this test kills and restarts a real Redis")
	}
	args := append([]string{"--appendonly", "yes", "--appendfsync", "always", "--aof-use-rdb-preamble", "yes"}, extra...)
	return start(tb, bin, tb.TempDir(), args)
}

// start starts a redis-server on a free port with the data directory dir.
func start(tb testing.TB, bin, dir string, extra []string) *Process {
	tb.Helper()
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			tb.Fatal(err)
		}
		p := &Process{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), bin: bin, dir: dir, args: extra}
		if err := p.launch(); err != nil {
			continue // the port was taken in between: try another
		}
		tb.Cleanup(func() { _ = p.Kill() })
		return p
	}
	tb.Fatalf("redis-server did not start; see %s/redis.log", dir)
	return nil
}

// launch starts the server process and waits until it answers (it may still be
// loading its data then, and answer LOADING to commands).
func (p *Process) launch(extra ...string) error {
	_, port, _ := net.SplitHostPort(p.Addr)
	args := []string{"--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", p.dir, "--logfile", filepath.Join(p.dir, "redis.log"), "--protected-mode", "yes"}
	args = append(append(args, p.args...), extra...) // later arguments win
	cmd := exec.Command(p.bin, args...)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	if err := waitReady(p.Addr, cmd.Process.Pid, exited); err != nil {
		_ = cmd.Process.Kill()
		<-exited
		return fmt.Errorf("redis-server on %s: %w (see %s/redis.log)", p.Addr, err, p.dir)
	}
	p.mu.Lock()
	p.cmd, p.exited = cmd, exited
	p.mu.Unlock()
	return nil
}

// Kill stops the server at once (SIGKILL, as kill -9: no shutdown, no last write)
// and waits until it is gone. Killing a stopped server does nothing.
func (p *Process) Kill() error {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return nil
	}
	if err := cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill redis-server %d: %w", cmd.Process.Pid, err)
	}
	<-exited
	return nil
}

// Restart starts the killed server again on the same port and data directory,
// with extra arguments for this run only, and returns once it answers: it may
// still be loading its data (LOADING). A port taken meanwhile is retried for a
// few seconds, then it fails.
func (p *Process) Restart(extra ...string) error {
	p.mu.Lock()
	running := p.cmd != nil
	p.mu.Unlock()
	if running {
		return errors.New("redis-server is running: Kill it first")
	}
	var err error
	for attempt := 0; attempt < 10; attempt++ {
		if err = p.launch(extra...); err == nil {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("restart: %w", err)
}

// Server is the process as a Server, for Client.
func (p *Process) Server() Server { return Server{Addr: p.Addr} }

// Cluster starts a three-node Redis Cluster of the test's own (no replicas) and
// returns its nodes' addresses, or skips the test where the machine has no
// redis-server (it fails instead if RequireEnv is set).
func Cluster(tb testing.TB) []string {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	cli, cliErr := exec.LookPath("redis-cli")
	if err != nil || cliErr != nil {
		if os.Getenv(RequireEnv) != "" {
			tb.Fatalf("redis-server or redis-cli not found and %s is set", RequireEnv)
		}
		tb.Skip("redis-server or redis-cli not found: no cluster to test on")
	}
	var addrs []string
	for i := 0; i < 3; i++ {
		addrs = append(addrs, startServer(tb, bin, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"))
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		tb.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, addr := range addrs { // every node must see the cluster up
		c := redis.NewClient(&redis.Options{Addr: addr})
		for {
			info, err := c.ClusterInfo(context.Background()).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				_ = c.Close()
				tb.Fatal("the test cluster did not reach cluster_state:ok")
			}
			time.Sleep(50 * time.Millisecond)
		}
		_ = c.Close()
	}
	return addrs
}

// Embedded starts the embedded server on a free loopback port for one test.
func Embedded(tb testing.TB) Server {
	tb.Helper()
	s, err := embedded.Start("127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Close)
	return Server{Addr: s.Addr(), Embedded: true}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitReady waits until the server on addr answers and is the process pid, so that a
// test never talks to a Redis that took the port first.
func waitReady(addr string, pid int, exited <-chan struct{}) error {
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("redis-server exited")
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		info, err := c.Info(ctx, "server").Result()
		cancel()
		if err == nil {
			if !strings.Contains(info, "process_id:"+strconv.Itoa(pid)+"\r\n") {
				return fmt.Errorf("another server answers on %s", addr)
			}
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("redis-server on %s not ready", addr)
}
