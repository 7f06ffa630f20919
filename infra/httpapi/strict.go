package httpapi

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tierlink/tierlink/domain"
)

// maxDepth bounds how deeply a request body's arrays and objects may nest; the
// deepest body tierlink takes (reference data) nests six levels.
const maxDepth = 32

// checkMembers reads a JSON body token by token, before it is decoded into v, and
// returns a problem for the first object member that is named twice in its object
// or whose name is not exactly one that v's type takes there: encoding/json keeps
// the last of duplicate members and matches names case-insensitively, so without
// this {"community":"a","COMMUNITY":"b"} would pass. Members of maps, of fields of
// type any and of values that decode themselves (times, durations) may have any
// name, but never a duplicate one. In a body whose members are all known, it
// returns one problem naming every value of the wrong JSON type (a string for a
// number, a date without its time), each with its pointer and the type expected in
// words. It returns nil for a body that is not one valid JSON value: decoding it
// says what is wrong.
func checkMembers(body []byte, v any) *Problem {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	w := &walker{dec: dec}
	p, err := w.walkValue(reflect.TypeOf(v), "", 0)
	switch {
	case errors.Is(err, errTooDeep):
		return newProblem(http.StatusBadRequest, "malformed-json", "Malformed JSON",
			fmt.Sprintf("the JSON nests deeper than %d levels", maxDepth))
	case p != nil:
		return p
	case err != nil || len(w.wrongTypes) == 0:
		return nil
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil // trailing data: decoding says so
	}
	first := w.wrongTypes[0]
	p = newProblem(http.StatusBadRequest, "invalid-field", "Invalid field", fieldName(first.Pointer)+" "+first.Detail)
	if w.more > 0 {
		p.Detail += fmt.Sprintf(" (and %d more values of the wrong type; the first %d are listed)", len(w.wrongTypes)-1+w.more, maxFieldProblems)
	}
	p.Errors = w.wrongTypes
	return p
}

// fieldName names the field at a JSON pointer in a sentence.
func fieldName(ptr string) string {
	if ptr == "" {
		return "the body"
	}
	return strings.TrimPrefix(ptr, "/")
}

var errTooDeep = errors.New("too deep")

// walker walks a JSON body, collecting the values of the wrong JSON type.
type walker struct {
	dec        *json.Decoder
	wrongTypes []FieldProblem
	more       int // wrong values beyond maxFieldProblems, not listed
}

// wrongType records a value of the wrong type.
func (w *walker) wrongType(at, msg string) {
	if len(w.wrongTypes) == maxFieldProblems {
		w.more++
		return
	}
	w.wrongTypes = append(w.wrongTypes, FieldProblem{Pointer: at, Detail: msg})
}

// walkValue checks the next JSON value, to be decoded into a t (nil: any), found
// at the JSON pointer at.
func (w *walker) walkValue(t reflect.Type, at string, depth int) (*Problem, error) {
	tok, err := w.dec.Token()
	if err != nil {
		return nil, err
	}
	t = deref(t)
	delim, ok := tok.(json.Delim)
	if !ok {
		if msg := wrongScalar(tok, t); msg != "" {
			w.wrongType(at, msg)
		}
		return nil, nil
	}
	if depth >= maxDepth {
		return nil, errTooDeep
	}
	if want := expected(t); want != "" && want != kindOf(delim) {
		w.wrongType(at, mustBe(t, "", kindOf(delim)))
		t = nil // its members are not the type's: checked as any value's
	}
	switch delim {
	case '[':
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for i := 0; w.dec.More(); i++ {
			if p, err := w.walkValue(elem, at+"/"+strconv.Itoa(i), depth+1); p != nil || err != nil {
				return p, err
			}
		}
	case '{':
		fields, strict := membersOf(t)
		seen := map[string]bool{}
		for w.dec.More() {
			tok, err := w.dec.Token()
			if err != nil {
				return nil, err
			}
			name, _ := tok.(string)
			ptr := at + "/" + escapePointer(name)
			if seen[name] {
				p := newProblem(http.StatusBadRequest, "duplicate-field", "Duplicate field",
					fmt.Sprintf("the field %s appears more than once in its object; send each field once", ptr))
				p.Errors = []FieldProblem{{Pointer: ptr, Detail: "duplicate field"}}
				return p, nil
			}
			seen[name] = true
			var ft reflect.Type
			if strict {
				var known bool
				if ft, known = fields[name]; !known {
					return unknownMember(ptr, name, fields), nil
				}
			} else if t != nil && t.Kind() == reflect.Map && !decodesItself(t) {
				ft = t.Elem()
			}
			if p, err := w.walkValue(ft, ptr, depth+1); p != nil || err != nil {
				return p, err
			}
		}
	}
	_, err = w.dec.Token() // the closing delimiter
	return nil, err
}

