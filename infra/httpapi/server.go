// Package httpapi serves tierlink's HTTP JSON API, health and metrics.
package httpapi

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/tierlink/tierlink/app"
	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/projections"
)

// Pinger tells whether the event log's server answers.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Observer records request latency; metrics implement it.
type Observer interface {
	ObserveHTTP(route, code string, d time.Duration)
}

// Authenticator finds who holds a bearer token, and the token's id for the audit
// trail; the tokens store implements it.
type Authenticator interface {
	Authenticate(ctx context.Context, secret string) (domain.Principal, string, error)
}

// Guard limits failed authentications; a throttle.Gate implements it.
type Guard interface {
	// Wait returns how long a request presenting a secret must wait before it may
	// try to authenticate (0: it may now).
	Wait(r *http.Request, secret string) time.Duration
	// Failed counts a failed authentication of a request presenting a secret.
	Failed(r *http.Request, secret string)
}

// Config wires the HTTP API.
type Config struct {
	App *app.Application
	// Auth checks the bearer token of every /v1 request.
	Auth Authenticator
	// Guard turns away clients that failed to authenticate too often (optional).
	Guard    Guard
	Health   Pinger
	Metrics  http.Handler
	Observer Observer
	Logger   *slog.Logger
	// NewID makes command and correlation ids when the client sends none.
	NewID func() string
}

// Server is the HTTP API.
type Server struct {
	cfg     Config
	mux     *http.ServeMux
	openapi []byte // the OpenAPI document, as JSON
	routes  []string
}

//go:embed openapi.yaml
var openapiYAML []byte

// OpenAPI returns the API's OpenAPI 3.1 document, checked.
func OpenAPI() (*openapi3.T, error) {
	doc, err := openapi3.NewLoader().LoadFromData(openapiYAML)
	if err != nil {
		return nil, fmt.Errorf("openapi.yaml: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("openapi.yaml: %w", err)
	}
	return doc, nil
}

// Routes lists the patterns the server answers ("GET /v1/needs/{id}").
func (s *Server) Routes() []string { return slices.Clone(s.routes) }

func (s *Server) handle(pattern string, h http.HandlerFunc) {
	s.routes = append(s.routes, pattern)
	s.mux.HandleFunc(pattern, h)
}

// New validates the configuration and returns the server.
func New(cfg Config) (*Server, error) {
	if cfg.App == nil || cfg.Auth == nil || cfg.Health == nil || cfg.Metrics == nil || cfg.NewID == nil {
		return nil, errors.New("httpapi: app, auth, health, metrics and NewID are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	doc, err := OpenAPI()
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux()}
	if s.openapi, err = json.Marshal(doc); err != nil {
		return nil, err
	}
	s.handle("GET /v1/openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(s.openapi)
	})
	s.handle("POST /v1/households", s.registerHousehold)
	s.handle("POST /v1/households/batch", s.registerHouseholds)
	s.handle("POST /v1/households/{id}/needs", s.registerNeeds)
	s.handle("POST /v1/offers", s.postOffer)
	s.handle("POST /v1/offers/{id}/capacity", s.changeCapacity)
	s.handle("POST /v1/offers/{id}/withdraw", s.withdrawOffer)
	s.handle("GET /v1/needs/{id}", s.getNeed)
	s.handle("POST /v1/needs/{id}/withdraw", s.withdrawNeed)
	s.handle("POST /v1/referrals/{id}/accept", s.answer(domain.AnswerAccept))
	s.handle("POST /v1/referrals/{id}/decline", s.answer(domain.AnswerDecline))
	s.handle("POST /v1/referrals/{id}/escalate", s.answer(domain.AnswerEscalate))
	s.handle("POST /v1/referrals/{id}/start", s.startService)
	s.handle("POST /v1/referrals/{id}/complete", s.completeService)
	s.handle("GET /v1/households/{id}", s.getCase)
	s.handle("GET /v1/households/{id}/history", s.getHistory)
	s.handle("GET /v1/households/{id}/entitlements", s.getEntitlements)
	s.handle("POST /v1/households/{id}/entitlements/{programme}/apply", s.applyEntitlement)
	s.handle("POST /v1/households/{id}/entitlements/{programme}/grant", s.grantEntitlement)
	s.handle("POST /v1/households/{id}/entitlements/{programme}/refuse", s.refuseEntitlement)
	s.handle("POST /v1/households/{id}/visits", s.recordVisit)
	s.handle("POST /v1/households/{id}/assessments", s.reassess)
	s.handle("POST /v1/referrals/{id}/follow-up", s.recordFollowUp)
	s.handle("GET /v1/offers/{id}", s.getOffer)
	s.handle("GET /v1/inboxes/{tier}/{area}", s.getInbox)
	s.handle("GET /v1/waitlists/{tier}/{area}", s.getWaitlist)
	s.handle("GET /v1/providers/{id}/referrals", s.getProviderReferrals)
	s.handle("GET /v1/indicators/{tier}/{area}", s.getIndicators)
	s.handle("GET /v1/reference/{district}", s.getReference)
	s.handle("PUT /v1/reference/{district}", s.putReference)
	s.handleSubscriptions()
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.Handle("GET /metrics", cfg.Metrics)
	return s, nil
}

// ServeHTTP serves a request, recording its latency by route.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	_, pattern := s.mux.Handler(r)
	switch {
	case pattern == "":
		s.notFound(rec, r)
	case strings.HasPrefix(r.URL.Path, "/v1/") && pattern != "GET /v1/openapi.json":
		// Every answer of /v1 but the document may carry personal data: no cache keeps it.
		rec.Header().Set("Cache-Control", "no-store")
		who, p := s.authenticate(r)
		if p != nil {
			rec.Header().Set("WWW-Authenticate", `Bearer realm="tierlink"`)
			writeProblem(rec, r, p)
			break
		}
		s.mux.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), principalKey{}, who)))
	default:
		s.mux.ServeHTTP(rec, r) // the mux sets the path values
	}
	if s.cfg.Observer != nil {
		route := pattern
		if route == "" {
			route = "unmatched"
		}
		s.cfg.Observer.ObserveHTTP(route, strconv.Itoa(rec.status), time.Since(start))
	}
}

