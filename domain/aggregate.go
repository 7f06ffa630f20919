package domain

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Errors returned by decisions.
var (
	// ErrInvalidCommand means a command's fields break a rule; it wraps the detail.
	ErrInvalidCommand = errors.New("invalid command")
	// ErrAlreadyExists means the command would create an aggregate that exists.
	ErrAlreadyExists = errors.New("already exists")
	// ErrNotFound means the command names an aggregate that does not exist.
	ErrNotFound = errors.New("not found")
	// ErrRefused means the aggregate's current state does not allow the command.
	ErrRefused = errors.New("refused by current state")
	// ErrDuplicateNeed means the household has an open need of the category already.
	ErrDuplicateNeed = errors.New("duplicate need")
)

// FieldError says which field of a command is wrong and why.
type FieldError struct {
	Field  string // the command field, as a path such as "needs/0/category"
	Reason error
}

// Error renders the field and the reason as one sentence ("community is required").
func (e *FieldError) Error() string {
	r := e.Reason.Error()
	switch {
	case e.Field == "":
		return r
	case predicate(r):
		return e.Field + " " + r
	}
	return e.Field + ": " + r
}

// predicate reports whether a reason reads on from its field's name ("is required",
// "must be between 1 and 10"), rather than being a statement of its own.
func predicate(reason string) bool {
	verb, _, _ := strings.Cut(reason, " ")
	switch verb {
	case "is", "are", "must", "may", "cannot", "has", "duplicates":
		return true
	}
	return false
}

// Unwrap lets errors.Is see both ErrInvalidCommand and the reason.
func (e *FieldError) Unwrap() []error { return []error{ErrInvalidCommand, e.Reason} }

func fieldErr(field string, reason error) error { return &FieldError{Field: field, Reason: reason} }

func fieldErrf(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Errorf(format, args...)}
}

// required is the error of a required field left out or empty.
func required(field string) error { return fieldErrf(field, "is required") }

// FieldErrors is every field error of one command, at most one a field, the first
// found first: a command is refused with all of them at once.
type FieldErrors []*FieldError

// Error renders each field error, in order.
func (es FieldErrors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "; ")
}

// Unwrap lets errors.Is and errors.As see each field error (errors.As finds the first).
func (es FieldErrors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// Add appends err's field errors (a *FieldError or FieldErrors) but those of a
// field already told; any other error is added as an error of no field.
func (es *FieldErrors) Add(err error) {
	if err == nil {
		return
	}
	var add FieldErrors
	var fe *FieldError
	switch {
	case errors.As(err, &add):
	case errors.As(err, &fe):
		add = FieldErrors{fe}
	default:
		add = FieldErrors{{Reason: err}}
	}
	for _, e := range add {
		if !slices.ContainsFunc(*es, func(x *FieldError) bool { return x.Field == e.Field }) {
			*es = append(*es, e)
		}
	}
}

// Err returns the field errors as an error, or nil when there are none.
func (es FieldErrors) Err() error {
	if len(es) == 0 {
		return nil
	}
	return es
}

// InOrder returns the errors ordered by the place of each field's first segment in
// fields (the order of the request's members); fields not named keep their order,
// after the others.
func (es FieldErrors) InOrder(fields ...string) FieldErrors {
	rank := func(e *FieldError) int {
		first, _, _ := strings.Cut(e.Field, "/")
		if i := slices.Index(fields, first); i >= 0 {
			return i
		}
		return len(fields)
	}
	out := slices.Clone(es)
	slices.SortStableFunc(out, func(a, b *FieldError) int { return rank(a) - rank(b) })
	return out
}

// FieldErrorsOf returns the field errors err carries (FieldErrors or one
// *FieldError), or none.
func FieldErrorsOf(err error) FieldErrors {
	var es FieldErrors
	if errors.As(err, &es) {
		return es
	}
	var fe *FieldError
	if errors.As(err, &fe) {
		return FieldErrors{fe}
	}
	return nil
}

// Change is what a decision appends to one aggregate: payloads at an expected version.
type Change struct {
	Aggregate       AggregateRef
	ExpectedVersion int64
	Payloads        []Payload
}

// Aggregate types.
const (
	AggregateHousehold = "household"
	AggregateNeed      = "need"
	AggregateOffer     = "offer"
)

// Limits on command fields; they bound what one command can put in the log.
const (
	MaxIDLength         = 64
	MaxNeedsPerRequest  = 32
	MaxOfferCapacity    = 100000
	MaxProviderIDLength = 64
)

func checkID(field, id string) error {
	if id == "" {
		return required(field)
	}
	if len(id) > MaxIDLength {
		return fieldErrf(field, "is longer than %d bytes", MaxIDLength)
	}
	if !idPattern.MatchString(id) {
		return fieldErrf(field, "may hold only letters, digits, '-', '_', '.' and ':'")
	}
	return nil
}

// idPattern is the shape of aggregate ids: they become parts of Redis keys.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9_.:-]+$`)

// ValidID reports whether s can name an aggregate.
func ValidID(s string) bool { return len(s) <= MaxIDLength && idPattern.MatchString(s) }

// ValidCode reports whether s is a well-formed reference-data code (district, street, community, category).
func ValidCode(s string) bool { return codePattern.MatchString(s) }
