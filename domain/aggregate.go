package domain

import (
	"errors"
	"fmt"
	"regexp"
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

// Error renders the field and the reason.
func (e *FieldError) Error() string { return e.Field + ": " + e.Reason.Error() }

// Unwrap lets errors.Is see both ErrInvalidCommand and the reason.
func (e *FieldError) Unwrap() []error { return []error{ErrInvalidCommand, e.Reason} }

func fieldErr(field string, reason error) error { return &FieldError{Field: field, Reason: reason} }

func fieldErrf(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Errorf(format, args...)}
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
		return fieldErrf(field, "is required")
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
