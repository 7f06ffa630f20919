package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"strings"
	"testing"

	"github.com/tierlink/tierlink/quality"
)

// tierlink quality prints a table per regime, with a row per algorithm and one
// matcher row per round and max_wait, a legend, and its progress on stderr.
func TestQualityCommandPrintsTables(t *testing.T) {
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"quality", "--needs", "300", "--regimes", "scarce,interleaved", "--round", "1m,24h", "--max-wait", "0s, 36h,336h"}, &out, &errOut)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	for _, want := range []string{"== scarce:", "== interleaved:", "\noracle ", "\nmatcher (round 1m, no max_wait) ", "\nmatcher (round 1m, max_wait 36h) ", "\nmatcher (round 1m, max_wait 14d) ",
		"\nmatcher (round 24h, no max_wait) ", "\nmatcher (round 24h, max_wait 14d) ", "\nfirst-fit ", "\nbalance ", "rules: allocation, rounds 1m,24h, max_wait 0s,36h,336h, spare 2",
		" local tier ", " local scope ", " overtaken (never served) ", " overtaken past max_wait ", "\nlocal scope ", "\novertaken past max_wait\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "== balanced") {
		t.Errorf("a regime not asked for is printed:\n%s", out.String())
	}
	if !strings.Contains(errOut.String(), "quality: scarce: oracle:") {
		t.Errorf("no progress on stderr: %q", errOut.String())
	}
}

// --json prints the report, which reads back.
func TestQualityCommandJSON(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"quality", "--needs", "200", "--regimes", "very-scarce", "--rules", "old", "--json"}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	var rep quality.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out.String())
	}
	if len(rep.Regimes) != 1 || rep.Regimes[0].Regime != quality.VeryScarce || len(rep.Regimes[0].Rows) != 4 || rep.Regimes[0].Rows[1].Algorithm != "matcher (old rules)" {
		t.Fatalf("report %+v", rep)
	}
	if rows := rep.Regimes[0].Rows; rows[0].PastMaxWait != nil || rows[1].PastMaxWait == nil || rows[1].PastMaxWait.BoundHours != 336 {
		t.Fatalf("overtaken past max_wait: the optimum's %+v, the old rules' %+v (want none, and a count against 336 h)", rows[0].PastMaxWait, rows[1].PastMaxWait)
	}
}

// Bad flags get a plain message; --help is help, not an error message.
func TestQualityCommandRefusals(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"quality", "--needs", "0"}, "--needs from 50"},
		{[]string{"quality", "--regimes", "scarce,plenty"}, `unknown regime "plenty"`},
		{[]string{"quality", "--rules", "new"}, "--rules is old or allocation"},
		{[]string{"quality", "--rules", "old", "--round", "1h"}, "no allocation rules for --round to set"},
		{[]string{"quality", "--round", "1h,8d"}, "--round takes durations"},
		{[]string{"quality", "--round", "200h"}, "--round takes durations"},
		{[]string{"quality", "--max-wait", "-1h"}, "--max-wait takes durations"},
		{[]string{"quality", "--max-wait", "336h,9000h"}, `--max-wait takes durations from 0s (no bound) to 8760h, such as 336h or 0s,168h,336h; got "9000h"`},
		{[]string{"quality", "--max-wait", "1h,"}, "--max-wait takes durations"},
		{[]string{"quality", "--spare", "1001"}, "--spare from 0 to 1000"},
		{[]string{"quality", "--rules", "old", "--max-wait", "1h"}, "no allocation rules for --max-wait to set"},
		{[]string{"quality", "extra"}, "no arguments"},
	}
	for _, c := range cases {
		var out, errOut bytes.Buffer
		err := run(context.Background(), c.args, &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("tierlink %s: got %v, want an error saying %q", strings.Join(c.args, " "), err, c.want)
		}
	}
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"quality", "--help"}, &out, &errOut); !errors.Is(err, flag.ErrHelp) || !strings.Contains(out.String(), "-regimes") {
		t.Errorf("--help: %v, %q", err, out.String())
	}
}
