// Package allocation solves max-weight b-matching exactly: needs take at most one unit,
// offers give at most their capacity, and the sum of the chosen edges' values is maximal.
//
// The solver is min-cost flow by successive shortest paths on the network
// source → need (cap 1, cost 0) → offer (cap 1 per edge, cost −value) → sink (cap capacity, cost 0)
// plus an arc need → sink (cap 1, cost 0) meaning "this need stays unserved". With that arc every
// need can be routed, so needs are added one at a time, each by one shortest path from it to the
// sink, and after need i the flow is optimal for needs 0..i. A path ending on the new need's own
// "unserved" arc changes nothing: that is where the textbook version, which searches from all free
// needs at once, stops because the cheapest augmenting path no longer costs less than 0.
//
// Each path is found by Dijkstra on reduced costs (Johnson potentials, a binary heap, ties by node
// index). It stops once no node left is closer than the best way to the sink found so far, and an
// arc into the sink is looked at when its tail is first reached, not when it is settled: with
// tied values most searches then end at once instead of sweeping the whole zero-cost region.
package allocation

import (
	"errors"
	"fmt"
	"slices"
)

// Edge says that a need may take a unit of an offer, and what that is worth.
type Edge struct {
	Need, Offer int
	Value       int64
}

// ErrInvalid is wrapped by Solve's errors for a malformed problem.
var ErrInvalid = errors.New("allocation: invalid problem")

// MaxValue bounds |Edge.Value|; MaxNeeds bounds the needs of one problem (so sums fit in int64).
const (
	MaxValue = 1 << 40
	MaxNeeds = 1 << 20
)

// Solve assigns each need at most one edge and each offer at most capacity[offer] edges,
// maximising the sum of the chosen edges' values; an edge of value ≤ 0 is never chosen.
// It returns, per need, the index in edges of its chosen edge, or -1.
// Ties between optimal assignments are broken deterministically: the result depends only on the input (same input, same output).
func Solve(needs int, capacity []int, edges []Edge) ([]int, error) {
	if err := validate(needs, capacity, edges); err != nil {
		return nil, err
	}
	s := newSolver(needs, capacity, edges)
	for n := range needs {
		s.add(int32(n))
	}
	out := make([]int, needs)
	for n := range out {
		out[n] = -1
		if a := s.match[n]; a >= 0 {
			out[n] = int(s.arcEdge[a])
		}
	}
	return out, nil
}

func validate(needs int, capacity []int, edges []Edge) error {
	if needs < 0 || needs > MaxNeeds {
		return fmt.Errorf("%w: %d needs, want 0 to %d", ErrInvalid, needs, MaxNeeds)
	}
	if len(capacity) > 1<<30 || len(edges) > 1<<30 {
		return fmt.Errorf("%w: %d offers and %d edges, want at most %d of each", ErrInvalid, len(capacity), len(edges), 1<<30)
	}
	for o, c := range capacity {
		if c < 0 {
			return fmt.Errorf("%w: offer %d has capacity %d, want ≥ 0", ErrInvalid, o, c)
		}
	}
	for i, e := range edges {
		switch {
		case e.Need < 0 || e.Need >= needs:
			return fmt.Errorf("%w: edge %d has need %d, want 0 to %d", ErrInvalid, i, e.Need, needs-1)
		case e.Offer < 0 || e.Offer >= len(capacity):
			return fmt.Errorf("%w: edge %d has offer %d, want 0 to %d", ErrInvalid, i, e.Offer, len(capacity)-1)
		case e.Value > MaxValue || e.Value < -MaxValue:
			return fmt.Errorf("%w: edge %d has value %d, want |value| ≤ %d", ErrInvalid, i, e.Value, int64(MaxValue))
		}
	}
	return nil
}

