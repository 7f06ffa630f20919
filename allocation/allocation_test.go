package allocation

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// problem is one input of Solve, printable on failure.
type problem struct {
	needs    int
	capacity []int
	edges    []Edge
}

func (p problem) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "needs=%d capacity=%v edges:", p.needs, p.capacity)
	for i, e := range p.edges {
		fmt.Fprintf(&b, "\n  %d: need %d offer %d value %d", i, e.Need, e.Offer, e.Value)
	}
	return b.String()
}

// check returns the total value of out, or an error if out is not a feasible answer to p.
func check(p problem, out []int) (int64, error) {
	if len(out) != p.needs {
		return 0, fmt.Errorf("got %d results for %d needs", len(out), p.needs)
	}
	used := make([]int, len(p.capacity))
	var total int64
	for n, i := range out {
		if i == -1 {
			continue
		}
		if i < 0 || i >= len(p.edges) {
			return 0, fmt.Errorf("need %d: edge %d out of range", n, i)
		}
		e := p.edges[i]
		if e.Need != n {
			return 0, fmt.Errorf("need %d got edge %d, which belongs to need %d", n, i, e.Need)
		}
		if e.Value <= 0 {
			return 0, fmt.Errorf("need %d got edge %d of value %d", n, i, e.Value)
		}
		used[e.Offer]++
		total += e.Value
	}
	for o, u := range used {
		if u > p.capacity[o] {
			return 0, fmt.Errorf("offer %d: %d units used, capacity %d", o, u, p.capacity[o])
		}
	}
	return total, nil
}

// bruteForce returns the best total over all assignments of at most one edge per need.
func bruteForce(p problem) int64 {
	byNeed := make([][]Edge, p.needs)
	for _, e := range p.edges {
		byNeed[e.Need] = append(byNeed[e.Need], e)
	}
	left := slices.Clone(p.capacity)
	var rec func(n int) int64
	rec = func(n int) int64 {
		if n == p.needs {
			return 0
		}
		best := rec(n + 1) // need n unserved
		for _, e := range byNeed[n] {
			if left[e.Offer] == 0 {
				continue
			}
			left[e.Offer]--
			best = max(best, e.Value+rec(n+1))
			left[e.Offer]++
		}
		return best
	}
	return rec(0)
}

func randomProblem(r *rand.Rand, maxNeeds, maxOffers, maxCap, maxEdges int, lo, hi int64) problem {
	p := problem{needs: r.IntN(maxNeeds + 1)}
	p.capacity = make([]int, 1+r.IntN(maxOffers))
	for o := range p.capacity {
		p.capacity[o] = r.IntN(maxCap + 1)
	}
	if p.needs == 0 {
		return p
	}
	m := r.IntN(maxEdges + 1)
	for range m {
		e := Edge{Need: r.IntN(p.needs), Offer: r.IntN(len(p.capacity)), Value: lo + r.Int64N(hi-lo+1)}
		p.edges = append(p.edges, e)
		if r.IntN(8) == 0 { // a parallel edge, sometimes of the same value
			f := e
			if r.IntN(2) == 0 {
				f.Value = lo + r.Int64N(hi-lo+1)
			}
			p.edges = append(p.edges, f)
		}
	}
	return p
}

func TestSolveMatchesBruteForce(t *testing.T) {
	const seed = 20260501
	r := rand.New(rand.NewPCG(seed, 0))
	cases := 6000
	if testing.Short() {
		cases = 1000
	}
	for c := range cases {
		var p problem
		switch c % 3 {
		case 0: // small values: many ties
			p = randomProblem(r, 7, 4, 3, 14, -5, 20)
		case 1: // few values: more ties still
			p = randomProblem(r, 7, 4, 3, 14, -1, 3)
		default: // large values: overflow would show
			p = randomProblem(r, 7, 4, 3, 14, -MaxValue, MaxValue)
		}
		out, err := Solve(p.needs, p.capacity, p.edges)
		if err != nil {
			t.Fatalf("seed %d case %d: %v\n%v", seed, c, err, p)
		}
		got, err := check(p, out)
		if err != nil {
			t.Fatalf("seed %d case %d: %v\nresult %v\n%v", seed, c, err, out, p)
		}
		if want := bruteForce(p); got != want {
			t.Fatalf("seed %d case %d: total %d, optimum %d\nresult %v\n%v", seed, c, got, want, out, p)
		}
	}
}

func TestSolveDeterministic(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for c := range 50 {
		p := randomProblem(r, 300, 40, 4, 3000, -3, 6) // small value range: plenty of tied optima
		a, err := Solve(p.needs, p.capacity, p.edges)
		if err != nil {
			t.Fatal(err)
		}
		b, err := Solve(p.needs, slices.Clone(p.capacity), slices.Clone(p.edges))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(a, b) {
			t.Fatalf("case %d: two runs differ:\n%v\n%v", c, a, b)
		}
	}
}

