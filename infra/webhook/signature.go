// Package webhook signs tierlink's notifications and verifies them on the receiving
// side, without I/O, and offers a small HTTP receiver built on the verification.
//
// The scheme is Stripe's: the X-Tierlink-Signature header carries the time of
// signing and one or more HMAC-SHA256 signatures of "<unix seconds>.<body>",
//
//	X-Tierlink-Signature: t=1796166234,v1=269e60b1e2a5fec6f99680aeb2185e3f9b9ae031d3a96583a8fe3b2f2429fc96
//
// each v1 in lower-case hex. A sender rotating its secret signs with the old and the
// new secret (two v1 values) for a while; a receiver accepts a header when any v1
// matches its secret and the timestamp is within the tolerance of its clock, which
// bounds how long a captured request can be replayed (docs/notifications.md).
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Header names of a notification's request.
const (
	// SignatureHeader carries the timestamp and the signatures: t=<unix seconds>,v1=<hex>.
	SignatureHeader = "X-Tierlink-Signature"
	// DeliveryIDHeader carries the delivery's unique id, the same on every retry of it.
	DeliveryIDHeader = "X-Tierlink-Delivery"
	// PositionHeader carries the position in the district's log of the event notified.
	PositionHeader = "X-Tierlink-Position"
)

// DefaultTolerance is how far a signature's timestamp may lie from the receiver's clock, either way.
const DefaultTolerance = 5 * time.Minute

// Errors of Verify, wrapped with what was wrong; test for them with errors.Is.
var (
	// ErrNoSignature is an empty or missing signature header.
	ErrNoSignature = errors.New("no signature")
	// ErrMalformed is a signature header that does not read t=<unix seconds>,v1=<64 hex digits>[,v1=...].
	ErrMalformed = errors.New("malformed signature header")
	// ErrBadSignature is a header none of whose v1 values is the body's signature under the secret.
	ErrBadSignature = errors.New("signature does not match")
	// ErrStale is a valid signature whose timestamp lies outside the tolerance of the receiver's clock.
	ErrStale = errors.New("signature timestamp outside the tolerance")
)

// Sign returns the X-Tierlink-Signature value of body signed with secret at timestamp.
func Sign(secret []byte, timestamp time.Time, body []byte) string {
	t := timestamp.Unix()
	return "t=" + strconv.FormatInt(t, 10) + ",v1=" + hex.EncodeToString(mac(secret, t, body))
}

// mac is the HMAC-SHA256 of "<t>.<body>" under secret.
func mac(secret []byte, t int64, body []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(strconv.FormatInt(t, 10)))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Verify checks that header signs body under secret at a time within tolerance of
// now (DefaultTolerance when tolerance is 0 or less); any of several v1 values may match.
func Verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	_, err := verify(secret, header, body, now, tolerance)
	return err
}

// verify is Verify returning the matching signature, which identifies the signed
// (timestamp, body) pair for replay detection.
func verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) ([]byte, error) {
	t, sigs, err := parseHeader(header)
	if err != nil {
		return nil, err
	}
	want := mac(secret, t, body)
	matched := false
	for _, s := range sigs {
		// Compare with every value, in constant time, so the time taken says nothing.
		if hmac.Equal(s, want) {
			matched = true
		}
	}
	if !matched {
		return nil, fmt.Errorf("%w: none of %d v1 value(s) is the body's HMAC-SHA256 under the secret", ErrBadSignature, len(sigs))
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	signed := time.Unix(t, 0)
	if skew := now.Sub(signed); skew.Abs() > tolerance {
		return nil, fmt.Errorf("%w: signed at %s, %s from now (tolerance %s)", ErrStale, signed.UTC().Format(time.RFC3339), skew.Round(time.Second), tolerance)
	}
	return want, nil
}

// parseHeader reads t=<unix seconds>,v1=<hex>[,v1=<hex>...]; other schemes
// (v0=, a future v2=) are skipped so that a sender may add them.
func parseHeader(header string) (t int64, sigs [][]byte, err error) {
	if strings.TrimSpace(header) == "" {
		return 0, nil, fmt.Errorf("%w: the %s header is missing or empty", ErrNoSignature, SignatureHeader)
	}
	haveT := false
	for _, part := range strings.Split(header, ",") {
		key, value, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || key == "" || value == "" {
			return 0, nil, fmt.Errorf("%w: %q is not key=value", ErrMalformed, part)
		}
		switch key {
		case "t":
			if haveT {
				return 0, nil, fmt.Errorf("%w: more than one t=", ErrMalformed)
			}
			t, err = strconv.ParseInt(value, 10, 64)
			if err != nil || t < 0 {
				return 0, nil, fmt.Errorf("%w: t=%q is not unix seconds", ErrMalformed, value)
			}
			haveT = true
		case "v1":
			s, err := hex.DecodeString(value)
			if err != nil || len(s) != sha256.Size {
				return 0, nil, fmt.Errorf("%w: v1=%q is not %d hex digits", ErrMalformed, value, 2*sha256.Size)
			}
			sigs = append(sigs, s)
		}
	}
	if !haveT {
		return 0, nil, fmt.Errorf("%w: no t=<unix seconds>", ErrMalformed)
	}
	if len(sigs) == 0 {
		return 0, nil, fmt.Errorf("%w: no v1=<signature>", ErrNoSignature)
	}
	return t, sigs, nil
}
