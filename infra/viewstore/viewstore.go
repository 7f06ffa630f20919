// Package viewstore keeps read-model documents, indexes, counters and checkpoints
// in Redis, in the partition's hash slot, each commit atomic with its checkpoint.
//
// The read models of a partition live in a generation (every key holds its
// number). Readers and the live projection use the current one; a rebuild writes
// the next generation from the log while the current one keeps serving, then
// switches to it in one atomic step once it holds the whole log, and drops the old.
package viewstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tierlink/tierlink/infra/eventlog"
	"github.com/tierlink/tierlink/projections"
)

// commitScript writes a run's documents, index and counter changes and the
// checkpoint, only if the position is new (so that an event takes effect at most
// once however often it is delivered) and the generation is still the expected one.
// KEYS[1] the current generation's key, KEYS[2] the checkpoint, then the documents'
// keys, then one key per index or counter change; ARGV[1] the generation expected
// ("*": any, for a rebuild), ARGV[2] the position, ARGV[3] the number of documents,
// their bodies, then for each index change: "a" (add) or "r" (remove), score,
// member; for each counter change: "c", delta, field. Returns 1 (written), 0 (the
// position was applied before) or -1 (the generation changed).
var commitScript = redis.NewScript(`
if ARGV[1] ~= '*' and (redis.call('GET', KEYS[1]) or '0') ~= ARGV[1] then return -1 end
local cp = tonumber(redis.call('GET', KEYS[2]) or '0')
local pos = tonumber(ARGV[2])
if pos <= cp then return 0 end
local nd = tonumber(ARGV[3])
for i = 1, nd do redis.call('SET', KEYS[2 + i], ARGV[3 + i]) end
local a = 4 + nd
for k = 3 + nd, #KEYS do
  if ARGV[a] == 'a' then
    redis.call('ZADD', KEYS[k], ARGV[a + 1], ARGV[a + 2])
  elseif ARGV[a] == 'c' then
    redis.call('HINCRBY', KEYS[k], ARGV[a + 2], ARGV[a + 1])
  else
    redis.call('ZREM', KEYS[k], ARGV[a + 2])
  end
  a = a + 3
end
redis.call('SET', KEYS[2], pos)
return 1
`)

// switchScript makes a generation current if its checkpoint is the log's head.
// KEYS[1] the current generation's key, KEYS[2] the generation's checkpoint,
// KEYS[3] the partition's state hash; ARGV[1] the generation.
var switchScript = redis.NewScript(`
local head = redis.call('HGET', KEYS[3], 'head') or '0'
if (redis.call('GET', KEYS[2]) or '0') ~= head then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
return 1
`)

// nextScript numbers a new generation, above the current one.
var nextScript = redis.NewScript(`
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local n = redis.call('INCR', KEYS[2])
if n <= cur then
  n = cur + 1
  redis.call('SET', KEYS[2], n)
end
return n
`)

// genTTL is how long a store trusts the generation it read: a reader may read the
// old generation for this long after a switch (which drops it only later).
const genTTL = time.Second

// Store is one partition's read-model store, in the current generation or in a
// fixed one (a rebuild's). It is safe for concurrent use.
type Store struct {
	client redis.UniversalClient
	keys   eventlog.Keys
	fixed  int64 // a rebuild's generation; -1 for the current one

	mu    sync.Mutex
	gen   int64
	genAt time.Time
}

// New returns the store of a partition's current generation.
func New(client redis.UniversalClient, partition string) (*Store, error) {
	return newStore(client, partition, -1)
}

// NewGeneration returns the store of one generation of a partition's read models.
func NewGeneration(client redis.UniversalClient, partition string, gen int64) (*Store, error) {
	if gen < 0 {
		return nil, fmt.Errorf("viewstore: generation %d", gen)
	}
	return newStore(client, partition, gen)
}

func newStore(client redis.UniversalClient, partition string, fixed int64) (*Store, error) {
	if client == nil {
		return nil, errors.New("viewstore: nil redis client")
	}
	keys, err := eventlog.KeysFor(partition)
	if err != nil {
		return nil, err
	}
	return &Store{client: client, keys: keys, fixed: fixed}, nil
}