func TestSolveInvalid(t *testing.T) {
	for _, tc := range []struct {
		name     string
		needs    int
		capacity []int
		edges    []Edge
		mention  string
	}{
		{"negative needs", -1, nil, nil, "needs"},
		{"too many needs", MaxNeeds + 1, nil, nil, "needs"},
		{"negative capacity", 1, []int{1, -1}, nil, "capacity -1"},
		{"need below range", 2, []int{1}, []Edge{{Need: -1, Offer: 0, Value: 1}}, "need -1"},
		{"need above range", 2, []int{1}, []Edge{{Need: 0, Offer: 0, Value: 1}, {Need: 2, Offer: 0, Value: 1}}, "edge 1 has need 2"},
		{"offer below range", 1, []int{1}, []Edge{{Need: 0, Offer: -1, Value: 1}}, "offer -1"},
		{"offer above range", 1, []int{1}, []Edge{{Need: 0, Offer: 1, Value: 1}}, "offer 1"},
		{"offer without offers", 1, nil, []Edge{{Need: 0, Offer: 0, Value: 1}}, "offer 0"},
		{"value too large", 1, []int{1}, []Edge{{Need: 0, Offer: 0, Value: MaxValue + 1}}, "value"},
		{"value too small", 1, []int{1}, []Edge{{Need: 0, Offer: 0, Value: -MaxValue - 1}}, "value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := Solve(tc.needs, tc.capacity, tc.edges)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, %v; want an error wrapping ErrInvalid", out, err)
			}
			if !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("error %q does not mention %q", err, tc.mention)
			}
		})
	}
	// The bounds themselves are valid.
	if _, err := Solve(1, []int{0}, []Edge{{0, 0, MaxValue}, {0, 0, -MaxValue}}); err != nil {
		t.Errorf("values at ±MaxValue: %v", err)
	}
	if out, err := Solve(0, nil, nil); err != nil || len(out) != 0 {
		t.Errorf("empty problem: %v, %v", out, err)
	}
}

// A two-level objective: serve as many urgent needs as possible (primary), and among
// those allocations prefer the closer offers (secondary, always smaller than one primary step).
func TestSolveLexicographic(t *testing.T) {
	const big = 1000
	// Needs 0 and 1 are urgent (primary 1), need 2 is not (primary 0 but still wanted).
	// Offer 0 (capacity 1) is close to everyone, offer 1 (capacity 1) is far.
	// Secondary: closeness, 0..9.
	type cand struct {
		need, offer int
		primary     int64
		closeness   int64
	}
	cands := []cand{
		{0, 0, 1, 9}, {0, 1, 1, 1},
		{1, 0, 1, 8}, // need 1 can only use offer 0
		{2, 0, 0, 9}, {2, 1, 0, 9},
	}
	var edges []Edge
	for _, c := range cands {
		edges = append(edges, Edge{Need: c.need, Offer: c.offer, Value: (c.primary+1)*big + c.closeness})
	}
	out, err := Solve(3, []int{1, 1}, edges)
	if err != nil {
		t.Fatal(err)
	}
	// Primary optimum: both urgent needs served (need 1 → offer 0, need 0 → offer 1),
	// although need 0 is closer to offer 0 and need 2 is as close to offer 1.
	want := []int{1, 2, -1}
	if !slices.Equal(out, want) {
		t.Fatalf("got %v, want %v", out, want)
	}

	// Secondary among primary optima: two urgent needs, two offers both reachable by both;
	// need 0 is much closer to offer 1, need 1 slightly closer to offer 0 than to offer 1.
	edges = []Edge{
		{0, 0, 2*big + 2}, {0, 1, 2*big + 9},
		{1, 0, 2*big + 5}, {1, 1, 2*big + 4},
		{2, 0, 1*big + 9}, // not urgent: loses on primary even with the best closeness
	}
	out, err = Solve(3, []int{1, 1}, edges)
	if err != nil {
		t.Fatal(err)
	}
	want = []int{1, 2, -1} // closeness 9 + 5 beats 2 + 4
	if !slices.Equal(out, want) {
		t.Fatalf("got %v, want %v", out, want)
	}
}

