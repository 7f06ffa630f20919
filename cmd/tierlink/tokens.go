package main

import (
	"context"
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
tierlink tokens ACTION --help says more about each action.
`

const tokensCreateUsage = `Usage:
  tierlink tokens create --label TEXT --role operator [--expires 90d]
  tierlink tokens create --label TEXT --role provider --provider ID [--expires 90d]
  tierlink tokens create --label TEXT --role centre --tier community|street|district --area CODE [--expires 90d]

Issues an API token on the Redis of REDIS_URL and prints its secret, once.
`

const tokensListUsage = `Usage:
  tierlink tokens list

Lists the API tokens on the Redis of REDIS_URL: id, principal, creation, expiry
and label (never their secrets, which are not stored).
`

const tokensRevokeUsage = `Usage:
  tierlink tokens revoke ID

Revokes the token of ID (tierlink tokens list shows the ids): it stops working at once.
`

// tokensCmd creates, lists and revokes API tokens; it reads the command line
// before it connects to Redis, so that --help and mistakes need none.
func tokensCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return misused(tokensUsage, "tokens: name an action: create, list or revoke")
	}
	if isHelp(args[0]) {
		fmt.Fprint(stdout, tokensUsage)
		return flag.ErrHelp
	}
	switch args[0] {
	case "create":
		return createToken(ctx, args[1:], stdout)
	case "list":
		fs := newCommand("tokens list", tokensListUsage, stdout)
		if err := fs.parse(args[1:]); err != nil {
			return err
		}
		if err := fs.noArgs(); err != nil {
			return err
		}
		store, closeStore, err := openTokens(ctx, "tokens list")
		if err != nil {
			return err
		}
		defer closeStore()
		list, err := store.List(ctx)
		if err != nil {
			return fmt.Errorf("tokens list: %w", err)
		}
		return listTokens(stdout, list, time.Now())
	case "revoke":
		fs := newCommand("tokens revoke", tokensRevokeUsage, stdout)
		if err := fs.parse(args[1:]); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			return misused(tokensRevokeUsage, "tokens revoke: give one token id (tierlink tokens list shows them)")
		}
		id := fs.Arg(0)
		store, closeStore, err := openTokens(ctx, "tokens revoke")
		if err != nil {
			return err
		}
		defer closeStore()
		if err := store.Revoke(ctx, id); err != nil {
			return fmt.Errorf("tokens revoke %s: %w", id, err)
		}
		fmt.Fprintf(stdout, "token %s revoked\n", id)
		return nil
	default:
		return misused(tokensUsage, "tokens: unknown action %q: use create, list or revoke", args[0])
	}
}

// openTokens opens the token store on the Redis of REDIS_URL and checks that it
// answers; closeStore closes the connection.
func openTokens(ctx context.Context, command string) (store *tokens.Store, closeStore func(), err error) {
	client, err := redisFromEnv(command, "a serve without REDIS_URL keeps its tokens in its own process, out of reach; it prints them when it starts")
	if err != nil {
		return nil, nil, err
	}
	if err := ping(ctx, client); err != nil {
		client.Close()
		return nil, nil, fmt.Errorf("%s: %w", command, err)
	}
	if store, err = tokens.NewStore(client); err != nil {
		client.Close()
		return nil, nil, fmt.Errorf("%s: %w", command, err)
	}
	return store, func() { client.Close() }, nil
}

// createToken issues one token as its flags say and prints its secret.
func createToken(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newCommand("tokens create", tokensCreateUsage, stdout)
	label := fs.String("label", "", "whose token it is, e.g. \"Huayang Road street centre\"")
	role := fs.String("role", "", "operator, provider or centre")
	provider := fs.String("provider", "", "a provider's organisation id")
	tier := fs.String("tier", "", "a centre's tier: community, street or district")
	area := fs.String("area", "", "a centre's area code (its community, street or district)")
	expires := fs.String("expires", "", "when the token stops working: days (90d), a Go duration (36h) or an RFC 3339 time (default: never)")
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := fs.noArgs(); err != nil {
		return err
	}
	now := time.Now()
	until, err := parseExpiry(*expires, now)
	if err != nil {
		return &usageError{err: err}
	}
	t := 0
	if *tier != "" {
		var ok bool
		if t, ok = domain.ParseTier(*tier); !ok {
			return invalid("--tier %q: use community, street or district", *tier)
		}
	}
	p, err := domain.NewPrincipal(domain.Role(*role), *provider, t, *area)
	if err != nil {
		return misused(tokensCreateUsage, "tokens create: %w", err)
	}
	if p.Role == domain.RoleCentre {
		ref, err := reference.Default()
		if err != nil {
			return err
		}
		if _, err := ref.Geography.DistrictOf(p.Tier, p.Area); err != nil {
			return invalid("--area: %w", err)
		}
	}
	store, closeStore, err := openTokens(ctx, "tokens create")
	if err != nil {
		return err
	}
	defer closeStore()
	secret, tok, err := store.CreateUntil(ctx, p, *label, now, until)
	if err != nil {
		return fmt.Errorf("tokens create: %w", err)
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
