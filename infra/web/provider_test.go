package web

import (
	"testing"
	"time"

	"github.com/tierlink/tierlink/app"
	"github.com/tierlink/tierlink/domain"
)

// A household's short reference is read from its pseudonym, the same each time.
func TestShortRefIsReadableAndStable(t *testing.T) {
	if got := pseudonymRef("hh-9e953a5929f39649"); got != "HH-9E95-3A59" {
		t.Fatalf("short reference %q, want HH-9E95-3A59", got)
	}
	if pseudonymRef("hh-9e953a5929f39649") != pseudonymRef("hh-9e953a5929f39649") {
		t.Fatal("the short reference is not stable")
	}
}

// The worklist puts what is to do first: to start (accepted earliest first), to
// complete, then the proposals awaiting the centre, then what is finished or ended.
func TestWorklistPutsWorkFirst(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	at := func(h int) *time.Time { x := t0.Add(time.Duration(h) * time.Hour); return &x }
	item := func(id string, s domain.NeedStatus, accepted *time.Time) workItem {
		return workItem{ProviderReferral: app.ProviderReferral{ReferralID: id, Status: s, Accepted: accepted, Started: accepted, Completed: accepted}, Group: groupOf(s)}
	}
	items := []workItem{item("done", domain.StatusCompleted, at(1)), item("ended", "ended", nil), item("wait", domain.StatusProposed, nil),
		item("serving", domain.StatusInService, at(2)), item("late", domain.StatusAccepted, at(3)), item("early", domain.StatusAccepted, at(1))}
	worklistOrder(items)
	var got []string
	for _, it := range items {
		got = append(got, it.ReferralID)
	}
	want := []string{"early", "late", "serving", "wait", "done", "ended"}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("order %v, want %v", got, want)
		}
	}
}
