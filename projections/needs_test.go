package projections

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/tierlink/tierlink/domain"
)

// memStore is a Store in memory with the same at-most-once commit rule.
type memStore struct {
	cp   map[string]int64
	docs map[string][]byte
}

func (m *memStore) Checkpoint(_ context.Context, model string) (int64, error) {
	return m.cp[model], nil
}
func (m *memStore) Get(_ context.Context, model, id string) ([]byte, bool, error) {
	b, ok := m.docs[model+"/"+id]
	return b, ok, nil
}
func (m *memStore) Commit(_ context.Context, model string, pos int64, docs map[string][]byte) error {
	if pos <= m.cp[model] {
		return nil
	}
	for id, b := range docs {
		m.docs[model+"/"+id] = b
	}
	m.cp[model] = pos
	return nil
}

func TestNeedsProjection(t *testing.T) {
	st := &memStore{cp: map[string]int64{}, docs: map[string][]byte{}}
	p, err := NewNeeds(st)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	evs := []domain.Event{
		{AggregateType: domain.AggregateHousehold, AggregateID: "h", AggregateVersion: 1, Time: t0, Payload: domain.HouseholdRegistered{Community: "c"}},
		{AggregateType: domain.AggregateNeed, AggregateID: "n", AggregateVersion: 1, Time: t0, Payload: domain.NeedRegistered{HouseholdID: "h", Community: "c", Street: "s", Category: "counselling"}},
		{AggregateType: domain.AggregateNeed, AggregateID: "n", AggregateVersion: 2, Time: t0.Add(time.Second), Payload: domain.ReferralProposed{ReferralID: "r", OfferID: "o", Tier: 1, Rule: "rule", Candidates: 2}},
	}
	read := func() NeedView {
		b, ok, _ := st.Get(context.Background(), NeedsModel, "n")
		if !ok {
			t.Fatal("no view of n")
		}
		var v NeedView
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	for i, e := range evs[:2] {
		if err := p.Handle(context.Background(), int64(i+1), &e); err != nil {
			t.Fatal(err)
		}
	}
	if v := read(); v.Status != domain.StatusOpen || v.Referral != nil || v.Position != 2 || v.HouseholdID != "h" {
		t.Fatalf("after registration %+v", v)
	}
	if err := p.Handle(context.Background(), 3, nil); err != nil { // a dead-lettered entry moves only the checkpoint
		t.Fatal(err)
	}
	if err := p.Handle(context.Background(), 4, &evs[2]); err != nil {
		t.Fatal(err)
	}
	v := read()
	if v.Status != domain.StatusProposed || v.Referral == nil || v.Referral.OfferID != "o" || v.Referral.Candidates != 2 || v.Version != 2 || v.Position != 4 {
		t.Fatalf("after the proposal %+v", v)
	}
	if cp, _ := p.Checkpoint(context.Background()); cp != 4 {
		t.Fatalf("checkpoint %d", cp)
	}
}
