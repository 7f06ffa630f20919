// Package eventlog is tierlink's event store on Redis streams: an atomic,
// version-checked, idempotent append; reads of an aggregate or a partition log;
// and consumers that follow a partition log through a consumer group.
package eventlog

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/tierlink/tierlink/domain"
)

// Errors returned by the store.
var (
	// ErrVersionConflict means an aggregate was not at the version the append expected.
	ErrVersionConflict = errors.New("version conflict")
	// ErrBadAppend means the events of an append are not a well-formed batch.
	ErrBadAppend = errors.New("bad append")
	// ErrBadPartition means a partition name cannot be used as a hash tag.
	ErrBadPartition = errors.New("bad partition name")
	// ErrBadAggregate means an aggregate reference cannot name a stream.
	ErrBadAggregate = errors.New("bad aggregate reference")
	// ErrCommandReused means a command id already took effect for a different command.
	ErrCommandReused = errors.New("command id reused for a different command")
	// ErrForeignEntry marks a log entry that tierlink did not write (its id is not
	// "<position>-0" with a matching position field).
	ErrForeignEntry = errors.New("foreign log entry")
	// ErrFenced means the writer's lease (a fencing token) is no longer its own:
	// another process took over; nothing was appended.
	ErrFenced = errors.New("fenced: the lease is no longer held")
	// ErrCorruptLog means a stream does not end where the partition's state says it
	// does (something other than tierlink wrote to it); nothing was appended.
	ErrCorruptLog = errors.New("corrupt log")
)

// Limits of one append, so that one command cannot block Redis for long.
const (
	// MaxEventsPerAppend is the most events one append may write.
	MaxEventsPerAppend = 256
	// MaxEventBytes is the largest encoded event one append may write.
	MaxEventBytes = 64 << 10
)

//go:embed append.lua
var appendSource string

// ConflictError says which aggregate was at which version when an append expected another.
type ConflictError struct {
	Aggregate domain.AggregateRef
	Expected  int64
	Actual    int64
}

// Error describes the conflict.
func (e *ConflictError) Error() string {
	return fmt.Sprintf("%s is at version %d, expected %d", e.Aggregate, e.Actual, e.Expected)
}

// Unwrap makes errors.Is(err, ErrVersionConflict) true.
func (e *ConflictError) Unwrap() error { return ErrVersionConflict }

// Result is what an append wrote: the log positions of its events and each
// aggregate's new version. A retried command gets the positions of its first
// attempt with Duplicate set, and no versions (the retry may name other aggregates).
type Result struct {
	FirstPosition int64
	LastPosition  int64
	Versions      map[domain.AggregateRef]int64
	Duplicate     bool
}

// Recorder is told the outcome of every append; metrics implement it.
type Recorder interface {
	// Appended is told of events written.
	Appended(partition string, events []domain.Event)
	// Duplicate is told of a retried command that wrote nothing.
	Duplicate(partition string)
	// Conflict is told of an append refused for a version conflict.
	Conflict(partition string)
	// AppendFailed is told of an append that failed for another reason.
	AppendFailed(partition string)
}

type nopRecorder struct{}

func (nopRecorder) Appended(string, []domain.Event) {}
func (nopRecorder) Duplicate(string)                {}
func (nopRecorder) Conflict(string)                 {}
func (nopRecorder) AppendFailed(string)             {}

// Store is the Redis event store. It is safe for concurrent use.
type Store struct {
	client   redis.UniversalClient
	registry *domain.Registry
	script   *redis.Script
	recorder Recorder
}

// NewStore returns a store over a Redis client; recorder may be nil.
func NewStore(client redis.UniversalClient, registry *domain.Registry, recorder Recorder) (*Store, error) {
	if client == nil {
		return nil, errors.New("eventlog: nil redis client")
	}
	if registry == nil {
		return nil, errors.New("eventlog: nil event registry")
	}
	if recorder == nil {
		recorder = nopRecorder{}
	}
	return &Store{client: client, registry: registry, script: redis.NewScript(appendSource), recorder: recorder}, nil
}

// Registry returns the event registry the store encodes and decodes with.
func (s *Store) Registry() *domain.Registry { return s.registry }

// Client returns the Redis client the store uses.
func (s *Store) Client() redis.UniversalClient { return s.client }

