package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"hash"
	"sync"
	"time"

	"github.com/tierlink/tierlink/infra/adapters"
	"github.com/tierlink/tierlink/infra/eventlog"
	"github.com/tierlink/tierlink/matching"
)

// matcherLease names the lease of a district's matcher.
const matcherLease = "matcher"

// runMatcher runs a district's matcher while this node holds its lease: it takes the
// lease when free, renews it at a third of its time to live, and stops deciding as
// soon as a renewal fails. Every append of the matcher is fenced with the lease's
// token, so a node that lost the lease without noticing cannot write.
func (n *Node) runMatcher(ctx context.Context, p string) {
	holder, ttl := n.cfg.Consumer, n.cfg.LeaseTTL
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = n.store.Release(rctx, p, matcherLease, holder)
	}()
	for ctx.Err() == nil {
		token, err := n.store.Lease(ctx, p, matcherLease, holder, ttl)
		if err != nil || token == 0 {
			if err != nil && ctx.Err() == nil {
				n.log.Warn("matcher lease not taken", "partition", p, "err", err)
			}
			select {
			case <-ctx.Done():
			case <-time.After(ttl / 3):
			}
			continue
		}
		if !n.decide(ctx, p, token) {
			return
		}
	}
}

// decide runs a district's matcher, its appends fenced with the lease's token, and
// renews the lease until a renewal fails or ctx ends. It returns false if the
// matcher could not be built.
func (n *Node) decide(ctx context.Context, p string, token int64) bool {
	holder, ttl := n.cfg.Consumer, n.cfg.LeaseTTL
	n.log.Info("matcher lease taken: deciding for the district", "partition", p, "token", token)
	recorded, err := RecordedDecisions(ctx, n.store, p)
	if err != nil {
		n.log.Warn("past decisions not read; the matcher will append them again as retried commands", "partition", p, "err", err)
	}
	loop, err := matching.NewLoop(matching.LoopConfig{
		Partition: p, Registry: n.store.Registry(), Logger: n.log, Recorded: recorded,
		Appender: adapters.MatcherAppender{Store: n.store, Metrics: n.metrics, Lease: matcherLease, Token: token},
	})
	if err != nil {
		n.log.Error("matcher not built", "partition", p, "err", err)
		return false
	}
	n.mu.Lock()
	n.loops[p] = loop
	n.mu.Unlock()
	mctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.notify(mctx, p) // notifications go from the node that decides, under the same lease
		}()
		n.follow(mctx, p, GroupMatcher, adapters.MatcherApplier(loop))
		wg.Wait()
	}()
	for held := true; held; {
		select {
		case <-ctx.Done():
			held = false
		case <-time.After(ttl / 3):
			again, err := n.store.Lease(ctx, p, matcherLease, holder, ttl)
			if err != nil || again != token {
				n.log.Warn("matcher lease lost: no longer deciding for the district", "partition", p, "err", err)
				held = false
			}
		}
	}
	stop()
	<-done
	n.mu.Lock()
	delete(n.loops, p)
	n.mu.Unlock()
	return true
}

// RecordedDecisions reads a partition's log and returns the digest of each command
// the matcher appended (matching.Digest: over the events' bytes as stored), for a
// restarted matcher to recognise its past decisions without appending them again.
// It reads only the actor and the command id of each entry.
func RecordedDecisions(ctx context.Context, store *eventlog.Store, partition string) (map[string]string, error) {
	hashes := map[string]hash.Hash{}
	var order []string
	var head struct {
		Actor     string `json:"actor"`
		CommandID string `json:"command_id"`
	}
	for from := int64(1); ; {
		entries, err := store.ReadPartitionRaw(ctx, partition, from, 5000)
		if err != nil {
			return nil, err
		}
		if len(entries) == 0 {
			break
		}
		for _, e := range entries {
			from = e.Position + 1
			if !bytes.Contains(e.Raw, []byte(`"actor":"`+matching.Actor+`"`)) {
				continue
			}
			head.Actor, head.CommandID = "", ""
			if json.Unmarshal(e.Raw, &head) != nil || head.Actor != matching.Actor {
				continue
			}
			h, seen := hashes[head.CommandID]
			if !seen {
				h = sha256.New()
				hashes[head.CommandID] = h
				order = append(order, head.CommandID)
			}
			h.Write(e.Raw)
		}
	}
	out := make(map[string]string, len(order))
	for _, cmd := range order {
		out[cmd] = hex.EncodeToString(hashes[cmd].Sum(nil)[:16])
	}
	return out, nil
}