func TestSolveSmallCases(t *testing.T) {
	for _, tc := range []struct {
		name     string
		needs    int
		capacity []int
		edges    []Edge
		want     []int
	}{
		{"no edges", 2, []int{3}, nil, []int{-1, -1}},
		{"non-positive values are never taken", 2, []int{3}, []Edge{{0, 0, 0}, {1, 0, -4}}, []int{-1, -1}},
		{"zero capacity", 1, []int{0}, []Edge{{0, 0, 5}}, []int{-1}},
		{"best parallel edge counts", 1, []int{1}, []Edge{{0, 0, 3}, {0, 0, 7}, {0, 0, 5}}, []int{1}},
		{"equal parallel edges: the first", 1, []int{1}, []Edge{{0, 0, 7}, {0, 0, 7}}, []int{0}},
		{"capacity shared", 3, []int{2}, []Edge{{0, 0, 1}, {1, 0, 3}, {2, 0, 2}}, []int{-1, 1, 2}},
		{"max weight, not max cardinality", 2, []int{1, 1}, []Edge{{0, 0, 10}, {0, 1, 1}, {1, 0, 1}}, []int{0, -1}},
		{"augmenting path", 2, []int{1, 1}, []Edge{{0, 0, 5}, {0, 1, 4}, {1, 0, 5}}, []int{1, 2}},
		{"ties: earlier need keeps the unit", 2, []int{1}, []Edge{{0, 0, 5}, {1, 0, 5}}, []int{0, -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := Solve(tc.needs, tc.capacity, tc.edges)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(out, tc.want) {
				t.Fatalf("got %v, want %v", out, tc.want)
			}
		})
	}
}

// flowNet is a plain residual network for the reference solvers: arc i and i^1 are a pair.
type flowNet struct {
	head, next, to []int
	capa           []int
	cost           []int64
}

func (g *flowNet) arc(u, v, c int, cost int64) {
	for _, a := range [2]struct {
		u, v, c int
		cost    int64
	}{{u, v, c, cost}, {v, u, 0, -cost}} {
		g.to = append(g.to, a.v)
		g.capa = append(g.capa, a.c)
		g.cost = append(g.cost, a.cost)
		g.next = append(g.next, g.head[a.u])
		g.head[a.u] = len(g.to) - 1
	}
}

// referenceSolve is the textbook formulation: source → need (1, 0) → offer (1 per edge, −value)
// → sink (capacity, 0), augmenting one unit along a shortest source–sink path while that path
// costs less than 0. With dijkstra false it finds the paths with Bellman–Ford (queue-based),
// with no potentials at all; with dijkstra true it uses Dijkstra on Johnson potentials.
// It returns the total value.
func referenceSolve(p problem, dijkstra bool) int64 {
	src, sink := p.needs+len(p.capacity), p.needs+len(p.capacity)+1
	nodes := sink + 1
	g := &flowNet{head: make([]int, nodes)}
	for i := range g.head {
		g.head[i] = -1
	}
	for n := range p.needs {
		g.arc(src, n, 1, 0)
	}
	for _, e := range p.edges {
		g.arc(e.Need, p.needs+e.Offer, 1, -e.Value)
	}
	for o, c := range p.capacity {
		g.arc(p.needs+o, sink, c, 0)
	}

	const inf = math.MaxInt64
	dist := make([]int64, nodes)
	via := make([]int, nodes)
	pi := make([]int64, nodes)
	// Feasible initial potentials, the graph being a DAG: needs 0, an offer at most minus its values, the sink below all offers.
	for _, e := range p.edges {
		pi[p.needs+e.Offer] = min(pi[p.needs+e.Offer], -e.Value)
	}
	for o := range p.capacity {
		pi[sink] = min(pi[sink], pi[p.needs+o])
	}

	var total int64
	for {
		for i := range dist {
			dist[i], via[i] = inf, -1
		}
		dist[src] = 0
		if dijkstra {
			done := make([]bool, nodes)
			var h nodeHeap
			h.push(heapItem{0, int32(src)})
			for len(h) > 0 {
				it := h.pop()
				u := int(it.node)
				if done[u] || it.dist != dist[u] {
					continue
				}
				done[u] = true
				for a := g.head[u]; a >= 0; a = g.next[a] {
					v := g.to[a]
					if g.capa[a] == 0 {
						continue
					}
					nd := dist[u] + g.cost[a] + pi[u] - pi[v]
					if nd < dist[v] {
						dist[v], via[v] = nd, a
						h.push(heapItem{nd, int32(v)})
					}
				}
			}
		} else {
			queue, inQueue := []int{src}, make([]bool, nodes)
			inQueue[src] = true
			for len(queue) > 0 {
				u := queue[0]
				queue = queue[1:]
				inQueue[u] = false
				for a := g.head[u]; a >= 0; a = g.next[a] {
					v := g.to[a]
					if g.capa[a] > 0 && dist[u]+g.cost[a] < dist[v] {
						dist[v], via[v] = dist[u]+g.cost[a], a
						if !inQueue[v] {
							inQueue[v] = true
							queue = append(queue, v)
						}
					}
				}
			}
		}
		if dist[sink] == inf {
			return total
		}
		pathCost := dist[sink]
		if dijkstra {
			pathCost += pi[sink] - pi[src]
			d := dist[sink]
			for i := range pi {
				pi[i] += min(dist[i], d)
			}
		}
		if pathCost >= 0 {
			return total
		}
		total -= pathCost
		for v := sink; v != src; v = g.to[via[v]^1] {
			g.capa[via[v]]--
			g.capa[via[v]^1]++
		}
	}
}

