package demo

import (
	"encoding/binary"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Clock is the demo's time: simulated while the demo plays past days, then the real
// time. It never goes back: the play ends at the moment the demo started, which is
// past by the time the clock turns real.
type Clock struct {
	mu   sync.Mutex
	at   time.Time
	real bool
}

// NewClock returns a clock stopped at t.
func NewClock(t time.Time) *Clock { return &Clock{at: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.real {
		return time.Now()
	}
	return c.at
}

// Set moves the simulated time to t (never back).
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.at) {
		c.at = t
	}
}

// Real turns the clock to the real time.
func (c *Clock) Real() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.real = true
}

// IDs returns a source of UUIDv7s: while the clock is simulated, their time is the
// clock's and their other bits come from seed, so that a seed gives the same ids at
// the same simulated times; once the clock is real, they are random (ids that
// anyone could compute must not outlive the demo's own days). It is safe for
// concurrent use.
func (c *Clock) IDs(seed uint64) func() string {
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(seed, 0x6964_73)) // "ids"
	return func() string {
		c.mu.Lock()
		real := c.real
		c.mu.Unlock()
		if real {
			return uuid.Must(uuid.NewV7()).String()
		}
		mu.Lock()
		defer mu.Unlock()
		var u uuid.UUID
		binary.BigEndian.PutUint64(u[8:], rng.Uint64())
		binary.BigEndian.PutUint64(u[0:], rng.Uint64())
		ms := uint64(c.Now().UnixMilli())
		u[0], u[1], u[2], u[3], u[4], u[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
		u[6] = 0x70 | u[6]&0x0f // version 7
		u[8] = 0x80 | u[8]&0x3f // RFC 4122 variant
		return u.String()
	}
}
