package memlog_test

import (
	"testing"

	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/eventlog/eventlogtest"
	"github.com/tierlink/tierlink/infra/eventlog/memlog"
)

// TestConformance runs the event store's conformance suite on the in-memory log,
// for all it implements: everything but leases and consumer groups.
func TestConformance(t *testing.T) {
	eventlogtest.Run(t, eventlogtest.Features{}, func(t *testing.T) eventlogtest.Subject {
		l, err := memlog.New(domain.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		return eventlogtest.Subject{Store: l}
	})
}
