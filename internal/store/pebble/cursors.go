package pebble

import (
	"context"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

func cursorKey(name string) []byte { return append([]byte{prefixCursor}, name...) }

// SinkCursor returns the cursor kept for the named sink, or store.ErrNotFound.
func (s *Store) SinkCursor(_ context.Context, name string) ([]byte, error) {
	return s.getValue(cursorKey(name))
}

// PutSinkCursor replaces the named sink's cursor, durably.
func (s *Store) PutSinkCursor(_ context.Context, name string, cursor []byte) error {
	if err := s.db.Set(cursorKey(name), cursor, pebble.Sync); err != nil {
		return fmt.Errorf("pebble store: sink cursor %s: %w", name, err)
	}
	return nil
}

// HoldLease always holds: the embedded store is opened by one process only
// (Pebble locks its directory), so that process runs every named job.
func (s *Store) HoldLease(context.Context, string) (bool, error) { return true, nil }
