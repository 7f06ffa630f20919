package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/sessions"
	"github.com/tierlink/tierlink/infra/throttle"
	"github.com/tierlink/tierlink/infra/tokens"
)

// Sessions keeps the server-side sessions of sign-ins; sessions.Store implements
// it. Start gives tokens.ErrUnknownToken for a token it does not know; Resume and
// Check give sessions.ErrNoSession for an id of no live session.
type Sessions interface {
	// Start checks a token's secret and opens a session, returning its new id.
	Start(ctx context.Context, secret string) (string, sessions.Session, error)
	// Resume returns the live session of an id, counting a use.
	Resume(ctx context.Context, id string) (sessions.Session, error)
	// Check returns the live session of an id without counting a use.
	Check(ctx context.Context, id string) (sessions.Session, error)
	// End ends a session.
	End(ctx context.Context, id string) error
	// Lifetime is how long a session lasts at most.
	Lifetime() time.Duration
}

// Guard limits failed sign-ins; a throttle.Gate implements it.
type Guard interface {
	// Wait returns how long a request presenting a secret must wait before it may
	// try to authenticate (0: it may now).
	Wait(r *http.Request, secret string) time.Duration
	// Failed counts a failed authentication of a request presenting a secret.
	Failed(r *http.Request, secret string)
}

// Cookies of the pages, all HttpOnly and SameSite=Strict, Path /ui/.
const (
	// sessionCookie holds the id of the signed-in person's session: never the token.
	sessionCookie = "tl_session"
	// signinCookie holds the sign-in form's token before there is a session (login
	// CSRF): the form posts it back, and a page of another site can neither read
	// it nor set it.
	signinCookie = "tl_signin"
)

// refreshHeader marks the request of a live page reloading itself (live.js).
const refreshHeader = "X-Tierlink-Refresh"

// visitor is who asks for a page: signed in or not, and in which language.
type visitor struct {
	lang    string
	who     domain.Principal
	tokenID string
	session string // the session's id, "" for a visitor not signed in
}

// csrf is the form token of a session: a digest of the session's id, which a page
// of another site cannot read (the cookie is HttpOnly and SameSite=Strict).
func (v visitor) csrf() string {
	if v.session == "" {
		return ""
	}
	sum := sha256.Sum256([]byte("tierlink/csrf/" + v.session))
	return hex.EncodeToString(sum[:16])
}

// visitor reads who asks for a page: the session of the cookie, if it is live.
// An error is the session store's failure; a visitor with no live session is
// simply not signed in.
func (s *Server) visitor(r *http.Request) (visitor, error) {
	v := visitor{lang: language(r)}
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return v, nil
	}
	// A live page's own reload is no use by the person: it keeps no session alive.
	resume := s.cfg.Sessions.Resume
	if r.Header.Get(refreshHeader) != "" {
		resume = s.cfg.Sessions.Check
	}
	sess, err := resume(r.Context(), c.Value)
	switch {
	case errors.Is(err, sessions.ErrNoSession):
		return v, nil
	case err != nil:
		return v, err
	}
	v.who, v.tokenID, v.session = sess.Principal, sess.TokenID, c.Value
	return v, nil
}

// signedIn runs a handler for a signed-in visitor, and checks the origin and the
// form token of every POST; others go to the sign-in page.
func (s *Server) signedIn(h func(http.ResponseWriter, *http.Request, visitor)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := s.visitor(r)
		if err != nil {
			s.unavailable(w, r, v, err)
			return
		}
		if v.session == "" {
			if _, err := r.Cookie(sessionCookie); err == nil {
				s.clearCookie(w, r, sessionCookie) // a session that ended
			}
			http.Redirect(w, r, "/ui/signin", http.StatusSeeOther)
			return
		}
		if r.Method == http.MethodPost {
			if !sameOrigin(r) || subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(v.csrf())) != 1 {
				s.render(w, r, v, http.StatusForbidden, "error", map[string]any{"Error": translate(v.lang, "error.csrf")})
				return
			}
		}
		h(w, r, v)
	}
}

// unavailable answers 503 when sessions cannot be read.
func (s *Server) unavailable(w http.ResponseWriter, r *http.Request, v visitor, err error) {
	s.cfg.Logger.ErrorContext(r.Context(), "sessions unavailable", "path", r.URL.Path, "err", err)
	w.Header().Set("Retry-After", "5")
	s.render(w, r, v, http.StatusServiceUnavailable, "error", map[string]any{"Error": translate(v.lang, "error.unavailable")})
}

// secure says whether cookies set in answer to a request are Secure: over TLS,
// or whenever the server was told so (behind a proxy that terminates TLS).
func (s *Server) secure(r *http.Request) bool { return s.cfg.Secure || r.TLS != nil }

