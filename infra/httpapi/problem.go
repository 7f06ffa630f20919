package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/tierlink/tierlink/app"
	"github.com/tierlink/tierlink/domain"
	"github.com/tierlink/tierlink/infra/eventlog"
)

// Problem is an RFC 9457 problem detail.
type Problem struct {
	Type     string         `json:"type"`
	Title    string         `json:"title"`
	Status   int            `json:"status"`
	Detail   string         `json:"detail,omitempty"`
	Instance string         `json:"instance,omitempty"`
	Errors   []FieldProblem `json:"errors,omitempty"`
	// ExistingNeedID names the open need a duplicate need was refused for.
	ExistingNeedID string `json:"existing_need_id,omitempty"`
}

// FieldProblem points at the field of the request that is wrong (RFC 6901 pointer).
type FieldProblem struct {
	Pointer string `json:"pointer"`
	Detail  string `json:"detail"`
}

// problemBase prefixes the problem type URIs; each names a page of docs/problems.md.
const problemBase = "https://github.com/tierlink/tierlink/blob/main/docs/problems.md#"

func newProblem(status int, kind, title, detail string) *Problem {
	return &Problem{Type: problemBase + kind, Title: title, Status: status, Detail: detail}
}

func writeProblem(w http.ResponseWriter, r *http.Request, p *Problem) {
	p.Instance = r.URL.Path
	// A detail may quote what the client sent: it stays readable, however long that was.
	if len(p.Detail) > maxDetail {
		p.Detail = strings.ToValidUTF8(p.Detail[:maxDetail], "") + "…"
	}
	for i := range p.Errors {
		if len(p.Errors[i].Detail) > maxDetail {
			p.Errors[i].Detail = strings.ToValidUTF8(p.Errors[i].Detail[:maxDetail], "") + "…"
		}
	}
	if p.Status == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", retryAfterSeconds)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// retryAfterSeconds is the Retry-After of a 503: Redis restarting or out of reach
// is usually back within a second or two.
const retryAfterSeconds = "1"

// maxDetail bounds the length of a problem's detail, in bytes.
const maxDetail = 1000

// maxBodyBytes bounds a request body; maxBatchBodyBytes a batch's.
const (
	maxBodyBytes      = 64 << 10
	maxBatchBodyBytes = 1 << 20
)

// decodeJSON reads a JSON body strictly: the right media type, a size limit, no
// unknown fields, no trailing data. It returns a problem saying what is wrong.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) *Problem {
	return decodeJSONUpTo(w, r, v, maxBodyBytes)
}

// decodeJSONUpTo is decodeJSON with another size limit.
func decodeJSONUpTo(w http.ResponseWriter, r *http.Request, v any, maxBodyBytes int64) *Problem {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		return newProblem(http.StatusUnsupportedMediaType, "unsupported-media-type", "Unsupported media type",
			fmt.Sprintf("send the body as application/json, not %s", ct))
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	var maxErr *http.MaxBytesError
	if errors.As(err, &maxErr) {
		return newProblem(http.StatusRequestEntityTooLarge, "body-too-large", "Request body too large",
			fmt.Sprintf("the body may be at most %d bytes", maxBodyBytes))
	}
	if err != nil {
		return newProblem(http.StatusBadRequest, "unreadable-body", "Unreadable body", err.Error())
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err = dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("trailing data after the JSON value")
	}
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			err = errors.New("trailing data after the JSON value")
		}
	}
	if err == nil {
		return nil
	}
	var (
		syntaxErr *json.SyntaxError
		typeErr   *json.UnmarshalTypeError
	)
	switch {
	case errors.Is(err, io.EOF):
		return newProblem(http.StatusBadRequest, "malformed-json", "Malformed JSON", "the request body is empty: send a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return newProblem(http.StatusBadRequest, "malformed-json", "Malformed JSON", "the JSON ends before its value is complete")
	case errors.As(err, &syntaxErr):
		return newProblem(http.StatusBadRequest, "malformed-json", "Malformed JSON",
			fmt.Sprintf("%v (at byte %d)", syntaxErr, syntaxErr.Offset))
	case errors.As(err, &typeErr):
		p := newProblem(http.StatusBadRequest, "invalid-field", "Invalid field", "a field has the wrong type")
		p.Errors = []FieldProblem{{Pointer: pointer(typeErr.Field), Detail: fmt.Sprintf("must be a JSON %s, not %s", typeErr.Type, typeErr.Value)}}
		return p
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		var raw any
		ptr := "/" + name
		if json.Unmarshal(body, &raw) == nil {
			if found := unknownField(raw, reflect.TypeOf(v), ""); found != "" {
				ptr = found
			}
		}
		p := newProblem(http.StatusBadRequest, "unknown-field", "Unknown field", fmt.Sprintf("the request has a field %s that this endpoint does not take", ptr))
		p.Errors = []FieldProblem{{Pointer: ptr, Detail: "unknown field"}}
		return p
	default:
		return newProblem(http.StatusBadRequest, "malformed-json", "Malformed JSON", err.Error())
	}
}

