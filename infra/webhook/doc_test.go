package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The function between the snippet markers is printed verbatim in
// docs/notifications.md; TestVerify and FuzzVerify check that it agrees with Verify.

// snippet:begin
// verifyNotification checks the X-Tierlink-Signature header of a notification
// against its raw body with the subscription's secret: nil means authentic and
// signed within 5 minutes of now.
func verifyNotification(secret []byte, header string, body []byte, now time.Time) error {
	const tolerance = 5 * time.Minute
	var ts string
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || k == "" || v == "" {
			return fmt.Errorf("malformed signature header %q", header)
		}
		switch k {
		case "t":
			if ts != "" {
				return fmt.Errorf("malformed signature header %q: two t=", header)
			}
			ts = v
		case "v1": // several during a secret rotation
			s, err := hex.DecodeString(v)
			if err != nil || len(s) != sha256.Size {
				return fmt.Errorf("malformed signature header %q: v1=%q", header, v)
			}
			sigs = append(sigs, s)
		}
	}
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || t < 0 || len(sigs) == 0 {
		return fmt.Errorf("malformed signature header %q: want t=<unix seconds>,v1=<hex>", header)
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(strconv.FormatInt(t, 10) + "."))
	mac.Write(body)
	want := mac.Sum(nil)
	matched := false
	for _, s := range sigs {
		if hmac.Equal(s, want) { // constant time
			matched = true
		}
	}
	if !matched {
		return errors.New("signature does not match")
	}
	if d := now.Sub(time.Unix(t, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("signed %s from now: a replay or a wrong clock", d.Round(time.Second))
	}
	return nil
}

// snippet:end

// TestVerifySnippetInDocs checks that docs/notifications.md prints verifyNotification as it is here.
func TestVerifySnippetInDocs(t *testing.T) {
	src, err := os.ReadFile("doc_test.go")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(src), "// snippet:begin\n")
	snippet, _, ok := strings.Cut(rest, "\n// snippet:end")
	if !ok || !strings.Contains(snippet, "func verifyNotification") {
		t.Fatal("no snippet between the markers in doc_test.go")
	}
	doc, err := os.ReadFile("../../docs/notifications.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), snippet) {
		t.Errorf("docs/notifications.md does not print verifyNotification as doc_test.go has it:\n%s", snippet)
	}
}
