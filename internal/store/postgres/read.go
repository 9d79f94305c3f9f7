package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/audittrail/audittrail/internal/event"
	"github.com/audittrail/audittrail/internal/store"
)

// record decodes a row's stored bytes.
func record(seq int64, salt, stored []byte) (store.Record, error) {
	e, err := event.UnmarshalBinary(stored)
	if err != nil {
		return store.Record{}, fmt.Errorf("postgres store: event at seq %d: %w", seq, err)
	}
	return store.Record{Seq: uint64(seq), Event: e, Stored: stored, Salt: salt}, nil
}

// Size implements store.Store.
func (s *Store) Size(ctx context.Context) (uint64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, "SELECT next_seq FROM sequencer").Scan(&n); err != nil {
		return 0, wrap("size", err)
	}
	return uint64(n), nil
}

// Get implements store.Store.
func (s *Store) Get(ctx context.Context, id string) (store.Record, error) {
	b, err := event.IDBytes(id)
	if err != nil {
		return store.Record{}, fmt.Errorf("%w: %s", store.ErrNotFound, id)
	}
	var seq int64
	var salt, stored []byte
	err = s.pool.QueryRow(ctx, `SELECT e.seq, e.salt, e.stored FROM log_entries l
		JOIN events e ON e.event_time_ns = l.event_time_ns AND e.seq = l.seq WHERE l.id = $1`, b).Scan(&seq, &salt, &stored)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Record{}, fmt.Errorf("%w: %s", store.ErrNotFound, id)
	}
	if err != nil {
		return store.Record{}, wrap("get", err)
	}
	return record(seq, salt, stored)
}

// ReadRange implements store.Store.
func (s *Store) ReadRange(ctx context.Context, from uint64, n int) ([]store.Record, error) {
	rows, err := s.pool.Query(ctx, `SELECT e.seq, e.salt, e.stored FROM log_entries l
		JOIN events e ON e.event_time_ns = l.event_time_ns AND e.seq = l.seq
		WHERE l.seq >= $1 ORDER BY l.seq LIMIT $2`, int64(from), n)
	if err != nil {
		return nil, wrap("read range", err)
	}
	return collect(rows)
}

func collect(rows pgx.Rows) ([]store.Record, error) {
	defer rows.Close()
	var out []store.Record
	for rows.Next() {
		var seq int64
		var salt, stored []byte
		if err := rows.Scan(&seq, &salt, &stored); err != nil {
			return nil, wrap("scan", err)
		}
		r, err := record(seq, salt, stored)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("read", err)
	}
	return out, nil
}

// Search implements store.Store. SQL narrows the rows with the conditions
// an index can serve (time range, snapshot, exact values, literal regex
// prefixes, the workspace set, metadata containment) and returns them in
// search order, a chunk at a time; the full filter is then evaluated in Go,
// so the results are the embedded store's exactly.
func (s *Store) Search(ctx context.Context, q store.Query) (store.Result, error) {
	res := store.Result{Size: q.Size}
	if q.Limit < 1 {
		return res, fmt.Errorf("postgres store: search limit %d must be positive", q.Limit)
	}
	f := q.Filter
	after := q.After
	// The first round asks for just enough rows to fill the page and see
	// whether more follow, which is all it takes when SQL expressed the
	// whole filter; rounds then grow, so a selective filter evaluated in Go
	// costs few round trips.
	chunk := q.Limit + 1
	for ; ; chunk = min(chunk*4, max(s.opts.SearchChunk, q.Limit+1)) {
		recs, size, err := s.searchRound(ctx, f, res.Size, after, chunk)
		if err != nil {
			return res, err
		}
		res.Size = size
		for _, r := range recs {
			if !f.Match(r.Event) {
				continue
			}
			if len(res.Records) == q.Limit {
				// A further match exists: the next page starts after the
				// last one returned.
				last := res.Records[len(res.Records)-1]
				res.Next = &store.Position{EventTime: last.Event.EventTime, Seq: last.Seq}
				return res, nil
			}
			res.Records = append(res.Records, r)
		}
		if len(recs) < chunk {
			return res, nil // scan complete
		}
		last := recs[len(recs)-1]
		after = &store.Position{EventTime: last.Event.EventTime, Seq: last.Seq}
		if !q.Deadline.IsZero() && time.Now().After(q.Deadline) {
			res.Next = after
			return res, nil
		}
	}
}

