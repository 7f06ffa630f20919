package sessions_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/redistest"
	"github.com/tierlink/tierlink/infra/sessions"
	"github.com/tierlink/tierlink/infra/tokens"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func setup(t *testing.T) (*sessions.Store, *tokens.Store, *clock, func() map[string]string) {
	t.Helper()
	client := redistest.Real(t).Client(t)
	toks, err := tokens.NewStore(client)
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)}
	s, err := sessions.New(client, toks, sessions.Config{IdleTimeout: 30 * time.Minute, Lifetime: 12 * time.Hour, Clock: c.now})
	if err != nil {
		t.Fatal(err)
	}
	dump := func() map[string]string {
		out := map[string]string{}
		keys, _ := client.Keys(context.Background(), "tl:session:*").Result()
		for _, k := range keys {
			out[k], _ = client.Get(context.Background(), k).Result()
		}
		return out
	}
	return s, toks, c, dump
}

// TestSessionLifecycle opens a session with a token: its id is not the token and
// only its hash is stored; it ends on sign-out, when its token is revoked, and
// refuses ids of no session without an error of Redis.
func TestSessionLifecycle(t *testing.T) {
	s, toks, c, dump := setup(t)
	ctx := context.Background()
	centre := domain.Principal{Role: domain.RoleCentre, Tier: domain.TierCommunity, Area: "huayang-01"}
	secret, tok, err := toks.Create(ctx, centre, "centre", c.t)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Start(ctx, "tl_"+strings.Repeat("0", 64)); !errors.Is(err, tokens.ErrUnknownToken) {
		t.Fatalf("an unknown token opened a session: %v", err)
	}
	id, sess, err := s.Start(ctx, secret)
	if err != nil || sess.Principal != centre || sess.TokenID != tok.ID || id == secret || strings.Contains(id, secret[3:]) {
		t.Fatalf("start: %q %+v %v", id, sess, err)
	}
	for k, v := range dump() {
		if strings.Contains(k, id) || strings.Contains(v, id) || strings.Contains(v, secret) {
			t.Fatalf("the session id or the token is stored: %s %s", k, v)
		}
	}
	if got, err := s.Resume(ctx, id); err != nil || got.Principal != centre {
		t.Fatalf("resume: %+v %v", got, err)
	}
	id2, _, _ := s.Start(ctx, secret) // a second browser
	if err := s.End(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Resume(ctx, id); !errors.Is(err, sessions.ErrNoSession) {
		t.Fatalf("a session signed out of still works: %v", err)
	}
	if _, err := s.Check(ctx, id2); err != nil {
		t.Fatalf("signing out of one session ended another: %v", err)
	}
	if err := toks.Revoke(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Check(ctx, id2); !errors.Is(err, sessions.ErrNoSession) {
		t.Fatalf("the session of a revoked token still works: %v", err)
	}
	if len(dump()) != 0 {
		t.Fatalf("dead sessions are kept: %v", dump())
	}
	for _, bad := range []string{"", "x", secret, strings.Repeat("z", 64), strings.Repeat("0", 64)} {
		if _, err := s.Resume(ctx, bad); !errors.Is(err, sessions.ErrNoSession) {
			t.Errorf("id %q: %v", bad, err)
		}
	}
}

// TestSessionsTimeOut moves the clock: a session unused for the idle timeout ends;
// one used within it lives on, until its lifetime ends however much it is used;
// a token's expiry ends its sessions too; a check does not count as a use.
func TestSessionsTimeOut(t *testing.T) {
	s, toks, c, _ := setup(t)
	ctx := context.Background()
	op := domain.Principal{Role: domain.RoleOperator}
	secret, _, _ := toks.Create(ctx, op, "op", c.t)

	idle, _, _ := s.Start(ctx, secret)
	c.t = c.t.Add(29 * time.Minute)
	if _, err := s.Check(ctx, idle); err != nil {
		t.Fatalf("29 minutes unused: %v", err)
	}
	c.t = c.t.Add(time.Minute) // a check is not a use: 30 minutes unused now
	if _, err := s.Resume(ctx, idle); !errors.Is(err, sessions.ErrNoSession) {
		t.Fatalf("30 minutes unused: %v", err)
	}

	busy, _, _ := s.Start(ctx, secret)
	start := c.t
	for c.t.Sub(start) < 12*time.Hour-20*time.Minute {
		c.t = c.t.Add(20 * time.Minute)
		if _, err := s.Resume(ctx, busy); err != nil {
			t.Fatalf("used every 20 minutes, %v after sign-in: %v", c.t.Sub(start), err)
		}
	}
	c.t = start.Add(12 * time.Hour)
	if _, err := s.Resume(ctx, busy); !errors.Is(err, sessions.ErrNoSession) {
		t.Fatalf("12 hours after sign-in: %v", err)
	}

	short, _, _ := toks.CreateUntil(ctx, op, "short", c.t, c.t.Add(10*time.Minute))
	id, sess, err := s.Start(ctx, short)
	if err != nil || !sess.Expires.Equal(c.t.Add(10*time.Minute)) {
		t.Fatalf("a session of a token expiring sooner than its lifetime: %+v %v", sess, err)
	}
	c.t = c.t.Add(10 * time.Minute)
	if _, err := s.Check(ctx, id); !errors.Is(err, sessions.ErrNoSession) {
		t.Fatalf("the token expired: %v", err)
	}
}
