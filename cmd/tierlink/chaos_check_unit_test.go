package main

import (
	"strings"
	"testing"

	"github.com/tierlink/tierlink/domain"
)

// chaosLog builds a log for the checks: each step is one command's events.
type chaosLog struct {
	events    []domain.Event
	positions []int64
	versions  map[domain.AggregateRef]int64
	runs      map[string]*cmdRun
}

func (l *chaosLog) add(command, aggType, id string, p domain.Payload) {
	if l.versions == nil {
		l.versions, l.runs = map[domain.AggregateRef]int64{}, map[string]*cmdRun{}
	}
	ref := domain.AggregateRef{Type: aggType, ID: id}
	l.versions[ref]++
	pos := int64(len(l.events) + 1)
	l.events = append(l.events, domain.Event{Type: p.EventType(), AggregateType: aggType, AggregateID: id, AggregateVersion: l.versions[ref], CommandID: command, Payload: p})
	l.positions = append(l.positions, pos)
	if l.runs[command] == nil {
		l.runs[command] = &cmdRun{first: pos, needs: map[string]domain.Need{}}
	}
	l.runs[command].last = pos
}

// base is a need proposed an offer of one unit.
func base() *chaosLog {
	l := &chaosLog{}
	l.add("c1", domain.AggregateOffer, "o1", domain.OfferPosted{Capacity: 1, Scope: domain.Scope{Tier: 1, Area: "a"}})
	l.add("c2", domain.AggregateNeed, "n1", domain.NeedRegistered{Category: "x"})
	l.add("c2", domain.AggregateNeed, "n2", domain.NeedRegistered{Category: "x"})
	l.add("m1", domain.AggregateNeed, "n1", domain.ReferralProposed{ReferralID: "r1", OfferID: "o1", Tier: 1})
	l.add("m1", domain.AggregateOffer, "o1", domain.OfferUnitReserved{ReferralID: "r1", NeedID: "n1"})
	return l
}

// The invariant checks of the chaos test find what they are for: a sound log
// passes, and each kind of broken one is caught.
func TestChaosInvariantChecksCatchViolations(t *testing.T) {
	if v := checkInvariants(base().events, base().positions, base().runs); len(v) != 0 {
		t.Fatalf("a sound log: %v", v)
	}
	cases := []struct {
		name  string
		spoil func(l *chaosLog)
		want  string
	}{
		{"capacity overcommitted", func(l *chaosLog) {
			l.add("m2", domain.AggregateNeed, "n2", domain.ReferralProposed{ReferralID: "r2", OfferID: "o1", Tier: 1})
			l.add("m2", domain.AggregateOffer, "o1", domain.OfferUnitReserved{ReferralID: "r2", NeedID: "n2"})
		}, "commits 2 of 1"},
		{"a command applied twice", func(l *chaosLog) {
			l.add("a1", domain.AggregateNeed, "n1", domain.ReferralAccepted{ReferralID: "r1"})
			l.add("a1", domain.AggregateNeed, "n1", domain.ReferralAccepted{ReferralID: "r1"})
		}, "need.referral_accepted while accepted"},
		{"two live referrals", func(l *chaosLog) {
			l.add("c3", domain.AggregateOffer, "o2", domain.OfferPosted{Capacity: 1})
			l.add("m2", domain.AggregateOffer, "o2", domain.OfferUnitReserved{ReferralID: "r9", NeedID: "n1"})
		}, "more than one live referral"},
		{"tier down", func(l *chaosLog) {
			l.add("e1", domain.AggregateNeed, "n2", domain.NeedEscalated{From: 1, To: 3})
			l.add("e2", domain.AggregateNeed, "n2", domain.ReferralProposed{ReferralID: "r3", OfferID: "o1", Tier: 1})
		}, "went from tier 3"},
		{"a version skipped", func(l *chaosLog) {
			l.versions[domain.AggregateRef{Type: domain.AggregateNeed, ID: "n2"}]++
			l.add("w1", domain.AggregateNeed, "n2", domain.NeedWithdrawn{})
		}, "at version 3 after 1"},
		{"a unit released that was never held", func(l *chaosLog) {
			l.add("d1", domain.AggregateOffer, "o1", domain.OfferUnitReleased{ReferralID: "r7", NeedID: "n2"})
		}, "did not hold"},
	}
	for _, c := range cases {
		l := base()
		c.spoil(l)
		v := checkInvariants(l.events, l.positions, l.runs)
		if !strings.Contains(strings.Join(v, "\n"), c.want) {
			t.Errorf("%s: found %q, want a violation saying %q", c.name, v, c.want)
		}
	}
}

// The key of a command is found however the server puts it into the command id.
func TestCommandKey(t *testing.T) {
	for _, c := range []struct {
		id, key string
		index   int
		ok      bool
	}{
		{"idem:chaos-ab-12", "chaos-ab-12", -1, true},
		{"idem:chaos-ab-12#3", "chaos-ab-12", 3, true},
		{"idem:centre:community:huayang-01:chaos-ab-7", "chaos-ab-7", -1, true},
		{"idem:provider:p1/chaos-ab-7#0", "chaos-ab-7", 0, true},
		{"match:chaos-ab-", "", 0, false},
		{"01a2330e-dbce-79ca-9e98-7e854f51d0f3", "", 0, false},
	} {
		key, index, ok := commandKey(c.id, "chaos-ab-")
		if key != c.key || ok != c.ok || (ok && index != c.index) {
			t.Errorf("commandKey(%q) = %q %d %v, want %q %d %v", c.id, key, index, ok, c.key, c.index, c.ok)
		}
	}
}