// The JSON kinds of values, as the problems name them.
const (
	kindString = "a string"
	kindNumber = "a number"
	kindBool   = "true or false"
	kindArray  = "an array"
	kindObject = "an object"
)

// kindOf names the JSON kind an array's or object's opening delimiter begins.
func kindOf(d json.Delim) string {
	if d == '[' {
		return kindArray
	}
	return kindObject
}

// timeType and durationType are the types of request fields that decode themselves
// from a string.
var (
	timeType     = reflect.TypeFor[time.Time]()
	durationType = reflect.TypeFor[domain.Duration]()
)

// decodesItself reports whether values of t are decoded by their own method.
func decodesItself(t reflect.Type) bool {
	return reflect.PointerTo(t).Implements(jsonUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler)
}

// expected names the JSON kind a t is decoded from, or "" when any kind may do
// (any, or a type that decodes itself and is not one the API knows).
func expected(t reflect.Type) string {
	switch {
	case t == nil:
		return ""
	case t == timeType, t == durationType:
		return kindString
	case decodesItself(t):
		return ""
	}
	switch t.Kind() {
	case reflect.String:
		return kindString
	case reflect.Bool:
		return kindBool
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return kindNumber
	case reflect.Slice, reflect.Array:
		return kindArray
	case reflect.Struct, reflect.Map:
		return kindObject
	}
	return ""
}

// wrongScalar says what is wrong with a scalar JSON value (a string, number, true,
// false or null) to be decoded into a t, or "" when it fits. null fits every type:
// it leaves the field as it is.
func wrongScalar(tok json.Token, t reflect.Type) string {
	var got string
	switch v := tok.(type) {
	case nil:
		return ""
	case string:
		got = kindString
		if t == timeType {
			return wrongTime(v)
		}
		if t == durationType {
			if _, err := time.ParseDuration(v); err != nil {
				return fmt.Sprintf("must be a duration such as \"48h\" or \"90m\", not %q", v)
			}
			return ""
		}
	case json.Number:
		got = kindNumber
	case bool:
		got = kindBool
	}
	want := expected(t)
	if want == "" || want != got {
		if want == "" {
			return ""
		}
		return mustBe(t, "", got)
	}
	if n, ok := tok.(json.Number); ok {
		return wrongNumber(n, t)
	}
	return ""
}

// wrongNumber says what is wrong with a number to be decoded into a t, or "".
func wrongNumber(n json.Number, t reflect.Type) string {
	var err error
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		_, err = strconv.ParseInt(n.String(), 10, t.Bits())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		_, err = strconv.ParseUint(n.String(), 10, t.Bits())
	case reflect.Float32, reflect.Float64:
		_, err = strconv.ParseFloat(n.String(), t.Bits())
	}
	switch {
	case err == nil:
		return ""
	case errors.Is(err, strconv.ErrRange) && !strings.ContainsAny(n.String(), ".eE"):
		return fmt.Sprintf("is too large a number: %s", n)
	}
	return mustBe(t, n.String(), kindNumber)
}