// setCookie sets one of the pages' cookies (maxAge < 0 deletes it).
func (s *Server) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge time.Duration) {
	age := int(maxAge.Seconds())
	if maxAge < 0 {
		age = -1
	}
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/ui/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: s.secure(r), MaxAge: age})
}

func (s *Server) clearCookie(w http.ResponseWriter, r *http.Request, name string) {
	s.setCookie(w, r, name, "", -1)
}

// sameOrigin says whether a POST comes from a page of this site, by its Origin
// header (or Referer, where a browser sent no Origin). A request with neither is
// let through to the form token, which it must carry anyway.
func sameOrigin(r *http.Request) bool {
	from := r.Header.Get("Origin")
	if from == "" {
		from = r.Header.Get("Referer")
		if from == "" {
			return true
		}
	}
	u, err := url.Parse(from)
	if err != nil || u.Host == "" || !strings.EqualFold(u.Host, r.Host) {
		return false // "null" (a sandboxed or opaque origin) has no host either
	}
	switch u.Scheme {
	case "https":
		return true
	case "http":
		return r.TLS == nil
	}
	return false
}

// signinTTL is how long a sign-in form stays good.
const signinTTL = time.Hour

// signinToken returns the sign-in form's token of a visitor: the one of its
// cookie, or a new one set in a new cookie.
func (s *Server) signinToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(signinCookie); err == nil && len(c.Value) == 64 {
		if _, err := hex.DecodeString(c.Value); err == nil {
			return c.Value
		}
	}
	raw := make([]byte, 32)
	_, _ = rand.Read(raw) // crypto/rand.Read never fails (Go 1.24+)
	tok := hex.EncodeToString(raw)
	s.setCookie(w, r, signinCookie, tok, signinTTL)
	return tok
}

func (s *Server) signinPage(w http.ResponseWriter, r *http.Request) {
	v, err := s.visitor(r)
	if err != nil {
		s.unavailable(w, r, v, err)
		return
	}
	s.render(w, r, v, http.StatusOK, "signin", map[string]any{"SigninToken": s.signinToken(w, r)})
}

// signin opens a session for the holder of a token. The form must come from this
// site and carry the token of its sign-in cookie (so that no other site can sign
// a browser in as someone else); failed attempts are limited per address and per
// token prefix.
func (s *Server) signin(w http.ResponseWriter, r *http.Request) {
	v := visitor{lang: language(r)}
	form := r.PostFormValue("csrf")
	c, err := r.Cookie(signinCookie)
	if !sameOrigin(r) || err != nil || len(c.Value) != 64 || subtle.ConstantTimeCompare([]byte(form), []byte(c.Value)) != 1 {
		s.render(w, r, v, http.StatusForbidden, "signin", map[string]any{"Error": translate(v.lang, "signin.expired"),
			"SigninToken": s.signinToken(w, r)})
		return
	}
	token := strings.TrimSpace(r.PostFormValue("token"))
	again := map[string]any{"SigninToken": c.Value}
	if s.cfg.Guard != nil {
		if wait := s.cfg.Guard.Wait(r, token); wait > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(throttle.RetryAfter(wait)))
			again["Error"] = translate(v.lang, "signin.throttled")
			s.render(w, r, v, http.StatusTooManyRequests, "signin", again)
			return
		}
	}
	id, _, err := s.cfg.Sessions.Start(r.Context(), token)
	switch {
	case errors.Is(err, tokens.ErrUnknownToken):
		if s.cfg.Guard != nil {
			s.cfg.Guard.Failed(r, token)
		}
		again["Error"] = translate(v.lang, "signin.bad")
		s.render(w, r, v, http.StatusUnauthorized, "signin", again)
		return
	case err != nil:
		s.unavailable(w, r, v, err)
		return
	}
	// A session open in this browser before ends: one browser, one session.
	if old, err := r.Cookie(sessionCookie); err == nil && old.Value != "" {
		if err := s.cfg.Sessions.End(r.Context(), old.Value); err != nil {
			s.cfg.Logger.WarnContext(r.Context(), "previous session not ended", "err", err)
		}
	}
	s.clearCookie(w, r, signinCookie)
	s.setCookie(w, r, sessionCookie, id, s.cfg.Sessions.Lifetime())
	http.Redirect(w, r, "/ui/", http.StatusSeeOther)
}

// signout ends the session on the server, then forgets its cookie.
func (s *Server) signout(w http.ResponseWriter, r *http.Request, v visitor) {
	if err := s.cfg.Sessions.End(r.Context(), v.session); err != nil {
		s.unavailable(w, r, v, err)
		return
	}
	s.clearCookie(w, r, sessionCookie)
	http.Redirect(w, r, "/ui/signin", http.StatusSeeOther)
}
