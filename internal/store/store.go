// Package store defines the storage seam of the audit trail: what the server
// needs from a backend, stated as contracts every backend must meet. The
// contracts are exercised by the conformance suite in storetest, which every
// backend's tests run.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/audittrail/audittrail/internal/event"
	"github.com/audittrail/audittrail/internal/tlog"
)

// Errors every backend reports with these sentinels (wrapped with %w).
var (
	// ErrAlreadyExists: an event with this id is stored already, or the id
	// appears earlier in the same Append call.
	ErrAlreadyExists = errors.New("store: event already exists")
	// ErrNotFound: no event has this id.
	ErrNotFound = errors.New("store: event not found")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store: closed")
	// ErrUnavailable: the backend cannot be reached right now; retrying later
	// may succeed.
	ErrUnavailable = errors.New("store: unavailable")
)

// UnavailableError is an ErrUnavailable whose cause is fit for clients and
// operators to read (SPEC §5: a refused write says why), e.g. "disk full:
// 12 MiB free in /data, below the reserve of 160 MiB".
type UnavailableError struct {
	Cause string
}

func (e *UnavailableError) Error() string { return "store unavailable: " + e.Cause }

// Is makes an UnavailableError match ErrUnavailable.
func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

// Record is an event as stored, with its sequence number.
type Record struct {
	// Seq is the event's position in acceptance order: 0, 1, 2, … without
	// gaps.
	Seq uint64
	// Event is the stored event, ReceiveTime set.
	Event *event.Event
	// Stored is the event's exact stored encoding (event.AppendBinary), the
	// bytes the integrity log commits to.
	Stored []byte
	// Salt is the event's random 32-byte salt for its leaf commitment.
	Salt []byte
}

// AppendResult is the outcome of one event of an Append call.
type AppendResult struct {
	Seq         uint64
	ReceiveTime time.Time
	// Err is nil when the event was stored, else ErrAlreadyExists.
	Err error
}

// Position is a place in the search order (event_time descending, then Seq
// descending).
type Position struct {
	EventTime time.Time
	Seq       uint64
}

// Query asks for one page of search results.
type Query struct {
	// Filter selects events; its time range bounds the scan.
	Filter *event.Filter
	// After, when set, resumes the scan strictly after this position.
	After *Position
	// Size, when non-zero, limits the search to events with Seq < Size, so
	// that every page of one search sees the same snapshot. Zero means the
	// current size, which the result reports.
	Size uint64
	// Limit is the most events to return (at least 1).
	Limit int
	// Deadline bounds the work of this call: when it passes, the store
	// returns what it found so far with a Next position.
	Deadline time.Time
}

// Result is one page of search results.
type Result struct {
	Records []Record
	// Next is where the following page starts, nil when the scan is complete.
	Next *Position
	// Size is the snapshot size the search ran against.
	Size uint64
}

// Store is what the server needs from a backend.
//
// Every implementation MUST:
//   - write, in the same atomic, synced write as each event, the Merkle
//     tree hashes that record the event's leaf (tlog.Leaf with the store's
//     origin, a fresh random salt, and the stored bytes) at position Seq, so
//     that a stored event is always in the tree;
//   - assign sequence numbers densely (0, 1, 2, …, no gaps, no reuse) in
//     acceptance order, contiguous within one Append call;
//   - assign receive times that never decrease along Seq;
//   - make every event it reports as stored durable before Append returns
//     (it survives a crash of the process or machine) and never change it;
//   - treat Append atomically: on error, nothing of the call is stored;
//   - return search results in (event_time desc, Seq desc) order, each
//     matching the filter, no event twice across pages that follow Next.
type Store interface {
	// Append stores each event whose id is new, assigning Seq and
	// ReceiveTime, and returns one result per event in order. Events MUST be
	// normalised (event.Rules.Normalize) by the caller. A non-nil error means
	// nothing was stored.
	Append(ctx context.Context, events []*event.Event) ([]AppendResult, error)
	// Get returns the event with this id, or ErrNotFound.
	Get(ctx context.Context, id string) (Record, error)
	// Search returns one page of events matching q, newest first.
	Search(ctx context.Context, q Query) (Result, error)
	// ReadRange returns up to n events with Seq >= from, in Seq order.
	ReadRange(ctx context.Context, from uint64, n int) ([]Record, error)
	// Size returns the number of stored events (the next Seq).
	Size(ctx context.Context) (uint64, error)
	// ReadHashes returns the tree hashes at these indexes
	// (golang.org/x/mod/sumdb/tlog layout), or ErrNotFound. A backend may
	// recompute level-0 hashes from the events rather than store them.
	ReadHashes(ctx context.Context, indexes []int64) ([]tlog.Hash, error)
	// PutCheckpoint keeps a signed checkpoint of the tree at size, durably.
	PutCheckpoint(ctx context.Context, size uint64, signed []byte) error
	// Checkpoint returns the signed checkpoint kept for size, or ErrNotFound.
	Checkpoint(ctx context.Context, size uint64) ([]byte, error)
	// LatestCheckpoint returns the largest kept checkpoint and its size; the
	// note is nil when none was kept yet.
	LatestCheckpoint(ctx context.Context) (uint64, []byte, error)
	// Checkpoints returns up to n kept checkpoints with size >= from, in
	// ascending size order.
	Checkpoints(ctx context.Context, from uint64, n int) ([]SizedCheckpoint, error)
	// CreateToken keeps a new server-issued token, durably; ErrAlreadyExists
	// when its id or hash is taken.
	CreateToken(ctx context.Context, t Token) error
	// TokenByHash returns the token with this secret hash, revoked and
	// expired ones included, or ErrNotFound.
	TokenByHash(ctx context.Context, hash [32]byte) (Token, error)
	// Tokens returns every token, oldest first.
	Tokens(ctx context.Context) ([]Token, error)
	// RevokeTokens marks the active tokens selected by id (when id is set)
	// or else by principal as revoked at the given time, durably, and
	// returns them.
	RevokeTokens(ctx context.Context, id, principal string, at time.Time) ([]Token, error)
	// SetLoginName records the latest login name of a principal.
	SetLoginName(ctx context.Context, principal, name string) error
	// LoginNames returns the known login names of these principals; unknown
	// ones are absent from the map.
	LoginNames(ctx context.Context, principals []string) (map[string]string, error)
	// SinkCursor returns the cursor last kept for the named export sink
	// (opaque bytes of internal/export), or ErrNotFound.
	SinkCursor(ctx context.Context, name string) ([]byte, error)
	// PutSinkCursor replaces the named sink's cursor, durably, before it
	// returns.
	PutSinkCursor(ctx context.Context, name string, cursor []byte) error
	// Ping reports whether the backend is reachable.
	Ping(ctx context.Context) error
	// Close releases the store; in-flight Appends finish first.
	Close() error
}

// Token is a bearer credential issued by the server. Only the SHA-256 of
// its secret is kept, so a copy of the store does not hold usable tokens.
type Token struct {
	ID         string
	Hash       [32]byte
	Principal  string
	LoginName  string // optional: shown as login_principal
	CreatedBy  string // principal of the administrator who issued it
	CreateTime time.Time
	ExpireTime time.Time // zero: never expires
	RevokeTime time.Time // zero: not revoked
}

// Active reports whether the token authenticates at now.
func (t *Token) Active(now time.Time) bool {
	return t.RevokeTime.IsZero() && (t.ExpireTime.IsZero() || now.Before(t.ExpireTime))
}

// SizedCheckpoint is a kept signed checkpoint and the tree size it signs.
type SizedCheckpoint struct {
	Size   uint64
	Signed []byte
}