// notFound answers unknown paths and wrong methods with a problem, not plain text.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	// The mux knows whether another method would match: ask it with each.
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, p := s.mux.Handler(probe); p != "" && m != r.Method {
			w.Header().Set("Allow", m)
			writeProblem(w, r, newProblem(http.StatusMethodNotAllowed, "method-not-allowed", "Method not allowed", r.Method+" is not allowed here; use "+m))
			return
		}
	}
	writeProblem(w, r, newProblem(http.StatusNotFound, "not-found", "Not found", "no such resource: see README.md for the API"))
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// principalKey keys the authenticated caller in a request's context.
type principalKey struct{}

// caller is who sent an authenticated request, and the id of the token it used.
type caller struct {
	principal domain.Principal
	tokenID   string
}

// authenticate reads the bearer token of a request.
func (s *Server) authenticate(r *http.Request) (caller, *Problem) {
	h := r.Header.Get("Authorization")
	scheme, secret, _ := strings.Cut(h, " ")
	if h == "" || !strings.EqualFold(scheme, "Bearer") || secret == "" {
		return caller{}, newProblem(http.StatusUnauthorized, "unauthenticated", "Authentication required",
			"send Authorization: Bearer <token>; an operator issues tokens with tierlink tokens create")
	}
	secret = strings.TrimSpace(secret)
	if s.cfg.Guard != nil {
		if wait := s.cfg.Guard.Wait(r, secret); wait > 0 {
			p := newProblem(http.StatusTooManyRequests, "too-many-requests", "Too many failed authentications",
				"this address or token failed to authenticate too often; retry after the time Retry-After gives")
			p.retryAfter = wait
			return caller{}, p
		}
	}
	p, id, err := s.cfg.Auth.Authenticate(r.Context(), secret)
	if err != nil {
		if errors.Is(err, ErrUnknownToken) {
			if s.cfg.Guard != nil {
				s.cfg.Guard.Failed(r, secret)
			}
			return caller{}, newProblem(http.StatusUnauthorized, "unauthenticated", "Unknown token",
				"this token is not known or was revoked; ask an operator for a new one")
		}
		s.cfg.Logger.ErrorContext(r.Context(), "token check failed", "err", err)
		return caller{}, newProblem(http.StatusServiceUnavailable, "unavailable", "Tokens unavailable", "the token could not be checked; retry")
	}
	return caller{principal: p, tokenID: id}, nil
}

