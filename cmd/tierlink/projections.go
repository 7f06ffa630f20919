package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/eventlog"
	"github.com/tierlink/tierlink/infra/node"
	"github.com/tierlink/tierlink/infra/reference"
)

const projectionsUsage = `Usage:
  tierlink projections rebuild

Rebuilds the read models of every district from the event log on the Redis of
REDIS_URL; a tierlink serving from it goes on answering from the old ones meanwhile.
`

// projectionsCmd rebuilds the read models.
func projectionsCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return misused(projectionsUsage, "projections: name the action: rebuild")
	}
	if isHelp(args[0]) {
		fmt.Fprint(stdout, projectionsUsage)
		return flag.ErrHelp
	}
	if args[0] != "rebuild" {
		return misused(projectionsUsage, "projections: unknown action %q: the one action is rebuild", args[0])
	}
	fs := newCommand("projections rebuild", projectionsUsage, stdout)
	if err := fs.parse(args[1:]); err != nil {
		return err
	}
	if err := fs.noArgs(); err != nil {
		return err
	}
	client, err := redisFromEnv("projections rebuild", "whose read models to rebuild")
	if err != nil {
		return err
	}
	defer client.Close()
	if err := ping(ctx, client); err != nil {
		return fmt.Errorf("projections rebuild: %w", err)
	}
	ref, err := reference.Default()
	if err != nil {
		return err
	}
	store, err := eventlog.NewStore(client, domain.NewRegistry(), nil)
	if err != nil {
		return err
	}
	var partitions []string
	for _, d := range ref.Geography.Districts() {
		partitions = append(partitions, d.Code)
	}
	bar := progressbar.NewOptions64(-1, progressbar.OptionSetWriter(stderr), progressbar.OptionSetDescription("rebuilding the read models"),
		progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("events"),
		progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
	stats, err := node.RebuildProjections(ctx, client, store, partitions, func(done, total int64) {
		bar.ChangeMax64(total)
		_ = bar.Set64(done)
	})
	_ = bar.Finish()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "rebuilt the read models of %d district(s) from %d events in %s: %.0f events/s (serving went on from the old ones meanwhile)\n",
		stats.Partitions, stats.Events, stats.Elapsed.Round(time.Millisecond), stats.Rate())
	return nil
}
