package main

// The chaos test: the tierlink binary on a real redis-server that writes every
// change to its AOF before it answers (appendfsync always), driven by concurrent
// clients sending every kind of command and retrying each with the same
// Idempotency-Key and body until it gets an answer, while the server is killed
// with SIGKILL at random moments (and Redis once). Afterwards the log is read and
// checked (chaos_check_test.go): every acknowledged command is in it exactly
// once, no answer contradicts it, and the invariants hold at every position.
//
// In CI it runs about 30 s with at least 10 kills; a longer run:
//
//	go test -run TestChaos -chaos.duration=5m -v ./cmd/tierlink/

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/redistest"
	"github.com/tierlink/tierlink/infra/tokens"
)

var (
	chaosDuration = flag.Duration("chaos.duration", 30*time.Second, "how long the chaos test sends commands and kills the server")
	chaosKills    = flag.Int("chaos.kills", 10, "the fewest kill -9 of the server the chaos test makes (it runs on past its duration until then)")
	chaosClients  = flag.Int("chaos.clients", 6, "concurrent clients of the chaos test")
	chaosSeed     = flag.Uint64("chaos.seed", 0, "the chaos test's seed (0: a new one, logged)")
)

// The chaos test's district, its nodes, providers and categories: a street of
// three communities, where some categories are on a community's capability list
// and some on none (they start at the street tier).
const chaosDistrict = "changning"

var (
	chaosCommunities = []string{"huayang-01", "huayang-02", "huayang-03"}
	chaosStreet      = "huayang"
	chaosProviders   = []string{"chaos-p1", "chaos-p2", "chaos-p3"}
	chaosCategories  = []string{"elderly_care", "counselling", "legal_aid", "respite_care"}
	chaosGroups      = []domain.TargetGroup{domain.GroupElderly, domain.GroupLowIncome, domain.GroupDisabled, domain.GroupLivingAlone, domain.GroupChildDifficulty}
	chaosUrgencies   = []string{"low", "normal", "high", "critical"}
)

