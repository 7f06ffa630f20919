// Package embedded runs an in-process Redis-protocol server (miniredis) for the
// default mode, in which tierlink needs no Redis set up. Its data lives only as long
// as the process.
package embedded

import (
	"fmt"

	"github.com/alicebob/miniredis/v2"
)

// Server is a running embedded Redis-protocol server.
type Server struct {
	mr *miniredis.Miniredis
}

// Start listens on addr (use "127.0.0.1:0" for any free port).
func Start(addr string) (*Server, error) {
	mr := miniredis.NewMiniRedis()
	if err := mr.StartAddr(addr); err != nil {
		return nil, fmt.Errorf("start embedded redis on %s: %w", addr, err)
	}
	return &Server{mr: mr}, nil
}

// Addr is the host:port the server listens on.
func (s *Server) Addr() string { return s.mr.Addr() }

// Close stops the server; its data is gone.
func (s *Server) Close() { s.mr.Close() }
