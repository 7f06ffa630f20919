// Package projectionstest holds read models in memory, for the tests of the
// packages that write or read them through projections.Store.
package projectionstest

import (
	"context"
	"sort"
	"sync"

	"github.com/tierlink/tierlink/projections"
)

// Memory is a projections.Store in memory: documents, ordered indexes and counters,
// with the store's rule that a commit at or below a projection's checkpoint writes
// nothing. Tests read its fields directly once the projection has written.
type Memory struct {
	mu          sync.Mutex
	checkpoints map[string]int64
	// Docs holds each document under "<model>/<id>".
	Docs map[string][]byte
	// Indexes holds each ordered index's members with their scores.
	Indexes map[string]map[string]float64
	// Groups holds each group of counters, by field.
	Groups map[string]map[string]int64
}

// NewMemory returns an empty store.
func NewMemory() *Memory {
	return &Memory{checkpoints: map[string]int64{}, Docs: map[string][]byte{},
		Indexes: map[string]map[string]float64{}, Groups: map[string]map[string]int64{}}
}

// Checkpoint returns the last position a projection committed (0 if none).
func (m *Memory) Checkpoint(_ context.Context, name string) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.checkpoints[name], nil
}

// Get returns a document of a model, and whether it exists.
func (m *Memory) Get(_ context.Context, model, id string) ([]byte, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.Docs[model+"/"+id]
	return b, ok, nil
}

// GetMany returns documents of a model by id, in order; a missing one is nil.
func (m *Memory) GetMany(_ context.Context, model string, ids []string) ([][]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([][]byte, len(ids))
	for i, id := range ids {
		out[i] = m.Docs[model+"/"+id]
	}
	return out, nil
}

// Commit writes a run's changes and moves the projection's checkpoint, unless the
// checkpoint is at or past the position already.
func (m *Memory) Commit(_ context.Context, name string, position int64, ch projections.Changes) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if position <= m.checkpoints[name] {
		return nil
	}
	for _, d := range ch.Docs {
		m.Docs[d.Model+"/"+d.ID] = d.Body
	}
	for _, ix := range ch.Indexes {
		if m.Indexes[ix.Index] == nil {
			m.Indexes[ix.Index] = map[string]float64{}
		}
		if ix.Remove {
			delete(m.Indexes[ix.Index], ix.Member)
		} else {
			m.Indexes[ix.Index][ix.Member] = ix.Score
		}
	}
	for _, c := range ch.Counters {
		if m.Groups[c.Counters] == nil {
			m.Groups[c.Counters] = map[string]int64{}
		}
		m.Groups[c.Counters][c.Field] += c.Delta
	}
	m.checkpoints[name] = position
	return nil
}

// Member is one member of an ordered index.
type Member struct {
	ID    string
	Score float64
}

// Members lists an index's members by score, then id.
func (m *Memory) Members(index string) []Member {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Member, 0, len(m.Indexes[index]))
	for id, s := range m.Indexes[index] {
		out = append(out, Member{ID: id, Score: s})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Score != out[j].Score {
			return out[i].Score < out[j].Score
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// IndexMembers returns every member of an index (projections.IndexReader).
func (m *Memory) IndexMembers(_ context.Context, index string) ([]string, error) {
	var out []string
	for _, x := range m.Members(index) {
		out = append(out, x.ID)
	}
	return out, nil
}
