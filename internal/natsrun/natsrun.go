// Package natsrun runs a NATS server with JetStream inside the process, for
// tests and for examples/distributed: nats-server/v2 used as a library, on
// 127.0.0.1 at a port the system picks, with its store in a directory the
// caller owns.
package natsrun

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Server is a running embedded NATS server.
type Server struct {
	dir  string
	port int

	mu  sync.Mutex
	srv *server.Server // nil while Outage has it stopped, or once Stop has
}

// Start starts a server with JetStream on, storing streams in dir, and
// waits until it takes connections.
func Start(dir string) (*Server, error) { return StartAt(dir, server.RANDOM_PORT) }

// StartAt is Start on a given port: a server started again on the port
// and the directory of one stopped is the same server to its clients, who
// reconnect to it and find its streams.
func StartAt(dir string, port int) (*Server, error) {
	opts := &server.Options{
		Host:      "127.0.0.1",
		Port:      port,
		JetStream: true,
		StoreDir:  dir,
		NoLog:     true,
		NoSigs:    true,
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS server: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, errors.New("embedded NATS server: not ready for connections after 10s")
	}
	return &Server{dir: dir, port: srv.Addr().(*net.TCPAddr).Port, srv: srv}, nil
}

// URL is the address clients connect to, nats://127.0.0.1:port.
func (s *Server) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", s.port) }

// Port is the port the server listens on.
func (s *Server) Port() int { return s.port }

// Stop shuts the server down and waits until all its goroutines are gone.
func (s *Server) Stop() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
	}
}

// Outage stops the server for d, then starts it again on its port and
// store, as a restart does: clients that reconnect find their streams. It
// returns once the server takes connections again. Stop may be called
// meanwhile, from another goroutine: the server then stays stopped.
func (s *Server) Outage(d time.Duration) error {
	s.mu.Lock()
	srv := s.srv
	s.mu.Unlock()
	if srv == nil {
		return errors.New("embedded NATS server: stopped")
	}
	srv.Shutdown()
	srv.WaitForShutdown()
	time.Sleep(d)
	again, err := StartAt(s.dir, s.port)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != srv { // stopped meanwhile
		again.Stop()
		return nil
	}
	s.srv = again.srv
	return nil
}
