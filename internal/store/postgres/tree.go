package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"

	"github.com/jackc/pgx/v5"
	sumtlog "golang.org/x/mod/sumdb/tlog"

	"github.com/audittrail/audittrail/internal/store"
	"github.com/audittrail/audittrail/internal/tlog"
)

// ReadHashes implements store.Store. The stored hash of level L, index n
// was created by appending record ((n+1) << L) - 1, whose log entry keeps
// it: the leaf hash for L = 0, else the (L-1)-th interior hash.
func (s *Store) ReadHashes(ctx context.Context, indexes []int64) ([]tlog.Hash, error) {
	seqs := make([]int64, len(indexes))
	levels := make([]int, len(indexes))
	for i, idx := range indexes {
		level, n := sumtlog.SplitStoredHashIndex(idx)
		levels[i], seqs[i] = level, ((n+1)<<level)-1
	}
	rows, err := s.pool.Query(ctx, "SELECT seq, leaf_hash, interior FROM log_entries WHERE seq = ANY($1)", seqs)
	if err != nil {
		return nil, wrap("read hashes", err)
	}
	type entry struct{ leaf, interior []byte }
	found := make(map[int64]entry, len(seqs))
	for rows.Next() {
		var seq int64
		var e entry
		if err := rows.Scan(&seq, &e.leaf, &e.interior); err != nil {
			rows.Close()
			return nil, wrap("read hashes", err)
		}
		found[seq] = e
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, wrap("read hashes", err)
	}
	out := make([]tlog.Hash, len(indexes))
	for i, idx := range indexes {
		e, ok := found[seqs[i]]
		h := e.leaf
		if l := levels[i]; l > 0 && len(e.interior) >= 32*l {
			h = e.interior[32*(l-1) : 32*l]
		} else if l > 0 {
			h = nil
		}
		if !ok || len(h) != len(out[i]) {
			return nil, fmt.Errorf("%w: tree hash %d", store.ErrNotFound, idx)
		}
		copy(out[i][:], h)
	}
	return out, nil
}

// PutCheckpoint implements store.Store.
func (s *Store) PutCheckpoint(ctx context.Context, size uint64, signed []byte) error {
	_, err := s.pool.Exec(ctx, "INSERT INTO checkpoints (size, signed) VALUES ($1, $2) ON CONFLICT (size) DO UPDATE SET signed = excluded.signed", int64(size), signed)
	return wrap("put checkpoint", err)
}

// Checkpoint implements store.Store.
func (s *Store) Checkpoint(ctx context.Context, size uint64) ([]byte, error) {
	var signed []byte
	err := s.pool.QueryRow(ctx, "SELECT signed FROM checkpoints WHERE size = $1", int64(size)).Scan(&signed)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w: checkpoint of size %d", store.ErrNotFound, size)
	}
	return signed, wrap("checkpoint", err)
}

// LatestCheckpoint implements store.Store.
func (s *Store) LatestCheckpoint(ctx context.Context) (uint64, []byte, error) {
	var size int64
	var signed []byte
	err := s.pool.QueryRow(ctx, "SELECT size, signed FROM checkpoints ORDER BY size DESC LIMIT 1").Scan(&size, &signed)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil, nil
	}
	if err != nil {
		return 0, nil, wrap("latest checkpoint", err)
	}
	return uint64(size), signed, nil
}

// Checkpoints implements store.Store.
func (s *Store) Checkpoints(ctx context.Context, from uint64, n int) ([]store.SizedCheckpoint, error) {
	rows, err := s.pool.Query(ctx, "SELECT size, signed FROM checkpoints WHERE size >= $1 ORDER BY size LIMIT $2", int64(from), n)
	if err != nil {
		return nil, wrap("checkpoints", err)
	}
	defer rows.Close()
	var out []store.SizedCheckpoint
	for rows.Next() {
		var size int64
		var signed []byte
		if err := rows.Scan(&size, &signed); err != nil {
			return nil, wrap("checkpoints", err)
		}
		out = append(out, store.SizedCheckpoint{Size: uint64(size), Signed: signed})
	}
	return out, wrap("checkpoints", rows.Err())
}

// HoldSigningLease reports whether this process is the replica that signs
// checkpoints. The lease is a session-level advisory lock on a dedicated
// connection: it is held until that connection or the process goes away,
// and then another replica takes it on its next try (every second).
func (s *Store) HoldSigningLease(ctx context.Context) (bool, error) {
	return s.holdLock(ctx, lockSigning, "signs checkpoints")
}

// HoldLease reports whether this process runs the named job (an export sink)
// among the replicas sharing the database, with the same advisory-lock
// lease as checkpoint signing: exactly one replica holds it at a time, and
// another takes it over when that replica's connection goes away.
func (s *Store) HoldLease(ctx context.Context, name string) (bool, error) {
	h := fnv.New64a()
	h.Write([]byte("audittrail lease\x00" + name))
	return s.holdLock(ctx, int64(h.Sum64()), "runs "+name)
}

func (s *Store) holdLock(ctx context.Context, key int64, what string) (bool, error) {
	s.leaseMu.Lock()
	defer s.leaseMu.Unlock()
	if s.lease != nil && s.lease.Ping(ctx) != nil {
		s.lease.Close(context.WithoutCancel(ctx))
		s.lease, s.leaseHeld = nil, nil
	}
	if s.lease == nil {
		conn, err := pgx.Connect(ctx, s.url)
		if err != nil {
			return false, wrap("lease", err)
		}
		s.lease, s.leaseHeld = conn, map[int64]bool{}
	}
	if s.leaseHeld[key] {
		return true, nil
	}
	var held bool
	if err := s.lease.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&held); err != nil {
		return false, wrap("lease", err)
	}
	if held {
		s.leaseHeld[key] = true
		s.opts.Logger.Info("postgres store: this replica now " + what)
	}
	return held, nil
}