// Generation returns the generation the store reads and writes.
func (s *Store) Generation(ctx context.Context) (int64, error) {
	if s.fixed >= 0 {
		return s.fixed, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.genAt.IsZero() && time.Since(s.genAt) < genTTL {
		return s.gen, nil
	}
	g, err := getInt(ctx, s.client, s.keys.ViewGeneration())
	if err != nil {
		return 0, err
	}
	s.gen, s.genAt = g, time.Now()
	return g, nil
}

// forget drops the generation read, so that the next call reads it again.
func (s *Store) forget() {
	s.mu.Lock()
	s.genAt = time.Time{}
	s.mu.Unlock()
}

func (s *Store) key(ctx context.Context, model, id string) (string, error) {
	g, err := s.Generation(ctx)
	if err != nil {
		return "", err
	}
	return s.keys.View(g, model, id), nil
}

// Checkpoint returns the last position a projection applied (0 if none).
func (s *Store) Checkpoint(ctx context.Context, name string) (int64, error) {
	k, err := s.key(ctx, "checkpoint", name)
	if err != nil {
		return 0, err
	}
	return getInt(ctx, s.client, k)
}

// Get returns a document of a model, and whether it exists.
func (s *Store) Get(ctx context.Context, model, id string) ([]byte, bool, error) {
	k, err := s.key(ctx, model, id)
	if err != nil {
		return nil, false, err
	}
	b, err := s.client.Get(ctx, k).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("get %s/%s: %w", model, id, err)
	}
	return b, true, nil
}

// Commit writes a run's changes and moves the checkpoint to position, atomically
// and at most once; it fails with projections.ErrGenerationChanged when a rebuild
// switched generations since the store read its own.
func (s *Store) Commit(ctx context.Context, name string, position int64, ch projections.Changes) error {
	g, err := s.Generation(ctx)
	if err != nil {
		return err
	}
	expected := "*"
	if s.fixed < 0 {
		expected = strconv.FormatInt(g, 10)
	}
	keys := make([]string, 0, 2+len(ch.Docs)+len(ch.Indexes)+len(ch.Counters))
	args := make([]any, 0, 3+len(ch.Docs)+3*len(ch.Indexes)+3*len(ch.Counters))
	keys = append(keys, s.keys.ViewGeneration(), s.keys.View(g, "checkpoint", name))
	args = append(args, expected, position, len(ch.Docs))
	for _, d := range ch.Docs {
		keys = append(keys, s.keys.View(g, d.Model, d.ID))
		args = append(args, d.Body)
	}
	for _, ix := range ch.Indexes {
		op := "a"
		if ix.Remove {
			op = "r"
		}
		keys = append(keys, s.keys.View(g, "index", ix.Index))
		args = append(args, op, ix.Score, ix.Member)
	}
	for _, c := range ch.Counters {
		keys = append(keys, s.keys.View(g, "counter", c.Counters))
		args = append(args, "c", c.Delta, c.Field)
	}
	n, err := commitScript.Run(ctx, s.client, keys, args...).Int()
	if err != nil {
		return fmt.Errorf("commit %s at %d: %w", name, position, err)
	}
	if n < 0 {
		s.forget()
		return fmt.Errorf("commit %s at %d: %w", name, position, projections.ErrGenerationChanged)
	}
	return nil
}

// Member is one member of an ordered index with its score.
type Member struct {
	ID    string
	Score float64
}

// Range returns up to limit members of an index in score order (ties by member),
// after the member after (with its score) when after.ID is set: a cursor.
func (s *Store) Range(ctx context.Context, index string, after Member, limit int) ([]Member, error) {
	k, err := s.key(ctx, "index", index)
	if err != nil {
		return nil, err
	}
	min := "-inf"
	if after.ID != "" {
		min = strconv.FormatFloat(after.Score, 'f', -1, 64)
	}
	// Members tied with the cursor's score come first; skip up to the cursor.
	var out []Member
	for offset := int64(0); len(out) < limit; {
		zs, err := s.client.ZRangeArgsWithScores(ctx, redis.ZRangeArgs{Key: k, Start: min, Stop: "+inf",
			ByScore: true, Offset: offset, Count: int64(limit + 1)}).Result()
		if err != nil {
			return nil, fmt.Errorf("range %s: %w", index, err)
		}
		for _, z := range zs {
			m := Member{ID: z.Member.(string), Score: z.Score}
			if after.ID != "" && m.Score == after.Score && m.ID <= after.ID {
				continue
			}
			if len(out) < limit {
				out = append(out, m)
			}
		}
		if len(zs) < limit+1 {
			break
		}
		offset += int64(len(zs))
	}
	return out, nil
}

// IndexMembers returns every member of an index, in score order
// (projections.IndexReader: the watch read model's sweep of every household).
func (s *Store) IndexMembers(ctx context.Context, index string) ([]string, error) {
	k, err := s.key(ctx, "index", index)
	if err != nil {
		return nil, err
	}
	ids, err := s.client.ZRange(ctx, k, 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("members of %s: %w", index, err)
	}
	return ids, nil
}

// Latest returns the ids of the n members of an index with the highest scores, highest first.
func (s *Store) Latest(ctx context.Context, index string, n int) ([]string, error) {
	k, err := s.key(ctx, "index", index)
	if err != nil {
		return nil, err
	}
	ids, err := s.client.ZRevRange(ctx, k, 0, int64(n-1)).Result()
	if err != nil {
		return nil, fmt.Errorf("latest of %s: %w", index, err)
	}
	return ids, nil
}

