package eventlog_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/eventlog"
)

// fakeRedis serves a made-up Redis on a loopback port: reply gets each command's
// arguments and returns the raw RESP reply ("" to answer nothing, nil to close the
// connection at once).
func fakeRedis(t *testing.T, reply func(args []string) *string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				r := bufio.NewReader(conn)
				for {
					args, err := readCommand(r)
					if err != nil {
						return
					}
					out := reply(args)
					if out == nil {
						return
					}
					if _, err := io.WriteString(conn, *out); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// readCommand reads one RESP command: an array of bulk strings.
func readCommand(r *bufio.Reader) ([]string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "*")))
	if err != nil || !strings.HasPrefix(line, "*") {
		return nil, fmt.Errorf("not a command: %q", line)
	}
	args := make([]string, 0, n)
	for range n {
		head, err := r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		size, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(head, "$")))
		if err != nil {
			return nil, fmt.Errorf("not a bulk string: %q", head)
		}
		buf := make([]byte, size+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		args = append(args, string(buf[:size]))
	}
	return args, nil
}

func answer(s string) func([]string) *string { return func([]string) *string { return &s } }

// storeOn returns a store whose client talks to addr, retrying little and waiting
// little, as a client under test should.
func storeOn(t *testing.T, addr string) *eventlog.Store {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: 1, MinRetryBackoff: time.Millisecond, MaxRetryBackoff: 2 * time.Millisecond,
		DialTimeout: time.Second, ReadTimeout: 200 * time.Millisecond, WriteTimeout: time.Second, Protocol: 2})
	t.Cleanup(func() { _ = c.Close() })
	st, err := eventlog.NewStore(c, domain.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// Every way Redis can be out of reach for a moment is Unavailable, as the store
// returns it (wrapped, from go-redis's own parsing of the server's reply); an
// error that retrying cannot cure is not.
func TestUnavailableClassifiesRedisFailures(t *testing.T) {
	closed := func() string { // a port nobody listens on
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		_ = ln.Close()
		return addr
	}
	past, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	cases := []struct {
		name string
		addr string
		ctx  context.Context
		want bool
	}{
		{"LOADING while Redis restarts", fakeRedis(t, answer("-LOADING Redis is loading the dataset in memory\r\n")), nil, true},
		{"MASTERDOWN", fakeRedis(t, answer("-MASTERDOWN Link with MASTER is down\r\n")), nil, true},
		{"TRYAGAIN", fakeRedis(t, answer("-TRYAGAIN Multiple keys request during rehashing of slot\r\n")), nil, true},
		{"connection refused", closed(), nil, true},
		{"connection closed by the server", fakeRedis(t, func([]string) *string { return nil }), nil, true},
		{"no answer in time", fakeRedis(t, answer("")), nil, true},
		{"context deadline passed", fakeRedis(t, answer("")), past, true},
		{"a wrong command", fakeRedis(t, answer("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n")), nil, false},
		{"a script error", fakeRedis(t, answer("-ERR Error running script\r\n")), nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := c.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			_, err := storeOn(t, c.addr).Head(ctx, "p")
			if err == nil {
				t.Fatal("the store answered; the case provokes no failure")
			}
			t.Logf("the store returned: %v", err)
			if got := eventlog.Unavailable(err); got != c.want {
				t.Fatalf("Unavailable(%v) = %v, want %v", err, got, c.want)
			}
		})
	}
	for _, err := range []error{redis.Nil, eventlog.ErrVersionConflict, eventlog.ErrCommandReused, errors.New("something else"), nil} {
		if eventlog.Unavailable(fmt.Errorf("append to p: %w", err)) && err != nil {
			t.Errorf("Unavailable(%v) = true, want false", err)
		}
	}
}
