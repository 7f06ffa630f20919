package webhook

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// post sends body to h with the headers given, signed at signedAt unless sig is set.
func post(h http.Handler, method, contentType, id, sig string, body []byte) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, "/", bytes.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	if id != "" {
		r.Header.Set(DeliveryIDHeader, id)
	}
	r.Header.Set(PositionHeader, "1767225600000-0")
	if sig != "" {
		r.Header.Set(SignatureHeader, sig)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestReceiver(t *testing.T) {
	var got []Notification
	var refused []Refusal
	rc, err := NewReceiver(Config{
		Secret:   testSecret,
		Remember: 2,
		Now:      func() time.Time { return testTime },
		OnAccept: func(n Notification) { got = append(got, n) },
		OnRefuse: func(r Refusal) { refused = append(refused, r) },
	})
	if err != nil {
		t.Fatal(err)
	}
	sign := func(b []byte) string { return Sign(testSecret, testTime, b) }
	body := func(n string) []byte { return []byte(`{"n":` + n + `}`) }
	big := append(append([]byte(`{"pad":"`), bytes.Repeat([]byte("x"), DefaultMaxBody)...), `"}`...)
	for _, c := range []struct {
		name, method, ct, id, sig string
		body                      []byte
		status                    int
		handed                    int // notifications handed on so far
		reason                    string
	}{
		{"accepted", "POST", "application/json", "d-1", sign(body("1")), body("1"), 204, 1, ""},
		{"charset allowed", "POST", "application/json; charset=utf-8", "d-2", sign(body("2")), body("2"), 204, 2, ""},
		{"replayed id, re-signed", "POST", "application/json", "d-1", Sign(testSecret, testTime.Add(time.Second), body("1")), body("1"), 204, 2, "replay"},
		{"replayed signature, new id", "POST", "application/json", "d-9", sign(body("2")), body("2"), 204, 2, "replay"},
		{"bad signature", "POST", "application/json", "d-3", Sign([]byte("other"), testTime, body("3")), body("3"), 401, 2, "does not match"},
		{"tampered body", "POST", "application/json", "d-3", sign(body("3")), body("4"), 401, 2, "does not match"},
		{"stale", "POST", "application/json", "d-3", Sign(testSecret, testTime.Add(-time.Hour), body("3")), body("3"), 401, 2, "outside the tolerance"},
		{"no signature", "POST", "application/json", "d-3", "", body("3"), 401, 2, "no signature"},
		{"malformed signature", "POST", "application/json", "d-3", "v1=abc", body("3"), 401, 2, "malformed"},
		{"wrong content type", "POST", "text/plain", "d-3", sign(body("3")), body("3"), 400, 2, "application/json"},
		{"no content type", "POST", "", "d-3", sign(body("3")), body("3"), 400, 2, "application/json"},
		{"no delivery id", "POST", "application/json", "", sign(body("3")), body("3"), 400, 2, DeliveryIDHeader},
		{"oversized body", "POST", "application/json", "d-3", sign(big), big, 400, 2, "larger than"},
		{"GET", "GET", "application/json", "d-3", sign(body("3")), nil, 405, 2, "POST"},
		{"accepted after the refusals", "POST", "application/json", "d-3", sign(body("3")), body("3"), 204, 3, ""},
		// Remember is 2: d-1 has been forgotten, so it is new again.
		{"forgotten id", "POST", "application/json", "d-1", Sign(testSecret, testTime.Add(2*time.Second), body("1")), body("1"), 204, 4, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := len(refused)
			w := post(rc, c.method, c.ct, c.id, c.sig, c.body)
			if w.Code != c.status {
				t.Fatalf("status %d (%q), want %d", w.Code, w.Body.String(), c.status)
			}
			if len(got) != c.handed {
				t.Fatalf("%d notifications handed on, want %d", len(got), c.handed)
			}
			if c.reason == "" {
				if len(refused) != before {
					t.Fatalf("refused: %+v", refused[before:])
				}
				n := got[len(got)-1]
				if n.DeliveryID != c.id || n.Position != "1767225600000-0" || !bytes.Equal(n.Body, c.body) || n.Header.Get(SignatureHeader) != c.sig || !n.Received.Equal(testTime) {
					t.Fatalf("handed on %+v", n)
				}
				return
			}
			if len(refused) != before+1 || refused[before].Status != c.status || !strings.Contains(refused[before].Reason, c.reason) {
				t.Fatalf("refusals %+v, want one %d saying %q", refused[before:], c.status, c.reason)
			}
			if c.status != 204 && !strings.Contains(w.Body.String(), c.reason) {
				t.Fatalf("answered %q, want a plain message saying %q", w.Body.String(), c.reason)
			}
		})
	}
}

func TestNewReceiverRefusesBadConfig(t *testing.T) {
	accept := func(Notification) {}
	for _, c := range []Config{
		{OnAccept: accept},
		{Secret: testSecret},
		{Secret: testSecret, OnAccept: accept, Remember: -1},
		{Secret: testSecret, OnAccept: accept, Tolerance: -time.Second},
	} {
		if _, err := NewReceiver(c); err == nil {
			t.Errorf("NewReceiver(%+v) accepted it", c)
		}
	}
}

func TestSeenForgetsTheOldest(t *testing.T) {
	s := newSeen(3)
	for i, id := range []string{"a", "b", "c", "d"} {
		if !s.add(id, id+"-sig") {
			t.Fatalf("%s (#%d) seen before", id, i)
		}
	}
	if len(s.keys) != 6 {
		t.Fatalf("%d keys, want 6 (3 ids, 3 signatures)", len(s.keys))
	}
	if !s.add("a", "a-sig") {
		t.Fatal("a not forgotten after 3 newer")
	}
	if s.add("c", "x") || s.add("y", "d-sig") {
		t.Fatal("a remembered id or signature counted as new")
	}
}
