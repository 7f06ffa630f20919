package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/reference"
	"github.com/tierlink/tierlink/infra/tokens"
)

const tokensUsage = `Usage:
  tierlink tokens create --label TEXT --role operator [--expires 90d]
  tierlink tokens create --label TEXT --role provider --provider ID [--expires 90d]
  tierlink tokens create --label TEXT --role centre --tier community|street|district --area CODE [--expires 90d]
  tierlink tokens list
  tierlink tokens revoke ID

Tokens live in the Redis of REDIS_URL (the one tierlink serve uses); only their
hashes are stored, so a token's secret is shown once, when it is created.
--expires takes days (90d), a Go duration (36h) or an RFC 3339 time; without it a
token works until it is revoked. An expired token is refused like an unknown one.
`

// tokensCmd creates, lists and revokes API tokens.
func tokensCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, tokensUsage)
		return errors.New("tokens: name create, list or revoke")
	}
	client, err := redisFromEnv("tokens", "a serve without REDIS_URL keeps its data in its own process, out of reach")
	if err != nil {
		return err
	}
	defer client.Close()
	store, err := tokens.NewStore(client)
	if err != nil {
		return err
	}
	switch args[0] {
	case "create":
		return createToken(ctx, store, args[1:], stdout, stderr)
	case "list":
		list, err := store.List(ctx)
		if err != nil {
			return err
		}
		return listTokens(stdout, list, time.Now())
	case "revoke":
		if len(args) != 2 {
			return errors.New("tokens revoke: give one token id (tierlink tokens list shows them)")
		}
		if err := store.Revoke(ctx, args[1]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "token %s revoked\n", args[1])
		return nil
	default:
		fmt.Fprint(stderr, tokensUsage)
		return fmt.Errorf("tokens: unknown action %q", args[0])
	}
}

func createToken(ctx context.Context, store *tokens.Store, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tokens create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	label := fs.String("label", "", "whose token it is, e.g. \"Huayang Road street centre\"")
	role := fs.String("role", "", "operator, provider or centre")
	provider := fs.String("provider", "", "a provider's organisation id")
	tier := fs.String("tier", "", "a centre's tier: community, street or district")
	area := fs.String("area", "", "a centre's area code (its community, street or district)")
	expires := fs.String("expires", "", "when the token stops working: days (90d), a Go duration (36h) or an RFC 3339 time (default: never)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	now := time.Now()
	until, err := parseExpiry(*expires, now)
	if err != nil {
		return err
	}
	t := 0
	if *tier != "" {
		var ok bool
		if t, ok = domain.ParseTier(*tier); !ok {
			return fmt.Errorf("--tier %q: use community, street or district", *tier)
		}
	}
	p, err := domain.NewPrincipal(domain.Role(*role), *provider, t, *area)
	if err != nil {
		return err
	}
	if p.Role == domain.RoleCentre {
		ref, err := reference.Default()
		if err != nil {
			return err
		}
		if _, err := ref.Geography.DistrictOf(p.Tier, p.Area); err != nil {
			return fmt.Errorf("--area: %w", err)
		}
	}
	secret, tok, err := store.CreateUntil(ctx, p, *label, now, until)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "token %s for %s (%s)%s\n%s\nKeep it secret: it is shown only now.\n", tok.ID, tok.Principal, tokens.Printable(tok.Label),
		expiryNote(tok), secret)
	return nil
}

// expiryNote says when a token expires, for the line that announces it.
func expiryNote(t tokens.Token) string {
	if t.Expires.IsZero() {
		return ""
	}
	return ", expires " + t.Expires.Format(time.RFC3339)
}

// listTokens writes the tokens as a table; labels are escaped, so that a label
// cannot send control sequences to the operator's terminal.
func listTokens(w io.Writer, list []tokens.Token, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPRINCIPAL\tCREATED\tEXPIRES\tLABEL")
	for _, t := range list {
		expires := "never"
		if !t.Expires.IsZero() {
			expires = t.Expires.Format(time.RFC3339)
			if t.ExpiredAt(now) {
				expires += " (expired)"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.ID, t.Principal, t.Created.Format(time.RFC3339), expires, tokens.Printable(t.Label))
	}
	return tw.Flush()
}

// parseExpiry reads --expires: empty (never), days ("90d"), a Go duration ("36h")
// or an RFC 3339 time; the time must be after now.
func parseExpiry(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	var at time.Time
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 1 || n > 3660 {
			return time.Time{}, fmt.Errorf("--expires %q: give 1d to 3660d, a duration such as 36h, or an RFC 3339 time", s)
		}
		at = now.AddDate(0, 0, n)
	} else if d, err := time.ParseDuration(s); err == nil {
		at = now.Add(d)
	} else if t, err := time.Parse(time.RFC3339, s); err == nil {
		at = t
	} else {
		return time.Time{}, fmt.Errorf("--expires %q: give days (90d), a duration (36h) or an RFC 3339 time (2027-03-01T00:00:00+08:00)", s)
	}
	if !at.After(now) {
		return time.Time{}, fmt.Errorf("--expires %q is not in the future", s)
	}
	return at.UTC(), nil
}
