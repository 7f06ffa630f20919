package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/eventlog"
)

// shanghai lists the sixteen districts of the surge's city.
var shanghai = []struct{ code, zh, en string }{
	{"huangpu", "黄浦区", "Huangpu"}, {"xuhui", "徐汇区", "Xuhui"}, {"changning", "长宁区", "Changning"}, {"jingan", "静安区", "Jing'an"},
	{"putuo", "普陀区", "Putuo"}, {"hongkou", "虹口区", "Hongkou"}, {"yangpu", "杨浦区", "Yangpu"}, {"minhang", "闵行区", "Minhang"},
	{"baoshan", "宝山区", "Baoshan"}, {"jiading", "嘉定区", "Jiading"}, {"pudong", "浦东新区", "Pudong"}, {"jinshan", "金山区", "Jinshan"},
	{"songjiang", "松江区", "Songjiang"}, {"qingpu", "青浦区", "Qingpu"}, {"fengxian", "奉贤区", "Fengxian"}, {"chongming", "崇明区", "Chongming"},
}

// Surge categories: food parcels and medicine.
const (
	Food     = "material_aid"
	Medicine = "medical_services"
)

// City returns a city of sixteen districts, each of streets streets of communities
// communities, with base's taxonomy and policy: the surge's geography. Every
// community links food itself; half of them medicine too.
func City(base *domain.Reference, streets, communities int) (*domain.Reference, error) {
	var ds []domain.DistrictNode
	for _, d := range shanghai {
		dn := domain.DistrictNode{Code: d.code, Name: domain.Text{Zh: d.zh, En: d.en + " District"}}
		for s := 1; s <= streets; s++ {
			sn := domain.StreetNode{Code: fmt.Sprintf("%s-s%02d", d.code, s), Name: domain.Text{Zh: fmt.Sprintf("%s第%d街道", d.zh, s), En: fmt.Sprintf("%s Street %d", d.en, s)}}
			for c := 1; c <= communities; c++ {
				caps := []string{Food}
				if c%2 == 0 {
					caps = append(caps, Medicine)
				}
				sn.Communities = append(sn.Communities, domain.CommunityNode{Code: fmt.Sprintf("%s-c%02d", sn.Code, c),
					Name: domain.Text{Zh: fmt.Sprintf("%s第%d社区", sn.Name.Zh, c), En: fmt.Sprintf("%s Community %d", sn.Name.En, c)}, Capabilities: caps})
			}
			dn.Streets = append(dn.Streets, sn)
		}
		ds = append(ds, dn)
	}
	cats := base.Taxonomy.Categories()
	return domain.NewReference(ds, cats, base.Policy)
}

// SurgeConfig says what surge to send and how to watch it.
type SurgeConfig struct {
	Store     *eventlog.Store
	Reference *domain.Reference
	// Needs and Offers are how many of each arrive over all districts (one need per household).
	Needs, Offers int
	// Batch is how many commands one append carries (default 256).
	Batch int
	Seed  uint64
	// Lag reads how many entries the matchers and projections have still to apply.
	Lag func(ctx context.Context) (matcher, projection int64, err error)
	// Redis, if set, is asked for its memory at each sample.
	Redis redis.UniversalClient
	// Sample is how often the lag and the memory are read (default 500ms).
	Sample time.Duration
	// ViewsTimeout bounds the wait for the read models after the matcher is done (default 10m).
	ViewsTimeout time.Duration
	// Progress, if set, is told each sample.
	Progress func(SurgeSample)
	// Absorbed, if set, is called once the matchers and read models have caught up,
	// after a GC (to take a heap profile).
	Absorbed func()
}

// SurgeSample is the state of a surge at a moment.
type SurgeSample struct {
	Seconds       float64 `json:"t_s"`
	Arrived       int64   `json:"needs_arrived"`
	MatcherLag    int64   `json:"matcher_lag"`
	ProjectionLag int64   `json:"projection_lag"`
	HeapMiB       float64 `json:"go_heap_mib"`
	RSSMiB        float64 `json:"process_rss_mib"`
	RedisMiB      float64 `json:"redis_used_mib,omitempty"`
}

