package web

import (
	"testing"
	"time"
)

// TestTimeLeftAndWaiting checks the words of an inbox card's time left and a case's
// waiting time, in both languages.
func TestTimeLeftAndWaiting(t *testing.T) {
	now := time.Date(2026, 12, 1, 16, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		lang     string
		deadline time.Duration
		want     string
	}{
		{LangEN, 5 * time.Hour, "answer within 5 h"},
		{LangZH, 4*time.Hour + time.Minute, "5 小时内答复"},
		{LangEN, 40 * time.Minute, "answer within 40 min"},
		{LangEN, -3*time.Hour - 10*time.Minute, "overdue by 3 h"},
		{LangZH, -20 * time.Minute, "已逾期 20 分钟"},
	} {
		if got := timeLeft(c.lang, now, now.Add(c.deadline)); got != c.want {
			t.Errorf("%s %v: %q, want %q", c.lang, c.deadline, got, c.want)
		}
	}
	if got := waited(LangZH, now, now.Add(-75*time.Hour)); got != "已等待 3 天" {
		t.Errorf("waited 75 h: %q", got)
	}
	if got := waited(LangEN, now, now.Add(-5*time.Hour)); got != "waiting 5 h" {
		t.Errorf("waited 5 h: %q", got)
	}
	if a, b := shortRef("0b6f8a4e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"), shortRef("0b6f8a4e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"); a != b || len(a) != 8 {
		t.Errorf("short reference %q, %q", a, b)
	}
}