// ErrUnknownToken is what an Authenticator returns for a token it does not know.
var ErrUnknownToken = errors.New("unknown token")

// callerOf returns the authenticated caller of a request.
func callerOf(r *http.Request) caller {
	c, _ := r.Context().Value(principalKey{}).(caller)
	return c
}

// headerID is the shape accepted for Idempotency-Key and X-Correlation-ID.
var headerID = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,128}$`)

// ifMatchPattern is the shape of If-Match that the API takes, as openapi.yaml
// declares it: * or one version's entity tag, "3" (W/"3" alike).
var ifMatchPattern = regexp.MustCompile(`^(\*|(W/)?"[1-9][0-9]{0,17}")$`)

// parseIfMatch reads an If-Match header: the version it names (0 for *), and
// whether it has the declared shape.
func parseIfMatch(h string) (int64, bool) {
	if !ifMatchPattern.MatchString(h) {
		return 0, false
	}
	if h == "*" {
		return 0, true
	}
	v, err := strconv.ParseInt(strings.Trim(strings.TrimPrefix(h, "W/"), `"`), 10, 64)
	return v, err == nil
}

// meta reads the command's ids from the headers: Idempotency-Key is the command id,
// so that a retried request takes effect once.
func (s *Server) meta(w http.ResponseWriter, r *http.Request) (app.Meta, *Problem) {
	who := callerOf(r)
	m := app.Meta{Actor: who.principal.String() + "/token:" + who.tokenID, Principal: who.principal}
	if k := r.Header.Get("Idempotency-Key"); k != "" {
		if !headerID.MatchString(k) {
			return m, newProblem(http.StatusBadRequest, "invalid-header", "Invalid Idempotency-Key",
				"Idempotency-Key must be 1 to 128 letters, digits, '-', '_', '.' or ':'")
		}
		m.Key = k // the application scopes it by principal (app.Meta.Resolved)
	}
	m = m.Resolved(s.cfg.NewID)
	if im := r.Header.Get("If-Match"); im != "" {
		v, ok := parseIfMatch(im)
		if !ok {
			return m, newProblem(http.StatusBadRequest, "invalid-header", "Invalid If-Match",
				`If-Match takes the version of the resource as its ETag gives it, in quotes ("3"), or *`)
		}
		m.IfMatch = v
	}
	m.CorrelationID = r.Header.Get("X-Correlation-ID")
	if m.CorrelationID != "" && !headerID.MatchString(m.CorrelationID) {
		return m, newProblem(http.StatusBadRequest, "invalid-header", "Invalid X-Correlation-ID",
			"X-Correlation-ID must be 1 to 128 letters, digits, '-', '_', '.' or ':'")
	}
	if m.CorrelationID == "" {
		m.CorrelationID = m.Key
	}
	if m.CorrelationID == "" {
		m.CorrelationID = m.CommandID
	}
	w.Header().Set("X-Correlation-ID", m.CorrelationID)
	return m, nil
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	p, ok := problemFor(err)
	if !ok {
		s.cfg.Logger.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path,
			"correlation_id", w.Header().Get("X-Correlation-ID"), "err", err)
	}
	writeProblem(w, r, p)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

type needRequest struct {
	Category string         `json:"category"`
	Urgency  domain.Urgency `json:"urgency"`
}