// Append writes the events atomically to their aggregates' streams and to their
// partition's log. Each aggregate must be at the version before its first event
// (else a *ConflictError); a command id seen before returns its first result and
// writes nothing.
func (s *Store) Append(ctx context.Context, events []domain.Event, opts ...AppendOption) (Result, error) {
	out, err := s.AppendBatch(ctx, []domain.Command{{Events: events, Fingerprint: Options(opts...).Fingerprint}}, opts...)
	if err != nil {
		return Result{}, err
	}
	return out[0].Result, out[0].Err
}

// Outcome is what became of one command of a batch: its result, or why it wrote nothing.
type Outcome struct {
	Result Result
	Err    error
}

// ErrPrerequisite means a command of a batch was not tried because a command it
// needs (Command.After) did not take effect.
var ErrPrerequisite = errors.New("a command it needs did not take effect")

// MaxCommandsPerBatch is the most commands one AppendBatch may carry.
const MaxCommandsPerBatch = 512

// AppendBatch appends commands in order in one round trip, each as Append would: a
// command that conflicts, or needs one that did not take effect, writes nothing and
// the next is tried. The error is for the whole call (bad input, fenced, corrupt
// log, Redis unreachable: then nothing is known to be written, and the call may be
// retried as it is); otherwise there is one outcome per command.
func (s *Store) AppendBatch(ctx context.Context, cmds []domain.Command, opts ...AppendOption) ([]Outcome, error) {
	b, err := Prepare(s.registry, cmds, opts...)
	if err != nil {
		return nil, err
	}
	keys, _ := KeysFor(b.Partition) // Prepare checked the name
	fence := ""
	if b.Options.Lease != "" {
		fence = strconv.FormatInt(b.Options.Token, 10)
	}
	redisKeys := []string{keys.State(), keys.Log()}
	args := []any{fence, len(cmds)}
	for _, cmd := range b.Commands {
		args = append(args, commandField(cmd.ID), cmd.Fingerprint, len(cmd.After))
		for _, i := range cmd.After {
			args = append(args, i+1)
		}
		args = append(args, len(cmd.Runs))
		for _, run := range cmd.Runs {
			redisKeys = append(redisKeys, keys.Aggregate(run.Aggregate))
			args = append(args, versionField(run.Aggregate), run.Expected, len(run.Events))
			for i, e := range run.Events {
				args = append(args, e.ID, run.Bodies[i])
			}
		}
	}
	if b.Options.Lease != "" {
		redisKeys = append(redisKeys, keys.Lease(b.Options.Lease))
	}
	reply, err := s.script.Run(ctx, s.client, redisKeys, args...).Slice()
	if err == nil {
		var out []Outcome
		if out, err = s.interpretBatch(reply, cmds, b); err == nil {
			return out, nil
		}
	}
	s.recorder.AppendFailed(b.Partition)
	return nil, fmt.Errorf("append to %s: %w", b.Partition, err)
}

// interpretBatch reads the script's reply to a batch.
func (s *Store) interpretBatch(reply []any, cmds []domain.Command, b Batch) ([]Outcome, error) {
	strs := func(v any) []string {
		xs, _ := v.([]any)
		out := make([]string, 0, len(xs))
		for _, x := range xs {
			str, _ := x.(string)
			out = append(out, str)
		}
		return out
	}
	if len(reply) == 0 {
		return nil, fmt.Errorf("%w: empty", errUnexpectedReply)
	}
	if head, _ := reply[0].(string); head != "done" {
		_, err := s.interpret(strs(reply), Prepared{})
		return nil, err
	}
	if len(reply) != len(cmds)+1 {
		return nil, fmt.Errorf("%w: %d replies to %d commands", errUnexpectedReply, len(reply)-1, len(cmds))
	}
	partition := cmds[0].Events[0].Partition
	out := make([]Outcome, len(cmds))
	for c, cmd := range cmds {
		r := strs(reply[c+1])
		if len(r) == 2 && r[0] == "after" {
			out[c].Err = fmt.Errorf("append to %s: command %s: %w (command %s)", partition, cmd.Events[0].CommandID, ErrPrerequisite, r[1])
			s.recorder.Conflict(partition)
			continue
		}
		res, err := s.interpret(r, b.Commands[c])
		switch {
		case err == nil && res.Duplicate:
			s.recorder.Duplicate(partition)
		case err == nil:
			s.recorder.Appended(partition, cmd.Events)
		case errors.Is(err, ErrVersionConflict):
			s.recorder.Conflict(partition)
		case errors.Is(err, errUnexpectedReply):
			return nil, err
		default:
			s.recorder.AppendFailed(partition)
		}
		if err != nil {
			err = fmt.Errorf("append to %s: %w", partition, err)
		}
		out[c] = Outcome{Result: res, Err: err}
	}
	return out, nil
}

