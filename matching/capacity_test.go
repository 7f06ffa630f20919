package matching

import (
	"fmt"
	"testing"
	"time"

	"github.com/tierlink/tierlink/domain"
)

// TestRaisedCapacityServesTheWaitlist: given an offer whose units are all taken and
// three needs waiting in its scope, when its provider raises the capacity by two,
// then the two waiting needs of highest priority are proposed that offer, at once,
// and the third keeps waiting; lowering it again proposes nothing.
func TestRaisedCapacityServesTheWaitlist(t *testing.T) {
	m := New()
	m.policy = domain.Policy{Deadlines: domain.Deadlines{Community: domain.Duration(48 * time.Hour), Street: domain.Duration(72 * time.Hour),
		District: domain.Duration(120 * time.Hour)}, UrgencyPoints: map[domain.Urgency]int{domain.UrgencyNormal: 10}, AgingPointsPerDay: 1}
	versions := map[string]int64{}
	ev := func(typ, id string, minute int, p domain.Payload) domain.Event {
		versions[id]++
		return domain.Event{ID: fmt.Sprintf("e-%s-%d", id, versions[id]), Type: p.EventType(), AggregateType: typ, AggregateID: id,
			AggregateVersion: versions[id], Partition: "d", Time: t0.Add(time.Duration(minute) * time.Minute), Payload: p}
	}
	need := func(id string, minute, hardship int) []Decision {
		return m.Apply(ev(domain.AggregateNeed, id, minute, domain.NeedRegistered{Community: "c1", Street: "s1", Category: "counselling",
			Urgency: domain.UrgencyNormal, Hardship: hardship}))
	}
	// Given: a street offer of one unit, taken by the first need.
	m.Apply(ev(domain.AggregateOffer, "o", 0, domain.OfferPosted{Scope: domain.Scope{Tier: domain.TierStreet, Area: "s1"}, Category: "counselling",
		Capacity: 1, ValidFrom: t0}))
	if ds := need("first", 1, 50); len(ds) != 1 || ds[0].OfferID != "o" {
		t.Fatalf("the first need: %+v", ds)
	}
	// Three more wait: hardship 10, 80 and 40, registered in that order.
	for i, h := range []int{10, 80, 40} {
		if ds := need(fmt.Sprintf("w%d", h), 2+i, h); len(ds) != 1 || !ds[0].Waitlist {
			t.Fatalf("need of hardship %d: %+v", h, ds)
		}
	}
	// When: the capacity goes from 1 to 3.
	ds := m.Apply(ev(domain.AggregateOffer, "o", 10, domain.OfferCapacityChanged{Capacity: 3}))
	// Then: the two neediest are proposed the offer, the neediest first.
	if len(ds) != 2 || ds[0].NeedID != "w80" || ds[1].NeedID != "w40" || ds[0].OfferID != "o" || ds[1].OfferID != "o" ||
		ds[0].Rule != RuleWaitingByPriority {
		t.Fatalf("after raising the capacity: %+v", ds)
	}
	if m.Waiting() != 1 || m.offers["o"].Free != 0 {
		t.Fatalf("%d waiting, %d free; want the need of hardship 10 waiting and no unit free", m.Waiting(), m.offers["o"].Free)
	}
	// Lowering it to what is committed proposes nothing and frees nothing.
	if ds := m.Apply(ev(domain.AggregateOffer, "o", 11, domain.OfferCapacityChanged{Capacity: 3})); len(ds) != 0 {
		t.Fatalf("a change to the same capacity: %+v", ds)
	}
}
