package eventlog

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/redistest"
)

// hashTag returns the part of a key Redis Cluster hashes: between the first '{' and
// the next '}', if that is not empty; else the whole key.
func hashTag(key string) string {
	i := strings.IndexByte(key, '{')
	if i < 0 {
		return key
	}
	j := strings.IndexByte(key[i+1:], '}')
	if j <= 0 {
		return key
	}
	return key[i+1 : i+1+j]
}

// keyCapture records the keys of every EVALSHA/EVAL the client sends.
type keyCapture struct{ keys [][]string }

func (k *keyCapture) DialHook(next redis.DialHook) redis.DialHook { return next }
func (k *keyCapture) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
func (k *keyCapture) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		args := cmd.Args()
		if name := strings.ToLower(cmd.Name()); (name == "evalsha" || name == "eval") && len(args) > 2 {
			n, _ := args[2].(int)
			var keys []string
			for _, a := range args[3 : 3+n] {
				keys = append(keys, a.(string))
			}
			k.keys = append(k.keys, keys)
		}
		return next(ctx, cmd)
	}
}

func TestEveryScriptKeyCarriesThePartitionTag(t *testing.T) {
	srv := redistest.Embedded(t)
	c := srv.Client(t)
	capture := &keyCapture{}
	c.AddHook(capture)
	st, err := NewStore(c, domain.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := domain.NewRegistry()
	evs, err := reg.Envelop([]domain.Change{
		{Aggregate: domain.AggregateRef{Type: domain.AggregateHousehold, ID: "h"}, Payloads: []domain.Payload{domain.HouseholdRegistered{Community: "c"}}},
		{Aggregate: domain.AggregateRef{Type: domain.AggregateNeed, ID: "n"}, Payloads: []domain.Payload{domain.NeedRegistered{HouseholdID: "h", Community: "c", Category: "counselling"}}},
	}, domain.Meta{Partition: "changning", Time: time.Now(), CommandID: "c1"}, func() string { return uuid.NewString() })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Append(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	if len(capture.keys) == 0 {
		t.Fatal("no script call seen")
	}
	for _, keys := range capture.keys {
		if len(keys) != 4 {
			t.Fatalf("append of two aggregates passed %d keys: %v", len(keys), keys)
		}
		for _, k := range keys {
			if hashTag(k) != "changning" {
				t.Fatalf("key %q hashes on %q, not the partition's tag", k, hashTag(k))
			}
		}
	}
	k, _ := KeysFor("changning")
	for _, key := range []string{k.Log(), k.State(), k.DeadLetter(), k.Checkpoint("matcher"), k.View(3, "needs", "x"), k.ViewGeneration(), k.NextViewGeneration(), k.Aggregate(domain.AggregateRef{Type: "need", ID: "a{b}c"})} {
		if hashTag(key) != "changning" {
			t.Errorf("key %q hashes on %q", key, hashTag(key))
		}
	}
	if _, err := KeysFor("with{brace}"); err == nil {
		t.Error("a partition name with braces was accepted")
	}
}
