package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/tierlink/tierlink/app"
	"github.com/tierlink/tierlink/domain"
)

// The routes of subscriptions to notifications (signed webhooks): docs/api.md#subscriptions.
func (s *Server) handleSubscriptions() {
	s.handle("POST /v1/subscriptions", s.createSubscription)
	s.handle("GET /v1/subscriptions", s.listSubscriptions)
	s.handle("GET /v1/subscriptions/{id}", s.getSubscription)
	s.handle("DELETE /v1/subscriptions/{id}", s.deleteSubscription)
	s.handle("GET /v1/subscriptions/{id}/deliveries", s.getDeliveries)
	s.handle("GET /v1/subscriptions/{id}/dead-letters", s.getDeadLetters)
	s.handle("POST /v1/subscriptions/{id}/dead-letters/{delivery}/redeliver", s.redeliver)
}

type createSubscriptionRequest struct {
	District   string   `json:"district"`
	URL        string   `json:"url"`
	Kinds      []string `json:"kinds"`
	Categories []string `json:"categories"`
}

// createSubscription answers 201 with the subscription and its secret, which no
// other answer shows (but a retry of this one, under its key, by its principal).
func (s *Server) createSubscription(w http.ResponseWriter, r *http.Request) {
	command(s, w, r, func(ctx context.Context, req createSubscriptionRequest, meta app.Meta) (any, bool, error) {
		res, err := s.cfg.App.Commands.CreateSubscription.Handle(ctx, app.CreateSubscriptionInput{
			District: req.District, URL: req.URL, Kinds: req.Kinds, Categories: req.Categories}, meta)
		if err == nil {
			w.Header().Set("Location", "/v1/subscriptions/"+res.Subscription.ID)
		}
		return res, res.Replayed, err
	})
}

// deleteSubscription answers 200 with the subscription deleted (a replay too: a
// deletion creates nothing).
func (s *Server) deleteSubscription(w http.ResponseWriter, r *http.Request) {
	commandAnswering(s, w, r, http.StatusOK, func(ctx context.Context, _ emptyRequest, meta app.Meta) (any, bool, error) {
		res, err := s.cfg.App.Commands.DeleteSubscription.Handle(ctx, r.PathValue("id"), meta)
		return res, res.Replayed, err
	})
}

// redeliver answers 202: the dead letter is queued again, delivered later (200 for a replay).
func (s *Server) redeliver(w http.ResponseWriter, r *http.Request) {
	commandAnswering(s, w, r, http.StatusAccepted, func(ctx context.Context, _ emptyRequest, meta app.Meta) (any, bool, error) {
		res, err := s.cfg.App.Commands.Redeliver.Handle(ctx, r.PathValue("id"), r.PathValue("delivery"), meta)
		return res, res.Replayed, err
	})
}

// subscriptionView is a subscription whose version is its ETag.
type subscriptionView struct{ app.SubscriptionView }

// ETagVersion is the subscription's version.
func (v subscriptionView) ETagVersion() int64 { return v.Version }

func (s *Server) getSubscription(w http.ResponseWriter, r *http.Request) {
	query(s, w, r, func(ctx context.Context, who domain.Principal) (subscriptionView, error) {
		v, err := s.cfg.App.Queries.Reads.Subscription(ctx, r.PathValue("id"), who)
		return subscriptionView{v}, err
	})
}

func (s *Server) listSubscriptions(w http.ResponseWriter, r *http.Request) {
	query(s, w, r, func(ctx context.Context, who domain.Principal) (map[string]any, error) {
		district := r.URL.Query().Get("district")
		if district == "" {
			ds := s.cfg.App.Queries.Reads.Districts()
			if len(ds) != 1 {
				return nil, &domain.FieldError{Field: "district", Reason: errors.New("name the district: ?district=CODE")}
			}
			district = ds[0]
		}
		subs, err := s.cfg.App.Queries.Reads.Subscriptions(ctx, district, who)
		if subs == nil {
			subs = []app.SubscriptionView{}
		}
		return map[string]any{"items": subs}, err
	})
}

func (s *Server) getDeliveries(w http.ResponseWriter, r *http.Request) {
	query(s, w, r, func(ctx context.Context, who domain.Principal) (map[string]any, error) {
		limit, err := limitUpTo(r, app.MaxAttempts)
		if err != nil {
			return nil, err
		}
		items, err := s.cfg.App.Queries.Reads.Deliveries(ctx, r.PathValue("id"), limit, who)
		if items == nil {
			items = []app.DeliveryAttempt{}
		}
		return map[string]any{"items": items}, err
	})
}

func (s *Server) getDeadLetters(w http.ResponseWriter, r *http.Request) {
	query(s, w, r, func(ctx context.Context, who domain.Principal) (map[string]any, error) {
		limit, err := limitUpTo(r, app.MaxDeadLetters)
		if err != nil {
			return nil, err
		}
		items, err := s.cfg.App.Queries.Reads.DeadLetters(ctx, r.PathValue("id"), limit, who)
		if items == nil {
			items = []app.DeadLetter{}
		}
		return map[string]any{"items": items}, err
	})
}

// limitUpTo reads ?limit= from 1 to most (422 otherwise; most when it is left out).
func limitUpTo(r *http.Request, most int) (int, error) {
	q := r.URL.Query()
	if !q.Has("limit") {
		return most, nil
	}
	l := q.Get("limit")
	n, err := strconv.Atoi(l)
	if err != nil || n < 1 || n > most {
		return 0, &domain.FieldError{Field: "limit", Reason: fmt.Errorf("%q is not a whole number from 1 to %d; leave limit out for %d", l, most, most)}
	}
	return n, nil
}
