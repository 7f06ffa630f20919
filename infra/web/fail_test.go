package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tierlink/tierlink/app"
	"github.com/tierlink/tierlink/domain"
)

// TestEveryRefusalOfAFormIsThePersonsNotAFault sends every kind of refusal a
// command can give a form through the page's error path: each is the person's
// (4xx, in their language where the text is the page's own), none a server fault
// (500, logged as an error). A form sent again under its key with other values
// was a 500 "Internal Server Error".
func TestEveryRefusalOfAFormIsThePersonsNotAFault(t *testing.T) {
	var logged strings.Builder
	s := newTestServer(t)
	s.cfg.Logger = slog.New(slog.NewTextHandler(&logged, nil))
	cases := []struct {
		err    error
		status int
		text   string // the page's own text in the visitor's language, if any
	}{
		{fmt.Errorf("%w: the Idempotency-Key was used for another request", app.ErrCommandReused), http.StatusUnprocessableEntity, "error.reused"},
		{fmt.Errorf("%w: it is at version 3, not 2", app.ErrPreconditionFailed), http.StatusConflict, ""},
		{fmt.Errorf("x: %w", app.ErrConflict), http.StatusConflict, ""},
		{fmt.Errorf("%w: referral r is not proposed", domain.ErrRefused), http.StatusConflict, ""},
		{fmt.Errorf("x: %w", domain.ErrAlreadyExists), http.StatusConflict, ""},
		{fmt.Errorf("%w: centre may not", domain.ErrForbidden), http.StatusForbidden, ""},
		{fmt.Errorf("need n: %w", domain.ErrNotFound), http.StatusNotFound, ""},
		{&domain.FieldError{Field: "capacity", Reason: errors.New("is 0")}, http.StatusUnprocessableEntity, ""},
		{fmt.Errorf("bad: %w", app.ErrBadCursor), http.StatusUnprocessableEntity, ""},
		// Redis out of reach for a moment: 503 with Retry-After, the same form sent again takes effect once.
		{fmt.Errorf("append to d: %w", context.DeadlineExceeded), http.StatusServiceUnavailable, "error.unavailable"},
	}
	for _, c := range cases {
		for _, lang := range []string{LangZH, LangEN} {
			logged.Reset()
			w := httptest.NewRecorder()
			r := httptest.NewRequest("POST", "/ui/offers/o/capacity", nil)
			s.fail(w, r, visitor{lang: lang}, c.err)
			body, _ := io.ReadAll(w.Result().Body)
			if w.Code != c.status {
				t.Errorf("%v (%s): %d, want %d", c.err, lang, w.Code, c.status)
			}
			if strings.Contains(string(body), http.StatusText(http.StatusInternalServerError)) || strings.Contains(logged.String(), "level=ERROR") {
				t.Errorf("%v (%s): answered or logged as a fault: %s", c.err, lang, logged.String())
			}
			if c.status == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
				t.Errorf("%v (%s): a 503 without Retry-After", c.err, lang)
			}
			if c.text != "" && !strings.Contains(string(body), translate(lang, c.text)) {
				t.Errorf("%v (%s): the page does not say %q", c.err, lang, translate(lang, c.text))
			}
		}
	}
}
