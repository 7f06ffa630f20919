package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tierlink/tierlink/app"
	"github.com/tierlink/tierlink/domain"
)

// strictBody has the shapes of the request bodies: nested structs, slices of
// structs, maps, values that decode themselves and a promoted field.
type strictBody struct {
	Community string `json:"community"`
	Scope     struct {
		Tier string `json:"tier"`
	} `json:"scope"`
	Needs      []needRequest   `json:"needs"`
	Versions   map[string]int  `json:"versions"`
	ValidFrom  *time.Time      `json:"valid_from"`
	Deadline   domain.Duration `json:"deadline"`
	Any        any             `json:"any"`
	Untagged   string
	Skipped    string                 `json:"-"`
	Deadlines  domain.Deadlines       `json:"deadlines"`
	Labels     map[string]domain.Text `json:"labels"`
	promotedIn                        // its field "promoted" is the outer struct's
}

type promotedIn struct {
	Promoted string `json:"promoted"`
}

// TestDecodeJSONIsStrict runs the body check over every class of input it refuses
// (and the shapes it takes): each refusal is a problem of the right status, kind
// and pointer.
func TestDecodeJSONIsStrict(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		status     int
		kind       string
		pointer    string
	}{
		{"good", `{"community":"a","scope":{"tier":"street"},"needs":[{"category":"c","urgency":"high"}],"versions":{"X":1,"x":2},
			"valid_from":"2026-01-01T00:00:00Z","deadline":"48h","any":{"A":1,"a":[{"b":1}]},"Untagged":"u","deadlines":{"community":"1h"},
			"labels":{"k":{"zh":"z","en":"e"}},"promoted":"p"}`, 0, "", ""},
		{"duplicate at the top", `{"community":"a","community":"b"}`, 400, "duplicate-field", "/community"},
		{"duplicate in a nested object", `{"scope":{"tier":"street","tier":"district"}}`, 400, "duplicate-field", "/scope/tier"},
		{"duplicate in an array's object", `{"needs":[{"category":"c"},{"category":"c","category":"d"}]}`, 400, "duplicate-field", "/needs/1/category"},
		{"duplicate map key", `{"versions":{"a":1,"a":2}}`, 400, "duplicate-field", "/versions/a"},
		{"duplicate inside any", `{"any":{"x":{"y":1,"y":1}}}`, 400, "duplicate-field", "/any/x/y"},
		{"duplicate with an escaped name", `{"versions":{"a/b~":1,"a/b~":2}}`, 400, "duplicate-field", "/versions/a~1b~0"},
		{"duplicate of a case-changed name", `{"community":"a","Community":"b"}`, 400, "unknown-field", "/Community"},
		{"case-changed at the top", `{"COMMUNITY":"a"}`, 400, "unknown-field", "/COMMUNITY"},
		{"case-changed nested", `{"scope":{"Tier":"street"}}`, 400, "unknown-field", "/scope/Tier"},
		{"case-changed in an array", `{"needs":[{"category":"c"},{"Urgency":"high"}]}`, 400, "unknown-field", "/needs/1/Urgency"},
		{"case-changed in a value that does not decode itself", `{"deadlines":{"Community":"1h"}}`, 400, "unknown-field", "/deadlines/Community"},
		{"case-changed untagged name", `{"untagged":"u"}`, 400, "unknown-field", "/untagged"},
		{"case-changed promoted name", `{"Promoted":"p"}`, 400, "unknown-field", "/Promoted"},
		{"a field tagged -", `{"Skipped":"s"}`, 400, "unknown-field", "/Skipped"},
		{"unknown nested", `{"labels":{"k":{"zh":"z","fr":"f"}}}`, 400, "unknown-field", "/labels/k/fr"},
		{"unknown in an array", `{"needs":[{"category":"c","name":"Li"}]}`, 400, "unknown-field", "/needs/0/name"},
		{"trailing garbage", `{"community":"a"} x`, 400, "malformed-json", ""},
		{"a second value", `{"community":"a"} {}`, 400, "malformed-json", ""},
		{"cut short", `{"community":"a"`, 400, "malformed-json", ""},
		{"empty", ``, 400, "malformed-json", ""},
		{"not an object", `[1]`, 400, "invalid-field", ""},
		{"wrong type", `{"community":1}`, 400, "invalid-field", "/community"},
		{"too deep", `{"any":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`, 400, "malformed-json", ""},
		{"too large", `{"community":"` + strings.Repeat("x", maxBodyBytes) + `"}`, 413, "body-too-large", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/v1/x", strings.NewReader(tc.body))
			r.Header.Set("Content-Type", "application/json")
			var v strictBody
			p := decodeJSON(httptest.NewRecorder(), r, &v)
			if tc.status == 0 {
				if p != nil {
					t.Fatalf("refused: %+v", p)
				}
				if v.Community != "a" || v.Scope.Tier != "street" || v.Promoted != "p" || time.Duration(v.Deadline) != 48*time.Hour {
					t.Fatalf("decoded %+v", v)
				}
				return
			}
			if p == nil {
				t.Fatalf("accepted, decoded %+v", v)
			}
			if p.Status != tc.status || !strings.HasSuffix(p.Type, "#"+tc.kind) || p.Detail == "" {
				t.Fatalf("%d %s %q, want %d %s", p.Status, p.Type, p.Detail, tc.status, tc.kind)
			}
			if tc.pointer != "" && (len(p.Errors) != 1 || p.Errors[0].Pointer != tc.pointer) {
				t.Fatalf("errors %+v, want the pointer %s", p.Errors, tc.pointer)
			}
			if strings.Contains(tc.name, "case-changed") && !strings.Contains(p.Detail, "case-sensitive") {
				t.Fatalf("the detail does not name the right spelling: %s", p.Detail)
			}
		})
	}
}

