package postgres_test

import (
	"context"
	"testing"

	"github.com/audittrail/audittrail/internal/store"
	"github.com/audittrail/audittrail/internal/store/postgres"
	"github.com/audittrail/audittrail/internal/store/postgres/pgtest"
	"github.com/audittrail/audittrail/internal/store/storetest"
)

func open(t *testing.T, url string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), url, postgres.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	pgtest.ServerURL(t)
	urls := map[store.Store]string{}
	storetest.Run(t, storetest.Harness{
		Origin: postgres.DefaultOptions().Origin,
		New: func(t *testing.T) store.Store {
			u := pgtest.NewDatabase(t)
			s := open(t, u)
			urls[s] = u
			return s
		},
		Reopen: func(t *testing.T, s store.Store) store.Store {
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			n := open(t, urls[s])
			urls[n] = urls[s]
			return n
		},
	})
}

func TestOriginIsKept(t *testing.T) {
	u := pgtest.NewDatabase(t)
	open(t, u).Close()
	opts := postgres.DefaultOptions()
	opts.Origin = "another.example/log"
	if _, err := postgres.Open(context.Background(), u, opts); err == nil {
		t.Fatal("opened a database with another log origin")
	}
}
