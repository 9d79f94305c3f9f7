package main

import (
	"errors"
	"net"
	"net/url"
	"syscall"
)

// errorHint says what to do about the most common errors a person meets:
// a server that is not there, a data directory another process holds.
func errorHint(err error) string {
	var ue *url.Error
	var oe *net.OpError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED) && errors.As(err, &ue):
		return "is `audittrail serve` running at " + serverOf(ue.URL) + "? (--server, $AUDITTRAIL_SERVER)"
	case errors.As(err, &oe) && oe.Op == "listen" && errors.Is(err, syscall.EADDRINUSE):
		return "another process listens on that address: stop it, or choose another with --addr"
	case errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EWOULDBLOCK):
		return "the data directory is in use by another process (another `audittrail serve`?): stop it, or use another --data"
	}
	return ""
}

func serverOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return u.Scheme + "://" + u.Host
}
