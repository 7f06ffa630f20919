package web

import (
	"context"
	"testing"
	"time"

	"github.com/tierlink/tierlink/app"
	"github.com/tierlink/tierlink/infra/sessions"
	"github.com/tierlink/tierlink/infra/tokens"
)

// noSessions knows no token and no session.
type noSessions struct{}

func (noSessions) Start(context.Context, string) (string, sessions.Session, error) {
	return "", sessions.Session{}, tokens.ErrUnknownToken
}
func (noSessions) Resume(context.Context, string) (sessions.Session, error) {
	return sessions.Session{}, sessions.ErrNoSession
}
func (noSessions) Check(context.Context, string) (sessions.Session, error) {
	return sessions.Session{}, sessions.ErrNoSession
}
func (noSessions) End(context.Context, string) error { return nil }
func (noSessions) Lifetime() time.Duration           { return time.Hour }

// newTestServer is a server of pages that need no application data.
func newTestServer(t *testing.T) *Server {
	t.Helper()
	s, err := New(Config{App: &app.Application{}, Sessions: noSessions{}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}