func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the chaos test runs for half a minute at least")
	}
	seed := *chaosSeed
	if seed == 0 {
		seed = mrand.Uint64()
	}
	t.Logf("seed %d (rerun with -chaos.seed=%d; the kills' moments still differ)", seed, seed)
	dir := t.TempDir()
	bin := buildTierlink(t, dir)
	rds := redistest.Durable(t)
	client := rds.Server().Client(t)

	// Tokens for every principal the clients act as, issued as tierlink tokens create does.
	toks, err := tokens.NewStore(client)
	if err != nil {
		t.Fatal(err)
	}
	principals := []domain.Principal{{Role: domain.RoleCentre, Tier: domain.TierDistrict, Area: chaosDistrict},
		{Role: domain.RoleCentre, Tier: domain.TierStreet, Area: chaosStreet}}
	for _, c := range chaosCommunities {
		principals = append(principals, domain.Principal{Role: domain.RoleCentre, Tier: domain.TierCommunity, Area: c})
	}
	for _, p := range chaosProviders {
		principals = append(principals, domain.Principal{Role: domain.RoleProvider, Provider: p})
	}
	secrets := map[domain.Principal]string{}
	for _, p := range principals {
		s, _, err := toks.Create(context.Background(), p, "chaos "+p.String(), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		secrets[p] = s
	}

	srv := &tierlinkProcess{bin: bin, addr: freeAddr(t), redisURL: "redis://" + rds.Addr + "/0", logPath: filepath.Join(dir, "tierlink.log")}
	t.Cleanup(srv.kill)
	if err := srv.start(); err != nil {
		t.Fatal(err)
	}
	if err := srv.waitReady(2 * time.Minute); err != nil {
		t.Fatalf("tierlink did not start: %v\n%s", err, srv.tail())
	}

	d := &driver{url: "http://" + srv.addr, secrets: secrets, prefix: "chaos-" + randomHex(4) + "-", w: newWorld(),
		http: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}}
	stopNew := make(chan struct{})
	var clients sync.WaitGroup
	for i := 0; i < *chaosClients; i++ {
		clients.Add(1)
		go func(i int) {
			defer clients.Done()
			d.run(mrand.New(mrand.NewPCG(seed, uint64(i))), stopNew)
		}(i)
	}

	// The chaos: kill -9 the server at random moments, restart it at once; Redis once.
	rng := mrand.New(mrand.NewPCG(seed, 1<<32))
	began := time.Now()
	end := began.Add(*chaosDuration)
	giveUp := end.Add(*chaosDuration*2 + 2*time.Minute)
	redisKillAt := began.Add(*chaosDuration * 2 / 5)
	var kills, redisKills int
	var chaosErr error
	for time.Now().Before(end) || kills < *chaosKills {
		if time.Now().After(giveUp) {
			chaosErr = fmt.Errorf("only %d kills by %v: the server restarts too slowly", kills, time.Since(began).Round(time.Second))
			break
		}
		time.Sleep(time.Duration(300+rng.IntN(2200)) * time.Millisecond)
		if redisKills == 0 && time.Now().After(redisKillAt) {
			if err := rds.Kill(); err != nil {
				chaosErr = err
				break
			}
			redisKills++
			time.Sleep(time.Duration(rng.IntN(800)) * time.Millisecond)
			if err := rds.Restart(); err != nil {
				chaosErr = err
				break
			}
			continue
		}
		srv.kill()
		kills++
		if err := srv.start(); err != nil {
			chaosErr = err
			break
		}
		if err := srv.waitReady(2 * time.Minute); err != nil {
			chaosErr = fmt.Errorf("after kill %d: %w", kills, err)
			break
		}
	}
	close(stopNew)
	chaosTime := time.Since(began)
	if chaosErr != nil {
		t.Errorf("chaos: %v\n%s", chaosErr, srv.tail())
	}
	// The server stays up now: every command in flight gets its answer.
	if err := srv.waitReady(2 * time.Minute); err != nil {
		t.Fatalf("tierlink did not come back for the last answers: %v\n%s", err, srv.tail())
	}
	finished := make(chan struct{})
	go func() { clients.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(3 * time.Minute):
		d.giveUp.Store(true)
		<-finished
	}
	srv.kill() // a still log for the checks
	exits := srv.exits.Load()

	cmds := d.commands()
	rep := checkLog(t, client, d.prefix, cmds)
	acked, refused, unanswered, attempts := 0, 0, 0, 0
	for _, c := range cmds {
		attempts += c.attempts
		switch {
		case !c.answered:
			unanswered++
		case c.status < 300:
			acked++
		default:
			refused++
		}
	}
	t.Logf("chaos summary: %v of chaos, %d clients: %d commands sent (%d attempts), %d acknowledged, %d refused, %d unanswered; "+
		"%d server kills (kill -9), %d Redis kill, %d server exits on its own; log of %d entries (%d commands; "+
		"proposals at tiers 1/2/3: %d/%d/%d, %d escalations, %d waitlistings); "+
		"lost %d, duplicated %d, contradicted %d, invariant violations %d",
		chaosTime.Round(time.Second), *chaosClients, len(cmds), attempts, acked, refused, unanswered,
		kills, redisKills, exits, rep.entries, rep.commandIDs, rep.proposed[1], rep.proposed[2], rep.proposed[3], rep.escalated, rep.waitlisted,
		len(rep.lost), len(rep.duplicated), len(rep.contradicted), len(rep.violations))
	t.Logf("by kind (sent/acknowledged/refused/retried):\n%s", byKind(cmds))
	if len(rep.contradictedBy) > 0 {
		var by []string
		for k, n := range rep.contradictedBy {
			by = append(by, fmt.Sprintf("%s: %d", k, n))
		}
		sort.Strings(by)
		t.Logf("contradicted answers by kind and status: %s", strings.Join(by, ", "))
	}
	if kills < *chaosKills {
		t.Errorf("%d server kills, want at least %d", kills, *chaosKills)
	}
	if unanswered > 0 {
		t.Errorf("%d commands got no answer within 3 minutes of the last kill (every retry failed)", unanswered)
	}
	report := func(what string, list []string) {
		if len(list) == 0 {
			return
		}
		sort.Strings(list)
		shown := list[:min(len(list), 15)]
		t.Errorf("%d %s:\n  %s", len(list), what, strings.Join(shown, "\n  "))
	}
	report("acknowledged commands lost (not in the log)", rep.lost)
	report("commands that took effect more than once", rep.duplicated)
	report("answers that contradict the log", rep.contradicted)
	report("invariant violations", rep.violations)
	if acked == 0 || rep.matched == 0 {
		t.Errorf("%d commands acknowledged, %d found in the log by their key: the test checks nothing (has the command id's form changed? see commandKey)", acked, rep.matched)
	}
}

