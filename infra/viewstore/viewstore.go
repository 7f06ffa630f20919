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
)

// commitScript writes documents and the checkpoint only if the position is new, so
// that an event takes effect at most once however often it is delivered.
var commitScript = redis.NewScript(`
local cp = tonumber(redis.call('GET', KEYS[1]) or '0')
local pos = tonumber(ARGV[1])
if pos <= cp then return 0 end
for i = 2, #KEYS do redis.call('SET', KEYS[i], ARGV[i]) end
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

// Commit writes documents and moves the checkpoint to position, atomically and at most once.
func (s *Store) Commit(ctx context.Context, model string, position int64, docs map[string][]byte) error {
	keys := make([]string, 0, 1+len(docs))
	args := make([]any, 0, 1+len(docs))
	keys = append(keys, s.cpKey(model))
	args = append(args, position)
	for id, b := range docs {
		keys = append(keys, s.keys.View(model, id))
		args = append(args, b)
	}
	if err := commitScript.Run(ctx, s.client, keys, args...).Err(); err != nil {
		return fmt.Errorf("commit %s at %d: %w", model, position, err)
	}
	return nil
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
