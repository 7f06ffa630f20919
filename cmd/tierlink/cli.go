package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// Exit codes of the command: 0 for success and for --help, 1 when the work failed,
// 2 when the command line was wrong (an unknown command, action or flag, a bad value).
const (
	exitOK      = 0
	exitFailed  = 1
	exitMisused = 2
)

// usageError is a command line tierlink cannot run: it exits 2, printing the
// message and then the usage of the command concerned (when there is one).
type usageError struct {
	err   error
	usage string
}

func (e *usageError) Error() string { return e.err.Error() }

func (e *usageError) Unwrap() error { return e.err }

// misused returns a usage error that prints usage after its message.
func misused(usage string, format string, args ...any) error {
	return &usageError{err: fmt.Errorf(format, args...), usage: usage}
}

// invalid returns a usage error for a flag value out of range: the message names
// the flag and what it takes, so the usage is not repeated.
func invalid(format string, args ...any) error {
	return &usageError{err: fmt.Errorf(format, args...)}
}

// runMain runs tierlink with args, writes any error to stderr as a plain line (with
// the usage after a command line it cannot run), and returns the exit code.
func runMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	quietRedis()
	err := run(ctx, args, stdout, stderr)
	code := exitCode(err)
	if code == exitOK {
		return code
	}
	fmt.Fprintln(stderr, "tierlink:", err)
	var ue *usageError
	if errors.As(err, &ue) && ue.usage != "" {
		fmt.Fprintln(stderr)
		fmt.Fprint(stderr, ue.usage)
	}
	return code
}

// exitCode is the process's exit code after err.
func exitCode(err error) int {
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		return exitMisused
	default:
		return exitFailed
	}
}

// isHelp says whether a word where a command or an action is expected asks for help.
func isHelp(arg string) bool {
	switch arg {
	case "help", "-h", "-help", "--help":
		return true
	}
	return false
}

// cliCommand is a subcommand's flag set with its usage: help goes to stdout and exits
// 0; a flag it does not know is a usage error, printed by runMain.
type cliCommand struct {
	*flag.FlagSet
	synopsis string
	stdout   io.Writer
}

// newCommand returns the flag set of the command name, whose usage is synopsis
// (its usage lines and what it does) followed by its flags.
func newCommand(name, synopsis string, stdout io.Writer) *cliCommand {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &cliCommand{FlagSet: fs, synopsis: synopsis, stdout: stdout}
}

// usage is the command's usage: its synopsis and every flag it defines.
func (c *cliCommand) usage() string {
	var b strings.Builder
	b.WriteString(c.synopsis)
	n := 0
	c.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		var defaults strings.Builder
		c.SetOutput(&defaults)
		c.PrintDefaults()
		c.SetOutput(io.Discard)
		// The flag package writes -name; the usage lines and the README write --name.
		b.WriteString("\nFlags:\n" + strings.ReplaceAll("\n"+defaults.String(), "\n  -", "\n  --")[1:])
	}
	return b.String()
}

// parse reads the command's flags; --help prints the usage on stdout and returns
// flag.ErrHelp.
func (c *cliCommand) parse(args []string) error {
	err := c.Parse(args)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(c.stdout, c.usage())
		return flag.ErrHelp
	default:
		return misused(c.usage(), "%s: %v", c.Name(), err)
	}
}

// noArgs refuses arguments left after the flags, for a command that takes none.
func (c *cliCommand) noArgs() error {
	if c.NArg() > 0 {
		return misused(c.usage(), "%s takes no arguments, got %q", c.Name(), c.Args())
	}
	return nil
}

// redisLogger routes go-redis's internal log lines (a pool that cannot dial, a
// connection closed with unread data) to slog at debug level, out of the output:
// the command reports the error that matters itself.
type redisLogger struct{}

// Printf logs one of go-redis's lines at debug level.
func (redisLogger) Printf(ctx context.Context, format string, v ...any) {
	slog.Default().DebugContext(ctx, fmt.Sprintf(format, v...), "from", "go-redis")
}