// errUnexpectedReply means the append script replied what the store does not know.
var errUnexpectedReply = errors.New("unexpected reply from the append script")

// interpret reads the script's reply about one command, or about a whole call.
func (s *Store) interpret(reply []string, cmd Prepared) (Result, error) {
	switch {
	case len(reply) == 2 && (reply[0] == "ok" || reply[0] == "dup"):
		res, stored, err := parseResult(reply[1])
		if err != nil {
			return Result{}, err
		}
		if reply[0] == "ok" {
			for i, run := range cmd.Runs {
				res.Versions[run.Aggregate] = res.versions[i]
			}
			return res.Result, nil
		}
		if stored != cmd.Fingerprint {
			return Result{}, ErrCommandReused
		}
		res.Duplicate = true
		res.Versions = nil
		return res.Result, nil
	case len(reply) == 3 && reply[0] == "conflict":
		i, err1 := strconv.Atoi(reply[1])
		actual, err2 := strconv.ParseInt(reply[2], 10, 64)
		if err1 != nil || err2 != nil || i < 1 || i > len(cmd.Runs) {
			return Result{}, fmt.Errorf("%w: %q", errUnexpectedReply, reply)
		}
		return Result{}, &ConflictError{Aggregate: cmd.Runs[i-1].Aggregate, Expected: cmd.Runs[i-1].Expected, Actual: actual}
	case len(reply) == 2 && reply[0] == "fenced":
		return Result{}, fmt.Errorf("%w (held by %s)", ErrFenced, reply[1])
	case len(reply) == 4 && reply[0] == "corrupt":
		return Result{}, fmt.Errorf("%w: stream %s ends at entry %s where %s was expected; "+
			"remove what was written there by hand (XDEL, then XSETID back) or restore the partition",
			ErrCorruptLog, reply[1], reply[2], reply[3])
	}
	return Result{}, fmt.Errorf("%w: %q", errUnexpectedReply, reply)
}

type parsedResult struct {
	Result
	versions []int64
}

// parseResult reads "first last v1,v2,... fingerprint" and returns the fingerprint apart.
func parseResult(s string) (parsedResult, string, error) {
	f := strings.Fields(s)
	if len(f) != 4 {
		return parsedResult{}, "", fmt.Errorf("stored result %q", s)
	}
	first, err1 := strconv.ParseInt(f[0], 10, 64)
	last, err2 := strconv.ParseInt(f[1], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return parsedResult{}, "", fmt.Errorf("stored result %q: %w", s, err)
	}
	res := parsedResult{Result: Result{FirstPosition: first, LastPosition: last, Versions: map[domain.AggregateRef]int64{}}}
	for _, v := range strings.Split(f[2], ",") {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return parsedResult{}, "", fmt.Errorf("stored result %q: %w", s, err)
		}
		res.versions = append(res.versions, n)
	}
	return res, f[3], nil
}