type registerHouseholdRequest struct {
	Community    string               `json:"community"`
	TargetGroups []domain.TargetGroup `json:"target_groups"`
	Assessment   domain.Assessment    `json:"assessment"`
	Needs        []needRequest        `json:"needs"`
}

// input is the registration for the application.
func (h registerHouseholdRequest) input() app.RegisterHouseholdInput {
	return app.RegisterHouseholdInput{Community: h.Community, TargetGroups: h.TargetGroups, Assessment: h.Assessment, Needs: needInputs(h.Needs)}
}

func needInputs(rs []needRequest) []app.NeedInput {
	out := make([]app.NeedInput, 0, len(rs))
	for _, n := range rs {
		out = append(out, app.NeedInput{Category: n.Category, Urgency: n.Urgency})
	}
	return out
}

type registerNeedsRequest struct {
	Needs []needRequest `json:"needs"`
}

func (s *Server) registerNeeds(w http.ResponseWriter, r *http.Request) {
	command(s, w, r, func(ctx context.Context, req registerNeedsRequest, meta app.Meta) (any, bool, error) {
		res, err := s.cfg.App.Commands.RegisterNeeds.Handle(ctx, app.RegisterNeedsInput{HouseholdID: r.PathValue("id"), Needs: needInputs(req.Needs)}, meta)
		return res, res.Replayed, err
	})
}

// command runs a command endpoint: the body decoded strictly into Req, the command's
// ids from the headers, the use case, and 201 Created (200 OK for a replayed command).
func command[Req any](s *Server, w http.ResponseWriter, r *http.Request,
	run func(ctx context.Context, req Req, meta app.Meta) (res any, replayed bool, err error)) {
	commandAnswering(s, w, r, http.StatusCreated, run)
}

// commandAnswering is command answering with another status than 201 when the
// command takes effect (200 OK for a replayed command all the same).
func commandAnswering[Req any](s *Server, w http.ResponseWriter, r *http.Request, done int,
	run func(ctx context.Context, req Req, meta app.Meta) (res any, replayed bool, err error)) {
	var req Req
	if _, optional := any(&req).(optionalBody); !optional || r.ContentLength != 0 {
		if p := decodeJSON(w, r, &req); p != nil {
			writeProblem(w, r, p)
			return
		}
	}
	meta, p := s.meta(w, r)
	if p != nil {
		writeProblem(w, r, p)
		return
	}
	res, replayed, err := run(r.Context(), req, meta)
	// One line per command, with the ids its events carry: a log search by
	// correlation id finds the request and, in the log, its events and the
	// matcher's decisions on them.
	log := s.cfg.Logger.With("method", r.Method, "path", r.URL.Path, "actor", meta.Actor,
		"command_id", meta.CommandID, "correlation_id", meta.CorrelationID)
	if err != nil {
		if p, ok := problemFor(err); ok {
			log.InfoContext(r.Context(), "command refused", "status", p.Status, "problem", p.Type)
		}
		s.fail(w, r, err)
		return
	}
	status := done
	if replayed {
		status = http.StatusOK
	}
	log.InfoContext(r.Context(), "command", "status", status)
	writeJSON(w, status, res)
}

func (s *Server) registerHousehold(w http.ResponseWriter, r *http.Request) {
	command(s, w, r, func(ctx context.Context, req registerHouseholdRequest, meta app.Meta) (any, bool, error) {
		res, err := s.cfg.App.Commands.RegisterHousehold.Handle(ctx, req.input(), meta)
		return res, res.Replayed, err
	})
}

// registerHouseholdsRequest is a batch of registrations.
type registerHouseholdsRequest struct {
	Households []registerHouseholdRequest `json:"households"`
}

// batchItem is one household's outcome in a batch: its status, and its result or problem.
type batchItem struct {
	Status  int                          `json:"status"`
	Result  *app.RegisterHouseholdResult `json:"result,omitempty"`
	Problem *Problem                     `json:"problem,omitempty"`
}

