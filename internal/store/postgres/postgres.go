// Package postgres is the PostgreSQL store: the same contract as the
// embedded Pebble store (store.Store, checked by the same conformance
// suite), for deployments where several stateless servers share one
// database.
//
// Appends from every replica serialise on one sequencer row, which also
// carries the Merkle tree's frontier, so sequence numbers are dense and the
// tree hashes are written in the same transaction as the events. Events are
// partitioned by month of event_time. Search narrows rows in SQL with the
// same indexes as the embedded store and evaluates the whole filter in Go,
// so both stores return identical results (RE2, not PostgreSQL regexes).
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/audittrail/audittrail/internal/store"
)

// Options configure a Store. Start from DefaultOptions.
type Options struct {
	// Origin is the integrity log's origin; a database keeps the origin it
	// was first opened with and refuses another. Empty defers the check to
	// CheckOrigin (when the signing key is itself kept in the database).
	Origin string
	Logger *slog.Logger
	// Now is the clock of receive times.
	Now func() time.Time
	// MaxConns bounds the connection pool.
	MaxConns int32
	// MaxGroupEvents bounds the events one append transaction takes from
	// the queue.
	MaxGroupEvents int
	// SearchChunk is the most rows a search fetches per round trip.
	SearchChunk int
}

// DefaultOptions returns options for a server.
func DefaultOptions() Options {
	return Options{
		Origin:         "audittrail.example/log",
		Logger:         slog.New(slog.DiscardHandler),
		Now:            time.Now,
		MaxConns:       16,
		MaxGroupEvents: 8192,
		SearchChunk:    2048,
	}
}

// Validate checks the options.
func (o *Options) Validate() error {
	switch {
	case o.Logger == nil || o.Now == nil:
		return errors.New("postgres store: logger and clock required")
	case o.MaxConns < 2:
		return errors.New("postgres store: at least 2 connections")
	case o.MaxGroupEvents < 1 || o.SearchChunk < 1:
		return errors.New("postgres store: group and chunk sizes must be positive")
	}
	return nil
}

//go:embed migrations/*.sql
var migrations embed.FS

// Advisory lock keys (arbitrary constants, "audittrl" + n).
const (
	lockMigrate   int64 = 0x617564697474726c
	lockPartition int64 = 0x617564697474726d
	lockSigning   int64 = 0x617564697474726e
)

// Store is the PostgreSQL store.
type Store struct {
	pool *pgxpool.Pool
	url  string
	opts Options

	queue *store.AppendQueue
	done  chan struct{} // closed when the writer has exited

	partitions sync.Map // month start (Unix ns) → struct{}: partitions known to exist

	leaseMu   sync.Mutex
	lease     *pgx.Conn      // dedicated connection for the lease advisory locks
	leaseHeld map[int64]bool // the locks held on lease
}

var _ store.Store = (*Store)(nil)

// Open connects to the database at url (a postgres:// URL), applies the
// pending migrations and starts the writer.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres store: %s: %w", redact(url), err)
	}
	cfg.MaxConns = opts.MaxConns
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, wrap("connect", err)
	}
	s := &Store{pool: pool, url: url, opts: opts, queue: store.NewAppendQueue(), done: make(chan struct{})}
	if err := s.Migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	if opts.Origin != "" {
		if err := s.CheckOrigin(ctx, opts.Origin); err != nil {
			pool.Close()
			return nil, err
		}
	}
	go s.write()
	return s, nil
}

// redact hides a URL's password in messages.
func redact(url string) string {
	if cfg, err := pgconn.ParseConfig(url); err == nil {
		return fmt.Sprintf("postgres://%s@%s:%d/%s", cfg.User, cfg.Host, cfg.Port, cfg.Database)
	}
	return "postgres URL"
}

