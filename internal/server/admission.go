package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"golang.org/x/sync/semaphore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// admission bounds what the server takes on at once (SPEC §5, load): the
// bytes of requests being read, decoded and served, and the create calls in
// progress. Past a bound a request is refused at once with
// RESOURCE_EXHAUSTED and Retry-After rather than queued without bound, and
// no request's body is read before its caller is authenticated.
type admission struct {
	bytes    *semaphore.Weighted
	maxBytes int64
	writes   *semaphore.Weighted
	wait     time.Duration
}

func newAdmission(cfg Config) *admission {
	return &admission{
		bytes: semaphore.NewWeighted(cfg.MaxInflightBytes), maxBytes: cfg.MaxInflightBytes,
		writes: semaphore.NewWeighted(int64(cfg.MaxConcurrentWrites)), wait: cfg.AdmissionWait,
	}
}

// errBusy is the refusal past a bound; Retry-After goes with it.
func errBusy(what string) error {
	return status.Error(codes.ResourceExhausted, "server busy: "+what+"; retry in a second")
}

// acquire takes n of sem, waiting at most a.wait (bursts are smoothed, a
// sustained overload is refused).
func (a *admission) acquire(ctx context.Context, sem *semaphore.Weighted, n int64) bool {
	if sem.TryAcquire(n) {
		return true
	}
	ctx, cancel := context.WithTimeout(ctx, a.wait)
	defer cancel()
	return sem.Acquire(ctx, n) == nil
}

// admit authenticates the caller of an API request from its headers, then
// reserves its body bytes and, for creates, a write slot. It returns the
// request to serve (its body may have been re-wrapped) and the release
// function, or writes the refusal and returns ok false.
// Pushed adapter deliveries (/adapters/…) carry their own credential (a
// signature over the body), so they are admitted on bytes and write slots
// alone.
func (s *Server) admit(w http.ResponseWriter, r *http.Request, grpcCall, write bool) (_ *http.Request, release func(), ok bool) {
	release = func() {}
	ri := requestInfoFrom(r.Context())
	if strings.HasPrefix(r.URL.Path, "/adapters/") {
		return s.admitBody(w, r, grpcCall, write)
	}
	id, err := s.authenticate(r.Context())
	if err != nil {
		st := toStatus(err)
		if n, ok := s.errLog.allow("authentication failed", s.now()); ok {
			s.logger.Warn("authentication failed", "route", r.URL.Path, "remote", ri.remoteIP, "code", st.Code().String(), "err", err, "suppressed", n)
		}
		s.refuse(w, r, grpcCall, st, "unauthenticated")
		return r, release, false
	}
	ri.identity = id
	return s.admitBody(w, r, grpcCall, write)
}

// admitBody reserves a request's body bytes and, for creates, a write
// slot.
func (s *Server) admitBody(w http.ResponseWriter, r *http.Request, grpcCall, write bool) (_ *http.Request, release func(), ok bool) {
	release = func() {}
	n := r.ContentLength
	if grpcCall {
		// The 5-byte prefix of the (first) message says its length.
		var hdr [5]byte
		if _, err := io.ReadFull(r.Body, hdr[:]); err != nil {
			s.refuse(w, r, grpcCall, status.New(codes.InvalidArgument, "request: no message"), "malformed")
			return r, release, false
		}
		n = int64(binary.BigEndian.Uint32(hdr[1:])) + 5
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(hdr[:]), r.Body), r.Body}
	} else if n < 0 {
		n = s.cfg.MaxBodyBytes // unknown length: reserve the most it may be
	}
	n = min(max(n, 1), s.cfg.MaxBodyBytes, s.adm.maxBytes)
	if !s.adm.acquire(r.Context(), s.adm.bytes, n) {
		s.refuse(w, r, grpcCall, status.Convert(errBusy(fmt.Sprintf("more than %d bytes of requests in progress", s.adm.maxBytes))), "inflight_bytes")
		return r, release, false
	}
	if !write {
		return r, func() { s.adm.bytes.Release(n) }, true
	}
	if !s.adm.acquire(r.Context(), s.adm.writes, 1) {
		s.adm.bytes.Release(n)
		s.refuse(w, r, grpcCall, status.Convert(errBusy(fmt.Sprintf("%d create calls in progress", s.cfg.MaxConcurrentWrites))), "concurrent_writes")
		return r, release, false
	}
	return r, func() { s.adm.writes.Release(1); s.adm.bytes.Release(n) }, true
}

// refuse answers a request that is not admitted, in its protocol, and
// counts it.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, grpcCall bool, st *status.Status, reason string) {
	s.metrics.rejected.WithLabelValues(reason).Inc()
	if st.Code() == codes.ResourceExhausted || st.Code() == codes.Unavailable {
		w.Header().Set("Retry-After", "1")
	}
	if !grpcCall {
		writeJSONError(w, runtime.HTTPStatusFromCode(st.Code()), st.Code(), st.Message())
		return
	}
	// A trailers-only gRPC answer: the status in the response headers.
	h := w.Header()
	h.Set("Content-Type", "application/grpc")
	h.Set("Grpc-Status", strconv.Itoa(int(st.Code())))
	h.Set("Grpc-Message", grpcMessage(st.Message()))
	w.WriteHeader(http.StatusOK)
}

// grpcMessage percent-encodes a status message for the grpc-message header.
func grpcMessage(msg string) string {
	var b strings.Builder
	for i := 0; i < len(msg); i++ {
		if c := msg[i]; c < ' ' || c > '~' || c == '%' {
			fmt.Fprintf(&b, "%%%02X", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}
