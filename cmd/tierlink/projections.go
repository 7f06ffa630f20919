package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/eventlog"
	"github.com/tierlink/tierlink/infra/node"
	"github.com/tierlink/tierlink/infra/reference"
)

// projectionsCmd rebuilds the read models.
func projectionsCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) != 1 || args[0] != "rebuild" {
		fmt.Fprintln(stderr, "Usage: tierlink projections rebuild   (on the Redis of REDIS_URL)")
		return errors.New("projections: the one action is rebuild")
	}
	client, err := redisFromEnv("projections rebuild", "whose read models to rebuild")
	if err != nil {
		return err
	}
	defer client.Close()
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
