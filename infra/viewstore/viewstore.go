// Package viewstore keeps read-model documents and consumer checkpoints in Redis,
// in the partition's hash slot, each commit atomic with its checkpoint.
package viewstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/tierlink/tierlink/infra/eventlog"
	"github.com/tierlink/tierlink/projections"
)

// commitScript writes a run's documents and index changes and the checkpoint, only if
// the position is new, so that an event takes effect at most once however often it
// is delivered. KEYS[1] the checkpoint, then the documents' keys, then one index key
// per index change or counter change; ARGV[1] the position, ARGV[2] the number of
// documents, their bodies, then for each index change: "a" (add) or "r" (remove),
// score, member; for each counter change: "c", delta, field.
var commitScript = redis.NewScript(`
local cp = tonumber(redis.call('GET', KEYS[1]) or '0')
local pos = tonumber(ARGV[1])
if pos <= cp then return 0 end
local nd = tonumber(ARGV[2])
for i = 1, nd do redis.call('SET', KEYS[1 + i], ARGV[2 + i]) end
local a = 3 + nd
for k = 2 + nd, #KEYS do
  if ARGV[a] == 'a' then
    redis.call('ZADD', KEYS[k], ARGV[a + 1], ARGV[a + 2])
  elseif ARGV[a] == 'c' then
    redis.call('HINCRBY', KEYS[k], ARGV[a + 2], ARGV[a + 1])
  else
    redis.call('ZREM', KEYS[k], ARGV[a + 2])
  end
  a = a + 3
end
redis.call('SET', KEYS[1], pos)
return 1
`)

// Store is one partition's read-model and checkpoint store. It is safe for concurrent use.
type Store struct {
	client redis.UniversalClient
	keys   eventlog.Keys
}

// New returns the store of one partition.
func New(client redis.UniversalClient, partition string) (*Store, error) {
	if client == nil {
		return nil, errors.New("viewstore: nil redis client")
	}
	keys, err := eventlog.KeysFor(partition)
	if err != nil {
		return nil, err
	}
	return &Store{client: client, keys: keys}, nil
}

func (s *Store) cpKey(model string) string { return s.keys.Checkpoint("view:" + model) }

// Checkpoint returns the last position a model applied (0 if none).
func (s *Store) Checkpoint(ctx context.Context, model string) (int64, error) {
	return s.getInt(ctx, s.cpKey(model))
}

// Get returns a document of a model, and whether it exists.
func (s *Store) Get(ctx context.Context, model, id string) ([]byte, bool, error) {
	b, err := s.client.Get(ctx, s.keys.View(model, id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("get %s/%s: %w", model, id, err)
	}
	return b, true, nil
}

// Commit writes a run's changes and moves the checkpoint to position, atomically
// and at most once.
func (s *Store) Commit(ctx context.Context, model string, position int64, ch projections.Changes) error {
	keys := make([]string, 0, 1+len(ch.Docs)+len(ch.Indexes))
	args := make([]any, 0, 2+len(ch.Docs)+3*len(ch.Indexes))
	keys = append(keys, s.cpKey(model))
	args = append(args, position, len(ch.Docs))
	for _, d := range ch.Docs {
		keys = append(keys, s.keys.View(d.Model, d.ID))
		args = append(args, d.Body)
	}
	for _, ix := range ch.Indexes {
		op := "a"
		if ix.Remove {
			op = "r"
		}
		keys = append(keys, s.keys.View("index", ix.Index))
		args = append(args, op, ix.Score, ix.Member)
	}
	for _, c := range ch.Counters {
		keys = append(keys, s.keys.View("counter", c.Counters))
		args = append(args, "c", c.Delta, c.Field)
	}
	if err := commitScript.Run(ctx, s.client, keys, args...).Err(); err != nil {
		return fmt.Errorf("commit %s at %d: %w", model, position, err)
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
	min := "-inf"
	if after.ID != "" {
		min = strconv.FormatFloat(after.Score, 'f', -1, 64)
	}
	// Members tied with the cursor's score come first; skip up to the cursor.
	var out []Member
	for offset := int64(0); len(out) < limit; {
		zs, err := s.client.ZRangeArgsWithScores(ctx, redis.ZRangeArgs{Key: s.keys.View("index", index), Start: min, Stop: "+inf",
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

// Counters returns sets of counters by name, in order (empty for one never counted).
func (s *Store) Counters(ctx context.Context, names []string) ([]map[string]int64, error) {
	pipe := s.client.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(names))
	for i, n := range names {
		cmds[i] = pipe.HGetAll(ctx, s.keys.View("counter", n))
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
	n, err := s.client.ZCount(ctx, s.keys.View("index", index), strconv.FormatFloat(min, 'f', -1, 64), strconv.FormatFloat(max, 'f', -1, 64)).Result()
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
	pipe := s.client.Pipeline()
	cmds := make([]*redis.StringCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.Get(ctx, s.keys.View(model, id))
	}
	_, _ = pipe.Exec(ctx)
	out := make([][]byte, len(ids))
	for i, c := range cmds {
		b, err := c.Bytes()
		switch {
		case err == nil:
			out[i] = b
		case !errors.Is(err, redis.Nil):
			return nil, fmt.Errorf("get %s/%s: %w", model, ids[i], err)
		}
	}
	return out, nil
}

// Load returns a named consumer's checkpoint (0 if none).
func (s *Store) Load(ctx context.Context, name string) (int64, error) {
	return s.getInt(ctx, s.keys.Checkpoint(name))
}

// Save sets a named consumer's checkpoint.
func (s *Store) Save(ctx context.Context, name string, position int64) error {
	if err := s.client.Set(ctx, s.keys.Checkpoint(name), position, 0).Err(); err != nil {
		return fmt.Errorf("save checkpoint %s: %w", name, err)
	}
	return nil
}

func (s *Store) getInt(ctx context.Context, key string) (int64, error) {
	v, err := s.client.Get(ctx, key).Result()
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

// Find looks a document up in every partition at once (one pipelined round trip),
// for reads that know an id but not its district.
func Find(ctx context.Context, client redis.UniversalClient, partitions []string, model, id string) ([]byte, bool, error) {
	pipe := client.Pipeline()
	cmds := make([]*redis.StringCmd, 0, len(partitions))
	for _, p := range partitions {
		keys, err := eventlog.KeysFor(p)
		if err != nil {
			return nil, false, err
		}
		cmds = append(cmds, pipe.Get(ctx, keys.View(model, id)))
	}
	_, _ = pipe.Exec(ctx) // each command's own error is read below
	for _, c := range cmds {
		b, err := c.Bytes()
		switch {
		case err == nil:
			return b, true, nil
		case !errors.Is(err, redis.Nil):
			return nil, false, fmt.Errorf("find %s/%s: %w", model, id, err)
		}
	}
	return nil, false, nil
}
