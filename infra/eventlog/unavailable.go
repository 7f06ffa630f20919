package eventlog

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/redis/go-redis/v9"
)

// Unavailable reports whether err says that the Redis server behind the store could
// not answer for now (restarting and loading its data, unreachable, the connection
// reset, too slow to answer, or out of connections), rather than that the request
// was wrong: the same request may be retried as it is, a moment later.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	var netErr net.Error
	switch {
	case redis.IsLoadingError(err), redis.IsTryAgainError(err), redis.IsClusterDownError(err),
		redis.IsMasterDownError(err), redis.IsReadOnlyError(err), redis.IsMaxClientsError(err):
		return true // the server says so: LOADING, TRYAGAIN, CLUSTERDOWN, MASTERDOWN, READONLY, max clients
	case errors.Is(err, redis.ErrPoolTimeout), errors.Is(err, redis.ErrPoolExhausted), errors.Is(err, redis.ErrClosed):
		return true // no connection to send it on
	case errors.Is(err, context.DeadlineExceeded):
		return true // no answer in time
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return true // the connection was refused or cut
	case errors.As(err, &netErr):
		return true // any other network failure: dial, read or write
	}
	return false
}
