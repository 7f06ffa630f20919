package viewstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/tierlink/tierlink/infra/eventlog"
	"github.com/tierlink/tierlink/infra/redistest"
	"github.com/tierlink/tierlink/projections"
)

// docs builds the changes of documents of the needs model.
func docs(kv ...string) projections.Changes {
	var ch projections.Changes
	for i := 0; i+1 < len(kv); i += 2 {
		ch.Docs = append(ch.Docs, projections.Doc{Model: "needs", ID: kv[i], Body: []byte(kv[i+1])})
	}
	return ch
}

func TestCommitTakesEffectOncePerPosition(t *testing.T) {
	srv := redistest.Real(t)
	c := srv.Client(t)
	s, err := New(c, "changning")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Commit(ctx, "needs", 1, docs("n1", `"first"`)); err != nil {
		t.Fatal(err)
	}
	// A redelivered event (same position) or an older one changes nothing.
	if err := s.Commit(ctx, "needs", 1, docs("n1", `"again"`)); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, "needs", 0, docs("n2", `"old"`)); err != nil {
		t.Fatal(err)
	}
	b, ok, err := s.Get(ctx, "needs", "n1")
	if err != nil || !ok || string(b) != `"first"` {
		t.Fatalf("n1 = %s %v %v", b, ok, err)
	}
	if _, ok, _ := s.Get(ctx, "needs", "n2"); ok {
		t.Fatal("a commit behind the checkpoint was written")
	}
	// Racing commits of the same position: exactly one lands.
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = s.Commit(ctx, "needs", 2, docs("n3", string(rune('a'+i)), "count:"+string(rune('a'+i)), "1"))
		}()
	}
	wg.Wait()
	landed := 0
	for i := 0; i < 16; i++ {
		if _, ok, _ := s.Get(ctx, "needs", "count:"+string(rune('a'+i))); ok {
			landed++
		}
	}
	if landed != 1 {
		t.Fatalf("%d racing commits of one position landed, want 1", landed)
	}
	if cp, _ := s.Checkpoint(ctx, "needs"); cp != 2 {
		t.Fatalf("checkpoint %d, want 2", cp)
	}
	// Other partitions are invisible to this store, and a set's Find searches them all.
	other, _ := New(c, "xuhui")
	if err := other.Commit(ctx, "needs", 1, docs("x1", `"xuhui"`)); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Get(ctx, "needs", "x1"); ok {
		t.Fatal("a document of another partition was visible")
	}
	set, err := NewSet(c, []string{"changning", "xuhui"})
	if err != nil {
		t.Fatal(err)
	}
	b, ok, err = set.Find(ctx, "needs", "x1")
	if err != nil || !ok || string(b) != `"xuhui"` {
		t.Fatalf("Find: %s %v %v", b, ok, err)
	}
	if _, ok, err := set.Find(ctx, "needs", "none"); ok || err != nil {
		t.Fatalf("Find of a missing id: %v %v", ok, err)
	}
}

