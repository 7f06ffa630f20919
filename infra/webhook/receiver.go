package webhook

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sync"
	"time"
)

// Defaults of a Receiver's Config.
const (
	// DefaultMaxBody is the largest body a Receiver reads: 1 MiB.
	DefaultMaxBody = 1 << 20
	// DefaultRemember is how many recent deliveries a Receiver remembers to drop replays.
	DefaultRemember = 10_000
)

// Notification is a request a Receiver verified and has not seen before.
type Notification struct {
	DeliveryID string      // the X-Tierlink-Delivery header
	Position   string      // the X-Tierlink-Position header ("" when absent)
	Header     http.Header // every header of the request
	Body       []byte      // the signed JSON body
	Received   time.Time   // when the Receiver accepted it
}

// Refusal is a request a Receiver did not hand on: refused (4xx) or a replay dropped (204).
type Refusal struct {
	Status     int    // the status answered
	Reason     string // why, as answered to the sender
	DeliveryID string // the X-Tierlink-Delivery header, "" when absent
	Remote     string // the sender's address
	Err        error  // the verification error, nil when the request failed before it
}

// Config configures a Receiver.
type Config struct {
	Secret    []byte             // the subscription's secret (required)
	Tolerance time.Duration      // DefaultTolerance when 0
	Remember  int                // DefaultRemember when 0
	MaxBody   int64              // DefaultMaxBody when 0
	Now       func() time.Time   // time.Now when nil
	OnAccept  func(Notification) // called once per new verified notification, before the 204, maybe concurrently (required)
	OnRefuse  func(Refusal)      // called for every request not handed on, maybe concurrently (optional)
}

// Receiver is an http.Handler that verifies notifications and hands each new one to Config.OnAccept.
type Receiver struct {
	cfg  Config
	mu   sync.Mutex
	seen *seen
}

// NewReceiver returns a Receiver for cfg, filling in its defaults.
func NewReceiver(cfg Config) (*Receiver, error) {
	switch {
	case len(cfg.Secret) == 0:
		return nil, errors.New("webhook receiver: the secret is empty")
	case cfg.OnAccept == nil:
		return nil, errors.New("webhook receiver: no OnAccept callback")
	case cfg.Tolerance < 0, cfg.Remember < 0, cfg.MaxBody < 0:
		return nil, fmt.Errorf("webhook receiver: negative tolerance %s, remember %d or max body %d", cfg.Tolerance, cfg.Remember, cfg.MaxBody)
	}
	if cfg.Tolerance == 0 {
		cfg.Tolerance = DefaultTolerance
	}
	if cfg.Remember == 0 {
		cfg.Remember = DefaultRemember
	}
	if cfg.MaxBody == 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.OnRefuse == nil {
		cfg.OnRefuse = func(Refusal) {}
	}
	return &Receiver{cfg: cfg, seen: newSeen(cfg.Remember)}, nil
}

// ServeHTTP verifies a POSTed notification: 204 when accepted or a replay, 400,
// 401 or 405 with a plain message otherwise.
func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := r.Header.Get(DeliveryIDHeader)
	refuse := func(status int, err error, reason string) {
		rc.cfg.OnRefuse(Refusal{Status: status, Reason: reason, DeliveryID: id, Remote: r.RemoteAddr, Err: err})
		if status == http.StatusNoContent {
			w.WriteHeader(status)
			return
		}
		http.Error(w, reason, status)
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		refuse(http.StatusMethodNotAllowed, nil, fmt.Sprintf("method %s: notifications are POSTed", r.Method))
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		refuse(http.StatusBadRequest, nil, fmt.Sprintf("Content-Type %q: want application/json", r.Header.Get("Content-Type")))
		return
	}
	if id == "" {
		refuse(http.StatusBadRequest, nil, "no "+DeliveryIDHeader+" header")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, rc.cfg.MaxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			refuse(http.StatusBadRequest, nil, fmt.Sprintf("body larger than %d bytes", rc.cfg.MaxBody))
			return
		}
		refuse(http.StatusBadRequest, nil, fmt.Sprintf("reading the body: %v", err))
		return
	}
	now := rc.cfg.Now()
	sig, err := verify(rc.cfg.Secret, r.Header.Get(SignatureHeader), body, now, rc.cfg.Tolerance)
	if err != nil {
		refuse(http.StatusUnauthorized, err, err.Error())
		return
	}
	// The delivery id is not signed: a request replayed byte for byte within the
	// tolerance under another id still carries the same signature, so both count.
	rc.mu.Lock()
	fresh := rc.seen.add(id, string(sig))
	rc.mu.Unlock()
	if !fresh {
		refuse(http.StatusNoContent, nil, "replay of delivery "+id+" (or of its signature)")
		return
	}
	rc.cfg.OnAccept(Notification{DeliveryID: id, Position: r.Header.Get(PositionHeader), Header: r.Header.Clone(), Body: body, Received: now})
	w.WriteHeader(http.StatusNoContent)
}

// seen remembers the last n deliveries' ids and signatures, the oldest forgotten first.
type seen struct {
	ring []entry
	next int
	keys map[string]struct{}
}

// entry is a remembered delivery.
type entry struct{ id, sig string }

func newSeen(n int) *seen {
	return &seen{ring: make([]entry, 0, n), keys: make(map[string]struct{}, 2*n)}
}

// add records a delivery and reports whether neither its id nor its signature was known.
func (s *seen) add(id, sig string) bool {
	_, idKnown := s.keys["id:"+id]
	_, sigKnown := s.keys["sig:"+sig]
	if idKnown || sigKnown {
		return false
	}
	if len(s.ring) < cap(s.ring) {
		s.ring = append(s.ring, entry{id, sig})
	} else {
		old := s.ring[s.next]
		delete(s.keys, "id:"+old.id)
		delete(s.keys, "sig:"+old.sig)
		s.ring[s.next] = entry{id, sig}
		s.next = (s.next + 1) % len(s.ring)
	}
	s.keys["id:"+id] = struct{}{}
	s.keys["sig:"+sig] = struct{}{}
	return true
}
