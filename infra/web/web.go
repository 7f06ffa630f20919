// Package web serves tierlink's web pages (zh-CN and en), rendered on the server
// from templates embedded in the binary. It goes through the same application
// layer as the HTTP API, so the same role and area rules hold.
package web

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/tierlink/tierlink/app"
	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/eventlog"
	"github.com/tierlink/tierlink/projections"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// Config wires the web pages.
type Config struct {
	App *app.Application
	// Sessions opens, resumes and ends the server-side sessions of sign-ins.
	Sessions Sessions
	// Guard turns away clients that failed to sign in too often (optional).
	Guard  Guard
	Logger *slog.Logger
	// Secure marks the cookies Secure even on a request that did not come over TLS
	// (behind a proxy that terminates it); a request over TLS gets them anyway.
	Secure bool
	// StreamsPerPrincipal bounds the live-update streams one principal may have
	// open in this process (default DefaultStreamsPerPrincipal).
	StreamsPerPrincipal int
	// StreamCounter counts the open live-update streams (optional).
	StreamCounter StreamCounter
	// LiveInterval is how often a live-update stream looks for changes (default 1s);
	// it checks its session every second look.
	LiveInterval time.Duration
}

// Server serves the pages under /ui/.
type Server struct {
	cfg     Config
	mux     *http.ServeMux
	pages   map[string]*template.Template
	streams *streams
}

// New parses the templates and returns the server.
func New(cfg Config) (*Server, error) {
	if cfg.App == nil || cfg.Sessions == nil {
		return nil, errors.New("web: the application and a sessions store are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.StreamsPerPrincipal <= 0 {
		cfg.StreamsPerPrincipal = DefaultStreamsPerPrincipal
	}
	if cfg.LiveInterval <= 0 {
		cfg.LiveInterval = time.Second
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), pages: map[string]*template.Template{},
		streams: &streams{open: map[string]int{}, max: cfg.StreamsPerPrincipal}}
	for _, page := range []string{"signin", "inbox", "error", "offers", "referrals", "household", "case", "dashboard", "notifications", "subscription", "digest", "watch"} {
		t, err := template.New(page).Funcs(template.FuncMap{
			"t":           func(string) string { return "" },
			"tf":          func(string, ...any) string { return "" },
			"formkey":     func() string { return "" },
			"tier":        func(int) string { return "" },
			"label":       func(domain.Text) string { return "" },
			"add":         func(a, b int) int { return a + b },
			"pct":         percent,
			"heat":        heat,
			"tierOf":      tierOf,
			"local":       local,
			"cat":         func(string) string { return "" },
			"step":        func(projections.Step) string { return "" },
			"rule":        func(string) string { return "" },
			"round":       func(*domain.RoundOutcome) string { return "" },
			"hold":        func(projections.Hold) string { return "" },
			"competition": func(projections.Hold) string { return "" },
			"place":       func(string) string { return "" },
			"provider":    func(string) string { return "" },
			"event":       func(string) string { return "" },
			"actor":       func(string) string { return "" },
		}).ParseFS(templateFiles, "templates/layout.html", "templates/"+page+".html")
		if err != nil {
			return nil, fmt.Errorf("web: template %s: %w", page, err)
		}
		s.pages[page] = t
	}
	static, err := fs.Sub(staticFiles, "static")
	if err != nil {
		return nil, err
	}
	s.mux.Handle("GET /ui/static/", http.StripPrefix("/ui/static/", http.FileServerFS(static)))
	s.mux.HandleFunc("GET /ui/{$}", s.home)
	s.mux.HandleFunc("GET /ui/lang", s.setLanguage)
	s.mux.HandleFunc("GET /ui/signin", s.signinPage)
	s.mux.HandleFunc("POST /ui/signin", s.signin)
	s.mux.HandleFunc("POST /ui/signout", s.signedIn(s.signout))
	s.mux.HandleFunc("GET /ui/inbox", s.signedIn(s.only(domain.RoleCentre, "error.role", s.inbox)))
	s.mux.HandleFunc("POST /ui/referrals/{id}/{action}", s.signedIn(s.answer))
	s.mux.HandleFunc("GET /ui/offers", s.signedIn(s.only(domain.RoleProvider, "error.provider", s.offers)))
	s.mux.HandleFunc("POST /ui/offers", s.signedIn(s.postOffer))
	s.mux.HandleFunc("POST /ui/offers/{id}/{action}", s.signedIn(s.changeOffer))
	s.mux.HandleFunc("GET /ui/referrals", s.signedIn(s.only(domain.RoleProvider, "error.provider", s.providerReferrals)))
	s.mux.HandleFunc("GET /ui/households/new", s.signedIn(s.only(domain.RoleCentre, "error.role", s.householdForm)))
	s.mux.HandleFunc("POST /ui/households", s.signedIn(s.registerHousehold))
	s.mux.HandleFunc("GET /ui/households/{id}", s.signedIn(s.caseView))
	s.mux.HandleFunc("POST /ui/households/{id}/needs", s.signedIn(s.addNeed))
	s.mux.HandleFunc("POST /ui/needs/{id}/withdraw", s.signedIn(s.withdrawNeed))
	s.mux.HandleFunc("POST /ui/households/{id}/entitlements/{programme}/{action}", s.signedIn(s.entitlement))
	s.mux.HandleFunc("POST /ui/households/{id}/visits", s.signedIn(s.visitForm))
	s.mux.HandleFunc("POST /ui/households/{id}/assessments", s.signedIn(s.reassessForm))
	s.mux.HandleFunc("POST /ui/referrals/{id}/follow-up", s.signedIn(s.followUpForm))
	s.mux.HandleFunc("GET /ui/watch", s.signedIn(s.watchPage))
	s.mux.HandleFunc("GET /ui/hardship", s.signedIn(s.hardship))
	s.mux.HandleFunc("GET /ui/dashboard", s.signedIn(s.dashboard))
	s.mux.HandleFunc("GET /ui/events", s.signedIn(s.events))
	s.mux.HandleFunc("GET /ui/notifications", s.signedIn(s.notifications))
	s.mux.HandleFunc("GET /ui/notifications/{id}", s.signedIn(s.subscriptionPage))
	s.mux.HandleFunc("POST /ui/notifications/{id}/redeliver", s.signedIn(s.redeliver))
	s.mux.HandleFunc("GET /ui/digest", s.signedIn(s.digest))
	return s, nil
}

