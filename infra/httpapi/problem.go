package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

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
	// retryAfter, when set, is sent as the Retry-After header.
	retryAfter time.Duration
	// lasting marks a 503 that a retry will not end (the node's configuration):
	// it is sent without Retry-After.
	lasting bool
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
	switch {
	case p.retryAfter > 0:
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int((p.retryAfter+time.Second-1)/time.Second))))
	case p.Status == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" && !p.lasting:
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

// maxFieldProblems bounds how many wrong fields one problem lists.
const maxFieldProblems = 100

// maxBodyBytes bounds a request body; maxBatchBodyBytes a batch's.
const (
	maxBodyBytes      = 64 << 10
	maxBatchBodyBytes = 1 << 20
)

// decodeJSON reads a JSON body strictly: the media type application/json, a size
// limit, one JSON value and nothing after it, and each member named once and exactly
// as the endpoint names it (no unknown fields, no other case). It returns a problem
// saying what is wrong.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) *Problem {
	return decodeJSONUpTo(w, r, v, maxBodyBytes)
}

// decodeJSONUpTo is decodeJSON with another size limit.
func decodeJSONUpTo(w http.ResponseWriter, r *http.Request, v any, maxBodyBytes int64) *Problem {
	if p := checkMediaType(r.Header.Get("Content-Type")); p != nil {
		return p
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
	if p := checkMembers(body, v); p != nil {
		return p
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
		// checkMembers finds values of the wrong type first, all of them; this is a backstop.
		ptr := pointer(typeErr.Field)
		kind, _, _ := strings.Cut(typeErr.Value, " ") // "number 1.5"
		got, ok := map[string]string{"string": kindString, "number": kindNumber, "bool": kindBool, "array": kindArray, "object": kindObject}[kind]
		if !ok {
			got = typeErr.Value
		}
		detail := mustBe(deref(typeErr.Type), "", got)
		p := newProblem(http.StatusBadRequest, "invalid-field", "Invalid field", fieldName(ptr)+" "+detail)
		p.Errors = []FieldProblem{{Pointer: ptr, Detail: detail}}
		return p
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// checkMembers finds unknown fields first, with their place; this is a backstop.
		ptr := "/" + escapePointer(strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`))
		p := newProblem(http.StatusBadRequest, "unknown-field", "Unknown field", fmt.Sprintf("the request has a field %s that this endpoint does not take", ptr))
		p.Errors = []FieldProblem{{Pointer: ptr, Detail: "unknown field"}}
		return p
	default:
		return newProblem(http.StatusBadRequest, "malformed-json", "Malformed JSON", err.Error())
	}
}

// pointer turns encoding/json's dotted field path into a JSON pointer.
func pointer(field string) string {
	if field == "" {
		return ""
	}
	return "/" + strings.ReplaceAll(field, ".", "/")
}

// checkMediaType accepts exactly application/json (in any case), with no parameter
// but charset=utf-8: a JSON body is UTF-8 (RFC 8259). Anything else, or none, is 415.
func checkMediaType(ct string) *Problem {
	refuse := func(why string) *Problem {
		return newProblem(http.StatusUnsupportedMediaType, "unsupported-media-type", "Unsupported media type",
			"send the body with Content-Type: application/json; "+why)
	}
	if ct == "" {
		return refuse("the request has no Content-Type")
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return refuse(fmt.Sprintf("%q is not a media type", ct))
	}
	if mt != "application/json" {
		return refuse(fmt.Sprintf("not %s", mt))
	}
	for k, v := range params {
		if k != "charset" || !strings.EqualFold(v, "utf-8") {
			return refuse(fmt.Sprintf("the only parameter it takes is charset=utf-8, not %s=%s", k, v))
		}
	}
	return nil
}

// The advice of a 409: a refusal stands whatever is sent again; a conflict passes
// once the resource stops changing.
const (
	refusedAdvice  = "; the same request will be refused again"
	conflictAdvice = "; the resource changed while the command was decided: read it again and send the command again if it still applies"
)

// problemFor maps a use case's error to a problem; the bool is false for server
// faults (a 500, or a 503 when the event log cannot answer for now), which are logged.
func problemFor(err error) (*Problem, bool) {
	var dup *domain.DuplicateNeedError
	fes := domain.FieldErrorsOf(err)
	switch {
	case errors.As(err, &dup):
		p := newProblem(http.StatusConflict, "duplicate-need", "Duplicate need",
			dup.Error()+"; follow the open need instead of registering it again")
		p.Errors = []FieldProblem{{Pointer: "/" + dup.Field, Detail: "the household has an open need of this category"}}
		p.ExistingNeedID = dup.NeedID
		return p, true
	case len(fes) > 0:
		// Every wrong field, each with its pointer; the first one's sentence is the
		// detail, as it was when only the first was told.
		p := newProblem(http.StatusUnprocessableEntity, "invalid-field", "Invalid field", fes[0].Error())
		if len(fes) > maxFieldProblems {
			p.Detail += fmt.Sprintf(" (and %d more wrong fields; the first %d are listed)", len(fes)-1, maxFieldProblems)
			fes = fes[:maxFieldProblems]
		}
		for _, fe := range fes {
			ptr := ""
			if fe.Field != "" {
				ptr = "/" + fe.Field
			}
			p.Errors = append(p.Errors, FieldProblem{Pointer: ptr, Detail: fe.Reason.Error()})
		}
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
	case errors.Is(err, domain.ErrRefused):
		// The rules refuse the step in the state the resource is in: the same
		// request would be refused again, so the detail never advises a retry.
		return newProblem(http.StatusConflict, "refused", "Refused", err.Error()+refusedAdvice), true
	case errors.Is(err, app.ErrConflict):
		// Others changed the resource while the command was decided: sent again, it
		// is decided on what they did.
		return newProblem(http.StatusConflict, "conflict", "Conflict", err.Error()+conflictAdvice), true
	case errors.Is(err, domain.ErrAlreadyExists):
		// The id drawn for a new resource is taken: sent again, the request draws another.
		return newProblem(http.StatusConflict, "conflict", "Conflict",
			"the id drawn for the new resource is in use already; send the request again"), true
	case errors.Is(err, app.ErrNotificationsOff):
		p := newProblem(http.StatusServiceUnavailable, "notifications-off", "Notifications off",
			"this node was started without a webhook key, so it cannot create subscriptions nor sign notifications; "+
				"an operator starts it with one (see docs/notifications.md). Retrying will not help until then.")
		p.lasting = true
		return p, true
	case eventlog.Unavailable(err):
		return newProblem(http.StatusServiceUnavailable, "unavailable", "Event log unavailable",
			"the event log cannot answer for now (Redis is restarting or out of reach); retry after Retry-After seconds, a command with the same Idempotency-Key: it takes effect once."), false
	}
	return newProblem(http.StatusInternalServerError, "internal", "Internal error",
		"tierlink could not complete the request; it is logged. Retry with the same Idempotency-Key: the command takes effect once."), false
}
