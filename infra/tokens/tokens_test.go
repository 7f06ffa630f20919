package tokens_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/redistest"
	"github.com/tierlink/tierlink/infra/tokens"
)

func TestTokensLifecycle(t *testing.T) {
	srv := redistest.Real(t)
	client := srv.Client(t)
	store, err := tokens.NewStore(client)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	centre, err := domain.NewPrincipal(domain.RoleCentre, "", domain.TierStreet, "huayang-road")
	if err != nil {
		t.Fatal(err)
	}
	secret, tok, err := store.Create(ctx, centre, "Huayang Road street centre", now)
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := store.Create(ctx, domain.Principal{Role: domain.RoleOperator}, "bureau", now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if secret == other || !strings.HasPrefix(secret, "tl_") || len(secret) != 67 {
		t.Fatalf("secrets %q and %q", secret, other)
	}
	// Only the hash is stored: the secret appears nowhere in Redis.
	stored, _ := client.HGetAll(ctx, "tl:tokens").Result()
	for field, value := range stored {
		if strings.Contains(field, secret) || strings.Contains(value, secret) || strings.Contains(value, secret[3:]) {
			t.Fatalf("the secret is stored in %s: %s", field, value)
		}
	}
	got, err := store.Authenticate(ctx, secret)
	if err != nil || got.Principal != centre || got.ID != tok.ID {
		t.Fatalf("authenticate: %+v %v", got, err)
	}
	for _, bad := range []string{"", "tl_", secret + "x", strings.TrimPrefix(secret, "tl_"), "tl_" + strings.Repeat("0", 64)} {
		if _, err := store.Authenticate(ctx, bad); !errors.Is(err, tokens.ErrUnknownToken) {
			t.Errorf("secret %q: %v", bad, err)
		}
	}
	list, err := store.List(ctx)
	if err != nil || len(list) != 2 || list[0].ID != tok.ID || list[1].Principal.Role != domain.RoleOperator {
		t.Fatalf("list: %+v %v", list, err)
	}
	if err := store.Revoke(ctx, "nope"); !errors.Is(err, tokens.ErrNotFound) {
		t.Fatalf("revoke an unknown id: %v", err)
	}
	if err := store.Revoke(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Authenticate(ctx, secret); !errors.Is(err, tokens.ErrUnknownToken) {
		t.Fatalf("a revoked token still authenticates: %v", err)
	}
	if _, err := store.Authenticate(ctx, other); err != nil {
		t.Fatalf("revoking one token ended another: %v", err)
	}
}

func TestCreateRefusesBadInput(t *testing.T) {
	srv := redistest.Real(t)
	client := srv.Client(t)
	store, _ := tokens.NewStore(client)
	ctx := context.Background()
	for name, tc := range map[string]struct {
		p     domain.Principal
		label string
	}{
		"no label":            {domain.Principal{Role: domain.RoleOperator}, "  "},
		"long label":          {domain.Principal{Role: domain.RoleOperator}, strings.Repeat("x", tokens.MaxLabelLength+1)},
		"centre without node": {domain.Principal{Role: domain.RoleCentre}, "c"},
		"unknown role":        {domain.Principal{Role: "admin"}, "a"},
		"provider with node":  {domain.Principal{Role: domain.RoleProvider, Provider: "p1", Tier: 1, Area: "x"}, "p"},
	} {
		if _, _, err := store.Create(ctx, tc.p, tc.label, time.Now()); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if n, _ := client.HLen(ctx, "tl:tokens").Result(); n != 0 {
		t.Fatalf("refused tokens left %d records", n)
	}
}
