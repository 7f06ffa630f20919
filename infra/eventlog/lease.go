package eventlog

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// leaseScript takes or renews a lease. KEYS[1] the lease, KEYS[2] its token counter;
// ARGV[1] the holder, ARGV[2] the time to live in ms. It returns the holder's fencing
// token, or 0 if another holds the lease. A new holder gets a larger token than any
// before, so that appends fenced with an older token are refused.
var leaseScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur then
  local holder, token = string.match(cur, '^(.*) (%d+)$')
  if holder == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return tonumber(token)
  end
  return 0
end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. token, 'PX', ARGV[2])
return token
`)

// releaseScript gives a lease up if the holder still holds it.
var releaseScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur and string.match(cur, '^(.*) %d+$') == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// Lease takes or renews the named lease of a partition for holder, for ttl. It
// returns the fencing token to pass to Fence, or 0 if another process holds it.
func (s *Store) Lease(ctx context.Context, partition, name, holder string, ttl time.Duration) (int64, error) {
	keys, err := KeysFor(partition)
	if err != nil {
		return 0, err
	}
	if holder == "" || ttl < time.Millisecond {
		return 0, errors.New("eventlog: a lease needs a holder and a time to live")
	}
	token, err := leaseScript.Run(ctx, s.client, []string{keys.Lease(name), keys.LeaseFence(name)}, holder, ttl.Milliseconds()).Int64()
	if err != nil {
		return 0, fmt.Errorf("lease %s of %s: %w", name, partition, err)
	}
	return token, nil
}

// Release gives the named lease up, if holder holds it.
func (s *Store) Release(ctx context.Context, partition, name, holder string) error {
	keys, err := KeysFor(partition)
	if err != nil {
		return err
	}
	if err := releaseScript.Run(ctx, s.client, []string{keys.Lease(name)}, holder).Err(); err != nil {
		return fmt.Errorf("release %s of %s: %w", name, partition, err)
	}
	return nil
}