// registerHouseholds registers up to app.MaxHouseholdsPerBatch households in one
// request; each is its own command with its own outcome (200 for the request, each
// item 201, 200 when replayed, or its problem's status).
func (s *Server) registerHouseholds(w http.ResponseWriter, r *http.Request) {
	var req registerHouseholdsRequest
	if p := decodeJSONUpTo(w, r, &req, maxBatchBodyBytes); p != nil {
		writeProblem(w, r, p)
		return
	}
	meta, p := s.meta(w, r)
	if p != nil {
		writeProblem(w, r, p)
		return
	}
	in := make([]app.RegisterHouseholdInput, len(req.Households))
	for i, h := range req.Households {
		in[i] = h.input()
	}
	outs, err := s.cfg.App.Commands.RegisterHouseholds.Handle(r.Context(), in, meta)
	log := s.cfg.Logger.With("method", r.Method, "path", r.URL.Path, "actor", meta.Actor,
		"command_id", meta.CommandID, "correlation_id", meta.CorrelationID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	items := make([]batchItem, len(outs))
	refused := 0
	for i, o := range outs {
		if o.Err != nil {
			p, known := problemFor(o.Err)
			if !known {
				log.ErrorContext(r.Context(), "household of a batch not registered", "index", i, "err", o.Err)
			}
			for k := range p.Errors {
				p.Errors[k].Pointer = "/households/" + strconv.Itoa(i) + p.Errors[k].Pointer
			}
			items[i] = batchItem{Status: p.Status, Problem: p}
			refused++
			continue
		}
		res := o.Result
		items[i] = batchItem{Status: http.StatusCreated, Result: &res}
		if res.Replayed {
			items[i].Status = http.StatusOK
		}
	}
	log.InfoContext(r.Context(), "command batch", "households", len(outs), "refused", refused)
	writeJSON(w, http.StatusOK, map[string]any{"results": items})
}

type postOfferRequest struct {
	Provider string `json:"provider"`
	Category string `json:"category"`
	Capacity int    `json:"capacity"`
	Scope    struct {
		Tier string `json:"tier"`
		Area string `json:"area"`
	} `json:"scope"`
	Eligibility domain.Eligibility `json:"eligibility"`
	ValidFrom   *time.Time         `json:"valid_from"`
	ValidUntil  *time.Time         `json:"valid_until"`
}

func (s *Server) postOffer(w http.ResponseWriter, r *http.Request) {
	command(s, w, r, func(ctx context.Context, req postOfferRequest, meta app.Meta) (any, bool, error) {
		res, err := s.cfg.App.Commands.PostOffer.Handle(ctx, app.PostOfferInput{
			Provider: req.Provider, Category: req.Category, Capacity: req.Capacity,
			ScopeTier: req.Scope.Tier, ScopeArea: req.Scope.Area, Eligibility: req.Eligibility,
			ValidFrom: req.ValidFrom, ValidUntil: req.ValidUntil,
		}, meta)
		return res, res.Replayed, err
	})
}

type changeCapacityRequest struct {
	Capacity int `json:"capacity"`
}

func (s *Server) changeCapacity(w http.ResponseWriter, r *http.Request) {
	command(s, w, r, func(ctx context.Context, req changeCapacityRequest, meta app.Meta) (any, bool, error) {
		res, err := s.cfg.App.Commands.ChangeCapacity.Handle(ctx, r.PathValue("id"), req.Capacity, meta)
		return res, res.Replayed, err
	})
}

// optionalBody marks request types whose fields are all optional: the body may be
// left out.
type optionalBody interface{ bodyOptional() }

// emptyRequest is the body of a command that takes no input: none, or {}.
type emptyRequest struct{}

func (*emptyRequest) bodyOptional()        {}
func (*answerRequest) bodyOptional()       {}
func (*withdrawNeedRequest) bodyOptional() {}

func (s *Server) withdrawOffer(w http.ResponseWriter, r *http.Request) {
	command(s, w, r, func(ctx context.Context, _ emptyRequest, meta app.Meta) (any, bool, error) {
		res, err := s.cfg.App.Commands.WithdrawOffer.Handle(ctx, r.PathValue("id"), meta)
		return res, res.Replayed, err
	})
}

// answerRequest is the body of an answer: a decline's reason and a note, both optional
// for accept and escalate.
type answerRequest struct {
	Reason domain.DeclineReason `json:"reason"`
	Note   string               `json:"note"`
}

func (s *Server) answer(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		command(s, w, r, func(ctx context.Context, req answerRequest, meta app.Meta) (any, bool, error) {
			res, err := s.cfg.App.Commands.AnswerReferral.Handle(ctx, domain.Answer{ReferralID: r.PathValue("id"), Kind: kind, Reason: req.Reason, Note: req.Note}, meta)
			return res, res.Replayed, err
		})
	}
}