// mustBe says which JSON value a t takes, and what was sent instead (the value
// itself when it is a short number, else its kind).
func mustBe(t reflect.Type, value, got string) string {
	want := expected(t)
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		want = "a whole number"
	}
	switch {
	case t == timeType:
		want = "a date and time in RFC 3339 (a string such as " + exampleTime + ")"
	case t == durationType:
		want = `a duration (a string such as "48h")`
	case t.Kind() == reflect.String:
		want = "a string"
	}
	if value != "" && len(value) <= 20 {
		got = value
	}
	return "must be " + want + ", not " + got
}

// exampleTime is how the problems show a date and time the API takes.
const exampleTime = "2026-12-31T00:00:00+08:00"

// wrongTime says what is wrong with a string sent for a date and time, or "" when
// time.Time reads it. It never quotes Go's layouts: it gives an example instead.
func wrongTime(s string) string {
	var t time.Time
	if t.UnmarshalText([]byte(s)) == nil {
		return ""
	}
	quoted := strconv.Quote(s)
	if len(s) > 40 {
		quoted = "the string sent"
	}
	if _, err := time.Parse(time.DateOnly, s); err == nil {
		return fmt.Sprintf("must be a date and time in RFC 3339, with its time and offset (such as %sT00:00:00+08:00), not the date alone %s", s, quoted)
	}
	return fmt.Sprintf("must be a date and time in RFC 3339, such as %s (the offset may be Z for UTC), not %s", exampleTime, quoted)
}

// unknownMember is the problem of a member the type has no field for, with the
// field's right spelling when only its case differs.
func unknownMember(ptr, name string, fields map[string]reflect.Type) *Problem {
	detail := fmt.Sprintf("the request has a field %s that this endpoint does not take", ptr)
	short := "unknown field"
	for f := range fields {
		if strings.EqualFold(f, name) {
			detail += fmt.Sprintf("; field names are case-sensitive: send %q", f)
			short = fmt.Sprintf("unknown field; did you mean %q?", f)
			break
		}
	}
	p := newProblem(http.StatusBadRequest, "unknown-field", "Unknown field", detail)
	p.Errors = []FieldProblem{{Pointer: ptr, Detail: short}}
	return p
}

func deref(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// escapePointer escapes a member name as a JSON pointer's reference token (RFC 6901).
func escapePointer(name string) string {
	return strings.ReplaceAll(strings.ReplaceAll(name, "~", "~0"), "/", "~1")
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
	fieldsCache     sync.Map // reflect.Type → map[string]reflect.Type
)

// membersOf returns the JSON names of a struct type's fields, as encoding/json
// resolves them (tags, untagged names, promoted fields of embedded structs), and
// true; for any other type, or one that decodes itself, it returns false: its
// members' names are not checked.
func membersOf(t reflect.Type) (map[string]reflect.Type, bool) {
	if t == nil || t.Kind() != reflect.Struct ||
		reflect.PointerTo(t).Implements(jsonUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler) {
		return nil, false
	}
	if m, ok := fieldsCache.Load(t); ok {
		return m.(map[string]reflect.Type), true
	}
	m := map[string]reflect.Type{}
	addFields(m, t, map[reflect.Type]bool{})
	fieldsCache.Store(t, m)
	return m, true
}

// addFields adds a struct's fields to m, the shallower first: a promoted field
// never hides one of the outer struct's.
func addFields(m map[string]reflect.Type, t reflect.Type, visiting map[reflect.Type]bool) {
	if visiting[t] {
		return
	}
	visiting[t] = true
	var embedded []reflect.Type
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" && deref(f.Type).Kind() == reflect.Struct {
			embedded = append(embedded, deref(f.Type))
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if _, taken := m[name]; !taken {
			m[name] = f.Type
		}
	}
	for _, e := range embedded {
		addFields(m, e, visiting)
	}
}
