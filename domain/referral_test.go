package domain

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// world folds the events of one household, one offer and its needs, as the log would.
type world struct {
	h     Household
	o     Offer
	needs map[string]Need
}

func (w *world) apply(t *testing.T, changes []Change) {
	t.Helper()
	for _, c := range changes {
		for i, p := range c.Payloads {
			e := Event{AggregateType: c.Aggregate.Type, AggregateID: c.Aggregate.ID, AggregateVersion: c.ExpectedVersion + int64(i) + 1, Payload: p}
			switch c.Aggregate.Type {
			case AggregateHousehold:
				if i == 0 && w.h.Version != c.ExpectedVersion {
					t.Fatalf("household at %d, change expects %d", w.h.Version, c.ExpectedVersion)
				}
				w.h = w.h.Evolve(e)
			case AggregateOffer:
				if i == 0 && w.o.Version != c.ExpectedVersion {
					t.Fatalf("offer at %d, change expects %d", w.o.Version, c.ExpectedVersion)
				}
				w.o = w.o.Evolve(e)
			case AggregateNeed:
				if i == 0 && w.needs[c.Aggregate.ID].Version != c.ExpectedVersion {
					t.Fatalf("need at %d, change expects %d", w.needs[c.Aggregate.ID].Version, c.ExpectedVersion)
				}
				w.needs[c.Aggregate.ID] = w.needs[c.Aggregate.ID].Evolve(e)
			}
		}
	}
}

func newWorld(t *testing.T, capacity int, needs ...string) *world {
	ref := testRef(t)
	w := &world{needs: map[string]Need{}}
	var specs []NeedSpec
	for i, n := range needs {
		specs = append(specs, NeedSpec{NeedID: n, Category: []string{"counselling", "material_aid", "legal_aid", "respite_care"}[i%4]})
	}
	ch, err := DecideRegisterHousehold(Household{}, RegisterHousehold{HouseholdID: "h", Community: "c", Needs: specs}, ref)
	if err != nil {
		t.Fatal(err)
	}
	w.apply(t, ch)
	w.o = postedOffer(t, ref, capacity)
	return w
}

var t0 = time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)

func (w *world) propose(t *testing.T, need, ref string) {
	t.Helper()
	n := w.needs[need]
	o := w.o
	o.Category = n.Category // the test offer serves whichever category the need has
	ch, err := DecideProposeReferral(n, o, ProposeReferral{ReferralID: ref, Tier: max(n.Tier, TierCommunity)})
	if err != nil {
		t.Fatal(err)
	}
	ch[0].Payloads[0] = func(p ReferralProposed) ReferralProposed { p.Deadline = t0.Add(48 * time.Hour); return p }(ch[0].Payloads[0].(ReferralProposed))
	w.apply(t, ch)
}