func (s *Server) startService(w http.ResponseWriter, r *http.Request) {
	command(s, w, r, func(ctx context.Context, _ emptyRequest, meta app.Meta) (any, bool, error) {
		res, err := s.cfg.App.Commands.StartService.Handle(ctx, r.PathValue("id"), meta)
		return res, res.Replayed, err
	})
}

func (s *Server) completeService(w http.ResponseWriter, r *http.Request) {
	command(s, w, r, func(ctx context.Context, _ emptyRequest, meta app.Meta) (any, bool, error) {
		res, err := s.cfg.App.Commands.CompleteService.Handle(ctx, r.PathValue("id"), meta)
		return res, res.Replayed, err
	})
}

type withdrawNeedRequest struct {
	Note string `json:"note"`
}

func (s *Server) withdrawNeed(w http.ResponseWriter, r *http.Request) {
	command(s, w, r, func(ctx context.Context, req withdrawNeedRequest, meta app.Meta) (any, bool, error) {
		res, err := s.cfg.App.Commands.WithdrawNeed.Handle(ctx, r.PathValue("id"), req.Note, meta)
		return res, res.Replayed, err
	})
}

// visitRequest is the body of a visit to record.
type visitRequest struct {
	Visitor   string           `json:"visitor"`
	Kind      domain.VisitKind `json:"kind"`
	VisitedAt time.Time        `json:"visited_at"`
	Found     string           `json:"found"`
}

func (s *Server) recordVisit(w http.ResponseWriter, r *http.Request) {
	command(s, w, r, func(ctx context.Context, req visitRequest, meta app.Meta) (any, bool, error) {
		res, err := s.cfg.App.Commands.RecordVisit.Handle(ctx, r.PathValue("id"), app.VisitInput(req), meta)
		return res, res.Replayed, err
	})
}

// reassessRequest is the body of a new assessment.
type reassessRequest struct {
	Assessment domain.Assessment `json:"assessment"`
	Note       string            `json:"note"`
}

func (s *Server) reassess(w http.ResponseWriter, r *http.Request) {
	command(s, w, r, func(ctx context.Context, req reassessRequest, meta app.Meta) (any, bool, error) {
		res, err := s.cfg.App.Commands.Reassess.Handle(ctx, r.PathValue("id"), app.ReassessInput(req), meta)
		return res, res.Replayed, err
	})
}

// followUpRequest is the body of a follow-up.
type followUpRequest struct {
	Outcome      domain.FollowUpOutcome `json:"outcome"`
	Satisfaction int                    `json:"satisfaction"`
	Note         string                 `json:"note"`
}

func (s *Server) recordFollowUp(w http.ResponseWriter, r *http.Request) {
	command(s, w, r, func(ctx context.Context, req followUpRequest, meta app.Meta) (any, bool, error) {
		res, err := s.cfg.App.Commands.RecordFollowUp.Handle(ctx, r.PathValue("id"), app.FollowUpInput(req), meta)
		return res, res.Replayed, err
	})
}

func (s *Server) getEntitlements(w http.ResponseWriter, r *http.Request) {
	query(s, w, r, func(ctx context.Context, who domain.Principal) (app.Entitlements, error) {
		return s.cfg.App.Queries.Reads.Entitlements(ctx, r.PathValue("id"), who)
	})
}

