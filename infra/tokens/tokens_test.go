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
	got, err := store.Authenticate(ctx, secret, now)
	if err != nil || got.Principal != centre || got.ID != tok.ID {
		t.Fatalf("authenticate: %+v %v", got, err)
	}
	for _, bad := range []string{"", "tl_", secret + "x", strings.TrimPrefix(secret, "tl_"), "tl_" + strings.Repeat("0", 64)} {
		if _, err := store.Authenticate(ctx, bad, now); !errors.Is(err, tokens.ErrUnknownToken) {
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
	if _, err := store.Authenticate(ctx, secret, now); !errors.Is(err, tokens.ErrUnknownToken) {
		t.Fatalf("a revoked token still authenticates: %v", err)
	}
	if _, err := store.Authenticate(ctx, other, now); err != nil {
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
		"escape sequence":     {domain.Principal{Role: domain.RoleOperator}, "bureau\x1b[2J\x1b]0;owned\x07"},
		"carriage return":     {domain.Principal{Role: domain.RoleOperator}, "bureau\rroot"},
		"C1 control":          {domain.Principal{Role: domain.RoleOperator}, "bureau\u009b31m"},
		"bidi override":       {domain.Principal{Role: domain.RoleOperator}, "bureau\u202egnp.exe"},
		"invalid UTF-8":       {domain.Principal{Role: domain.RoleOperator}, "bureau\xff"},
	} {
		if _, _, err := store.Create(ctx, tc.p, tc.label, time.Now()); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if n, _ := client.HLen(ctx, "tl:tokens").Result(); n != 0 {
		t.Fatalf("refused tokens left %d records", n)
	}
}

// TestTokensExpire issues a token with an expiry: it works until then and is
// refused like an unknown one from then on (ErrExpired says why); an expiry not
// after the creation is refused.
func TestTokensExpire(t *testing.T) {
	client := redistest.Real(t).Client(t)
	store, _ := tokens.NewStore(client)
	ctx := context.Background()
	now := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	op := domain.Principal{Role: domain.RoleOperator}
	secret, tok, err := store.CreateUntil(ctx, op, "ninety days", now, now.AddDate(0, 0, 90))
	if err != nil || !tok.Expires.Equal(now.AddDate(0, 0, 90)) {
		t.Fatalf("create: %+v %v", tok, err)
	}
	if _, err := store.Authenticate(ctx, secret, now.AddDate(0, 0, 90).Add(-time.Second)); err != nil {
		t.Fatalf("a second before its expiry: %v", err)
	}
	for _, at := range []time.Time{now.AddDate(0, 0, 90), now.AddDate(1, 0, 0)} {
		_, err := store.Authenticate(ctx, secret, at)
		if !errors.Is(err, tokens.ErrUnknownToken) || !errors.Is(err, tokens.ErrExpired) {
			t.Fatalf("at %s: %v", at, err)
		}
		if _, err := store.Check(ctx, tokens.Digest(secret), at); !errors.Is(err, tokens.ErrUnknownToken) {
			t.Fatalf("checked by digest at %s: %v", at, err)
		}
	}
	list, _ := store.List(ctx)
	if len(list) != 1 || !list[0].Expires.Equal(tok.Expires) || !list[0].ExpiredAt(now.AddDate(0, 0, 90)) || list[0].ExpiredAt(now) {
		t.Fatalf("list: %+v", list)
	}
	never, _, err := store.Create(ctx, op, "never", now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Authenticate(ctx, never, now.AddDate(100, 0, 0)); err != nil {
		t.Fatalf("a token without expiry: %v", err)
	}
	for _, bad := range []time.Time{now, now.Add(-time.Hour)} {
		if _, _, err := store.CreateUntil(ctx, op, "past", now, bad); !errors.Is(err, tokens.ErrBadExpiry) {
			t.Errorf("expiry %s: %v", bad, err)
		}
	}
}

// TestPrintableLabels escapes what would act on a terminal, and leaves plain
// labels, Chinese included, as they are.
func TestPrintableLabels(t *testing.T) {
	for in, want := range map[string]string{
		"Huayang Road street centre": "Huayang Road street centre",
		"华阳路街道中心":                    "华阳路街道中心",
		"a\x1b[2J\x1b]0;x\x07b":      `a\x1b[2J\x1b]0;x\ab`,
		"tab\there\r\n":              `tab\there\r\n`,
		"\u009b31m":                  `\u009b31m`,
		"x\u202ey":                   `x\u202ey`,
		`back\slash`:                 `back\\slash`,
		"bad\xffbyte":                `bad\ufffdbyte`,
	} {
		if got := tokens.Printable(in); got != want {
			t.Errorf("Printable(%q) = %q, want %q", in, got, want)
		}
	}
}