// Migrate applies the embedded migrations that the database lacks, in
// order, each in its own transaction, under an advisory lock so concurrent
// replicas do not race.
func (s *Store) Migrate(ctx context.Context) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return wrap("migrate", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", lockMigrate); err != nil {
		return wrap("migrate: lock", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", lockMigrate)
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return wrap("migrate", err)
	}
	var current int
	if err := conn.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&current); err != nil {
		return wrap("migrate", err)
	}
	entries, err := migrations.ReadDir("migrations")
	if err != nil {
		return fmt.Errorf("postgres store: migrations: %w", err)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	for _, e := range entries {
		v, err := strconv.Atoi(strings.SplitN(e.Name(), "_", 2)[0])
		if err != nil {
			return fmt.Errorf("postgres store: migration %s: bad name", e.Name())
		}
		if v <= current {
			continue
		}
		sql, err := migrations.ReadFile("migrations/" + e.Name())
		if err != nil {
			return err
		}
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, string(sql)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version) VALUES ($1)", v)
			return err
		})
		if err != nil {
			return wrap("migration "+e.Name(), err)
		}
		s.opts.Logger.Info("postgres store: migration applied", "migration", e.Name())
	}
	return nil
}

// SchemaVersion is the newest migration applied.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.pool.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&v)
	return v, wrap("schema version", err)
}

// CheckOrigin records origin as the log's origin on first use and
// otherwise checks that it is the recorded one. Appends stamp leaves with
// it, so it must be called before the first Append when Options.Origin is
// empty.
func (s *Store) CheckOrigin(ctx context.Context, origin string) error {
	if origin == "" {
		return errors.New("postgres store: origin required")
	}
	if _, err := s.pool.Exec(ctx, "INSERT INTO meta (name, value) VALUES ('origin', $1) ON CONFLICT DO NOTHING", []byte(origin)); err != nil {
		return wrap("origin", err)
	}
	var stored []byte
	if err := s.pool.QueryRow(ctx, "SELECT value FROM meta WHERE name = 'origin'").Scan(&stored); err != nil {
		return wrap("origin", err)
	}
	if string(stored) != origin {
		return fmt.Errorf("postgres store: the database holds the log of origin %q, not %q", stored, origin)
	}
	s.opts.Origin = origin
	return nil
}

// Secret returns the shared secret called name, creating it with gen on
// first use; every replica on the database gets the same value (page-token
// keys, and the signing key when no file is given).
func (s *Store) Secret(ctx context.Context, name string, gen func() ([]byte, error)) ([]byte, error) {
	v, err := gen()
	if err != nil {
		return nil, err
	}
	if _, err := s.pool.Exec(ctx, "INSERT INTO meta (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING", "secret/"+name, v); err != nil {
		return nil, wrap("secret", err)
	}
	if err := s.pool.QueryRow(ctx, "SELECT value FROM meta WHERE name = $1", "secret/"+name).Scan(&v); err != nil {
		return nil, wrap("secret", err)
	}
	return v, nil
}

// Ping implements store.Store.
func (s *Store) Ping(ctx context.Context) error {
	return wrap("ping", s.pool.Ping(ctx))
}

// Close implements store.Store: queued appends finish first.
func (s *Store) Close() error {
	if !s.queue.Close() {
		return nil
	}
	<-s.done
	s.leaseMu.Lock()
	if s.lease != nil {
		s.lease.Close(context.Background())
		s.lease, s.leaseHeld = nil, nil
	}
	s.leaseMu.Unlock()
	s.pool.Close()
	return nil
}

// wrap classifies err: lost connections and a database that is starting,
// stopping or out of connections are store.ErrUnavailable (the client may
// retry); other errors are internal.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("postgres store: %s: %w", op, err)
	}
	if unavailable(err) {
		cause := &store.UnavailableError{Cause: "the PostgreSQL database cannot be reached"}
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "53100" {
			cause.Cause = "the PostgreSQL database is out of disk space"
		}
		return fmt.Errorf("postgres store: %s: %w: %w", op, cause, err)
	}
	return fmt.Errorf("postgres store: %s: %w", op, err)
}

func unavailable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// 08: connection exception; 57P01-03: shutdown, crash, starting;
		// 53300: too many connections; 53100: disk full.
		return strings.HasPrefix(pgErr.Code, "08") || strings.HasPrefix(pgErr.Code, "57P") || pgErr.Code == "53300" || pgErr.Code == "53100"
	}
	var netErr net.Error
	var connErr *pgconn.ConnectError
	return errors.As(err, &connErr) || errors.As(err, &netErr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		pgconn.SafeToRetry(err) || strings.Contains(err.Error(), "conn closed")
}