func (s *Server) applyEntitlement(w http.ResponseWriter, r *http.Request) {
	command(s, w, r, func(ctx context.Context, _ emptyRequest, meta app.Meta) (any, bool, error) {
		res, err := s.cfg.App.Commands.ApplyEntitlement.Handle(ctx, r.PathValue("id"), r.PathValue("programme"), meta)
		return res, res.Replayed, err
	})
}

func (s *Server) grantEntitlement(w http.ResponseWriter, r *http.Request) {
	command(s, w, r, func(ctx context.Context, _ emptyRequest, meta app.Meta) (any, bool, error) {
		res, err := s.cfg.App.Commands.AnswerEntitlement.Handle(ctx, r.PathValue("id"), r.PathValue("programme"), domain.EntitlementGrant, "", meta)
		return res, res.Replayed, err
	})
}

// refuseEntitlementRequest is the body of a refusal: the note saying why.
type refuseEntitlementRequest struct {
	Note string `json:"note"`
}

func (s *Server) refuseEntitlement(w http.ResponseWriter, r *http.Request) {
	command(s, w, r, func(ctx context.Context, req refuseEntitlementRequest, meta app.Meta) (any, bool, error) {
		res, err := s.cfg.App.Commands.AnswerEntitlement.Handle(ctx, r.PathValue("id"), r.PathValue("programme"), domain.EntitlementRefuse, req.Note, meta)
		return res, res.Replayed, err
	})
}

func (s *Server) getNeed(w http.ResponseWriter, r *http.Request) {
	query(s, w, r, func(ctx context.Context, who domain.Principal) (projections.NeedView, error) {
		return s.cfg.App.Queries.Need.Handle(ctx, r.PathValue("id"), who)
	})
}

// versioned is a read model of one aggregate, whose version is its ETag.
type versioned interface{ ETagVersion() int64 }

// query runs a read endpoint: the use case's answer as JSON (with its version as
// ETag when it has one), or its problem.
func query[T any](s *Server, w http.ResponseWriter, r *http.Request, run func(ctx context.Context, who domain.Principal) (T, error)) {
	v, err := run(r.Context(), callerOf(r).principal)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if e, ok := any(v).(versioned); ok {
		w.Header().Set("ETag", `"`+strconv.FormatInt(e.ETagVersion(), 10)+`"`)
	}
	writeJSON(w, http.StatusOK, v)
}

// paged runs a list endpoint: the page request from ?cursor= and ?limit=, then the use case.
func paged[T any](s *Server, w http.ResponseWriter, r *http.Request, run func(ctx context.Context, who domain.Principal, pr app.PageRequest) (app.Page[T], error)) {
	query(s, w, r, func(ctx context.Context, who domain.Principal) (app.Page[T], error) {
		pr, err := pageRequest(r)
		if err != nil {
			return app.Page[T]{}, err
		}
		return run(ctx, who, pr)
	})
}

// pageRequest reads ?cursor= and ?limit= as openapi.yaml declares them: a cursor
// a list gave (400 otherwise), and a limit from 1 to app.MaxPageSize (422
// otherwise; app.DefaultPageSize when it is left out).
func pageRequest(r *http.Request) (app.PageRequest, error) {
	var pr app.PageRequest
	q := r.URL.Query()
	after, err := app.ParseCursor(q.Get("cursor"))
	if err != nil {
		return pr, err
	}
	pr.After = after
	if q.Has("limit") {
		l := q.Get("limit")
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > app.MaxPageSize {
			return pr, &domain.FieldError{Field: "limit", Reason: fmt.Errorf("%q is not a whole number from 1 to %d; leave limit out for %d",
				l, app.MaxPageSize, app.DefaultPageSize)}
		}
		pr.Limit = n
	}
	return pr, nil
}

func (s *Server) getCase(w http.ResponseWriter, r *http.Request) {
	query(s, w, r, func(ctx context.Context, who domain.Principal) (app.CaseView, error) {
		return s.cfg.App.Queries.Reads.Case(ctx, r.PathValue("id"), who)
	})
}