func TestReferralLifecycle(t *testing.T) {
	w := newWorld(t, 2, "n1")
	w.propose(t, "n1", "r1")
	if w.o.Committed != 1 || w.needs["n1"].Status != StatusProposed {
		t.Fatalf("after the proposal %+v %+v", w.o, w.needs["n1"])
	}
	// The answer comes too late.
	if _, err := DecideAnswer(w.needs["n1"], w.o, Answer{ReferralID: "r1", Kind: AnswerAccept}, t0.Add(48*time.Hour)); !errors.Is(err, ErrRefused) {
		t.Fatalf("answer at the deadline: %v", err)
	}
	// An ended referral's id is refused, without naming the live one.
	if _, err := DecideAnswer(w.needs["n1"], w.o, Answer{ReferralID: "r0", Kind: AnswerAccept}, t0); !errors.Is(err, ErrRefused) || strings.Contains(err.Error(), "r1") {
		t.Fatalf("stale referral id: %v", err)
	}
	ch, err := DecideAnswer(w.needs["n1"], w.o, Answer{ReferralID: "r1", Kind: AnswerAccept}, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	w.apply(t, ch)
	if _, err := DecideAnswer(w.needs["n1"], w.o, Answer{ReferralID: "r1", Kind: AnswerDecline, Reason: DeclineOther}, t0.Add(time.Hour)); !errors.Is(err, ErrRefused) {
		t.Fatalf("answered twice: %v", err)
	}
	if _, err := DecideCompleteService(w.needs["n1"], w.h, "r1"); !errors.Is(err, ErrRefused) {
		t.Fatalf("completed before it started: %v", err)
	}
	ch, _ = DecideStartService(w.needs["n1"], "r1")
	w.apply(t, ch)
	if _, err := DecideWithdrawNeed(w.needs["n1"], w.o, w.h, ""); !errors.Is(err, ErrRefused) {
		t.Fatalf("withdrawn in service: %v", err)
	}
	ch, err = DecideCompleteService(w.needs["n1"], w.h, "r1")
	if err != nil {
		t.Fatal(err)
	}
	w.apply(t, ch)
	if w.needs["n1"].Status != StatusCompleted || w.o.Committed != 1 || len(w.h.OpenNeeds) != 0 {
		t.Fatalf("after completion need %s, %d committed, open %v", w.needs["n1"].Status, w.o.Committed, w.h.OpenNeeds)
	}
}

func TestDeclineEscalateWithdrawReleaseTheUnit(t *testing.T) {
	w := newWorld(t, 1, "n1", "n2")
	w.propose(t, "n1", "r1")
	if _, err := DecideAnswer(w.needs["n1"], w.o, Answer{ReferralID: "r1", Kind: AnswerDecline, Reason: "bored"}, t0); !errors.Is(err, ErrInvalidCommand) {
		t.Fatalf("unknown reason: %v", err)
	}
	ch, err := DecideAnswer(w.needs["n1"], w.o, Answer{ReferralID: "r1", Kind: AnswerDecline, Reason: DeclineNotSuitable, Note: "needs a woman counsellor"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	w.apply(t, ch)
	if n := w.needs["n1"]; n.Status != StatusOpen || w.o.Committed != 0 || len(n.Declined) != 1 || n.Declined[0] != w.o.ID {
		t.Fatalf("after the decline %+v, %d committed", n, w.o.Committed)
	}
	w.propose(t, "n1", "r2")
	ch, err = DecideAnswer(w.needs["n1"], w.o, Answer{ReferralID: "r2", Kind: AnswerEscalate}, t0)
	if err != nil {
		t.Fatal(err)
	}
	w.apply(t, ch)
	if n := w.needs["n1"]; n.Status != StatusOpen || n.Tier != TierStreet || w.o.Committed != 0 {
		t.Fatalf("after the escalation %+v", n)
	}
	w.propose(t, "n2", "r3")
	ch, err = DecideWithdrawNeed(w.needs["n2"], w.o, w.h, "moved away")
	if err != nil {
		t.Fatal(err)
	}
	w.apply(t, ch)
	if n := w.needs["n2"]; n.Status != StatusWithdrawn || w.o.Committed != 0 || w.h.OpenNeeds[n.Category] != "" {
		t.Fatalf("after the withdrawal %+v, %d committed, open %v", n, w.o.Committed, w.h.OpenNeeds)
	}
	// The district cannot escalate.
	n := w.needs["n1"]
	n.Tier, n.Status, n.ReferralID, n.OfferID = TierDistrict, StatusProposed, "r9", w.o.ID
	if _, err := DecideAnswer(n, w.o, Answer{ReferralID: "r9", Kind: AnswerEscalate}, t0); !errors.Is(err, ErrRefused) {
		t.Fatalf("escalation at the top: %v", err)
	}
}

// allowed lists the state changes of a need.
var allowed = map[NeedStatus]map[NeedStatus]bool{
	StatusOpen:       {StatusProposed: true, StatusWaitlisted: true, StatusWithdrawn: true},
	StatusWaitlisted: {StatusProposed: true, StatusOpen: true, StatusWithdrawn: true},
	StatusProposed:   {StatusAccepted: true, StatusOpen: true, StatusWithdrawn: true},
	StatusAccepted:   {StatusInService: true, StatusOpen: true, StatusWithdrawn: true},
	StatusInService:  {StatusCompleted: true},
}

// TestRandomCommandsKeepInvariants drives one offer and a few needs with random
// commands, refused or not, and checks after each that committed units never exceed
// the capacity, match the needs holding a live referral, and that tiers never go down.
func TestRandomCommandsKeepInvariants(t *testing.T) {
	for seed := uint64(1); seed <= 50; seed++ {
		rng := rand.New(rand.NewPCG(seed, 9))
		w := newWorld(t, 2, "n1", "n2", "n3", "n4")
		ids := []string{"n1", "n2", "n3", "n4"}
		refs := 0
		for step := 0; step < 300; step++ {
			id := ids[rng.IntN(len(ids))]
			n := w.needs[id]
			before := n.Tier
			var ch []Change
			var err error
			switch rng.IntN(7) {
			case 0:
				o := w.o
				o.Category = n.Category
				refs++
				ch, err = DecideProposeReferral(n, o, ProposeReferral{ReferralID: fmt.Sprint("r", refs), Tier: n.Tier})
			case 1:
				ch, err = DecideAnswer(n, w.o, Answer{ReferralID: n.ReferralID, Kind: AnswerAccept}, t0)
			case 2:
				ch, err = DecideAnswer(n, w.o, Answer{ReferralID: n.ReferralID, Kind: AnswerDecline, Reason: DeclineOther}, t0)
			case 3:
				ch, err = DecideAnswer(n, w.o, Answer{ReferralID: n.ReferralID, Kind: AnswerEscalate}, t0)
			case 4:
				ch, err = DecideStartService(n, n.ReferralID)
			case 5:
				ch, err = DecideCompleteService(n, w.h, n.ReferralID)
			case 6:
				if rng.IntN(4) == 0 {
					ch, err = DecideWithdrawNeed(n, w.o, w.h, "")
				}
			}
			if err != nil {
				continue
			}
			from := n.Status
			w.apply(t, ch)
			if to := w.needs[id].Status; to != from && !allowed[from][to] {
				t.Fatalf("seed %d step %d: %s went from %s to %s", seed, step, id, from, to)
			}
			live := 0
			for _, x := range w.needs {
				switch x.Status {
				case StatusProposed, StatusAccepted, StatusInService, StatusCompleted:
					live++
					if x.ReferralID == "" {
						t.Fatalf("seed %d step %d: %s is %s without a referral", seed, step, x.ID, x.Status)
					}
				default:
					if x.ReferralID != "" {
						t.Fatalf("seed %d step %d: %s is %s with referral %s", seed, step, x.ID, x.Status, x.ReferralID)
					}
				}
			}
			if w.o.Committed != live || w.o.Committed > w.o.Capacity || w.o.Committed < 0 {
				t.Fatalf("seed %d step %d: %d committed, %d live referrals, capacity %d", seed, step, w.o.Committed, live, w.o.Capacity)
			}
			if w.needs[id].Tier < before {
				t.Fatalf("seed %d step %d: %s went down from tier %d to %d", seed, step, id, before, w.needs[id].Tier)
			}
		}
	}
}
