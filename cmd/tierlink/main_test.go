package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Bad input on the command line gets a plain message saying what to do, before
// anything is written anywhere.
func TestCommandLineRefusals(t *testing.T) {
	t.Setenv("REDIS_URL", "")
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte("not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"demo"}, "set REDIS_URL"},
		{[]string{"demo", "extra"}, "no arguments"},
		{[]string{"surge", "--needs", "0"}, "--needs from 1"},
		{[]string{"surge"}, "set REDIS_URL"},
		{[]string{"load", "--rate", "-1"}, "--rate of 0 or more"},
		{[]string{"load", "--baseline", bad}, "is not the JSON of tierlink load"},
		{[]string{"load", "--subscriptions", "101"}, "--subscriptions from 0 to 100"},
		{[]string{"serve", "--demo", "--demo-days", "0"}, "play from 1 to 366 days"},
		{[]string{"serve", "--trusted-proxy", "10.0.0.0/8,nope"}, `"nope" is not an address or a CIDR`},
		{[]string{"nonsense"}, "unknown command"},
	}
	for _, c := range cases {
		var out, errOut bytes.Buffer
		err := run(context.Background(), c.args, &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("tierlink %s: got %v, want an error saying %q", strings.Join(c.args, " "), err, c.want)
		}
	}
}
