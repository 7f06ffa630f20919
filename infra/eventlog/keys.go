package eventlog

import (
	"context"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/tierlink/tierlink/domain"
)

// Keys names every Redis key of one partition. All of them carry the partition's
// hash tag, so that one partition lives in one Redis Cluster hash slot.
type Keys struct {
	partition string
}

// KeysFor returns the key names of a partition, refusing names unfit for a hash tag.
func KeysFor(partition string) (Keys, error) {
	if !domain.ValidCode(partition) {
		return Keys{}, fmt.Errorf("%w: %q", ErrBadPartition, partition)
	}
	return Keys{partition: partition}, nil
}

func (k Keys) prefix() string { return "tl:{" + k.partition + "}:" }

// Log is the partition's log: every event of the partition in order, never trimmed.
func (k Keys) Log() string { return k.prefix() + "log" }

// State is the hash of the partition's counters: the last log position (field
// "head"), each aggregate's version and each applied command's first result.
func (k Keys) State() string { return k.prefix() + "state" }

// stateHeadField is the State field that holds the last position written to the
// log; append.lua writes it by this name.
const stateHeadField = "head"

func versionField(ref domain.AggregateRef) string { return "agg:" + ref.String() }

func commandField(id string) string { return "cmd:" + id }

// DeadLetter is the stream of log entries that a consumer could not decode.
func (k Keys) DeadLetter() string { return k.prefix() + "deadletter" }

// Lease is the key of a named lease (its holder and fencing token) and LeaseFence
// the counter of its tokens.
func (k Keys) Lease(name string) string { return k.prefix() + "lease:" + name }

// LeaseFence is the counter of a named lease's fencing tokens.
func (k Keys) LeaseFence(name string) string { return k.prefix() + "lease:" + name + ":fence" }

// DeadLetterSeen is the hash of the entries each group has dead-lettered already.
func (k Keys) DeadLetterSeen() string { return k.prefix() + "deadletter:seen" }

// Aggregate is the stream of one aggregate's events, never trimmed.
func (k Keys) Aggregate(ref domain.AggregateRef) string {
	return k.prefix() + "agg:" + ref.Type + ":" + ref.ID
}

// Checkpoint is the key of a named consumer's checkpoint.
func (k Keys) Checkpoint(name string) string { return k.prefix() + "checkpoint:" + name }

// View is the key of one document of a named read model in a generation of the
// read models (a rebuild writes the next generation while readers read the current).
func (k Keys) View(gen int64, model, id string) string {
	return k.prefix() + "view:g" + strconv.FormatInt(gen, 10) + ":" + model + ":" + id
}

// ViewPattern matches every key of a generation of the read models.
func (k Keys) ViewPattern(gen int64) string {
	return k.prefix() + "view:g" + strconv.FormatInt(gen, 10) + ":*"
}

// ViewGeneration is the key of the generation of the read models readers read.
func (k Keys) ViewGeneration() string { return k.prefix() + "views:gen" }

// NextViewGeneration is the key that numbers the generations a rebuild starts.
func (k Keys) NextViewGeneration() string { return k.prefix() + "views:nextgen" }

// UnlinkMatching deletes every key that matches a pattern, a thousand at a time,
// on every master of a cluster. Use it on one partition's keys (a pattern with its
// hash tag), never on another's.
func UnlinkMatching(ctx context.Context, client redis.UniversalClient, pattern string) error {
	unlink := func(ctx context.Context, c redis.UniversalClient) error {
		iter := c.Scan(ctx, 0, pattern, 1000).Iterator()
		var batch []string
		for iter.Next(ctx) {
			if batch = append(batch, iter.Val()); len(batch) == 1000 {
				if err := c.Unlink(ctx, batch...).Err(); err != nil {
					return err
				}
				batch = batch[:0]
			}
		}
		if err := iter.Err(); err != nil {
			return err
		}
		if len(batch) > 0 {
			return c.Unlink(ctx, batch...).Err()
		}
		return nil
	}
	var err error
	if cc, ok := client.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return unlink(ctx, c) })
	} else {
		err = unlink(ctx, client)
	}
	if err != nil {
		return fmt.Errorf("delete %s: %w", pattern, err)
	}
	return nil
}

// Pattern matches every key of the partition.
func (k Keys) Pattern() string { return k.prefix() + "*" }