// buildTierlink builds the binary under test into dir.
func buildTierlink(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "tierlink")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// tierlinkProcess is the tierlink serve under test: started, killed with SIGKILL
// and started again on the same address, its output appended to one log file.
type tierlinkProcess struct {
	bin, addr, redisURL, logPath string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	// exits counts the times it stopped on its own (and was started again).
	exits atomic.Int64
}

func (p *tierlinkProcess) start() error {
	f, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(f, "---- start %s\n", time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(p.bin, "serve", "--addr", p.addr, "--consumer", "chaos", "--tick", "2s")
	cmd.Env = append(os.Environ(), "REDIS_URL="+p.redisURL)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start tierlink: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); f.Close(); close(exited) }()
	p.mu.Lock()
	p.cmd, p.exited = cmd, exited
	p.mu.Unlock()
	return nil
}

// kill stops the server with SIGKILL and waits until it is gone.
func (p *tierlinkProcess) kill() {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-exited
}

// waitReady waits until /healthz answers 200, starting the server again whenever it
// stopped on its own (it exits when Redis does not answer at its start).
func (p *tierlinkProcess) waitReady(within time.Duration) error {
	deadline := time.Now().Add(within)
	c := &http.Client{Timeout: 2 * time.Second}
	for time.Now().Before(deadline) {
		p.mu.Lock()
		exited := p.exited
		p.mu.Unlock()
		select {
		case <-exited:
			p.exits.Add(1)
			time.Sleep(100 * time.Millisecond)
			if err := p.start(); err != nil {
				return err
			}
			continue
		default:
		}
		resp, err := c.Get("http://" + p.addr + "/healthz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("tierlink at %s not ready within %v", p.addr, within)
}

// tail is the end of the server's log, for a failure message.
func (p *tierlinkProcess) tail() string {
	b, _ := os.ReadFile(p.logPath)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// command is one command a client sent, with every attempt's outcome folded into
// its final answer.
type command struct {
	kind      string
	key       string
	principal domain.Principal
	method    string
	path      string
	body      []byte
	attempts  int
	answered  bool
	status    int
	answer    []byte
	lastErr   string
	// target names what the command acts on (a referral, need or offer id), for the checks.
	target string
}

// world is what the clients know of the district from their answers.
type world struct {
	mu         sync.Mutex
	households []chaosHousehold
	needs      []chaosNeed
	offers     []chaosOffer
	accepted   []chaosReferral // to start
	started    []chaosReferral // to complete
}

type chaosHousehold struct{ id, community string }
type chaosNeed struct{ id, community string }
type chaosOffer struct{ id, provider string }
type chaosReferral struct{ id, offer string }

func newWorld() *world { return &world{} }

func (w *world) providerOf(offer string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, o := range w.offers {
		if o.id == offer {
			return o.provider
		}
	}
	return ""
}

// driver sends the clients' commands and keeps them all.
type driver struct {
	url     string
	secrets map[domain.Principal]string
	prefix  string
	http    *http.Client
	w       *world
	seq     atomic.Int64
	giveUp  atomic.Bool

	mu   sync.Mutex
	sent []*command
}

func (d *driver) commands() []*command {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]*command(nil), d.sent...)
}

func centre(tier int, area string) domain.Principal {
	return domain.Principal{Role: domain.RoleCentre, Tier: tier, Area: area}
}

func provider(id string) domain.Principal {
	return domain.Principal{Role: domain.RoleProvider, Provider: id}
}

// run is one client: it sends commands until stop is closed, each until answered.
func (d *driver) run(rng *mrand.Rand, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		d.step(rng)
	}
}

