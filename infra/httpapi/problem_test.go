package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"syscall"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/tierlink/tierlink/app"
	"github.com/tierlink/tierlink/domain"
)

// An event log that cannot answer for now is a 503 with Retry-After, whatever the
// way it failed; the client's own mistakes and the domain's refusals keep their
// status, and what is left is a 500.
func TestUnavailableLogIs503WithRetryAfter(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	reset := &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	cases := []struct {
		err  error
		want int
	}{
		{refused, http.StatusServiceUnavailable},
		{reset, http.StatusServiceUnavailable},
		{context.DeadlineExceeded, http.StatusServiceUnavailable},
		{io.EOF, http.StatusServiceUnavailable},
		{redis.ErrPoolTimeout, http.StatusServiceUnavailable},
		{redis.ErrClosed, http.StatusServiceUnavailable},
		{domain.ErrNotFound, http.StatusNotFound},
		{app.ErrConflict, http.StatusConflict},
		{errors.New("a bug"), http.StatusInternalServerError},
	}
	for _, c := range cases {
		err := fmt.Errorf("need n1: read: %w", c.err) // as the use cases wrap them
		p, known := problemFor(err)
		if p.Status != c.want {
			t.Errorf("%v: %d, want %d", err, p.Status, c.want)
			continue
		}
		rec := httptest.NewRecorder()
		writeProblem(rec, httptest.NewRequest(http.MethodPost, "/v1/households", nil), p)
		ra := rec.Header().Get("Retry-After")
		if c.want == http.StatusServiceUnavailable {
			if ra == "" {
				t.Errorf("%v: 503 without Retry-After", err)
			}
			if known {
				t.Errorf("%v: an unavailable log is not logged (known problem)", err)
			}
		} else if ra != "" {
			t.Errorf("%v: %d with Retry-After %q", err, p.Status, ra)
		}
	}
}