func TestIndexesCommitAndPageByCursor(t *testing.T) {
	srv := redistest.Real(t)
	s, _ := New(srv.Client(t), "changning")
	ctx := context.Background()
	ch := projections.Changes{}
	// Ten members; three tie on score 5.
	for i, score := range []float64{9, 5, 1, 5, 7, 3, 5, 2, 8, 6} {
		ch.Indexes = append(ch.Indexes, projections.IndexChange{Index: "inbox:community:c1", Member: fmt.Sprintf("m%d", i), Score: score})
	}
	ch.Indexes = append(ch.Indexes, projections.IndexChange{Index: "inbox:community:c1", Member: "m0", Remove: true})
	if err := s.Commit(ctx, "cases", 1, ch); err != nil {
		t.Fatal(err)
	}
	var got []string
	var after Member
	for pages := 0; ; pages++ {
		page, err := s.Range(ctx, "inbox:community:c1", after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 || pages > 10 {
			break
		}
		for _, m := range page {
			got = append(got, m.ID)
		}
		after = page[len(page)-1]
	}
	want := "[m2 m7 m5 m1 m3 m6 m9 m4 m8]"
	if fmt.Sprint(got) != want {
		t.Fatalf("pages gave %v, want %s", got, want)
	}
	many, err := s.GetMany(ctx, "needs", []string{"none"})
	if err != nil || len(many) != 1 || many[0] != nil {
		t.Fatalf("GetMany of a missing document: %v %v", many, err)
	}
}

func TestCountersAddUpOncePerPosition(t *testing.T) {
	srv := redistest.Real(t)
	s, _ := New(srv.Client(t), "changning")
	ctx := context.Background()
	ch := projections.Changes{Counters: []projections.CounterChange{{Counters: "ind:x", Field: "demand|a", Delta: 2}, {Counters: "ind:x", Field: "demand|b", Delta: 1}}}
	for _, pos := range []int64{1, 1, 2} { // position 1 twice: counted once
		if err := s.Commit(ctx, "cases", pos, ch); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Counters(ctx, []string{"ind:x", "ind:none"})
	if err != nil || got[0]["demand|a"] != 4 || got[0]["demand|b"] != 2 || len(got[1]) != 0 {
		t.Fatalf("counters %v %v", got, err)
	}
}

// TestGenerations writes a rebuild's generation beside the current one: readers see
// the current until the switch, which waits for the rebuild to reach the log's head;
// a commit of the live projection on the old generation is refused after it.
func TestGenerations(t *testing.T) {
	srv := redistest.Real(t)
	c := srv.Client(t)
	ctx := context.Background()
	live, _ := New(c, "changning")
	if err := live.Commit(ctx, "cases", 1, docs("n1", `"old"`)); err != nil {
		t.Fatal(err)
	}
	gen, err := live.NextGeneration(ctx)
	if err != nil || gen != 1 {
		t.Fatalf("next generation %d %v", gen, err)
	}
	rebuild, _ := NewGeneration(c, "changning", gen)
	if err := rebuild.Commit(ctx, "cases", 2, docs("n1", `"new"`)); err != nil {
		t.Fatal(err)
	}
	if b, _, _ := live.Get(ctx, "needs", "n1"); string(b) != `"old"` {
		t.Fatalf("readers see %s before the switch", b)
	}
	// The log's head is 3: the rebuild is behind, no switch.
	keys, _ := eventlog.KeysFor("changning")
	c.HSet(ctx, keys.State(), "head", 3)
	if ok, err := rebuild.Switch(ctx, gen, "cases"); ok || err != nil {
		t.Fatalf("switched behind the head: %v %v", ok, err)
	}
	if err := rebuild.Commit(ctx, "cases", 3, docs("n2", `"new"`)); err != nil {
		t.Fatal(err)
	}
	if ok, err := rebuild.Switch(ctx, gen, "cases"); !ok || err != nil {
		t.Fatalf("no switch at the head: %v %v", ok, err)
	}
	fresh, _ := New(c, "changning")
	if b, _, _ := fresh.Get(ctx, "needs", "n1"); string(b) != `"new"` {
		t.Fatalf("readers see %s after the switch", b)
	}
	// The live store still believes in generation 0: its commit is refused, and the
	// next one goes to generation 1.
	err = live.Commit(ctx, "cases", 4, docs("n3", `"late"`))
	if !errors.Is(err, projections.ErrGenerationChanged) {
		t.Fatalf("a commit on the old generation: %v", err)
	}
	if err := live.Commit(ctx, "cases", 4, docs("n3", `"late"`)); err != nil {
		t.Fatal(err)
	}
	if b, _, _ := fresh.Get(ctx, "needs", "n3"); string(b) != `"late"` {
		t.Fatalf("the live projection's retry landed elsewhere: %s", b)
	}
	old, _ := NewGeneration(c, "changning", 0)
	if err := old.Drop(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := old.Get(ctx, "needs", "n1"); ok {
		t.Fatal("the old generation was not dropped")
	}
}