// Counters returns sets of counters by name, in order (empty for one never counted).
func (s *Store) Counters(ctx context.Context, names []string) ([]map[string]int64, error) {
	g, err := s.Generation(ctx)
	if err != nil {
		return nil, err
	}
	pipe := s.client.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(names))
	for i, n := range names {
		cmds[i] = pipe.HGetAll(ctx, s.keys.View(g, "counter", n))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("read counters: %w", err)
	}
	out := make([]map[string]int64, len(names))
	for i, c := range cmds {
		out[i] = map[string]int64{}
		for f, v := range c.Val() {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("counter %s/%s: %w", names[i], f, err)
			}
			out[i][f] = n
		}
	}
	return out, nil
}

// Count returns how many members an index has with a score from min to max.
func (s *Store) Count(ctx context.Context, index string, min, max float64) (int64, error) {
	k, err := s.key(ctx, "index", index)
	if err != nil {
		return 0, err
	}
	n, err := s.client.ZCount(ctx, k, strconv.FormatFloat(min, 'f', -1, 64), strconv.FormatFloat(max, 'f', -1, 64)).Result()
	if err != nil {
		return 0, fmt.Errorf("count %s: %w", index, err)
	}
	return n, nil
}

// GetMany returns documents of a model by id, in order; a missing one is nil.
func (s *Store) GetMany(ctx context.Context, model string, ids []string) ([][]byte, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	g, err := s.Generation(ctx)
	if err != nil {
		return nil, err
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = s.keys.View(g, model, id)
	}
	// One MGET: the keys share the partition's hash slot.
	vals, err := s.client.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, fmt.Errorf("get %d documents of %s: %w", len(ids), model, err)
	}
	out := make([][]byte, len(ids))
	for i, v := range vals {
		if str, ok := v.(string); ok {
			out[i] = []byte(str)
		}
	}
	return out, nil
}

// NextGeneration numbers a new generation of the partition's read models, for a rebuild.
func (s *Store) NextGeneration(ctx context.Context) (int64, error) {
	n, err := nextScript.Run(ctx, s.client, []string{s.keys.ViewGeneration(), s.keys.NextViewGeneration()}).Int64()
	if err != nil {
		return 0, fmt.Errorf("number a generation: %w", err)
	}
	return n, nil
}

// Switch makes a generation current if a projection's checkpoint in it is the log's
// head; it reports whether it did (if not, the log moved on: apply more and retry).
func (s *Store) Switch(ctx context.Context, gen int64, name string) (bool, error) {
	n, err := switchScript.Run(ctx, s.client, []string{s.keys.ViewGeneration(), s.keys.View(gen, "checkpoint", name), s.keys.State()}, gen).Int()
	if err != nil {
		return false, fmt.Errorf("switch to generation %d: %w", gen, err)
	}
	return n == 1, nil
}

// Exists reports whether a generation holds anything: its first commit writes its
// checkpoint with its first documents.
func (s *Store) Exists(ctx context.Context, gen int64) (bool, error) {
	n, err := s.client.Exists(ctx, s.keys.View(gen, "checkpoint", projections.CasesName)).Result()
	if err != nil {
		return false, fmt.Errorf("generation %d: %w", gen, err)
	}
	return n > 0, nil
}

// Drop deletes every key of a generation.
func (s *Store) Drop(ctx context.Context, gen int64) error {
	return eventlog.UnlinkMatching(ctx, s.client, s.keys.ViewPattern(gen))
}

func getInt(ctx context.Context, c redis.UniversalClient, key string) (int64, error) {
	v, err := c.Get(ctx, key).Result()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("get %s: %w", key, err)
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("get %s: %w", key, err)
	}
	return n, nil
}

// Set is the current stores of several partitions, kept so that each remembers
// its generation.
type Set struct {
	order  []string
	stores map[string]*Store
}

// NewSet returns the stores of the partitions.
func NewSet(client redis.UniversalClient, partitions []string) (*Set, error) {
	s := &Set{stores: map[string]*Store{}}
	for _, p := range partitions {
		st, err := New(client, p)
		if err != nil {
			return nil, err
		}
		s.order = append(s.order, p)
		s.stores[p] = st
	}
	return s, nil
}

// Store returns a partition's store.
func (s *Set) Store(partition string) (*Store, error) {
	st, ok := s.stores[partition]
	if !ok {
		return nil, fmt.Errorf("viewstore: no partition %q", partition)
	}
	return st, nil
}

// Find looks a document up in every partition, for reads that know an id but not
// its district.
func (s *Set) Find(ctx context.Context, model, id string) ([]byte, bool, error) {
	for _, p := range s.order {
		b, ok, err := s.stores[p].Get(ctx, model, id)
		if err != nil || ok {
			return b, ok, err
		}
	}
	return nil, false, nil
}