// step picks one command that the client knows a target for, sends it and
// learns from its answer.
func (d *driver) step(rng *mrand.Rand) {
	w := d.w
	pick := rng.IntN(100)
	switch {
	case pick < 8:
		d.registerHousehold(rng)
	case pick < 11:
		d.registerBatch(rng)
	case pick < 16:
		h, ok := anyOf(&w.mu, &w.households, rng)
		if !ok {
			d.registerHousehold(rng)
			return
		}
		body := map[string]any{"needs": []map[string]any{{"category": chaosCategories[rng.IntN(len(chaosCategories))], "urgency": chaosUrgencies[rng.IntN(4)]}}}
		c := d.send("register_needs", centre(domain.TierCommunity, h.community), "/v1/households/"+h.id+"/needs", body, h.id)
		d.learnNeeds(c, h.community)
	case pick < 28:
		d.postOffer(rng)
	case pick < 35:
		o, ok := anyOf(&w.mu, &w.offers, rng)
		if !ok {
			d.postOffer(rng)
			return
		}
		if pick < 33 {
			d.send("change_capacity", provider(o.provider), "/v1/offers/"+o.id+"/capacity", map[string]any{"capacity": 1 + rng.IntN(8)}, o.id)
		} else {
			d.send("withdraw_offer", provider(o.provider), "/v1/offers/"+o.id+"/withdraw", map[string]any{}, o.id)
		}
	case pick < 40:
		n, ok := anyOf(&w.mu, &w.needs, rng)
		if !ok {
			d.registerHousehold(rng)
			return
		}
		d.send("withdraw_need", centre(domain.TierCommunity, n.community), "/v1/needs/"+n.id+"/withdraw", map[string]any{"note": "chaos"}, n.id)
	case pick < 80:
		d.answerOne(rng)
	case pick < 92:
		r, ok := w.take(&w.accepted, rng)
		if !ok {
			d.answerOne(rng)
			return
		}
		c := d.send("start", provider(d.w.providerOf(r.offer)), "/v1/referrals/"+r.id+"/start", map[string]any{}, r.id)
		if c.answered && c.status < 300 {
			w.mu.Lock()
			w.started = append(w.started, r)
			w.mu.Unlock()
		}
	default:
		r, ok := w.take(&w.started, rng)
		if !ok {
			d.answerOne(rng)
			return
		}
		d.send("complete", provider(d.w.providerOf(r.offer)), "/v1/referrals/"+r.id+"/complete", map[string]any{}, r.id)
	}
}

// anyOf picks an element of a list of the world's at random, if it has one.
func anyOf[T any](mu *sync.Mutex, list *[]T, rng *mrand.Rand) (T, bool) {
	mu.Lock()
	defer mu.Unlock()
	var zero T
	if len(*list) == 0 {
		return zero, false
	}
	return (*list)[rng.IntN(len(*list))], true
}

// take removes a referral at random from a list of the world's, if it has one.
func (w *world) take(list *[]chaosReferral, rng *mrand.Rand) (chaosReferral, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(*list) == 0 {
		return chaosReferral{}, false
	}
	i := rng.IntN(len(*list))
	r := (*list)[i]
	*list = append((*list)[:i], (*list)[i+1:]...)
	return r, true
}

func householdBody(rng *mrand.Rand, community string) map[string]any {
	var groups []domain.TargetGroup
	for _, g := range chaosGroups {
		if rng.IntN(3) == 0 {
			groups = append(groups, g)
		}
	}
	var needs []map[string]any
	for _, i := range rng.Perm(len(chaosCategories))[:1+rng.IntN(2)] {
		needs = append(needs, map[string]any{"category": chaosCategories[i], "urgency": chaosUrgencies[rng.IntN(4)]})
	}
	return map[string]any{"community": community, "target_groups": groups, "needs": needs,
		"assessment": map[string]int{"income": rng.IntN(5), "health": rng.IntN(5), "housing": rng.IntN(5)}}
}

// registrar is a centre that may register in the community: its own, its street's or the district's.
func registrar(rng *mrand.Rand, community string) domain.Principal {
	switch rng.IntN(3) {
	case 0:
		return centre(domain.TierCommunity, community)
	case 1:
		return centre(domain.TierStreet, chaosStreet)
	}
	return centre(domain.TierDistrict, chaosDistrict)
}

func (d *driver) registerHousehold(rng *mrand.Rand) {
	community := chaosCommunities[rng.IntN(len(chaosCommunities))]
	c := d.send("register_household", registrar(rng, community), "/v1/households", householdBody(rng, community), "")
	d.learnHousehold(c.answered && c.status < 300, c.answer, community)
}