// SurgeReport is what a surge measured.
type SurgeReport struct {
	Districts int `json:"districts"`
	Needs     int `json:"needs"`
	Offers    int `json:"offers"`
	// ArrivalSeconds is how long the needs took to arrive (appended in batches).
	ArrivalSeconds float64 `json:"arrival_s"`
	// AbsorbedSeconds is from the first need's arrival until the matchers have
	// decided on every need: each referred, held for an allocation round, or waitlisted.
	AbsorbedSeconds float64 `json:"absorbed_s"`
	// ViewsSeconds is from the first need's arrival until the read models hold every need.
	ViewsSeconds float64 `json:"read_models_s"`
	PeakHeapMiB  float64 `json:"peak_go_heap_mib"`
	PeakRSSMiB   float64 `json:"peak_process_rss_mib"`
	PeakRedisMiB float64 `json:"peak_redis_used_mib,omitempty"`
	// HeapPerNeed is the Go heap once everything has caught up (after a GC), per
	// need: the sixteen matchers' state, with the node's other parts.
	HeapPerNeed float64       `json:"heap_bytes_per_need"`
	Samples     []SurgeSample `json:"samples"`
}

// Surge posts cfg.Offers offers and then registers cfg.Needs households with one
// need each (food or medicine) across every district of the reference, appending
// them in batches from one writer per district as fast as Redis takes them, while
// the node's matchers and projections follow; it samples their lag and the memory
// until both have caught up.
func Surge(ctx context.Context, cfg SurgeConfig) (SurgeReport, error) {
	if cfg.Store == nil || cfg.Reference == nil || cfg.Lag == nil || cfg.Needs < 1 || cfg.Offers < 0 {
		return SurgeReport{}, errors.New("loadgen: a surge needs a store, reference data, a lag reader and at least one need")
	}
	if cfg.Batch == 0 {
		cfg.Batch = 256
	}
	if cfg.Sample == 0 {
		cfg.Sample = 500 * time.Millisecond
	}
	if cfg.ViewsTimeout == 0 {
		cfg.ViewsTimeout = 10 * time.Minute
	}
	districts := cfg.Reference.Geography.Districts()
	sg := &surge{cfg: cfg, districts: districts, reg: cfg.Store.Registry(), now: time.Now(),
		rep:       SurgeReport{Districts: len(districts), Needs: cfg.Needs, Offers: cfg.Offers},
		urgencies: []domain.Urgency{domain.UrgencyNormal, domain.UrgencyNormal, domain.UrgencyNormal, domain.UrgencyHigh, domain.UrgencyCritical},
		groups:    domain.AllTargetGroups()}
	if err := sg.write(ctx, sg.postOffer, cfg.Offers); err != nil {
		return sg.rep, err
	}

	sg.start = time.Now()
	sctx, stopSampling := context.WithCancel(ctx)
	var sampling sync.WaitGroup
	defer func() { stopSampling(); sampling.Wait() }()
	sampling.Go(func() { sg.sampleEvery(sctx) })
	if err := sg.write(ctx, sg.register, cfg.Needs); err != nil {
		return sg.rep, err
	}
	sg.rep.ArrivalSeconds = time.Since(sg.start).Seconds()
	if err := sg.waitCaughtUp(ctx); err != nil {
		return sg.rep, err
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	sg.rep.HeapPerNeed = float64(ms.HeapAlloc) / float64(cfg.Needs)
	if cfg.Absorbed != nil {
		cfg.Absorbed()
	}
	stopSampling()
	sampling.Wait()
	if _, err := sg.sample(ctx); err != nil {
		return sg.rep, err
	}
	if err := ctx.Err(); err != nil {
		return sg.rep, err
	}
	if sg.rep.ViewsSeconds == 0 {
		return sg.rep, fmt.Errorf("surge: the read models were still behind after %v", cfg.ViewsTimeout)
	}
	return sg.rep, nil
}

// surge is one surge under way: what it sends and what it has measured.
type surge struct {
	cfg       SurgeConfig
	districts []domain.DistrictNode
	reg       *domain.Registry
	now       time.Time // the time of every event it writes
	start     time.Time // when the needs began to arrive
	arrived   atomic.Int64
	mu        sync.Mutex // guards rep's samples and peaks
	rep       SurgeReport
	urgencies []domain.Urgency     // drawn from for each need (normal three times in five)
	groups    []domain.TargetGroup // a household's one group is drawn from these
}

// builder makes the events of a district's i-th command of a kind.
type builder func(d domain.DistrictNode, rng *rand.Rand, i int) ([]domain.Event, error)

// write appends total commands built by build, shared over the districts, from
// one writer per district in batches.
func (sg *surge) write(ctx context.Context, build builder, total int) error {
	var wg sync.WaitGroup
	errs := make([]error, len(sg.districts))
	for di, d := range sg.districts {
		share := total / len(sg.districts)
		if di < total%len(sg.districts) {
			share++
		}
		wg.Go(func() {
			errs[di] = sg.writeDistrict(ctx, d, rand.New(rand.NewPCG(sg.cfg.Seed, uint64(di))), build, share)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// writeDistrict appends a district's share of commands in batches.
func (sg *surge) writeDistrict(ctx context.Context, d domain.DistrictNode, rng *rand.Rand, build builder, share int) error {
	for done := 0; done < share && ctx.Err() == nil; {
		n := min(sg.cfg.Batch, share-done)
		cmds := make([]domain.Command, n)
		for i := range cmds {
			evs, err := build(d, rng, done+i)
			if err != nil {
				return err
			}
			cmds[i] = domain.Command{Events: evs}
		}
		outs, err := sg.cfg.Store.AppendBatch(ctx, cmds)
		if err == nil {
			for _, o := range outs {
				if o.Err != nil {
					err = o.Err
					break
				}
			}
		}
		if err != nil {
			return fmt.Errorf("surge in %s: %w", d.Code, err)
		}
		done += n
	}
	return nil
}

func (sg *surge) meta(d string) domain.Meta {
	return domain.Meta{Partition: d, Time: sg.now, Actor: "surge", CommandID: uuid.NewString()}
}

func surgeID() string { return uuid.Must(uuid.NewV7()).String() }

func communityOf(d domain.DistrictNode, rng *rand.Rand) (domain.StreetNode, domain.CommunityNode) {
	s := d.Streets[rng.IntN(len(d.Streets))]
	return s, s.Communities[rng.IntN(len(s.Communities))]
}

// postOffer builds an offer of food or medicine for a community, its street or
// the district.
func (sg *surge) postOffer(d domain.DistrictNode, rng *rand.Rand, _ int) ([]domain.Event, error) {
	s, c := communityOf(d, rng)
	cat := Food
	if rng.IntN(100) < 45 {
		cat = Medicine
	}
	scope := domain.Scope{Tier: domain.TierCommunity, Area: c.Code}
	switch r := rng.IntN(10); {
	case r == 0:
		scope = domain.Scope{Tier: domain.TierDistrict, Area: d.Code}
	case r < 4:
		scope = domain.Scope{Tier: domain.TierStreet, Area: s.Code}
	}
	changes, err := domain.DecidePostOffer(domain.Offer{}, domain.PostOffer{OfferID: surgeID(), Provider: "surge-" + d.Code, Category: cat,
		Capacity: 1 + rng.IntN(15), Scope: scope, ValidFrom: sg.now}, sg.cfg.Reference)
	if err != nil {
		return nil, err
	}
	return sg.reg.Envelop(changes, sg.meta(d.Code), surgeID)
}

// register builds a household of one target group with one need of food or medicine.
func (sg *surge) register(d domain.DistrictNode, rng *rand.Rand, _ int) ([]domain.Event, error) {
	_, c := communityOf(d, rng)
	cat := Food
	if rng.IntN(100) < 40 {
		cat = Medicine
	}
	changes, err := domain.DecideRegisterHousehold(domain.Household{}, domain.RegisterHousehold{HouseholdID: surgeID(), Community: c.Code,
		TargetGroups: []domain.TargetGroup{sg.groups[rng.IntN(len(sg.groups))]},
		Assessment:   domain.Assessment{domain.DimIncome: rng.IntN(5), domain.DimHealth: rng.IntN(5)},
		Needs:        []domain.NeedSpec{{NeedID: surgeID(), Category: cat, Urgency: sg.urgencies[rng.IntN(len(sg.urgencies))]}}}, sg.cfg.Reference)
	if err != nil {
		return nil, err
	}
	sg.arrived.Add(1)
	return sg.reg.Envelop(changes, sg.meta(d.Code), surgeID)
}

// sample reads the lag and the memory now, keeps the reading and its peaks, and
// tells Progress.
func (sg *surge) sample(ctx context.Context) (SurgeSample, error) {
	m, p, err := sg.cfg.Lag(ctx)
	if err != nil {
		return SurgeSample{}, err
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s := SurgeSample{Seconds: time.Since(sg.start).Seconds(), Arrived: sg.arrived.Load(), MatcherLag: m, ProjectionLag: p,
		HeapMiB: float64(ms.HeapAlloc) / (1 << 20), RSSMiB: rssMiB()}
	if sg.cfg.Redis != nil {
		s.RedisMiB = redisUsedMiB(ctx, sg.cfg.Redis)
	}
	sg.mu.Lock()
	sg.rep.Samples = append(sg.rep.Samples, s)
	sg.rep.PeakHeapMiB = max(sg.rep.PeakHeapMiB, s.HeapMiB)
	sg.rep.PeakRSSMiB = max(sg.rep.PeakRSSMiB, s.RSSMiB)
	sg.rep.PeakRedisMiB = max(sg.rep.PeakRedisMiB, s.RedisMiB)
	sg.mu.Unlock()
	if sg.cfg.Progress != nil {
		sg.cfg.Progress(s)
	}
	return s, nil
}

// sampleEvery samples at the configured interval until ctx ends.
func (sg *surge) sampleEvery(ctx context.Context) {
	t := time.NewTicker(sg.cfg.Sample)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_, _ = sg.sample(ctx)
		}
	}
}

// waitCaughtUp waits until the matchers have decided every need, then (for at most
// ViewsTimeout) until the read models hold them, noting when each was done.
func (sg *surge) waitCaughtUp(ctx context.Context) error {
	for ctx.Err() == nil {
		m, _, err := sg.cfg.Lag(ctx)
		if err != nil {
			return err
		}
		if m == 0 {
			sg.rep.AbsorbedSeconds = time.Since(sg.start).Seconds()
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	viewsEnd := time.Now().Add(sg.cfg.ViewsTimeout)
	for ctx.Err() == nil && time.Now().Before(viewsEnd) {
		_, p, err := sg.cfg.Lag(ctx)
		if err != nil {
			return err
		}
		if p == 0 {
			sg.rep.ViewsSeconds = time.Since(sg.start).Seconds()
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil
}

// rssMiB reads this process's resident memory from /proc (0 where there is none).
func rssMiB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// redisUsedMiB reads Redis's used_memory.
func redisUsedMiB(ctx context.Context, c redis.UniversalClient) float64 {
	info, err := c.Info(ctx, "memory").Result()
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			b, _ := strconv.ParseFloat(v, 64)
			return b / (1 << 20)
		}
	}
	return 0
}
