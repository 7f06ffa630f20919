package web

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/tierlink/tierlink/app"
	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/sessions"
)

// Live pages: what a page marked data-live shows, for its stream to watch.
const (
	viewInbox     = "inbox"     // a centre's inbox
	viewReferrals = "referrals" // a provider's referrals
	viewDashboard = "dashboard" // an operator's district, a centre's node
)

// DefaultStreamsPerPrincipal is how many live-update streams one principal may
// have open in one process by default (a few tabs and browsers).
const DefaultStreamsPerPrincipal = 4

// StreamCounter counts open live-update streams; metrics implement it.
type StreamCounter interface {
	LiveStreams(delta int)
}

// streams counts the open live-update streams of each principal.
type streams struct {
	mu   sync.Mutex
	open map[string]int
	max  int
}

// enter opens a stream of a principal, unless it has its fill open.
func (s *streams) enter(principal string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.open[principal] >= s.max {
		return false
	}
	s.open[principal]++
	return true
}

// leave closes a stream of a principal.
func (s *streams) leave(principal string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.open[principal]--; s.open[principal] <= 0 {
		delete(s.open, principal)
	}
}

// digest reads what a viewer sees of a live page and returns a digest of it.
type digest func(ctx context.Context) (string, error)

// liveView returns the digest of what a viewer may read of a live page: a centre
// its node's inbox (or its node's dashboard), a provider its own referrals, an
// operator its district (any change of the district's read models). A view the
// viewer has no page of gives its role's page.
func (s *Server) liveView(v visitor, view string) digest {
	reads, district := s.cfg.App.Queries.Reads, s.district()
	who := v.who
	switch who.Role {
	case domain.RoleProvider:
		return func(ctx context.Context) (string, error) {
			page, err := reads.ProviderReferrals(ctx, who.Provider, district, app.PageRequest{Limit: app.MaxPageSize}, who)
			return hashOf(page, err)
		}
	case domain.RoleCentre:
		tier, area := domain.TierName(who.Tier), who.Area
		if view == viewDashboard {
			return func(ctx context.Context) (string, error) {
				ind, err := reads.Indicators(ctx, app.IndicatorRequest{Tier: tier, Area: area, Period: "day"}, who)
				if err != nil {
					return "", err
				}
				recent, err := reads.RecentDecisions(ctx, tier, area, 10, who)
				return hashOf([]any{ind, recent}, err)
			}
		}
		return func(ctx context.Context) (string, error) {
			page, err := reads.Inbox(ctx, tier, area, app.PageRequest{}, who)
			if err != nil {
				return "", err
			}
			held, err := s.heldAt(ctx, who)
			return hashOf([]any{page, held}, err)
		}
	case domain.RoleOperator:
		// An operator reads the whole district: every change of it is its own.
		return func(ctx context.Context) (string, error) {
			cp, err := reads.Checkpoint(ctx, district)
			return strconv.FormatInt(cp, 10), err
		}
	}
	return func(context.Context) (string, error) { return "", domain.ErrForbidden }
}

// hashOf is the digest of a view read.
func hashOf(v any, err error) (string, error) {
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("digest of a live view: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// events streams (server-sent events) a "changed" event whenever what the viewer
// sees of its live page changed, so that the page reloads itself. It watches the
// district's checkpoint, and when it moves reads the viewer's own view again
// through the application's queries, with the viewer's principal: it says
// "changed" only when that view's digest moved, so the stream tells nothing of
// other tenants' activity, and it carries no log position, only a count of its
// own. It checks the session every other look and ends with "signedout" once
// the session has ended (signed out, timed out, token revoked or expired). A
// principal may have StreamsPerPrincipal streams open; a comment every 15 looks
// keeps the connection open through proxies.
func (s *Server) events(w http.ResponseWriter, r *http.Request, v visitor) {
	principal := v.who.String()
	if !s.streams.enter(principal) {
		w.Header().Set("Retry-After", "30")
		s.render(w, r, v, http.StatusTooManyRequests, "error", map[string]any{"Error": translate(v.lang, "error.streams")})
		return
	}
	defer s.streams.leave(principal)
	if s.cfg.StreamCounter != nil {
		s.cfg.StreamCounter.LiveStreams(1)
		defer s.cfg.StreamCounter.LiveStreams(-1)
	}
	ctx, district, reads := r.Context(), s.district(), s.cfg.App.Queries.Reads
	view := s.liveView(v, r.URL.Query().Get("view"))
	cp, err := reads.Checkpoint(ctx, district)
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	last, err := view(ctx)
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	send := func(event, data string) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(30 * time.Second))
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, data); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if _, err := fmt.Fprint(w, "retry: 3000\n"); err != nil || !send("ready", "0") {
		return
	}
	tick := time.NewTicker(s.cfg.LiveInterval)
	defer tick.Stop()
	looks, quiet, changes := 0, 0, 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if looks++; looks%2 == 0 {
			if _, err := s.cfg.Sessions.Check(ctx, v.session); errors.Is(err, sessions.ErrNoSession) {
				send("signedout", "0")
				return
			}
		}
		if now, err := reads.Checkpoint(ctx, district); err == nil && now != cp {
			cp = now
			if d, err := view(ctx); err == nil && d != last {
				last, quiet = d, 0
				changes++
				if !send("changed", strconv.Itoa(changes)) {
					return
				}
				continue
			}
		}
		if quiet++; quiet >= 15 {
			quiet = 0
			if _, err := fmt.Fprint(w, ": still here\n\n"); err != nil || rc.Flush() != nil {
				return
			}
		}
	}
}
