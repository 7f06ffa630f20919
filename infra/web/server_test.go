package web

import (
	"context"
	"errors"
	"testing"

	"github.com/tierlink/tierlink/app"
	"github.com/tierlink/tierlink/domain"
)

// noAuth knows no token.
type noAuth struct{}

func (noAuth) Authenticate(context.Context, string) (domain.Principal, string, error) {
	return domain.Principal{}, "", errors.New("unknown token")
}

// newTestServer is a server of pages that need no application data.
func newTestServer(t *testing.T) *Server {
	t.Helper()
	s, err := New(Config{App: &app.Application{}, Auth: noAuth{}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}