// searchRound fetches up to n candidate rows after the position. With size
// 0 it reads the store size in the same statement (one snapshot, one round
// trip) and returns it.
func (s *Store) searchRound(ctx context.Context, f *event.Filter, size uint64, after *store.Position, n int) ([]store.Record, uint64, error) {
	bound := "(SELECT next_seq FROM sequencer)"
	var args []any
	if size > 0 {
		args = append(args, int64(size))
		bound = "$1"
	}
	where, args := narrow(f, bound, args)
	if after != nil {
		args = append(args, after.EventTime.UnixNano(), int64(after.Seq))
		where += fmt.Sprintf(" AND (event_time_ns, seq) < ($%d, $%d)", len(args)-1, len(args))
	}
	sql := "SELECT seq, salt, stored FROM events WHERE " + where + fmt.Sprintf(" ORDER BY event_time_ns DESC, seq DESC LIMIT %d", n)
	if size == 0 {
		sql = "SELECT s.next_seq, e.seq, e.salt, e.stored FROM (SELECT next_seq FROM sequencer) s LEFT JOIN LATERAL (SELECT event_time_ns, seq, salt, stored FROM events WHERE " +
			strings.ReplaceAll(where, bound, "s.next_seq") + fmt.Sprintf(" ORDER BY event_time_ns DESC, seq DESC LIMIT %d) e ON true ORDER BY e.event_time_ns DESC, e.seq DESC", n)
	}
	// An unnamed statement is planned with the actual values every time:
	// a cached generic plan cannot tell `env=staging` (a third of the
	// rows: scan newest first) from a rare value (use the GIN index).
	rows, err := s.pool.Query(ctx, sql, append([]any{pgx.QueryExecModeExec}, args...)...)
	if err != nil {
		return nil, 0, wrap("search", err)
	}
	defer rows.Close()
	withSize := size == 0
	var out []store.Record
	for rows.Next() {
		var seq *int64
		var salt, stored []byte
		dest := []any{&seq, &salt, &stored}
		var next int64
		if withSize {
			dest = append([]any{&next}, dest...)
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, 0, wrap("search", err)
		}
		if withSize {
			size = uint64(next)
		}
		if seq == nil {
			continue // the empty side of the lateral join
		}
		r, err := record(*seq, salt, stored)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, wrap("search", err)
	}
	return out, size, nil
}

// narrow returns the SQL conditions (and their arguments) that every
// matching event meets. They may admit more rows than the filter, never
// fewer.
func narrow(f *event.Filter, seqBound string, args []any) (string, []any) {
	conds := []string{"seq < " + seqBound}
	add := func(cond string, v any) {
		args = append(args, v)
		conds = append(conds, strings.ReplaceAll(cond, "$?", fmt.Sprintf("$%d", len(args))))
	}
	startNs, endNs := f.NanoRange()
	add("event_time_ns >= $?", startNs)
	add("event_time_ns < $?", endNs)
	for fld := range event.NumFields {
		col := fld.Name()
		if v := f.Exact[fld]; v != nil && *v == "" {
			conds = append(conds, col+" IS NULL") // empty values are stored as NULL
		} else if v != nil {
			add(col+" = $?", pgText(*v))
		} else if prefix, ok := f.RegexPrefix(fld); ok {
			// A filter, deliberately not an index range: a broad prefix
			// matches thousands of values, and a range scan of them plus a
			// sort loses to the newest-first scan that stops at the page.
			p := pgText(prefix)
			add(fmt.Sprintf("substr(%s, 1, %d) = $?", col, utf8.RuneCountInString(p)), p)
		}
	}
	if f.Workspaces != nil {
		add("workspace = ANY($?)", f.Workspaces)
	}
	if len(f.MetadataExact) > 0 {
		add("metadata @> $?::jsonb", string(metadataJSON(f.MetadataExact)))
	}
	return strings.Join(conds, " AND "), args
}