// ReadAggregate returns an aggregate's events from version from (1 for all) in order.
func (s *Store) ReadAggregate(ctx context.Context, partition string, ref domain.AggregateRef, from int64) ([]domain.Event, error) {
	keys, err := KeysFor(partition)
	if err != nil {
		return nil, err
	}
	if !domain.ValidID(ref.ID) || !domain.ValidCode(ref.Type) {
		return nil, fmt.Errorf("%w: %s", ErrBadAggregate, ref)
	}
	if from < 1 {
		from = 1
	}
	msgs, err := s.client.XRange(ctx, keys.Aggregate(ref), strconv.FormatInt(from, 10), "+").Result()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", ref, err)
	}
	out := make([]domain.Event, 0, len(msgs))
	for _, m := range msgs {
		body, _ := m.Values["payload"].(string)
		e, err := s.registry.Decode([]byte(body))
		if err != nil {
			return nil, fmt.Errorf("read %s entry %s: %w", ref, m.ID, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// FindAggregate looks an aggregate up in every partition at once (one pipelined
// round trip), for commands that know an id but not its district. It returns the
// partition that holds it and its events, or "" and none.
func (s *Store) FindAggregate(ctx context.Context, partitions []string, ref domain.AggregateRef) (string, []domain.Event, error) {
	if !domain.ValidID(ref.ID) || !domain.ValidCode(ref.Type) {
		return "", nil, fmt.Errorf("%w: %s", ErrBadAggregate, ref)
	}
	pipe := s.client.Pipeline()
	cmds := make([]*redis.XMessageSliceCmd, 0, len(partitions))
	for _, p := range partitions {
		keys, err := KeysFor(p)
		if err != nil {
			return "", nil, err
		}
		cmds = append(cmds, pipe.XRange(ctx, keys.Aggregate(ref), "-", "+"))
	}
	_, _ = pipe.Exec(ctx) // each command's own error is read below
	for i, c := range cmds {
		msgs, err := c.Result()
		if err != nil {
			return "", nil, fmt.Errorf("find %s: %w", ref, err)
		}
		if len(msgs) == 0 {
			continue
		}
		out := make([]domain.Event, 0, len(msgs))
		for _, m := range msgs {
			body, _ := m.Values["payload"].(string)
			e, err := s.registry.Decode([]byte(body))
			if err != nil {
				return "", nil, fmt.Errorf("read %s entry %s: %w", ref, m.ID, err)
			}
			out = append(out, e)
		}
		return partitions[i], out, nil
	}
	return "", nil, nil
}

// Entry is the store's read of one entry of a partition log: its position and its
// event, or the reason it could not be decoded (then Raw holds its bytes, for the
// dead letters). Consumers take it as a domain.Entry (adapters.DomainEntries).
type Entry struct {
	Position int64
	// ID is the stream entry id, where known ("" for entries delivered by a subscription).
	ID    string
	Event domain.Event
	Err   error
	Raw   []byte
}

// ReadPartition returns up to count entries of a partition log from position from on.
// Undecodable entries are returned with Err set, not dropped.
func (s *Store) ReadPartition(ctx context.Context, partition string, from int64, count int64) ([]Entry, error) {
	keys, err := KeysFor(partition)
	if err != nil {
		return nil, err
	}
	if from < 1 {
		from = 1
	}
	msgs, err := s.readLog(ctx, keys, from, count)
	if err != nil {
		return nil, fmt.Errorf("read log %s: %w", partition, err)
	}
	out := make([]Entry, 0, len(msgs))
	for _, m := range msgs {
		pos := positionOfID(m.ID)
		var ent Entry
		if field, _ := m.Values[entryPositionField].(string); pos < 1 || m.ID != strconv.FormatInt(pos, 10)+"-0" || field != strconv.FormatInt(pos, 10) {
			body, _ := m.Values["payload"].(string)
			ent = Entry{Raw: []byte(body), Err: fmt.Errorf("%w: entry %s", ErrForeignEntry, m.ID)}
		} else {
			ent = s.decodeEntry(pos, m.Values)
		}
		ent.ID = m.ID
		out = append(out, ent)
	}
	return out, nil
}

// readLog reads up to count entries of a partition log from position from on. It
// asks with a non-blocking XREAD after the entry before, which Redis serves as it
// does an XRANGE, and which the embedded server finds by binary search where its
// XRANGE scans the whole stream.
func (s *Store) readLog(ctx context.Context, keys Keys, from, count int64) ([]redis.XMessage, error) {
	after := "0-0"
	if from > 1 {
		after = strconv.FormatInt(from-1, 10) + "-0"
	}
	res, err := s.client.XRead(ctx, &redis.XReadArgs{Streams: []string{keys.Log(), after}, Count: count, Block: -1}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil || len(res) == 0 {
		return nil, err
	}
	return res[0].Messages, nil
}

// RawEntry is a log entry's position and its encoded event, undecoded.
type RawEntry struct {
	Position int64
	Raw      []byte
}

// ReadPartitionRaw returns up to count entries of a partition log from position
// from on without decoding them, for scans that look at a few fields only. Entries
// tierlink did not write are left out.
func (s *Store) ReadPartitionRaw(ctx context.Context, partition string, from int64, count int64) ([]RawEntry, error) {
	keys, err := KeysFor(partition)
	if err != nil {
		return nil, err
	}
	msgs, err := s.readLog(ctx, keys, max(from, 1), count)
	if err != nil {
		return nil, fmt.Errorf("read log %s: %w", partition, err)
	}
	out := make([]RawEntry, 0, len(msgs))
	for _, m := range msgs {
		pos := positionOfID(m.ID)
		if field, _ := m.Values[entryPositionField].(string); pos < 1 || field != strconv.FormatInt(pos, 10) {
			continue
		}
		body, _ := m.Values["payload"].(string)
		out = append(out, RawEntry{Position: pos, Raw: []byte(body)})
	}
	return out, nil
}

// decodeEntry turns a log entry's fields into an Entry.
func (s *Store) decodeEntry(pos int64, values map[string]any) Entry {
	body, _ := values["payload"].(string)
	ent := Entry{Position: pos, Raw: []byte(body)}
	if pos < 1 {
		ent.Err = fmt.Errorf("%w: entry has no position", domain.ErrMalformedEvent)
		return ent
	}
	ent.Event, ent.Err = s.registry.Decode(ent.Raw)
	return ent
}

// positionOfID reads the position from a log entry id "<position>-0".
func positionOfID(id string) int64 {
	ms, _, _ := strings.Cut(id, "-")
	p, err := strconv.ParseInt(ms, 10, 64)
	if err != nil {
		return 0
	}
	return p
}

// Version returns an aggregate's current version (0 if it has no events).
func (s *Store) Version(ctx context.Context, partition string, ref domain.AggregateRef) (int64, error) {
	keys, err := KeysFor(partition)
	if err != nil {
		return 0, err
	}
	v, err := s.client.HGet(ctx, keys.State(), versionField(ref)).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("version of %s: %w", ref, err)
	}
	return v, nil
}

// CommandResult returns the first result of a command id in a partition, the
// fingerprint it took effect with, and whether the command took effect there.
func (s *Store) CommandResult(ctx context.Context, partition, commandID string) (Result, string, bool, error) {
	keys, err := KeysFor(partition)
	if err != nil {
		return Result{}, "", false, err
	}
	v, err := s.client.HGet(ctx, keys.State(), commandField(commandID)).Result()
	if errors.Is(err, redis.Nil) {
		return Result{}, "", false, nil
	}
	if err != nil {
		return Result{}, "", false, fmt.Errorf("command %s: %w", commandID, err)
	}
	res, fp, err := parseResult(v)
	if err != nil {
		return Result{}, "", false, err
	}
	res.Duplicate, res.Versions = true, nil
	return res.Result, fp, true, nil
}

// CommandFingerprints returns, in one read, the fingerprint each command id took
// effect with in a partition ("" for an id that did not).
func (s *Store) CommandFingerprints(ctx context.Context, partition string, commandIDs []string) ([]string, error) {
	out := make([]string, len(commandIDs))
	if len(commandIDs) == 0 {
		return out, nil
	}
	keys, err := KeysFor(partition)
	if err != nil {
		return nil, err
	}
	fields := make([]string, len(commandIDs))
	for i, id := range commandIDs {
		fields[i] = commandField(id)
	}
	vs, err := s.client.HMGet(ctx, keys.State(), fields...).Result()
	if err != nil {
		return nil, fmt.Errorf("commands of %s: %w", partition, err)
	}
	for i, v := range vs {
		str, ok := v.(string)
		if !ok {
			continue // not taken
		}
		_, fp, err := parseResult(str)
		if err != nil {
			return nil, err
		}
		out[i] = fp
	}
	return out, nil
}

// Head returns the position of the last event written to a partition (0 if none).
func (s *Store) Head(ctx context.Context, partition string) (int64, error) {
	keys, err := KeysFor(partition)
	if err != nil {
		return 0, err
	}
	v, err := s.client.HGet(ctx, keys.State(), stateHeadField).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("head of %s: %w", partition, err)
	}
	return v, nil
}
