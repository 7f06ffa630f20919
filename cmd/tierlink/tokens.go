package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/reference"
	"github.com/tierlink/tierlink/infra/tokens"
)

const tokensUsage = `Usage:
  tierlink tokens create --label TEXT --role operator
  tierlink tokens create --label TEXT --role provider --provider ID
  tierlink tokens create --label TEXT --role centre --tier community|street|district --area CODE
  tierlink tokens list
  tierlink tokens revoke ID

Tokens live in the Redis of REDIS_URL (the one tierlink serve uses); only their
hashes are stored, so a token's secret is shown once, when it is created.
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
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "ID\tPRINCIPAL\tCREATED\tLABEL")
		for _, t := range list {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", t.ID, t.Principal, t.Created.Format(time.RFC3339), t.Label)
		}
		return w.Flush()
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
	if err := fs.Parse(args); err != nil {
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
	secret, tok, err := store.Create(ctx, p, *label, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "token %s for %s (%s)\n%s\nKeep it secret: it is shown only now.\n", tok.ID, tok.Principal, tok.Label, secret)
	return nil
}
