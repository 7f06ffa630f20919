package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/tierlink/tierlink/infra/loadgen"
)

// With subscriptions the summary shows both phases, the notifications, the ratio
// of the API's throughputs, and says plainly when delivery fell behind.
func TestPrintLoadWithSubscriptions(t *testing.T) {
	a := loadgen.Report{Clients: 8, TargetRate: 170, Seconds: 30, Commands: 5100, CommandsSec: 170, EventsSec: 1014, LogEvents: 30420}
	b := a
	b.CommandsSec, b.EventsSec = 169, 1029
	n := loadgen.NotifyReport{Subscriptions: 10, Accepted: 38778, SecLoad: 430, Sec: 636, Seconds: 61,
		Latency: loadgen.Latency{P50: 27297, P99: 41419}, ByKind: map[string]int64{"need.waitlisted": 30291, "referral.proposed": 5168},
		QueuedAtEnd: 20877}
	var out bytes.Buffer
	printLoad(&out, loadResult{API: b, WithoutSubscriptions: &a, Notifications: &n, SubscriptionsRatio: 169.0 / 170})
	s := out.String()
	for _, want := range []string{
		"A. without subscriptions", "B. with 10 subscriptions", "events appended",
		"38778 accepted from 10 subscriptions: 430/s while sending, 636/s over the load and drain",
		"append → delivery     p50 27297.00 ms", "need.waitlisted 30291, referral.proposed 5168",
		"duplicates 0, signature failures 0", "leave out the 20877 notifications never delivered",
		"169 / 170 = 0.994",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("the summary lacks %q:\n%s", want, s)
		}
	}
	out.Reset()
	printLoad(&out, loadResult{API: a})
	if s := out.String(); strings.Contains(s, "notifications") || strings.Contains(s, "A. without") {
		t.Errorf("a run without subscriptions speaks of them:\n%s", s)
	}
}