// solver holds the residual network. Nodes 0..needs-1 are needs, needs..needs+offers-1 are offers;
// the source and the sink are implicit, and the sink's potential is always 0.
type solver struct {
	needs int32

	// Arcs need → offer, grouped by need (CSR): only edges worth more than 0 to offers
	// with capacity, the best edge (then the lowest index) per need and offer.
	start    []int32 // per need, len needs+1
	arcOffer []int32
	arcValue []int64
	arcEdge  []int32 // index in the caller's edges

	capacity []int
	match    []int32   // per need, its arc in use or -1
	holders  [][]int32 // per offer, the needs matched to it
	pos      []int32   // per need, its index in holders of its offer

	// Johnson potentials per node: the reduced cost c(u,v) + pi[u] - pi[v] is ≥ 0 on every residual arc.
	// They stay within ±MaxValue, so no sum below overflows: an offer starts at 0 and only goes down,
	// and its arc to the sink (if spare) or back to a holder n (whose arc to the sink gives pi[n] ≥ 0)
	// keeps it ≥ -MaxValue; a matched need is between 0 and its value plus its offer's potential.
	pi   []int64
	dist []int64
	seen []int32 // dist[v] is valid when seen[v] == round
	done []int32 // v is settled when done[v] == round
	pred []int32 // per offer node, the arc it was reached by
	vis  []int32 // nodes settled this round
	heap nodeHeap

	round int32
}

func newSolver(needs int, capacity []int, edges []Edge) *solver {
	nodes := needs + len(capacity)
	s := &solver{
		needs:    int32(needs),
		capacity: capacity,
		match:    make([]int32, needs),
		holders:  make([][]int32, len(capacity)),
		pos:      make([]int32, needs),
		pi:       make([]int64, nodes),
		dist:     make([]int64, nodes),
		seen:     make([]int32, nodes),
		done:     make([]int32, nodes),
		pred:     make([]int32, nodes),
	}
	for n := range s.match {
		s.match[n] = -1
	}

	// Bucket the useful edges by need, keeping the input order inside a bucket.
	start := make([]int32, needs+1)
	for _, e := range edges {
		if e.Value > 0 && capacity[e.Offer] > 0 {
			start[e.Need+1]++
		}
	}
	for n := range needs {
		start[n+1] += start[n]
	}
	order := make([]int32, start[needs])
	fill := slices.Clone(start[:needs])
	for i, e := range edges {
		if e.Value > 0 && capacity[e.Offer] > 0 {
			order[fill[e.Need]] = int32(i)
			fill[e.Need]++
		}
	}

	// Per need: sort by offer, best value first, then lowest index; keep the first per offer.
	s.start = make([]int32, needs+1)
	s.arcOffer = make([]int32, 0, len(order))
	s.arcValue = make([]int64, 0, len(order))
	s.arcEdge = make([]int32, 0, len(order))
	for n := range needs {
		group := order[start[n]:start[n+1]]
		slices.SortFunc(group, func(a, b int32) int {
			ea, eb := &edges[a], &edges[b]
			if ea.Offer != eb.Offer {
				return ea.Offer - eb.Offer
			}
			if ea.Value != eb.Value {
				if ea.Value > eb.Value {
					return -1
				}
				return 1
			}
			return int(a - b)
		})
		last := -1
		for _, i := range group {
			e := &edges[i]
			if e.Offer == last {
				continue
			}
			last = e.Offer
			s.arcOffer = append(s.arcOffer, int32(e.Offer))
			s.arcValue = append(s.arcValue, e.Value)
			s.arcEdge = append(s.arcEdge, i)
		}
		s.start[n+1] = int32(len(s.arcOffer))
	}
	return s
}