// Medium problems, out of reach of the brute force: Solve's total must equal both references'.
func TestSolveMatchesReference(t *testing.T) {
	const seed = 99
	r := rand.New(rand.NewPCG(seed, 3))
	for c := range 80 {
		var p problem
		switch c % 4 {
		case 0:
			p = randomProblem(r, 120, 15, 6, 1200, -20, 100)
		case 3:
			p = randomProblem(r, 120, 15, 6, 1200, -MaxValue, MaxValue)
		case 1:
			p = randomProblem(r, 120, 30, 2, 600, 0, 3)
		default:
			p = benchProblem(100+r.IntN(100), 10+r.IntN(10), 1+r.IntN(6), 1+r.IntN(20), -100, 1000, uint64(c))
		}
		out, err := Solve(p.needs, p.capacity, p.edges)
		if err != nil {
			t.Fatal(err)
		}
		got, err := check(p, out)
		if err != nil {
			t.Fatalf("seed %d case %d: %v\n%v", seed, c, err, p)
		}
		for _, dijkstra := range []bool{false, true} {
			if want := referenceSolve(p, dijkstra); got != want {
				t.Fatalf("seed %d case %d: total %d, reference (dijkstra %v) %d\n%v", seed, c, got, dijkstra, want, p)
			}
		}
	}
}

// BenchmarkReference times the textbook formulation (one Dijkstra over the whole network per unit)
// on BenchmarkSolve's problems, for comparison.
func BenchmarkReference(b *testing.B) {
	for _, n := range []int{100, 1000} {
		p := benchProblem(n, n/10, 5, 20, -100, 1000, uint64(n))
		b.Run(fmt.Sprintf("needs=%d", n), func(b *testing.B) {
			for b.Loop() {
				referenceSolve(p, true)
			}
		})
	}
}

// benchProblem is a round shaped like the matcher's: every need has perEdge candidate offers
// (possibly repeated) out of offers with the given capacity, values in [lo, hi].
func benchProblem(needs, offers, capacity, perNeed int, lo, hi int64, seed uint64) problem {
	r := rand.New(rand.NewPCG(seed, 1))
	p := problem{needs: needs, capacity: make([]int, offers)}
	for o := range p.capacity {
		p.capacity[o] = capacity
	}
	for n := range needs {
		for range perNeed {
			p.edges = append(p.edges, Edge{Need: n, Offer: r.IntN(offers), Value: lo + r.Int64N(hi-lo+1)})
		}
	}
	return p
}

// BenchmarkSolve: ~20 edges per need, offers = needs/10 with capacity 5 (half the needs can be served).
// Measured on the 2-core dev machine, shared, so ±40% between runs (ns/op, -benchtime 3x):
// needs 100: 0.19–0.34 ms; 1,000: 5.5–7.2 ms; 10,000: 150–230 ms; 20,000: 0.46–0.76 s.
// BenchmarkShapes: round 16–19 ms; offline 0.54–0.82 s; offline-equal 37–61 ms; offline-1to3 55–110 ms.
// BenchmarkReference (the textbook version, one Dijkstra over the whole network per unit):
// 100: 1.4–1.8 ms; 1,000: 160–270 ms, about 30× Solve and growing quadratically.
func BenchmarkSolve(b *testing.B) {
	for _, n := range []int{100, 1000, 10000, 20000} {
		p := benchProblem(n, n/10, 5, 20, -100, 1000, uint64(n))
		b.Run(fmt.Sprintf("needs=%d", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := Solve(p.needs, p.capacity, p.edges); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkShapes: a matcher round (2,000 needs × 20 edges, 200 offers of capacity 5)
// and an offline oracle problem (20,000 needs × 30 edges, 2,000 offers of capacity 5),
// the latter also with tied values (all equal, or 1 to 3), where the searches are widest.
func BenchmarkShapes(b *testing.B) {
	for _, s := range []struct {
		name                    string
		needs, offers, cap, per int
		lo, hi                  int64
	}{
		{"round", 2000, 200, 5, 20, -100, 1000},
		{"offline", 20000, 2000, 5, 30, -100, 1000},
		{"offline-equal", 20000, 2000, 5, 30, 10, 10},
		{"offline-1to3", 20000, 2000, 5, 30, 1, 3},
	} {
		p := benchProblem(s.needs, s.offers, s.cap, s.per, s.lo, s.hi, 42)
		b.Run(s.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := Solve(p.needs, p.capacity, p.edges); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
