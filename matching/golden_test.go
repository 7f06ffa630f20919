package matching

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tierlink/tierlink/domain"
)

// TestGoldenDecisions checks that a change to the matcher decides exactly as the
// code before it did. It runs only with TIERLINK_GOLDEN set to a directory (kept
// outside the repository): the first run records the logs of the randomized tests'
// seeds there (logs.jsonl); every run replays those logs with a fresh loop, writes
// every decision it makes, in order and byte for byte, to decisions.out, and compares
// it with decisions.want when that file exists. Record the logs and rename
// decisions.out to decisions.want on the code before the change, then run it after.
func TestGoldenDecisions(t *testing.T) {
	dir := os.Getenv("TIERLINK_GOLDEN")
	if dir == "" {
		t.Skip("TIERLINK_GOLDEN names no directory")
	}
	logs := filepath.Join(dir, "logs.jsonl")
	if _, err := os.Stat(logs); errors.Is(err, os.ErrNotExist) {
		recordGoldenLogs(t, logs)
	}
	var out bytes.Buffer
	for i, log := range readGoldenLogs(t, logs) {
		for _, run := range []int{1, 200} {
			fmt.Fprintf(&out, "log %d, runs of %d\n", i, run)
			replayGolden(t, log, run, &out)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "decisions.out"), out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join(dir, "decisions.want"))
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(want, out.Bytes()) {
		t.Fatalf("the decisions differ from decisions.want (%d and %d bytes): compare them with decisions.out", len(want), out.Len())
	}
}

// goldenNoise is a test.noise event on a line of logs.jsonl.
type goldenNoise struct {
	Noise   bool   `json:"noise"`
	ID      string `json:"id"`
	AggType string `json:"aggregate_type"`
	AggID   string `json:"aggregate_id"`
	Version int64  `json:"aggregate_version"`
	Actor   string `json:"actor"`
	Command string `json:"command_id"`
}

// recordGoldenLogs writes the logs of the randomized tests' seeds, a line per event
// and an empty line after each log.
func recordGoldenLogs(t *testing.T, path string) {
	var b bytes.Buffer
	write := func(evs []domain.Event) {
		for _, e := range evs {
			line, err := reg.Encode(e)
			if _, noise := e.Payload.(noiseEvent); noise {
				line, err = json.Marshal(goldenNoise{Noise: true, ID: e.ID, AggType: e.AggregateType, AggID: e.AggregateID,
					Version: e.AggregateVersion, Actor: e.Actor, Command: e.CommandID})
			}
			if err != nil {
				t.Fatal(err)
			}
			b.Write(line)
			b.WriteByte('\n')
		}
		b.WriteByte('\n')
	}
	// The seeds of TestRandomizedInvariants, then of TestReplayMakesByteIdenticalDecisions.
	for _, r := range []struct {
		seeds, stream, events, lagOneIn int
		failures                        bool
	}{{20, 42, 2000, 4, true}, {3, 1, 3000, 3, false}} {
		for s := uint64(1); s <= uint64(r.seeds); s++ {
			l := newMemLog()
			g := &gen{rng: rand.New(rand.NewPCG(s, uint64(r.stream)))}
			l.noise = rand.New(rand.NewPCG(s, uint64(r.stream+1)))
			runLive(t, g, l, newLoop(t, l), r.events, r.lagOneIn, r.failures)
			write(l.events)
		}
	}
	for s := uint64(1); s <= 12; s++ {
		w := newWorld(t, s)
		lp, err := NewLoop(LoopConfig{Partition: "d", Registry: reg, Appender: &racing{w: w, oneIn: 2 + int(s%3)},
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		cuts := rand.New(rand.NewPCG(s, 12))
		fed := 0
		for i := 0; i < 400; i++ {
			w.step()
			fed = feedAll(t, lp, w.l, cuts, fed)
		}
		write(w.l.events)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readGoldenLogs(t *testing.T, path string) [][]domain.Event {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var logs [][]domain.Event
	var cur []domain.Event
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			logs, cur = append(logs, cur), nil
			continue
		}
		var n goldenNoise
		if err := json.Unmarshal(line, &n); err == nil && n.Noise {
			cur = append(cur, domain.Event{ID: n.ID, Type: "test.noise", AggregateType: n.AggType, AggregateID: n.AggID,
				AggregateVersion: n.Version, Partition: "d", Time: t0, Actor: n.Actor, CommandID: n.Command, Payload: noiseEvent{}})
			continue
		}
		e, err := reg.Decode(line)
		if err != nil {
			t.Fatal(err)
		}
		cur = append(cur, e)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return logs
}

// goldenAppender takes a decision the log holds (the same command, byte for byte)
// and refuses any other as stale, writing down each decision it is given.
type goldenAppender struct {
	logged map[string]string
	out    io.Writer
}

func (g *goldenAppender) Append(_ context.Context, cmds []domain.Command) ([]error, error) {
	return inOrder(cmds, func(evs []domain.Event) error {
		var b strings.Builder
		for _, e := range evs {
			body, err := reg.Encode(e)
			if err != nil {
				return err
			}
			b.Write(body)
			b.WriteByte('\n')
		}
		cmd := evs[0].CommandID
		if g.logged[cmd] == b.String() {
			fmt.Fprintf(g.out, "logged %s", b.String())
			return nil
		}
		fmt.Fprintf(g.out, "refused %s", b.String())
		return fmt.Errorf("%w: not in the log", ErrStale)
	}), nil
}

// replayGolden feeds a log to a fresh loop in runs of a size and writes its decisions.
func replayGolden(t *testing.T, log []domain.Event, run int, out io.Writer) {
	logged := map[string]string{}
	for _, e := range log {
		if e.Actor == Actor {
			body, err := reg.Encode(e)
			if err != nil {
				t.Fatal(err)
			}
			logged[e.CommandID] += string(body) + "\n"
		}
	}
	lp, err := NewLoop(LoopConfig{Partition: "d", Registry: reg, Appender: &goldenAppender{logged: logged, out: out},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	for from := 0; from < len(log); from += run {
		var in []domain.Entry
		for i := from; i < min(len(log), from+run); i++ {
			ev := log[i]
			in = append(in, domain.Entry{Position: int64(i + 1), Event: &ev})
		}
		if err := lp.HandleBatch(context.Background(), in); err != nil {
			t.Fatal(err)
		}
	}
	if err := lp.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(out, "waiting %d\n", lp.Core().Waiting())
}