func (s *Server) getHistory(w http.ResponseWriter, r *http.Request) {
	query(s, w, r, func(ctx context.Context, who domain.Principal) (map[string]any, error) {
		h, err := s.cfg.App.Queries.Reads.History(ctx, r.PathValue("id"), who)
		return map[string]any{"items": h}, err
	})
}

func (s *Server) getOffer(w http.ResponseWriter, r *http.Request) {
	query(s, w, r, func(ctx context.Context, who domain.Principal) (projections.OfferView, error) {
		return s.cfg.App.Queries.Reads.Offer(ctx, r.PathValue("id"), who)
	})
}

func (s *Server) getInbox(w http.ResponseWriter, r *http.Request) {
	paged(s, w, r, func(ctx context.Context, who domain.Principal, pr app.PageRequest) (app.Page[app.InboxItem], error) {
		return s.cfg.App.Queries.Reads.Inbox(ctx, r.PathValue("tier"), r.PathValue("area"), pr, who)
	})
}

func (s *Server) getWaitlist(w http.ResponseWriter, r *http.Request) {
	paged(s, w, r, func(ctx context.Context, who domain.Principal, pr app.PageRequest) (app.Page[projections.NeedView], error) {
		return s.cfg.App.Queries.Reads.Waitlist(ctx, r.PathValue("tier"), r.PathValue("area"), pr, who)
	})
}

func (s *Server) getProviderReferrals(w http.ResponseWriter, r *http.Request) {
	paged(s, w, r, func(ctx context.Context, who domain.Principal, pr app.PageRequest) (app.Page[app.ProviderReferral], error) {
		district := r.URL.Query().Get("district")
		if district == "" {
			ds := s.cfg.App.Queries.Reads.Districts()
			if len(ds) != 1 {
				return app.Page[app.ProviderReferral]{}, &domain.FieldError{Field: "district", Reason: errors.New("name the district: ?district=CODE")}
			}
			district = ds[0]
		}
		return s.cfg.App.Queries.Reads.ProviderReferrals(ctx, r.PathValue("id"), district, pr, who)
	})
}

func (s *Server) getReference(w http.ResponseWriter, r *http.Request) {
	query(s, w, r, func(ctx context.Context, who domain.Principal) (domain.ReferencePublished, error) {
		return s.cfg.App.Queries.Reads.Reference(ctx, r.PathValue("district"), who)
	})
}

func (s *Server) putReference(w http.ResponseWriter, r *http.Request) {
	command(s, w, r, func(ctx context.Context, req app.ReferenceInput, meta app.Meta) (any, bool, error) {
		res, err := s.cfg.App.Commands.PublishReference.Handle(ctx, r.PathValue("district"), req, meta)
		// 200 for data already in force and for a retry answered from the log.
		return res, res.Replayed || !res.Changed, err
	})
}

func (s *Server) getIndicators(w http.ResponseWriter, r *http.Request) {
	query(s, w, r, func(ctx context.Context, who domain.Principal) (app.Indicators, error) {
		q := r.URL.Query()
		req := app.IndicatorRequest{Tier: r.PathValue("tier"), Area: r.PathValue("area"), Period: q.Get("period")}
		if req.Period == "" {
			req.Period = "day"
		}
		for name, dst := range map[string]*time.Time{"from": &req.From, "to": &req.To} {
			if v := q.Get(name); v != "" {
				t, err := time.ParseInLocation(time.DateOnly, v, projections.Zone)
				if err != nil {
					return app.Indicators{}, &domain.FieldError{Field: name, Reason: fmt.Errorf("%q is not a date (2026-11-29)", v)}
				}
				*dst = t
			}
		}
		return s.cfg.App.Queries.Reads.Indicators(ctx, req, who)
	})
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.cfg.Health.Ping(ctx); err != nil {
		writeProblem(w, r, newProblem(http.StatusServiceUnavailable, "unavailable", "Event log unavailable", "Redis does not answer: "+err.Error()))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}
