package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/audittrail/audittrail/internal/store"
)

const tokenColumns = "id, hash, principal, login_name, created_by, create_time, expire_time, revoke_time"

func scanToken(row pgx.Row) (store.Token, error) {
	var t store.Token
	var hash []byte
	var expire, revoke *time.Time
	if err := row.Scan(&t.ID, &hash, &t.Principal, &t.LoginName, &t.CreatedBy, &t.CreateTime, &expire, &revoke); err != nil {
		return t, err
	}
	copy(t.Hash[:], hash)
	t.CreateTime = t.CreateTime.UTC()
	if expire != nil {
		t.ExpireTime = expire.UTC()
	}
	if revoke != nil {
		t.RevokeTime = revoke.UTC()
	}
	return t, nil
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// CreateToken implements store.Store.
func (s *Store) CreateToken(ctx context.Context, t store.Token) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "INSERT INTO tokens ("+tokenColumns+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
			t.ID, t.Hash[:], t.Principal, t.LoginName, t.CreatedBy, t.CreateTime, nullTime(t.ExpireTime), nullTime(t.RevokeTime)); err != nil {
			return err
		}
		if t.LoginName == "" {
			return nil
		}
		return setLogin(ctx, tx, t.Principal, t.LoginName)
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return fmt.Errorf("%w: token %s", store.ErrAlreadyExists, t.ID)
	}
	return wrap("create token", err)
}

// TokenByHash implements store.Store.
func (s *Store) TokenByHash(ctx context.Context, hash [32]byte) (store.Token, error) {
	t, err := scanToken(s.pool.QueryRow(ctx, "SELECT "+tokenColumns+" FROM tokens WHERE hash = $1", hash[:]))
	if errors.Is(err, pgx.ErrNoRows) {
		return t, store.ErrNotFound
	}
	return t, wrap("token", err)
}

// Tokens implements store.Store.
func (s *Store) Tokens(ctx context.Context) ([]store.Token, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+tokenColumns+" FROM tokens ORDER BY create_time, id")
	if err != nil {
		return nil, wrap("tokens", err)
	}
	defer rows.Close()
	var out []store.Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, wrap("tokens", err)
		}
		out = append(out, t)
	}
	return out, wrap("tokens", rows.Err())
}

// RevokeTokens implements store.Store.
func (s *Store) RevokeTokens(ctx context.Context, id, principal string, at time.Time) ([]store.Token, error) {
	sql, arg := "UPDATE tokens SET revoke_time = $1 WHERE revoke_time IS NULL AND principal = $2 RETURNING "+tokenColumns, principal
	if id != "" {
		sql, arg = "UPDATE tokens SET revoke_time = $1 WHERE revoke_time IS NULL AND id = $2 RETURNING "+tokenColumns, id
	}
	rows, err := s.pool.Query(ctx, sql, at, arg)
	if err != nil {
		return nil, wrap("revoke tokens", err)
	}
	defer rows.Close()
	var out []store.Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, wrap("revoke tokens", err)
		}
		out = append(out, t)
	}
	return out, wrap("revoke tokens", rows.Err())
}

type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

func setLogin(ctx context.Context, db execer, principal, name string) error {
	_, err := db.Exec(ctx, "INSERT INTO login_names (principal, name) VALUES ($1, $2) ON CONFLICT (principal) DO UPDATE SET name = excluded.name", principal, name)
	return err
}

// SetLoginName implements store.Store.
func (s *Store) SetLoginName(ctx context.Context, principal, name string) error {
	return wrap("login name", setLogin(ctx, s.pool, principal, name))
}

// LoginNames implements store.Store.
func (s *Store) LoginNames(ctx context.Context, principals []string) (map[string]string, error) {
	rows, err := s.pool.Query(ctx, "SELECT principal, name FROM login_names WHERE principal = ANY($1)", principals)
	if err != nil {
		return nil, wrap("login names", err)
	}
	defer rows.Close()
	out := make(map[string]string, len(principals))
	for rows.Next() {
		var p, n string
		if err := rows.Scan(&p, &n); err != nil {
			return nil, wrap("login names", err)
		}
		out[p] = n
	}
	return out, wrap("login names", rows.Err())
}

// SinkCursor returns the cursor kept for the named sink, or store.ErrNotFound.
func (s *Store) SinkCursor(ctx context.Context, name string) ([]byte, error) {
	var c []byte
	err := s.pool.QueryRow(ctx, "SELECT cursor FROM sink_cursors WHERE name = $1", name).Scan(&c)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	return c, wrap("sink cursor", err)
}

// PutSinkCursor replaces the named sink's cursor, durably.
func (s *Store) PutSinkCursor(ctx context.Context, name string, cursor []byte) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO sink_cursors (name, cursor) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET cursor = excluded.cursor, update_time = now()`, name, cursor)
	return wrap("sink cursor", err)
}
