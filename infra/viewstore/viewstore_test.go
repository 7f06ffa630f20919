package viewstore

import (
	"context"
	"sync"
	"testing"

	"github.com/tierlink/tierlink/infra/redistest"
)

func TestCommitTakesEffectOncePerPosition(t *testing.T) {
	srv := redistest.Real(t)
	c := srv.Client(t)
	s, err := New(c, "changning")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Commit(ctx, "needs", 1, map[string][]byte{"n1": []byte(`"first"`)}); err != nil {
		t.Fatal(err)
	}
	// A redelivered event (same position) or an older one changes nothing.
	if err := s.Commit(ctx, "needs", 1, map[string][]byte{"n1": []byte(`"again"`)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, "needs", 0, map[string][]byte{"n2": []byte(`"old"`)}); err != nil {
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
			_ = s.Commit(ctx, "needs", 2, map[string][]byte{"n3": []byte{byte('a' + i)}, "count:" + string(rune('a'+i)): []byte("1")})
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
	// Other partitions are invisible to this store, and Find searches them all.
	other, _ := New(c, "xuhui")
	if err := other.Commit(ctx, "needs", 1, map[string][]byte{"x1": []byte(`"xuhui"`)}); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Get(ctx, "needs", "x1"); ok {
		t.Fatal("a document of another partition was visible")
	}
	b, ok, err = Find(ctx, c, []string{"changning", "xuhui"}, "needs", "x1")
	if err != nil || !ok || string(b) != `"xuhui"` {
		t.Fatalf("Find: %s %v %v", b, ok, err)
	}
	if _, ok, err := Find(ctx, c, []string{"changning", "xuhui"}, "needs", "none"); ok || err != nil {
		t.Fatalf("Find of a missing id: %v %v", ok, err)
	}
}
