package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/audittrail/audittrail/internal/event"
	"github.com/audittrail/audittrail/internal/store"
	"github.com/audittrail/audittrail/internal/tlog"
)

// appendTimeout bounds one append transaction, so a database that hangs
// turns into an error rather than a stuck writer.
const appendTimeout = 30 * time.Second

// Append implements store.Store.
func (s *Store) Append(ctx context.Context, events []*event.Event) ([]store.AppendResult, error) {
	if s.opts.Origin == "" {
		return nil, fmt.Errorf("postgres store: append before CheckOrigin")
	}
	if err := s.ensurePartitions(ctx, events); err != nil {
		return nil, err
	}
	res, err := s.queue.Submit(ctx, events)
	if err != nil && !errors.Is(err, store.ErrClosed) && !errors.Is(err, store.ErrUnavailable) {
		return nil, fmt.Errorf("postgres store: %w", err)
	}
	return res, err
}

// write is the process's single writer: each group of queued requests is
// one transaction, so concurrent batches share one commit.
func (s *Store) write() {
	defer close(s.done)
	s.queue.Run(s.opts.MaxGroupEvents, func(group []*store.AppendRequest, _ int) {
		ctx, cancel := context.WithTimeout(context.Background(), appendTimeout)
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return s.appendGroup(ctx, tx, group) })
		cancel()
		for _, r := range group {
			r.Finish(wrap("append", err))
		}
	})
}

// appendGroup stamps and writes a group under the sequencer row lock.
func (s *Store) appendGroup(ctx context.Context, tx pgx.Tx, group []*store.AppendRequest) error {
	var next, lastRecv int64
	var frontier []byte
	if err := tx.QueryRow(ctx, "SELECT next_seq, last_receive_ns, frontier FROM sequencer FOR UPDATE").Scan(&next, &lastRecv, &frontier); err != nil {
		return err
	}
	var ids [][16]byte
	for _, r := range group {
		ids = append(ids, r.IDs...)
	}
	stored := map[[16]byte]bool{}
	rows, err := tx.Query(ctx, "SELECT id FROM log_entries WHERE id = ANY($1)", ids)
	if err != nil {
		return err
	}
	for rows.Next() {
		var id [16]byte
		if err := rows.Scan(&id); err != nil {
			return err
		}
		stored[id] = true
	}
	if err := rows.Err(); err != nil {
		return err
	}
	tree, err := tlog.NewBuilder(next, func(idx []int64) ([]tlog.Hash, error) {
		if len(frontier) != len(idx)*32 {
			return nil, fmt.Errorf("postgres store: sequencer frontier holds %d bytes, want %d", len(frontier), len(idx)*32)
		}
		out := make([]tlog.Hash, len(idx))
		for i := range out {
			copy(out[i][:], frontier[i*32:])
		}
		return out, nil
	})
	if err != nil {
		return err
	}
	now := max(s.opts.Now().UnixNano(), lastRecv) // receive times never decrease along seq
	recv := time.Unix(0, now).UTC()
	var evRows, logRows [][]any
	seen := map[[16]byte]bool{}
	for _, r := range group {
		for i, e := range r.Events {
			id := r.IDs[i]
			switch {
			case seen[id]:
				r.Results[i].Err = fmt.Errorf("%w: %s (repeated in request)", store.ErrAlreadyExists, e.ID)
				continue
			case stored[id]:
				r.Results[i].Err = fmt.Errorf("%w: %s", store.ErrAlreadyExists, e.ID)
				continue
			}
			seen[id] = true
			seq := tree.Size()
			event.SetEncodedReceiveTime(r.Bytes[i], recv)
			_, hashes, err := tree.AppendEvent(s.opts.Origin, now, id, r.Salt(i), r.Bytes[i])
			if err != nil {
				return err
			}
			interior := make([]byte, 0, 32*(len(hashes)-1))
			for _, h := range hashes[1:] {
				interior = append(interior, h[:]...)
			}
			t := e.EventTime.UnixNano()
			row := []any{t, seq}
			for f := range event.NumFields {
				row = append(row, nullable(pgText(e.Value(f))))
			}
			evRows = append(evRows, append(row, metadataJSON(e.Metadata), r.Salt(i), r.Bytes[i]))
			logRows = append(logRows, []any{seq, id, t, hashes[0][:], interior})
			r.Results[i] = store.AppendResult{Seq: uint64(seq), ReceiveTime: recv}
		}
	}
	if len(evRows) == 0 {
		return nil
	}
	copies := []struct {
		table string
		cols  []string
		rows  [][]any
	}{
		{"events", append([]string{"event_time_ns", "seq"}, append(fieldColumns(), "metadata", "salt", "stored")...), evRows},
		{"log_entries", []string{"seq", "id", "event_time_ns", "leaf_hash", "interior"}, logRows},
	}
	for _, c := range copies {
		if len(c.rows) == 0 {
			continue
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{c.table}, c.cols, pgx.CopyFromRows(c.rows)); err != nil {
			return fmt.Errorf("copy into %s: %w", c.table, err)
		}
	}
	var fr []byte
	for _, h := range tree.Frontier() {
		fr = append(fr, h[:]...)
	}
	_, err = tx.Exec(ctx, "UPDATE sequencer SET next_seq = $1, last_receive_ns = $2, frontier = $3", tree.Size(), now, fr)
	return err
}

// fieldColumns are the columns of event.Field values, in Field order.
func fieldColumns() []string {
	cols := make([]string, event.NumFields)
	for f := range event.NumFields {
		cols[f] = f.Name()
	}
	return cols
}

// pgText escapes a value for a text column: PostgreSQL text cannot hold
// NUL, which resources and metadata values may contain. The escape is
// applied character by character (`\` → `\\`, NUL → `\0`), so equality and
// prefixes are preserved and queries escape their values the same way.
func pgText(s string) string {
	if !strings.ContainsAny(s, "\\\x00") {
		return s
	}
	return strings.NewReplacer("\\", "\\\\", "\x00", "\\0").Replace(s)
}

// metadataJSON is the jsonb form of a metadata map, keys and values
// escaped with pgText; nil when empty.
func metadataJSON(m map[string]string) []byte {
	if len(m) == 0 {
		return nil
	}
	esc := make(map[string]string, len(m))
	for k, v := range m {
		esc[pgText(k)] = pgText(v)
	}
	b, _ := json.Marshal(esc)
	return b
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// monthStart is the first instant of t's UTC month.
func monthStart(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// ensurePartitions creates the monthly partitions these events need. It
// runs before the append transaction, under its own advisory lock, so that
// DDL never runs while the sequencer row is held.
func (s *Store) ensurePartitions(ctx context.Context, events []*event.Event) error {
	var missing []time.Time
	for _, e := range events {
		m := monthStart(e.EventTime)
		if _, ok := s.partitions.Load(m.UnixNano()); !ok {
			missing = append(missing, m)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockPartition); err != nil {
			return err
		}
		for _, m := range missing {
			name := pgx.Identifier{fmt.Sprintf("events_%04d_%02d", m.Year(), m.Month())}.Sanitize()
			sql := fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s PARTITION OF events FOR VALUES FROM (%d) TO (%d)",
				name, m.UnixNano(), m.AddDate(0, 1, 0).UnixNano())
			if _, err := tx.Exec(ctx, sql); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return wrap("create partition", err)
	}
	for _, m := range missing {
		s.partitions.Store(m.UnixNano(), struct{}{})
	}
	return nil
}