// ServeHTTP serves a page.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if !strings.HasPrefix(r.URL.Path, "/ui/static/") {
		// Pages show personal data, or carry a form token: no cache keeps them.
		w.Header().Set("Cache-Control", "no-store")
	}
	s.mux.ServeHTTP(w, r)
}

// only runs a page for one role; others get a page saying whom it is for (the
// application layer refuses them too: this is for the person, not the rules).
func (s *Server) only(role domain.Role, message string, h func(http.ResponseWriter, *http.Request, visitor)) func(http.ResponseWriter, *http.Request, visitor) {
	return func(w http.ResponseWriter, r *http.Request, v visitor) {
		if v.who.Role != role {
			s.render(w, r, v, http.StatusForbidden, "error", map[string]any{"Error": translate(v.lang, message)})
			return
		}
		h(w, r, v)
	}
}

// render writes a page with the layout's data.
func (s *Server) render(w http.ResponseWriter, r *http.Request, v visitor, status int, page string, data map[string]any) {
	t, err := s.pages[page].Clone()
	if err == nil {
		var areas, categories, providers map[string]domain.Text // the district's names, read once a page
		named := func(which *map[string]domain.Text) func(string) string {
			return func(code string) string {
				if areas == nil {
					areas, categories, providers = s.names(r, v)
				}
				if n, ok := (*which)[code]; ok {
					if v.lang == LangEN {
						return n.En
					}
					return n.Zh
				}
				return code
			}
		}
		place, cat, prov := named(&areas), named(&categories), named(&providers)
		t = t.Funcs(template.FuncMap{
			"t":       func(key string) string { return translate(v.lang, key) },
			"formkey": formKey,
			"tf":      func(key string, args ...any) string { return fmt.Sprintf(translate(v.lang, key), args...) },
			"tier":    func(tier int) string { return translate(v.lang, fmt.Sprintf("tier.%d", tier)) },
			"step":    func(s projections.Step) string { return stepText(v.lang, s) },
			"rule":    func(rule string) string { return ruleText(v.lang, rule) },
			"round":   func(r *domain.RoundOutcome) string { return roundText(v.lang, r) },
			"hold":    func(h projections.Hold) string { return holdText(v.lang, "case.held", h) },
			"competition": func(h projections.Hold) string {
				return fmt.Sprintf(translate(v.lang, "inbox.held.competition"), counted(v.lang, "need", h.Competing), counted(v.lang, "place", h.Free))
			},
			"add": func(a, b int) int { return a + b },
			"cat": cat,
			"label": func(text domain.Text) string {
				if v.lang == LangEN {
					return text.En
				}
				return text.Zh
			},
			"place":    place,
			"provider": prov,
			"actor":    func(a string) string { return actorText(v.lang, a, place, prov) },
			"event":    func(eventType string) string { return eventText(v.lang, eventType) },
		})
	}
	if err != nil {
		http.Error(w, "page unavailable", http.StatusInternalServerError)
		return
	}
	if data == nil {
		data = map[string]any{}
	}
	other := LangEN
	if v.lang == LangEN {
		other = LangZH
	}
	data["Lang"], data["OtherLang"] = v.lang, other
	if _, ok := data["Path"]; !ok {
		data["Path"] = r.URL.Path // where the language switch comes back to
	}
	data["CSRF"], data["Who"] = v.csrf(), v.session != ""
	if v.who.Role == domain.RoleProvider {
		data["Me"] = v.who.Provider // the provider pages say whose they are
	}
	if _, ok := data["Title"]; !ok {
		data["Title"] = translate(v.lang, page+".title")
	}
	if f := r.URL.Query().Get("done"); f != "" && data["Flash"] == nil {
		if msg, ok := messages[v.lang]["done."+f]; ok {
			data["Flash"] = msg
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Language", v.lang)
	w.WriteHeader(status)
	if err := t.ExecuteTemplate(w, page+".html", data); err != nil {
		s.cfg.Logger.Error("page not rendered", "page", page, "err", err)
	}
}

func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	v, err := s.visitor(r)
	if err != nil {
		s.unavailable(w, r, v, err)
		return
	}
	if v.session == "" {
		http.Redirect(w, r, "/ui/signin", http.StatusSeeOther)
		return
	}
	switch v.who.Role {
	case domain.RoleProvider:
		http.Redirect(w, r, "/ui/offers", http.StatusSeeOther)
		return
	case domain.RoleOperator:
		http.Redirect(w, r, "/ui/dashboard", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/ui/inbox", http.StatusSeeOther)
}

func (s *Server) setLanguage(w http.ResponseWriter, r *http.Request) {
	lang := r.URL.Query().Get("to")
	if messages[lang] == nil {
		lang = LangZH
	}
	http.SetCookie(w, &http.Cookie{Name: langCookie, Value: lang, Path: "/ui/", MaxAge: 365 * 24 * 3600, SameSite: http.SameSiteLaxMode, HttpOnly: true, Secure: s.secure(r)})
	http.Redirect(w, r, safeBack(r.URL.Query().Get("back")), http.StatusSeeOther)
}

// declineReasons lists the reasons a centre may give, in the form's order.
var declineReasons = []domain.DeclineReason{domain.DeclineNoLongerNeeded, domain.DeclineNotSuitable, domain.DeclineHouseholdRefused,
	domain.DeclineProviderUnreachable, domain.DeclineOther}

// heldShown is how many of the needs held for an allocation round an inbox shows.
const heldShown = 20

// heldAt reads the needs held for an allocation round in a centre's node area, the
// round due soonest first, as many as an inbox shows.
func (s *Server) heldAt(ctx context.Context, who domain.Principal) (app.Page[projections.NeedView], error) {
	return s.cfg.App.Queries.Reads.Held(ctx, domain.TierName(who.Tier), who.Area, app.PageRequest{Limit: heldShown}, who)
}

// meta is the command metadata of a visitor's form: the form's key makes a form
// sent twice (a double click, a reload, a retry after a lost answer) take effect
// once and answer as the first time, as an API client's Idempotency-Key does.
func (v visitor) meta(r *http.Request) app.Meta {
	m := app.Meta{Actor: v.who.String() + "/token:" + v.tokenID, Principal: v.who}
	if k := r.PostFormValue(formKeyField); formKeyShape.MatchString(k) {
		m.Key = "form-" + k
	}
	return m
}

// formKeyField is the hidden field of every command form that holds its key.
const formKeyField = "idempotency_key"

// formKeyShape is the shape of a form's key: 128 random bits in hex.
var formKeyShape = regexp.MustCompile(`^[0-9a-f]{32}$`)

// formKey makes a new key for a command form, drawn when the form is rendered.
func formKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// answer takes a centre's answer to a referral (then back to the inbox), or a
// provider's service step (then back to its referrals).
func (s *Server) answer(w http.ResponseWriter, r *http.Request, v visitor) {
	kind, id := r.PathValue("action"), r.PathValue("id")
	switch kind {
	case "start", "complete":
		var err error
		if kind == "start" {
			_, err = s.cfg.App.Commands.StartService.Handle(r.Context(), id, v.meta(r))
		} else {
			_, err = s.cfg.App.Commands.CompleteService.Handle(r.Context(), id, v.meta(r))
		}
		if err != nil {
			s.fail(w, r, v, err)
			return
		}
		http.Redirect(w, r, "/ui/referrals?done="+kind, http.StatusSeeOther)
		return
	case domain.AnswerAccept, domain.AnswerDecline, domain.AnswerEscalate:
	default:
		http.NotFound(w, r)
		return
	}
	meta := v.meta(r)
	a := domain.Answer{ReferralID: r.PathValue("id"), Kind: kind, Reason: domain.DeclineReason(r.PostFormValue("reason")), Note: r.PostFormValue("note")}
	if _, err := s.cfg.App.Commands.AnswerReferral.Handle(r.Context(), a, meta); err != nil {
		s.answerFailed(w, r, v, err)
		return
	}
	http.Redirect(w, r, "/ui/inbox?done="+url.QueryEscape(kind), http.StatusSeeOther)
}

// fail shows what went wrong, in the visitor's language where the error is a
// person's (the details of the domain's errors are in English).
func (s *Server) fail(w http.ResponseWriter, r *http.Request, v visitor, err error) {
	status := http.StatusInternalServerError
	var fe *domain.FieldError
	switch {
	case errors.Is(err, domain.ErrForbidden):
		status = http.StatusForbidden
	case errors.Is(err, domain.ErrNotFound):
		status = http.StatusNotFound
	case errors.As(err, &fe), errors.Is(err, app.ErrBadCursor):
		status = http.StatusUnprocessableEntity
	case errors.Is(err, app.ErrCommandReused):
		// A form sent again under its key with other values (edited after a lost
		// answer): the person's mistake, said in their language, not a fault.
		status = http.StatusUnprocessableEntity
		err = errors.New(translate(v.lang, "error.reused"))
	case errors.Is(err, app.ErrConflict), errors.Is(err, app.ErrPreconditionFailed), errors.Is(err, domain.ErrRefused),
		errors.Is(err, domain.ErrAlreadyExists):
		status = http.StatusConflict
	case eventlog.Unavailable(err):
		// Redis restarting or out of reach: the same form, sent again, takes effect once.
		status = http.StatusServiceUnavailable
		s.cfg.Logger.WarnContext(r.Context(), "page unavailable", "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", "1")
		err = errors.New(translate(v.lang, "error.unavailable"))
	default:
		s.cfg.Logger.ErrorContext(r.Context(), "page failed", "path", r.URL.Path, "err", err)
		err = errors.New(http.StatusText(status))
	}
	s.render(w, r, v, status, "error", map[string]any{"Error": err.Error()})
}

// district is the district a provider's pages show (the first; the sample data has one).
func (s *Server) district() string {
	return s.cfg.App.Queries.Reads.Districts()[0]
}

// area is one code a provider may scope an offer to, with its name.
type area struct {
	Code string
	Name domain.Text
}

// needSlots is how many needs the registration form offers at once.
const needSlots = 4

// communitiesOf lists the communities a centre's node holds, with their names.
func (s *Server) communitiesOf(ctx context.Context, v visitor) ([]area, error) {
	ref, err := s.cfg.App.Queries.Reads.Reference(ctx, s.district(), v.who)
	if err != nil {
		return nil, err
	}
	var out []area
	for _, st := range ref.District.Streets {
		for _, c := range st.Communities {
			com := domain.Community{Code: c.Code, Street: st.Code, District: ref.District.Code}
			if v.who.Covers(com) {
				out = append(out, area{c.Code, c.Name})
			}
		}
	}
	return out, nil
}

// householdForm shows the assessment form of a new household.
func (s *Server) householdForm(w http.ResponseWriter, r *http.Request, v visitor) {
	coms, err := s.communitiesOf(r.Context(), v)
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	ref, err := s.cfg.App.Queries.Reads.Reference(r.Context(), s.district(), v.who)
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	s.render(w, r, v, http.StatusOK, "household", map[string]any{"Communities": coms, "Groups": domain.AllTargetGroups(),
		"Dimensions": domain.AllDimensions(), "Levels": []int{0, 1, 2, 3, 4}, "Categories": ref.Categories,
		"Urgencies": []domain.Urgency{domain.UrgencyLow, domain.UrgencyNormal, domain.UrgencyHigh, domain.UrgencyCritical},
		"Slots":     make([]struct{}, needSlots), "Score": 0})
}

// assessmentOf reads the assessment and target groups of the form.
func assessmentOf(form url.Values) (domain.Assessment, []domain.TargetGroup) {
	a := domain.Assessment{}
	for _, d := range domain.AllDimensions() {
		if n, err := strconv.Atoi(form.Get("dim." + string(d))); err == nil && n > 0 {
			a[d] = n
		}
	}
	var groups []domain.TargetGroup
	for _, g := range form["group"] {
		groups = append(groups, domain.TargetGroup(g))
	}
	return a, groups
}

// hardship computes the score of a form being filled in.
func (s *Server) hardship(w http.ResponseWriter, r *http.Request, v visitor) {
	a, groups := assessmentOf(r.URL.Query())
	score, err := s.cfg.App.Queries.Reads.Hardship(a, groups)
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		w.WriteHeader(http.StatusUnprocessableEntity)
		fmt.Fprintf(w, "{\"error\":%q}\n", err.Error())
		return
	}
	fmt.Fprintf(w, "{\"score\":%d}\n", score)
}

// registerHousehold registers the household of the form, then shows its case.
func (s *Server) registerHousehold(w http.ResponseWriter, r *http.Request, v visitor) {
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, v, &domain.FieldError{Field: "form", Reason: err})
		return
	}
	a, groups := assessmentOf(r.PostForm)
	in := app.RegisterHouseholdInput{Community: r.PostFormValue("community"), TargetGroups: groups, Assessment: a}
	urgencies := r.PostForm["urgency"]
	for i, cat := range r.PostForm["need"] {
		if cat == "" {
			continue
		}
		u := domain.UrgencyNormal
		if i < len(urgencies) && urgencies[i] != "" {
			u = domain.Urgency(urgencies[i])
		}
		in.Needs = append(in.Needs, app.NeedInput{Category: cat, Urgency: u})
	}
	res, err := s.cfg.App.Commands.RegisterHousehold.Handle(r.Context(), in, v.meta(r))
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	http.Redirect(w, r, "/ui/households/"+url.PathEscape(res.HouseholdID), http.StatusSeeOther)
}

