package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/tokens"
)

// TestTokensListIsSafeForTerminals lists a token whose label holds escape
// sequences (stored before labels were checked): none reaches the terminal raw;
// the expiry column says never, a time, or that it has passed.
func TestTokensListIsSafeForTerminals(t *testing.T) {
	now := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	list := []tokens.Token{
		{ID: "aaa", Label: "evil\x1b[2J\x1b]0;pwned\x07\r\u202e", Principal: domain.Principal{Role: domain.RoleOperator}, Created: now},
		{ID: "bbb", Label: "ninety days", Principal: domain.Principal{Role: domain.RoleOperator}, Created: now, Expires: now.AddDate(0, 0, 90)},
		{ID: "ccc", Label: "gone", Principal: domain.Principal{Role: domain.RoleOperator}, Created: now, Expires: now.Add(-time.Hour)},
	}
	var out bytes.Buffer
	if err := listTokens(&out, list, now); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	if strings.ContainsFunc(s, func(r rune) bool { return r != '\n' && (r < 0x20 || r == 0x7f || r == 0x202e) }) {
		t.Fatalf("control characters reach the terminal: %q", s)
	}
	for _, want := range []string{`evil\x1b[2J\x1b]0;pwned\a\r\u202e`, "never", "2027-02-27T09:00:00Z", "2026-11-29T08:00:00Z (expired)", "EXPIRES"} {
		if !strings.Contains(s, want) {
			t.Errorf("the list lacks %q:\n%s", want, s)
		}
	}
}

// TestParseExpiry reads days, durations and times, and refuses the rest.
func TestParseExpiry(t *testing.T) {
	now := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"":                          {},
		"90d":                       now.AddDate(0, 0, 90),
		"36h":                       now.Add(36 * time.Hour),
		"2027-03-01T00:00:00+08:00": time.Date(2027, 2, 28, 16, 0, 0, 0, time.UTC),
	} {
		if got, err := parseExpiry(in, now); err != nil || !got.Equal(want) {
			t.Errorf("%q: %v %v, want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"0d", "-3d", "d", "90", "soon", "-1h", "2020-01-01T00:00:00Z", "99999d"} {
		if _, err := parseExpiry(bad, now); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
