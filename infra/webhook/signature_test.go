package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

var (
	testSecret = []byte("whsec_test")
	testBody   = []byte(`{"kind":"referral.accepted","referral":"r-1"}`)
	testTime   = time.Unix(1767225600, 0)
)

// v1 is the hex signature of body under secret at t, as a sender computes it by hand.
func v1(secret []byte, t int64, body []byte) string {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(strconv.FormatInt(t, 10) + "." + string(body)))
	return hex.EncodeToString(h.Sum(nil))
}

func TestSignFormat(t *testing.T) {
	got := Sign(testSecret, testTime, testBody)
	want := "t=1767225600,v1=" + v1(testSecret, 1767225600, testBody)
	if got != want {
		t.Fatalf("Sign = %q, want %q", got, want)
	}
}

func TestVerify(t *testing.T) {
	ts := testTime.Unix()
	good := Sign(testSecret, testTime, testBody)
	old := []byte("whsec_old")
	rotated := "t=" + strconv.FormatInt(ts, 10) + ",v1=" + v1(old, ts, testBody) + ",v1=" + v1(testSecret, ts, testBody)
	for _, c := range []struct {
		name   string
		secret []byte
		header string
		body   []byte
		now    time.Time
		tol    time.Duration
		want   error
	}{
		{"round trip", testSecret, good, testBody, testTime, 0, nil},
		{"round trip, receiver a little ahead", testSecret, good, testBody, testTime.Add(4 * time.Minute), 0, nil},
		{"round trip, receiver a little behind", testSecret, good, testBody, testTime.Add(-4 * time.Minute), 0, nil},
		{"tampered body", testSecret, good, []byte(`{"kind":"referral.declined","referral":"r-1"}`), testTime, 0, ErrBadSignature},
		{"wrong secret", []byte("whsec_other"), good, testBody, testTime, 0, ErrBadSignature},
		{"stale", testSecret, good, testBody, testTime.Add(5*time.Minute + time.Second), 0, ErrStale},
		{"from the future", testSecret, good, testBody, testTime.Add(-5*time.Minute - time.Second), 0, ErrStale},
		{"stale under a tighter tolerance", testSecret, good, testBody, testTime.Add(31 * time.Second), 30 * time.Second, ErrStale},
		{"timestamp moved", testSecret, strings.Replace(good, "t=1767225600", "t=1767225601", 1), testBody, testTime, 0, ErrBadSignature},
		{"rotated: new secret", testSecret, rotated, testBody, testTime, 0, nil},
		{"rotated: old secret", old, rotated, testBody, testTime, 0, nil},
		{"rotated: neither", []byte("whsec_other"), rotated, testBody, testTime, 0, ErrBadSignature},
		{"unknown scheme skipped", testSecret, good + ",v0=abc", testBody, testTime, 0, nil},
		{"spaces around parts", testSecret, strings.ReplaceAll(good, ",", " , "), testBody, testTime, 0, nil},
		{"empty", testSecret, "", testBody, testTime, 0, ErrNoSignature},
		{"blank", testSecret, "  ", testBody, testTime, 0, ErrNoSignature},
		{"no v1", testSecret, "t=1767225600", testBody, testTime, 0, ErrNoSignature},
		{"no t", testSecret, "v1=" + v1(testSecret, ts, testBody), testBody, testTime, 0, ErrMalformed},
		{"two t", testSecret, "t=1,t=2,v1=" + v1(testSecret, ts, testBody), testBody, testTime, 0, ErrMalformed},
		{"t not a number", testSecret, "t=soon,v1=" + v1(testSecret, ts, testBody), testBody, testTime, 0, ErrMalformed},
		{"t negative", testSecret, "t=-1,v1=" + v1(testSecret, -1, testBody), testBody, testTime, 0, ErrMalformed},
		{"t in milliseconds overflows nothing", testSecret, "t=1767225600000,v1=" + v1(testSecret, 1767225600000, testBody), testBody, testTime, 0, ErrStale},
		{"v1 not hex", testSecret, "t=1767225600,v1=zz", testBody, testTime, 0, ErrMalformed},
		{"v1 short", testSecret, "t=1767225600,v1=abcd", testBody, testTime, 0, ErrMalformed},
		{"part without =", testSecret, good + ",junk", testBody, testTime, 0, ErrMalformed},
		{"empty part", testSecret, good + ",", testBody, testTime, 0, ErrMalformed},
		{"empty value", testSecret, "t=,v1=" + v1(testSecret, ts, testBody), testBody, testTime, 0, ErrMalformed},
		{"empty key", testSecret, good + ",=x", testBody, testTime, 0, ErrMalformed},
		{"leading zeros in t", testSecret, "t=01767225600,v1=" + v1(testSecret, ts, testBody), testBody, testTime, 0, nil},
		{"t with a plus sign", testSecret, "t=+1767225600,v1=" + v1(testSecret, ts, testBody), testBody, testTime, 0, nil},
		{"many v1, the last one right", testSecret, "t=1767225600" + strings.Repeat(",v1="+v1(old, ts, testBody), 20) + ",v1=" + v1(testSecret, ts, testBody), testBody, testTime, 0, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := Verify(c.secret, c.header, c.body, c.now, c.tol)
			if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("Verify = %v, want %v", err, c.want)
			}
			if c.tol == 0 && (err == nil) != (verifyNotification(c.secret, c.header, c.body, c.now) == nil) {
				t.Errorf("docs/notifications.md's verifyNotification disagrees with Verify (%v)", err)
			}
			if err != nil && err.Error() == c.want.Error() {
				t.Errorf("error %q says no more than the sentinel", err)
			}
		})
	}
}

// FuzzVerify feeds the header parser arbitrary headers: it never panics, an error
// is always one of the sentinels, and a header it accepts carries the right MAC.
func FuzzVerify(f *testing.F) {
	good := Sign(testSecret, testTime, testBody)
	for _, s := range []string{good, "", "t=", "v1=", ",", "t=1,v1=00", good + "," + good, "t=99999999999999999999,v1=x", "t=1767225600,v1=" + strings.Repeat("0", 64), "=,=,="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		err := Verify(testSecret, header, testBody, testTime, 0)
		if (err == nil) != (verifyNotification(testSecret, header, testBody, testTime) == nil) {
			t.Fatalf("Verify(%q) = %v but docs/notifications.md's verifyNotification disagrees", header, err)
		}
		if err == nil {
			if !strings.Contains(header, v1(testSecret, testTime.Unix(), testBody)) && !strings.Contains(strings.ToLower(header), v1(testSecret, testTime.Unix(), testBody)) {
				t.Fatalf("accepted %q without the body's signature", header)
			}
			return
		}
		for _, s := range []error{ErrNoSignature, ErrMalformed, ErrBadSignature, ErrStale} {
			if errors.Is(err, s) {
				return
			}
		}
		t.Fatalf("Verify(%q) = %v: not one of the sentinels", header, err)
	})
}
