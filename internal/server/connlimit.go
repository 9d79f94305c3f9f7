package server

import (
	"net"
	"sync"
	"time"
)

// LimitListener returns a listener that keeps at most n connections open.
// A connection past the limit is not left waiting in the kernel's backlog
// (where a client would hang until something else closes): it is accepted,
// told `503 Service Unavailable` with `Retry-After: 1` and closed, so file
// descriptors stay bounded and clients learn at once to come back.
// onReject, when not nil, is called for each such connection.
func LimitListener(ln net.Listener, n int, onReject func()) net.Listener {
	return &limitListener{Listener: ln, free: n, onReject: onReject}
}

type limitListener struct {
	net.Listener
	onReject func()

	mu   sync.Mutex
	free int
}

// overloaded is what a connection past the limit reads; HTTP/1 clients
// show it, HTTP/2 and gRPC clients see the connection fail and retry.
const overloaded = "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: 63\r\n\r\n" +
	`{"code":14,"message":"too many connections, retry in a second"}`

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		l.mu.Lock()
		ok := l.free > 0
		if ok {
			l.free--
		}
		l.mu.Unlock()
		if ok {
			return &limitConn{Conn: c, l: l}, nil
		}
		if l.onReject != nil {
			l.onReject()
		}
		go func() {
			c.SetWriteDeadline(time.Now().Add(time.Second))
			c.Write([]byte(overloaded))
			c.Close()
		}()
	}
}

type limitConn struct {
	net.Conn
	l    *limitListener
	once sync.Once
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.mu.Lock()
		c.l.free++
		c.l.mu.Unlock()
	})
	return err
}