// add routes need src: one shortest path from it to the sink in the residual network,
// then augments along it and updates the potentials of the nodes it settled.
func (s *solver) add(src int32) {
	s.round++
	round, needs := s.round, s.needs

	// The new need has no incoming residual arc, so any potential large enough
	// to make its outgoing reduced costs non-negative will do.
	var p int64
	for a := s.start[src]; a < s.start[src+1]; a++ {
		p = max(p, s.pi[needs+s.arcOffer[a]]+s.arcValue[a])
	}
	if p == 0 {
		return // no edge worth taking
	}
	s.pi[src] = p

	// best is the tentative distance of the sink and end the node before it:
	// a need (leaving it unserved) or an offer (using spare capacity).
	// Leaving src unserved comes first, so it wins ties and earlier needs keep their units.
	best, end := p, src
	s.vis = s.vis[:0]
	s.heap = s.heap[:0]
	s.dist[src], s.seen[src] = 0, round
	s.heap.push(heapItem{0, src})
	for len(s.heap) > 0 {
		it := s.heap.pop()
		u, d := it.node, it.dist
		if s.done[u] == round || d != s.dist[u] {
			continue
		}
		if d >= best {
			break
		}
		s.done[u] = round
		s.vis = append(s.vis, u)
		pu := s.pi[u]
		if u < needs {
			for a := s.start[u]; a < s.start[u+1]; a++ {
				if a == s.match[u] {
					continue
				}
				v := needs + s.arcOffer[a]
				if s.done[v] == round {
					continue
				}
				nd := d + pu - s.pi[v] - s.arcValue[a]
				if nd < best && (s.seen[v] != round || nd < s.dist[v]) {
					s.dist[v], s.seen[v], s.pred[v] = nd, round, a
					s.heap.push(heapItem{nd, v})
					if o := s.arcOffer[a]; len(s.holders[o]) < s.capacity[o] && nd+s.pi[v] < best {
						best, end = nd+s.pi[v], v // the offer has a spare unit
					}
				}
			}
			continue
		}
		for _, v := range s.holders[u-needs] {
			// v is matched to o: taking its unit back is worth its value.
			if s.done[v] == round {
				continue
			}
			nd := d + pu - s.pi[v] + s.arcValue[s.match[v]]
			if nd < best && (s.seen[v] != round || nd < s.dist[v]) {
				s.dist[v], s.seen[v] = nd, round
				s.heap.push(heapItem{nd, v})
				if nd+s.pi[v] < best {
					best, end = nd+s.pi[v], v // v becomes unserved
				}
			}
		}
	}

	// Potentials: settled nodes move by their distance minus the sink's, the others stay,
	// which keeps every residual reduced cost non-negative.
	for _, u := range s.vis {
		s.pi[u] += s.dist[u] - best
	}

	// Augment backwards from the sink.
	var o int32
	if end < needs {
		if end == src {
			return
		}
		a := s.match[end]
		o = s.arcOffer[a]
		s.release(end, o)
		s.match[end] = -1
	} else {
		o = end - needs
	}
	for {
		a := s.pred[needs+o]
		n := s.needOf(a)
		old := s.match[n]
		if old >= 0 {
			s.release(n, s.arcOffer[old])
		}
		s.match[n] = a
		s.pos[n] = int32(len(s.holders[o]))
		s.holders[o] = append(s.holders[o], n)
		if n == src {
			return
		}
		o = s.arcOffer[old]
	}
}

// needOf returns the need an arc leaves from.
func (s *solver) needOf(a int32) int32 {
	n, _ := slices.BinarySearch(s.start, a+1)
	return int32(n - 1)
}

// release takes need n out of the holders of offer o.
func (s *solver) release(n, o int32) {
	h := s.holders[o]
	i := s.pos[n]
	last := h[len(h)-1]
	h[i], s.pos[last] = last, i
	s.holders[o] = h[:len(h)-1]
}

type heapItem struct {
	dist int64
	node int32
}

// nodeHeap is a binary min-heap ordered by distance, then node index.
type nodeHeap []heapItem

func (h nodeHeap) less(i, j int) bool {
	return h[i].dist < h[j].dist || h[i].dist == h[j].dist && h[i].node < h[j].node
}

func (h *nodeHeap) push(it heapItem) {
	*h = append(*h, it)
	q := *h
	for i := len(q) - 1; i > 0; {
		p := (i - 1) / 2
		if !q.less(i, p) {
			break
		}
		q[i], q[p] = q[p], q[i]
		i = p
	}
}

func (h *nodeHeap) pop() heapItem {
	q := *h
	top := q[0]
	n := len(q) - 1
	q[0] = q[n]
	q = q[:n]
	for i := 0; ; {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && q.less(r, l) {
			m = r
		}
		if !q.less(m, i) {
			break
		}
		q[i], q[m] = q[m], q[i]
		i = m
	}
	*h = q
	return top
}
