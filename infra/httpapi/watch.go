package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"github.com/tierlink/tierlink/app"
	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/watch"
)

// getWatchlist serves a page of a node's watch list: ?after= is the next_cursor of
// the previous page, ?limit= from 1 to app.MaxPageSize (app.DefaultPageSize when
// left out).
func (s *Server) getWatchlist(w http.ResponseWriter, r *http.Request) {
	query(s, w, r, func(ctx context.Context, who domain.Principal) (app.WatchPage, error) {
		q := r.URL.Query()
		limit := 0
		if q.Has("limit") {
			l := q.Get("limit")
			n, err := strconv.Atoi(l)
			if err != nil || n < 1 || n > app.MaxPageSize {
				return app.WatchPage{}, &domain.FieldError{Field: "limit", Reason: fmt.Errorf("%q is not a whole number from 1 to %d; leave limit out for %d",
					l, app.MaxPageSize, app.DefaultPageSize)}
			}
			limit = n
		}
		return s.cfg.App.Queries.Reads.Watchlist(ctx, who, r.PathValue("tier"), r.PathValue("area"), q.Get("after"), limit)
	})
}

// getWatchCounts serves the counts of the watch lists of a node and the nodes under it.
func (s *Server) getWatchCounts(w http.ResponseWriter, r *http.Request) {
	query(s, w, r, func(ctx context.Context, who domain.Principal) (app.WatchCounts, error) {
		return s.cfg.App.Queries.Reads.WatchCounts(ctx, who, r.PathValue("tier"), r.PathValue("area"))
	})
}

// getHouseholdWatch serves why a household is on its centre's watch list now.
func (s *Server) getHouseholdWatch(w http.ResponseWriter, r *http.Request) {
	query(s, w, r, func(ctx context.Context, who domain.Principal) (map[string]any, error) {
		rs, err := s.cfg.App.Queries.Reads.HouseholdWatch(ctx, who, r.PathValue("id"))
		if rs == nil {
			rs = []watch.Reason{}
		}
		return map[string]any{"household_id": r.PathValue("id"), "reasons": rs}, err
	})
}
