package httpapi

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
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
// name, but never a duplicate one. It returns nil for a body that is not valid
// JSON: decoding it says what is wrong.
func checkMembers(body []byte, v any) *Problem {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	p, err := walkValue(dec, reflect.TypeOf(v), "", 0)
	if errors.Is(err, errTooDeep) {
		return newProblem(http.StatusBadRequest, "malformed-json", "Malformed JSON",
			fmt.Sprintf("the JSON nests deeper than %d levels", maxDepth))
	}
	return p
}

var errTooDeep = errors.New("too deep")

// walkValue checks the next JSON value of dec, to be decoded into a t (nil: any),
// found at the JSON pointer at.
func walkValue(dec *json.Decoder, t reflect.Type, at string, depth int) (*Problem, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	delim, ok := tok.(json.Delim)
	if !ok {
		return nil, nil // a scalar
	}
	if depth >= maxDepth {
		return nil, errTooDeep
	}
	t = deref(t)
	switch delim {
	case '[':
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for i := 0; dec.More(); i++ {
			if p, err := walkValue(dec, elem, at+"/"+strconv.Itoa(i), depth+1); p != nil || err != nil {
				return p, err
			}
		}
	case '{':
		fields, strict := membersOf(t)
		seen := map[string]bool{}
		for dec.More() {
			tok, err := dec.Token()
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
			} else if t != nil && t.Kind() == reflect.Map {
				ft = t.Elem()
			}
			if p, err := walkValue(dec, ft, ptr, depth+1); p != nil || err != nil {
				return p, err
			}
		}
	}
	_, err = dec.Token() // the closing delimiter
	return nil, err
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
