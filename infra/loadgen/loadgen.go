// Package loadgen drives a running tierlink's HTTP API with concurrent clients and
// measures it, beside the raw rate of the event store's append on the same Redis.
package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/eventlog"
)

// Config says what load to send.
type Config struct {
	// URL is the API's base URL, e.g. http://127.0.0.1:8080.
	URL string
	// CentreToken registers households (a district centre's token); ProviderToken posts offers.
	CentreToken, ProviderToken string
	// Communities and Categories are drawn from for households, needs and offers.
	Communities, Categories []string
	Clients                 int
	Duration                time.Duration
	// OfferOneIn makes one command in this many an offer (the others register a household with one need).
	OfferOneIn int
	Seed       uint64
	// Progress, if set, is told the commands sent so far, about ten times a second.
	Progress func(done int64, elapsed time.Duration)
	Client   *http.Client
}

// Latency percentiles of the commands, in milliseconds.
type Latency struct {
	P50  float64 `json:"p50_ms"`
	P99  float64 `json:"p99_ms"`
	P999 float64 `json:"p999_ms"`
	Max  float64 `json:"max_ms"`
}

// Report is what a load run measured.
type Report struct {
	Clients     int     `json:"clients"`
	Seconds     float64 `json:"seconds"`
	Commands    int64   `json:"commands"`
	Errors      int64   `json:"errors"`
	FirstError  string  `json:"first_error,omitempty"`
	CommandsSec float64 `json:"commands_per_s"`
	Latency     Latency `json:"latency"`
}

// Run sends commands from cfg.Clients clients for cfg.Duration.
func Run(ctx context.Context, cfg Config) (Report, error) {
	if cfg.URL == "" || cfg.CentreToken == "" || cfg.ProviderToken == "" || len(cfg.Communities) == 0 || len(cfg.Categories) == 0 {
		return Report{}, errors.New("loadgen: a URL, both tokens, communities and categories are required")
	}
	if cfg.Clients < 1 || cfg.Duration <= 0 {
		return Report{}, fmt.Errorf("loadgen: %d clients for %v: give at least one client and a duration", cfg.Clients, cfg.Duration)
	}
	if cfg.OfferOneIn < 1 {
		cfg.OfferOneIn = 20
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: cfg.Clients}}
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	var (
		sent, failed atomic.Int64
		mu           sync.Mutex
		latencies    []time.Duration
		firstErr     string
		wg           sync.WaitGroup
	)
	start := time.Now()
	for c := 0; c < cfg.Clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(cfg.Seed, uint64(c)))
			var mine []time.Duration
			for ctx.Err() == nil {
				t0 := time.Now()
				err := send(ctx, cfg, rng)
				if ctx.Err() != nil {
					break // cut off by the end of the run
				}
				mine = append(mine, time.Since(t0))
				sent.Add(1)
				if err != nil {
					failed.Add(1)
					mu.Lock()
					if firstErr == "" {
						firstErr = err.Error()
					}
					mu.Unlock()
				}
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			mu.Unlock()
		}()
	}
	if cfg.Progress != nil {
		go func() {
			t := time.NewTicker(100 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					cfg.Progress(sent.Load(), time.Since(start))
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	r := Report{Clients: cfg.Clients, Seconds: elapsed.Seconds(), Commands: sent.Load(), Errors: failed.Load(), FirstError: firstErr}
	r.CommandsSec = float64(r.Commands) / elapsed.Seconds()
	r.Latency = percentiles(latencies)
	return r, nil
}

// send sends one command: mostly a household with one need, now and then an offer.
func send(ctx context.Context, cfg Config, rng *rand.Rand) error {
	community := cfg.Communities[rng.IntN(len(cfg.Communities))]
	category := cfg.Categories[rng.IntN(len(cfg.Categories))]
	path, token := "/v1/households", cfg.CentreToken
	body := map[string]any{"community": community, "needs": []map[string]string{{"category": category}},
		"assessment": map[string]int{"income": rng.IntN(5), "health": rng.IntN(5)}}
	if rng.IntN(cfg.OfferOneIn) == 0 {
		path, token = "/v1/offers", cfg.ProviderToken
		body = map[string]any{"category": category, "capacity": 1 + rng.IntN(5),
			"scope": map[string]string{"tier": "community", "area": community}}
	}
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cfg.URL+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Idempotency-Key", "load-"+uuid.NewString())
	resp, err := cfg.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("POST %s: %d %s", path, resp.StatusCode, bytes.TrimSpace(out))
	}
	return nil
}

func percentiles(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	slices.Sort(ds)
	at := func(q float64) float64 {
		i := min(len(ds)-1, int(q*float64(len(ds))))
		return float64(ds[i].Microseconds()) / 1000
	}
	return Latency{P50: at(0.5), P99: at(0.99), P999: at(0.999), Max: float64(ds[len(ds)-1].Microseconds()) / 1000}
}

// RawAppend measures the event store's append on its own: clients writers append
// one registered need each to new aggregates of a scratch partition for the
// duration, which is deleted afterwards. It returns appends per second.
func RawAppend(ctx context.Context, client redis.UniversalClient, clients int, d time.Duration) (float64, error) {
	reg := domain.NewRegistry()
	store, err := eventlog.NewStore(client, reg, nil)
	if err != nil {
		return 0, err
	}
	p := "loadraw" + uuid.NewString()[:8]
	keys, err := eventlog.KeysFor(p)
	if err != nil {
		return 0, err
	}
	defer func() { _ = eventlog.UnlinkMatching(context.WithoutCancel(ctx), client, keys.Pattern()) }()
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var n atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				id := uuid.NewString()
				evs, err := reg.Envelop([]domain.Change{{Aggregate: domain.AggregateRef{Type: domain.AggregateNeed, ID: id},
					Payloads: []domain.Payload{domain.NeedRegistered{HouseholdID: id, Community: "c", Street: "s", Category: "counselling", Urgency: domain.UrgencyNormal, Hardship: 40}}}},
					domain.Meta{Partition: p, Time: time.Now(), Actor: "load", CommandID: id}, func() string { return uuid.NewString() })
				if err == nil {
					_, err = store.Append(ctx, evs)
				}
				if err != nil {
					if ctx.Err() == nil {
						firstErr.CompareAndSwap(nil, err)
					}
					continue
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	if err, ok := firstErr.Load().(error); ok {
		return 0, fmt.Errorf("raw append: %w", err)
	}
	return float64(n.Load()) / time.Since(start).Seconds(), nil
}