// percent shows a rate as a percentage.
func percent(x float64) string { return strconv.FormatFloat(100*x, 'f', 0, 64) + "%" }

// heat grades a count from 0 to 4 against the largest.
func heat(n, most int64) int {
	if n <= 0 || most <= 0 {
		return 0
	}
	return 1 + int(3*float64(n-1)/float64(max(1, most-1)))
}

// tierOf is the tier of its name.
func tierOf(name string) int {
	t, _ := domain.ParseTier(name)
	return t
}

// names maps the codes of the district, its streets and communities to their
// names, those of the service categories to their labels, and those of the
// providers in the district's provider directory to their names.
func (s *Server) names(r *http.Request, v visitor) (areas, categories, providers map[string]domain.Text) {
	names, categories, providers := map[string]domain.Text{}, map[string]domain.Text{}, map[string]domain.Text{}
	ref, err := s.cfg.App.Queries.Reads.Reference(r.Context(), s.district(), v.who)
	if err != nil {
		return names, categories, providers
	}
	for _, p := range ref.Providers {
		providers[p.Code] = p.Name
	}
	for _, c := range ref.Categories {
		categories[c.Code] = c.Label
	}
	names[ref.District.Code] = ref.District.Name
	for _, st := range ref.District.Streets {
		names[st.Code] = st.Name
		for _, c := range st.Communities {
			names[c.Code] = c.Name
		}
	}
	return names, categories, providers
}
