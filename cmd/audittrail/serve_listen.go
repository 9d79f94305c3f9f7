package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/audittrail/audittrail/internal/server"
)

// listenFlags bound what one client can hold of the server: how long a
// request may take to arrive and its answer to leave, how long an idle
// connection stays, and how many connections are open at once.
type listenFlags struct {
	readHeaderTimeout, readTimeout time.Duration
	writeTimeout, idleTimeout      time.Duration
	maxConns                       int
	metricsAddr                    string
}

func (l *listenFlags) register(fs *flag.FlagSet) {
	fs.DurationVar(&l.readHeaderTimeout, "read-header-timeout", 10*time.Second, "how long a client may take to send a request's headers")
	fs.DurationVar(&l.readTimeout, "read-timeout", time.Minute, "how long a client may take to send a whole request, body included")
	fs.DurationVar(&l.writeTimeout, "write-timeout", 2*time.Minute, "how long writing an answer may take (live tails and exports are exempt)")
	fs.DurationVar(&l.idleTimeout, "idle-timeout", 2*time.Minute, "how long an idle keep-alive connection (HTTP/1 or HTTP/2) stays open")
	fs.IntVar(&l.maxConns, "max-connections", defaultMaxConns(), "open connections per listener; past it new ones are answered 503 and closed (default: 3/4 of the open-file limit, at most 10000)")
	fs.StringVar(&l.metricsAddr, "metrics-addr", "", "optional listen address (HOST:PORT) serving /metrics only; /metrics is also on --addr, never on --public-addr")
}

// defaultMaxConns leaves a quarter of the open-file limit for the store,
// the log and outgoing connections.
func defaultMaxConns() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == 0 {
		return 1000
	}
	return int(min(rl.Cur*3/4, 10000))
}

func (l *listenFlags) validate() error {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"read-header-timeout", l.readHeaderTimeout}, {"read-timeout", l.readTimeout}, {"write-timeout", l.writeTimeout}, {"idle-timeout", l.idleTimeout}} {
		if d.v <= 0 {
			return fmt.Errorf("serve: --%s %v: must be positive", d.name, d.v)
		}
	}
	if l.maxConns < 1 {
		return fmt.Errorf("serve: --max-connections %d: must be at least 1", l.maxConns)
	}
	return nil
}

// listen opens addr with the connection limit (and TLS when configured).
func (l *listenFlags) listen(addr string, tlsConfig *tls.Config, rejected prometheus.Counter) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	ln = server.LimitListener(ln, l.maxConns, rejected.Inc)
	if tlsConfig != nil {
		ln = tls.NewListener(ln, tlsConfig)
	}
	return ln, nil
}

// httpServer returns a server for handler with the timeouts, speaking
// HTTP/1 and HTTP/2 (h2c without TLS, so gRPC works on plain listeners).
func (l *listenFlags) httpServer(handler http.Handler, tlsOn bool, log *slog.Logger) *http.Server {
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(!tlsOn)
	protocols.SetHTTP2(tlsOn)
	return &http.Server{
		Handler:           handler,
		Protocols:         &protocols,
		ReadHeaderTimeout: l.readHeaderTimeout,
		ReadTimeout:       l.readTimeout,
		WriteTimeout:      l.writeTimeout,
		IdleTimeout:       l.idleTimeout,
		HTTP2:             &http.HTTP2Config{MaxConcurrentStreams: 250},
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}
