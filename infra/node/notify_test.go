package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/adapters"
	"github.com/tierlink/tierlink/infra/node"
	"github.com/tierlink/tierlink/infra/node/nodetest"
	"github.com/tierlink/tierlink/infra/redistest"
	"github.com/tierlink/tierlink/infra/webhook"
	"github.com/tierlink/tierlink/notification"
	"github.com/tierlink/tierlink/projections"
)

// flakyReceiver is a webhook receiver for a test: one path per subscription, each
// with its secret. It checks every signature, fails at random while flaky (503 or a
// slow answer), hangs on the paths marked dead, and keeps, per path, the delivery
// ids it accepted with a 2xx in the order it accepted them.
type flakyReceiver struct {
	*httptest.Server
	mu       sync.Mutex
	rng      *rand.Rand
	flaky    bool
	down     bool
	secrets  map[string][]byte
	dead     map[string]bool
	accepted map[string][]string
	bodies   map[string]map[string][]byte
	bad      []string
}

func newFlakyReceiver(seed uint64) *flakyReceiver {
	f := &flakyReceiver{rng: rand.New(rand.NewPCG(seed, 7)), secrets: map[string][]byte{}, dead: map[string]bool{},
		accepted: map[string][]string{}, bodies: map[string]map[string][]byte{}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	return f
}

func (f *flakyReceiver) serve(w http.ResponseWriter, r *http.Request) {
	path := strings.Trim(r.URL.Path, "/")
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	secret, dead := f.secrets[path], f.dead[path]
	roll := f.rng.IntN(100)
	flaky, down := f.flaky, f.down
	f.mu.Unlock()
	if dead {
		<-r.Context().Done() // never answers: the sender's timeout ends it
		return
	}
	if err := webhook.Verify(secret, r.Header.Get(webhook.SignatureHeader), body, time.Now(), webhook.DefaultTolerance); err != nil {
		f.mu.Lock()
		f.bad = append(f.bad, fmt.Sprintf("%s: %v", path, err))
		f.mu.Unlock()
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	if down || (flaky && roll < 30) {
		http.Error(w, "try later", http.StatusServiceUnavailable)
		return
	}
	if flaky && roll < 40 {
		time.Sleep(30 * time.Millisecond)
	}
	id := r.Header.Get(webhook.DeliveryIDHeader)
	f.mu.Lock()
	f.accepted[path] = append(f.accepted[path], id)
	if f.bodies[path] == nil {
		f.bodies[path] = map[string][]byte{}
	}
	f.bodies[path][id] = body
	f.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// TestNotificationsArriveOnceAtLeastThroughOutagesAndACrash subscribes two providers,
// a community centre, an operator and an endpoint that never answers; drives
// referrals through their lives while the receiver fails at random; stops the node
// mid-delivery and starts another on the same Redis; then checks against the log
// that every notification it implies arrived at least once, with a valid signature,
// in order per referral, that the dead endpoint held nobody up, and that a provider
// heard of nothing but its own offers.
func TestNotificationsArriveOnceAtLeastThroughOutagesAndACrash(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("TIERLINK_NOTIFY_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (TIERLINK_NOTIFY_SEED=%d replays it)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	srv := redistest.Real(t)
	rcv := newFlakyReceiver(seed)
	defer rcv.Close()
	rcv.flaky = true
	opts := func(c *node.Config) {
		c.WebhookAllowHTTP = true
		c.Delivery = webhook.DispatcherConfig{BaseDelay: 5 * time.Millisecond, MaxDelay: 80 * time.Millisecond, Timeout: time.Second,
			BreakerOpen: 50 * time.Millisecond, PollInterval: 50 * time.Millisecond}
	}
	r := nodetest.StartWith(t, srv, "notify-a", 600*time.Millisecond, opts)

	youth := domain.Principal{Role: domain.RoleProvider, Provider: "changning-youth"}
	other := domain.Principal{Role: domain.RoleProvider, Provider: "other-org"}
	xinhua := domain.Principal{Role: domain.RoleCentre, Tier: domain.TierCommunity, Area: "xinhua-02"}
	operator := domain.Principal{Role: domain.RoleOperator}
	subs := map[string]domain.Principal{"youth": youth, "other": other, "xinhua": xinhua, "operator": operator, "dead": operator}
	subIDs := map[string]string{}
	for _, name := range []string{"youth", "other", "xinhua", "operator", "dead"} {
		p := subs[name]
		body, _ := json.Marshal(map[string]any{"district": "changning", "url": rcv.URL + "/" + name, "kinds": domain.KindsFor(p.Role)})
		code, _, out := r.Call(t, "POST", "/v1/subscriptions", string(body), "Authorization", "Bearer "+r.Token(t, p))
		if code != http.StatusCreated {
			t.Fatalf("subscribe %s: %d %v", name, code, out)
		}
		rcv.mu.Lock()
		rcv.secrets[name] = []byte(out["secret"].(string))
		rcv.dead[name] = name == "dead"
		rcv.mu.Unlock()
		subIDs[name] = out["subscription"].(map[string]any)["id"].(string)
	}

	// The other provider's offer serves another community: its referrals are its own.
	otherOffer, _ := json.Marshal(map[string]any{"provider": "other-org", "category": "material_aid", "capacity": 4,
		"scope": map[string]string{"tier": "community", "area": "xinhua-01"}})
	if code, _, out := r.Call(t, "POST", "/v1/offers", string(otherOffer)); code != http.StatusCreated {
		t.Fatalf("other offer: %d %v", code, out)
	}
	drive := func(r *nodetest.Running, rounds int) {
		r.Offer(t, "xinhua-02", "counselling", 2)
		for i := 0; i < rounds; i++ {
			var needs []string
			if rng.IntN(2) == 0 {
				needs = r.Register(t, "xinhua-02", "counselling")
			} else {
				needs = r.Register(t, "xinhua-01", "material_aid")
			}
			v := r.Need(t, needs[0], func(v projections.NeedView) bool { return v.Status != "open" })
			if v.Referral == nil || v.Status != "proposed" {
				continue
			}
			ref := v.Referral.ID
			switch rng.IntN(4) {
			case 0:
				r.Call(t, "POST", "/v1/referrals/"+ref+"/decline", `{"reason":"not_suitable"}`)
			default:
				if code, _, out := r.Call(t, "POST", "/v1/referrals/"+ref+"/accept", `{}`); code >= 300 {
					t.Fatalf("accept: %d %v", code, out)
				}
				r.Call(t, "POST", "/v1/referrals/"+ref+"/start", `{}`)
				if rng.IntN(2) == 0 {
					r.Call(t, "POST", "/v1/referrals/"+ref+"/complete", `{}`)
				}
			}
		}
	}
	drive(r, 12)
	// The receiver goes down: notifications queue up. Stop the node with them in
	// its queues and carry on with another.
	rcv.mu.Lock()
	rcv.down = true
	rcv.mu.Unlock()
	drive(r, 3)
	r.Settle(t)
	code, _, sub := r.Call(t, "GET", "/v1/subscriptions/"+subIDs["operator"], "", "Authorization", "Bearer "+r.Token(t, operator))
	if depth, _ := sub["queue_depth"].(float64); code != http.StatusOK || depth == 0 {
		t.Fatalf("nothing waits for the operator when the node stops (%d %v): the test proves nothing of a crash", code, sub)
	}
	r.Stop()
	rcv.mu.Lock()
	rcv.down = false
	rcv.mu.Unlock()
	r2 := nodetest.StartWith(t, srv, "notify-b", 600*time.Millisecond, opts)
	drive(r2, 12)
	rcv.mu.Lock()
	rcv.flaky = false
	rcv.mu.Unlock()
	r2.Settle(t)

	// What the log implies, by the same rules, read back from the log itself.
	ctx := context.Background()
	state, err := notification.NewState(notification.Config{Partition: "changning", Zone: projections.Zone})
	if err != nil {
		t.Fatal(err)
	}
	var want []notification.Notification
	for from := int64(1); ; {
		entries, err := r2.Node.Store().ReadPartition(ctx, "changning", from, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) == 0 {
			break
		}
		out, err := state.Apply(adapters.DomainEntries(entries))
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, out.Notifications...)
		from = entries[len(entries)-1].Position + 1
	}
	nameOf := map[string]string{}
	for name, id := range subIDs {
		nameOf[id] = name
	}
	expected := map[string][]notification.Notification{}
	for _, n := range want {
		expected[nameOf[n.Subscription]] = append(expected[nameOf[n.Subscription]], n)
	}
	for _, name := range []string{"youth", "other", "xinhua", "operator"} {
		if len(expected[name]) == 0 {
			t.Fatalf("the log implies no notification for %s: the test drives nothing it can check", name)
		}
	}
	// Wait, boundedly, for everything but the dead endpoint to arrive.
	deadline := time.Now().Add(30 * time.Second)
	missing := func() (string, int) {
		rcv.mu.Lock()
		defer rcv.mu.Unlock()
		for _, name := range []string{"youth", "other", "xinhua", "operator"} {
			got := map[string]bool{}
			for _, id := range rcv.accepted[name] {
				got[id] = true
			}
			n := 0
			for _, x := range expected[name] {
				if !got[x.DeliveryID] {
					n++
				}
			}
			if n > 0 {
				return name, n
			}
		}
		return "", 0
	}
	for name, n := missing(); n > 0; name, n = missing() {
		if time.Now().After(deadline) {
			t.Fatalf("after 30 s, %d notifications for %s never arrived (seed %d)", n, name, seed)
		}
		time.Sleep(20 * time.Millisecond)
	}
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if len(rcv.bad) > 0 {
		t.Fatalf("requests with a bad signature: %v", rcv.bad[:min(5, len(rcv.bad))])
	}
	// The dead endpoint is still failing: it held nobody up.
	if len(rcv.accepted["dead"]) != 0 {
		t.Fatalf("the dead endpoint accepted %d", len(rcv.accepted["dead"]))
	}
	offersOf := map[string]string{}
	// In order per key: the first arrivals of one key's notifications are in log order.
	for name, list := range expected {
		if name == "dead" {
			continue
		}
		index := map[string]int{}
		keyOf := map[string]string{}
		for i, n := range list {
			index[n.DeliveryID], keyOf[n.DeliveryID] = i, n.Key
		}
		seen := map[string]bool{}
		last := map[string]int{}
		for _, id := range rcv.accepted[name] {
			if seen[id] {
				continue // a second delivery, after the crash: the id lets a receiver drop it
			}
			seen[id] = true
			i, ok := index[id]
			if !ok {
				t.Fatalf("%s received %s, which the log does not imply", name, id)
			}
			k := keyOf[id]
			if prev, ok := last[k]; ok && prev > i {
				t.Fatalf("%s: notifications of %s arrived out of order (seed %d)", name, k, seed)
			}
			last[k] = i
		}
	}
	// A provider hears of its own offers only, and of no household before acceptance.
	entries, err := r2.Node.Store().ReadPartition(ctx, "changning", 1, 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if p, ok := e.Event.Payload.(domain.OfferPosted); ok {
			offersOf[e.Event.AggregateID] = p.Provider
		}
	}
	for name, provider := range map[string]string{"youth": "changning-youth", "other": "other-org"} {
		for id, body := range rcv.bodies[name] {
			var m struct {
				Data map[string]any `json:"data"`
			}
			if err := json.Unmarshal(body, &m); err != nil {
				t.Fatal(err)
			}
			if o, _ := m.Data["offer_id"].(string); offersOf[o] != provider {
				t.Fatalf("%s (%s) received %s about another's offer: %s", name, provider, id, body)
			}
			for _, k := range []string{"household_id", "need_id", "street", "reason"} {
				if _, ok := m.Data[k]; ok {
					t.Fatalf("%s received %q: %s", name, k, body)
				}
			}
		}
	}
	t.Logf("delivered: youth %d, other %d, xinhua %d, operator %d (expected %d, %d, %d, %d)",
		len(rcv.accepted["youth"]), len(rcv.accepted["other"]), len(rcv.accepted["xinhua"]), len(rcv.accepted["operator"]),
		len(expected["youth"]), len(expected["other"]), len(expected["xinhua"]), len(expected["operator"]))
}