// unknownField returns the JSON pointer of the first member of raw that type t has
// no field for, since encoding/json names an unknown field but not where it is.
func unknownField(raw any, t reflect.Type, at string) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch x := raw.(type) {
	case map[string]any:
		if t.Kind() != reflect.Struct {
			return ""
		}
		fields := map[string]reflect.Type{}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" {
				name = f.Name
			}
			fields[strings.ToLower(name)] = f.Type
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			ft, ok := fields[strings.ToLower(k)]
			if !ok {
				return at + "/" + k
			}
			if p := unknownField(x[k], ft, at+"/"+k); p != "" {
				return p
			}
		}
	case []any:
		if t.Kind() != reflect.Slice && t.Kind() != reflect.Array {
			return ""
		}
		for i, el := range x {
			if p := unknownField(el, t.Elem(), at+"/"+strconv.Itoa(i)); p != "" {
				return p
			}
		}
	}
	return ""
}

// pointer turns encoding/json's dotted field path into a JSON pointer.
func pointer(field string) string {
	if field == "" {
		return ""
	}
	return "/" + strings.ReplaceAll(field, ".", "/")
}

// problemFor maps a use case's error to a problem; the bool is false for server
// faults (a 500, or a 503 when the event log cannot answer for now), which are logged.
func problemFor(err error) (*Problem, bool) {
	var (
		fe  *domain.FieldError
		dup *domain.DuplicateNeedError
	)
	switch {
	case errors.As(err, &dup):
		p := newProblem(http.StatusConflict, "duplicate-need", "Duplicate need",
			dup.Error()+"; follow the open need instead of registering it again")
		p.Errors = []FieldProblem{{Pointer: "/" + dup.Field, Detail: "the household has an open need of this category"}}
		p.ExistingNeedID = dup.NeedID
		return p, true
	case errors.As(err, &fe):
		p := newProblem(http.StatusUnprocessableEntity, "invalid-field", "Invalid field", fe.Error())
		p.Errors = []FieldProblem{{Pointer: "/" + fe.Field, Detail: fe.Reason.Error()}}
		return p, true
	case errors.Is(err, app.ErrCommandReused):
		return newProblem(http.StatusUnprocessableEntity, "idempotency-key-reused", "Idempotency-Key reused",
			"this Idempotency-Key was used for a different request; use a new key for a new request"), true
	case errors.Is(err, app.ErrPreconditionFailed):
		return newProblem(http.StatusPreconditionFailed, "precondition-failed", "Precondition failed", err.Error()), true
	case errors.Is(err, app.ErrBadCursor):
		return newProblem(http.StatusBadRequest, "invalid-cursor", "Invalid cursor", err.Error()), true
	case errors.Is(err, domain.ErrForbidden):
		return newProblem(http.StatusForbidden, "forbidden", "Forbidden", err.Error()), true
	case errors.Is(err, domain.ErrNotFound):
		return newProblem(http.StatusNotFound, "not-found", "Not found", err.Error()), true
	case errors.Is(err, app.ErrConflict), errors.Is(err, domain.ErrAlreadyExists), errors.Is(err, domain.ErrRefused):
		return newProblem(http.StatusConflict, "conflict", "Conflict", err.Error()+"; read the current state and retry"), true
	case eventlog.Unavailable(err):
		return newProblem(http.StatusServiceUnavailable, "unavailable", "Event log unavailable",
			"the event log cannot answer for now (Redis is restarting or out of reach); retry after Retry-After seconds, a command with the same Idempotency-Key: it takes effect once."), false
	}
	return newProblem(http.StatusInternalServerError, "internal", "Internal error",
		"tierlink could not complete the request; it is logged. Retry with the same Idempotency-Key: the command takes effect once."), false
}
