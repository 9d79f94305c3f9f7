package server

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/audittrail/audittrail/internal/event"
	"github.com/audittrail/audittrail/internal/store"
)

// Errors of the server itself; toStatus maps them.
var (
	errUnauthenticated  = errors.New("server: missing or invalid bearer token")
	errPermissionDenied = errors.New("server: permission denied")
)

// clientError attaches the message a client may see to an error whose text
// is for logs only.
type clientError struct {
	msg string
	err error
}

func (e *clientError) Error() string { return e.msg + ": " + e.err.Error() }
func (e *clientError) Unwrap() error { return e.err }

func withClientMessage(msg string, err error) error { return &clientError{msg: msg, err: err} }

// codeTable maps domain and store errors to gRPC codes. It is the only place
// where that mapping happens; the first entry that matches wins.
var codeTable = []struct {
	err  error
	code codes.Code
	msg  string // default client message when the error carries none
}{
	{event.ErrInvalid, codes.InvalidArgument, ""},
	{store.ErrAlreadyExists, codes.AlreadyExists, "event already exists"},
	{store.ErrNotFound, codes.NotFound, "event not found"},
	{errUnauthenticated, codes.Unauthenticated, "missing or invalid bearer token"},
	{errPermissionDenied, codes.PermissionDenied, "permission denied"},
	{store.ErrUnavailable, codes.Unavailable, "store unavailable, retry later"},
	{store.ErrClosed, codes.Unavailable, "server shutting down, retry later"},
	{context.Canceled, codes.Canceled, "request canceled"},
	{context.DeadlineExceeded, codes.DeadlineExceeded, "deadline exceeded"},
}

// toStatus turns any error into the status a client sees. Validation errors
// keep their text (it names the field and the rule); other errors show only
// their client message, so internal details never leak. Unknown errors are
// INTERNAL with a generic message; the caller logs the real one.
func toStatus(err error) *status.Status {
	if err == nil {
		return status.New(codes.OK, "")
	}
	if st, ok := status.FromError(err); ok {
		return st
	}
	for _, row := range codeTable {
		if !errors.Is(err, row.err) {
			continue
		}
		var ce *clientError
		var fe *event.FieldError
		var ue *store.UnavailableError
		switch {
		case errors.As(err, &ce):
			return status.New(row.code, ce.msg)
		case errors.As(err, &fe):
			return status.New(row.code, fe.Error())
		case errors.As(err, &ue):
			return status.New(row.code, ue.Error()+"; retry later")
		}
		return status.New(row.code, row.msg)
	}
	return status.New(codes.Internal, "internal error")
}