func (d *driver) registerBatch(rng *mrand.Rand) {
	n := 2 + rng.IntN(2)
	var hs []map[string]any
	var communities []string
	for range n {
		community := chaosCommunities[rng.IntN(len(chaosCommunities))]
		communities = append(communities, community)
		hs = append(hs, householdBody(rng, community))
	}
	who := centre(domain.TierStreet, chaosStreet)
	if rng.IntN(2) == 0 {
		who = centre(domain.TierDistrict, chaosDistrict)
	}
	c := d.send("register_batch", who, "/v1/households/batch", map[string]any{"households": hs}, "")
	if !c.answered || c.status >= 300 {
		return
	}
	var res struct {
		Results []struct {
			Status int             `json:"status"`
			Result json.RawMessage `json:"result"`
		} `json:"results"`
	}
	if json.Unmarshal(c.answer, &res) != nil {
		return
	}
	for i, r := range res.Results {
		if i < len(communities) {
			d.learnHousehold(r.Status < 300, r.Result, communities[i])
		}
	}
}

func (d *driver) learnHousehold(ok bool, answer []byte, community string) {
	if !ok {
		return
	}
	var res struct {
		HouseholdID string `json:"household_id"`
		Needs       []struct {
			NeedID string `json:"need_id"`
		} `json:"needs"`
	}
	if json.Unmarshal(answer, &res) != nil || res.HouseholdID == "" {
		return
	}
	d.w.mu.Lock()
	defer d.w.mu.Unlock()
	d.w.households = append(d.w.households, chaosHousehold{res.HouseholdID, community})
	for _, n := range res.Needs {
		d.w.needs = append(d.w.needs, chaosNeed{n.NeedID, community})
	}
}

func (d *driver) learnNeeds(c *command, community string) {
	if !c.answered || c.status >= 300 {
		return
	}
	var res struct {
		Needs []struct {
			NeedID string `json:"need_id"`
		} `json:"needs"`
	}
	if json.Unmarshal(c.answer, &res) != nil {
		return
	}
	d.w.mu.Lock()
	defer d.w.mu.Unlock()
	for _, n := range res.Needs {
		d.w.needs = append(d.w.needs, chaosNeed{n.NeedID, community})
	}
}

func (d *driver) postOffer(rng *mrand.Rand) {
	p := chaosProviders[rng.IntN(len(chaosProviders))]
	scope := map[string]string{"tier": "community", "area": chaosCommunities[rng.IntN(len(chaosCommunities))]}
	switch rng.IntN(4) {
	case 2:
		scope = map[string]string{"tier": "street", "area": chaosStreet}
	case 3:
		scope = map[string]string{"tier": "district", "area": chaosDistrict}
	}
	body := map[string]any{"category": chaosCategories[rng.IntN(len(chaosCategories))], "capacity": 1 + rng.IntN(6), "scope": scope}
	c := d.send("post_offer", provider(p), "/v1/offers", body, "")
	if !c.answered || c.status >= 300 {
		return
	}
	var res struct {
		OfferID string `json:"offer_id"`
	}
	if json.Unmarshal(c.answer, &res) == nil && res.OfferID != "" {
		d.w.mu.Lock()
		d.w.offers = append(d.w.offers, chaosOffer{res.OfferID, p})
		d.w.mu.Unlock()
	}
}