// TestMediaType takes exactly application/json, with charset=utf-8 at most.
func TestMediaType(t *testing.T) {
	for ct, ok := range map[string]bool{
		"application/json":                     true,
		"Application/JSON":                     true,
		"application/json; charset=utf-8":      true,
		`application/json;charset="UTF-8"`:     true,
		"":                                     false,
		"application/json-patch+json":          false,
		"application/jsonx":                    false,
		"application/json; charset=latin1":     false,
		"application/json; profile=x":          false,
		"application/json; charset=utf-8; x=y": false,
		"application/x-www-form-urlencoded":    false,
		"text/plain":                           false,
		"application/json;;":                   false,
		"application/merge-patch+json":         false,
		"multipart/form-data; boundary=x":      false,
	} {
		r := httptest.NewRequest("POST", "/v1/x", strings.NewReader(`{"community":"a"}`))
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		var v strictBody
		p := decodeJSON(httptest.NewRecorder(), r, &v)
		if ok && p != nil {
			t.Errorf("%q refused: %+v", ct, p)
		}
		if !ok && (p == nil || p.Status != http.StatusUnsupportedMediaType || !strings.Contains(p.Detail, "application/json")) {
			t.Errorf("%q: %+v, want 415", ct, p)
		}
	}
}

// An event log that cannot answer for now is a 503 with Retry-After, whatever the
// way it failed; the client's own mistakes and the domain's refusals keep their
// status, and what is left is a 500.
func TestUnavailableLogIs503WithRetryAfter(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	reset := &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	cases := []struct {
		err  error
		want int
	}{
		{refused, http.StatusServiceUnavailable},
		{reset, http.StatusServiceUnavailable},
		{context.DeadlineExceeded, http.StatusServiceUnavailable},
		{io.EOF, http.StatusServiceUnavailable},
		{redis.ErrPoolTimeout, http.StatusServiceUnavailable},
		{redis.ErrClosed, http.StatusServiceUnavailable},
		{domain.ErrNotFound, http.StatusNotFound},
		{app.ErrConflict, http.StatusConflict},
		{errors.New("a bug"), http.StatusInternalServerError},
	}
	for _, c := range cases {
		err := fmt.Errorf("need n1: read: %w", c.err) // as the use cases wrap them
		p, known := problemFor(err)
		if p.Status != c.want {
			t.Errorf("%v: %d, want %d", err, p.Status, c.want)
			continue
		}
		rec := httptest.NewRecorder()
		writeProblem(rec, httptest.NewRequest(http.MethodPost, "/v1/households", nil), p)
		ra := rec.Header().Get("Retry-After")
		if c.want == http.StatusServiceUnavailable {
			if ra == "" {
				t.Errorf("%v: 503 without Retry-After", err)
			}
			if known {
				t.Errorf("%v: an unavailable log is not logged (known problem)", err)
			}
		} else if ra != "" {
			t.Errorf("%v: %d with Retry-After %q", err, p.Status, ra)
		}
	}
}
