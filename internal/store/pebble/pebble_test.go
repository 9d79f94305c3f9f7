package pebble_test

import (
	"testing"

	"github.com/audittrail/audittrail/internal/store"
	"github.com/audittrail/audittrail/internal/store/pebble"
	"github.com/audittrail/audittrail/internal/store/storetest"
)

func open(t *testing.T, dir string) *pebble.Store {
	t.Helper()
	opts := pebble.DefaultOptions()
	opts.CacheSize = 8 << 20
	opts.MemTableSize = 4 << 20
	s, err := pebble.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	dirs := map[store.Store]string{}
	storetest.Run(t, storetest.Harness{
		Origin: pebble.DefaultOptions().Origin,
		New: func(t *testing.T) store.Store {
			dir := t.TempDir()
			s := open(t, dir)
			dirs[s] = dir
			return s
		},
		Reopen: func(t *testing.T, s store.Store) store.Store {
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			n := open(t, dirs[s])
			dirs[n] = dirs[s]
			return n
		},
	})
}

func TestOriginIsKept(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	s.Close()
	opts := pebble.DefaultOptions()
	opts.Origin = "another.example/log"
	if _, err := pebble.Open(dir, opts); err == nil {
		t.Fatal("opened a store with another log origin")
	}
}