// answerOne reads a random node's inbox as its centre and answers one referral in
// it: accept, decline or escalate.
func (d *driver) answerOne(rng *mrand.Rand) {
	nodes := []domain.Principal{centre(domain.TierStreet, chaosStreet), centre(domain.TierDistrict, chaosDistrict)}
	for _, c := range chaosCommunities {
		nodes = append(nodes, centre(domain.TierCommunity, c))
	}
	who := nodes[rng.IntN(len(nodes))]
	var page struct {
		Items []struct {
			ReferralID string `json:"referral_id"`
			OfferID    string `json:"offer_id"`
		} `json:"items"`
	}
	status, body, err := d.do(http.MethodGet, "/v1/inboxes/"+domain.TierName(who.Tier)+"/"+who.Area+"?limit=20", who, "", nil)
	if err != nil || status != http.StatusOK || json.Unmarshal(body, &page) != nil || len(page.Items) == 0 {
		time.Sleep(20 * time.Millisecond) // nothing to answer there now
		return
	}
	it := page.Items[rng.IntN(len(page.Items))]
	k := rng.IntN(10) // 0-4 accept, 5-6 decline, 7-9 escalate
	if who.Tier == domain.TierDistrict && k >= 7 {
		k = rng.IntN(7) // the district is the top tier: nothing to escalate to
	}
	switch {
	case k < 5:
		c := d.send("accept", who, "/v1/referrals/"+it.ReferralID+"/accept", map[string]any{}, it.ReferralID)
		if c.answered && c.status < 300 {
			d.w.mu.Lock()
			d.w.accepted = append(d.w.accepted, chaosReferral{it.ReferralID, it.OfferID})
			d.w.mu.Unlock()
		}
	case k < 7:
		d.send("decline", who, "/v1/referrals/"+it.ReferralID+"/decline", map[string]any{"reason": "not_suitable", "note": "chaos"}, it.ReferralID)
	default:
		d.send("escalate", who, "/v1/referrals/"+it.ReferralID+"/escalate", map[string]any{}, it.ReferralID)
	}
}

// send sends one command with a key of its own and retries it, with the same key
// and body, on every failure to get an answer (no connection, a timeout, a 5xx),
// until it is answered or the test gives up.
func (d *driver) send(kind string, who domain.Principal, path string, body any, target string) *command {
	b, err := json.Marshal(body)
	if err != nil {
		panic(err)
	}
	c := &command{kind: kind, key: d.prefix + strconv.FormatInt(d.seq.Add(1), 10), principal: who, method: http.MethodPost, path: path, body: b, target: target}
	d.mu.Lock()
	d.sent = append(d.sent, c)
	d.mu.Unlock()
	backoff := 50 * time.Millisecond
	for !d.giveUp.Load() {
		// net/http resends a request that carries an Idempotency-Key by itself when
		// a kept-alive connection dies under it (the server killed): every write of
		// the request is an attempt, or the answer to a resent first attempt looks
		// like a replay to a command sent once.
		trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { c.attempts++ }}
		status, answer, err := d.doTraced(httptrace.WithClientTrace(context.Background(), trace), c.method, c.path, who, c.key, c.body)
		if err == nil && status < 500 {
			c.answered, c.status, c.answer = true, status, answer
			return c
		}
		if err != nil {
			c.lastErr = err.Error()
		} else {
			c.lastErr = fmt.Sprintf("%d %s", status, bytes.TrimSpace(answer))
		}
		time.Sleep(backoff + time.Duration(mrand.Int64N(int64(backoff))))
		backoff = min(backoff*2, time.Second)
	}
	return c
}

// do sends one request as a principal and returns its status and body.
func (d *driver) do(method, path string, who domain.Principal, key string, body []byte) (int, []byte, error) {
	return d.doTraced(context.Background(), method, path, who, key, body)
}

// doTraced is do under a context (one that carries an httptrace.ClientTrace).
func (d *driver) doTraced(ctx context.Context, method, path string, who domain.Principal, key string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, d.url+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+d.secrets[who])
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := d.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, fmt.Errorf("read the answer: %w", err)
	}
	return resp.StatusCode, out, nil
}

// byKind tabulates the commands by kind.
func byKind(cmds []*command) string {
	type row struct{ sent, acked, refused, retried int }
	rows := map[string]*row{}
	statuses := map[string]map[int]int{}
	for _, c := range cmds {
		r := rows[c.kind]
		if r == nil {
			r = &row{}
			rows[c.kind] = r
			statuses[c.kind] = map[int]int{}
		}
		r.sent++
		if c.attempts > 1 {
			r.retried++
		}
		if c.answered {
			statuses[c.kind][c.status]++
			if c.status < 300 {
				r.acked++
			} else {
				r.refused++
			}
		}
	}
	var kinds []string
	for k := range rows {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	var sb strings.Builder
	for _, k := range kinds {
		r := rows[k]
		var st []string
		for s, n := range statuses[k] {
			st = append(st, fmt.Sprintf("%d×%d", n, s))
		}
		sort.Strings(st)
		fmt.Fprintf(&sb, "  %-18s %5d %5d %5d %5d   %s\n", k, r.sent, r.acked, r.refused, r.retried, strings.Join(st, " "))
	}
	return sb.String()
}
