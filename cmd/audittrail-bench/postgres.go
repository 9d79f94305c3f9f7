package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	pb "github.com/audittrail/audittrail/api/audittrail/v1"
	"github.com/audittrail/audittrail/internal/event"
	"github.com/audittrail/audittrail/internal/store/postgres"
)

// createDB creates a fresh database on the server and returns its URL and
// a function that drops it.
func createDB(ctx context.Context, server, prefix string) (string, func(), error) {
	b := make([]byte, 4)
	rand.Read(b)
	name := prefix + "_" + hex.EncodeToString(b)
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		return "", nil, err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, err
	}
	u, err := url.Parse(server)
	if err != nil {
		return "", nil, err
	}
	u.Path = "/" + name
	drop := func() {
		if c, err := pgx.Connect(context.Background(), server); err == nil {
			c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(context.Background())
		}
	}
	return u.String(), drop, nil
}

// runPostgres measures the PostgreSQL store through the server, then the
// store alone beside a hand-made table on the same events.
func runPostgres(server string, events, clients, batch, queries int) error {
	ctx := context.Background()
	opts := postgres.DefaultOptions()
	opts.Origin = benchOrigin

	urlA, dropA, err := createDB(ctx, server, "audittrail_bench_server")
	if err != nil {
		return err
	}
	defer dropA()
	st, err := postgres.Open(ctx, urlA, opts)
	if err != nil {
		return err
	}
	fmt.Printf("\n## PostgreSQL store, through the server\n")
	if _, err := runServer(st, prometheus.NewRegistry(), events, clients, batch, queries, func() error {
		fmt.Println("running ANALYZE (what autovacuum does after a bulk load)")
		return analyze(ctx, urlA)
	}, ""); err != nil {
		return err
	}
	st.Close()
	dropA()

	// The same events as domain events, validated before the clock starts.
	now := time.Now()
	var evs [][]*event.Event
	for _, req := range generate(events, batch, now) {
		var b []*event.Event
		for _, r := range req.Requests {
			e := toEvent(r)
			if err := event.DefaultRules().Normalize(e, now); err != nil {
				return err
			}
			b = append(b, e)
		}
		evs = append(evs, b)
	}

	urlB, dropB, err := createDB(ctx, server, "audittrail_bench_store")
	if err != nil {
		return err
	}
	defer dropB()
	st, err = postgres.Open(ctx, urlB, opts)
	if err != nil {
		return err
	}
	defer st.Close()
	fmt.Printf("\n## PostgreSQL store alone vs a hand-made table (same %d events, %d clients, batches of %d)\n", events, clients, batch)
	ours, err := parallel(evs, clients, func(b []*event.Event) error {
		res, err := st.Append(ctx, b)
		if err == nil {
			for _, r := range res {
				if r.Err != nil {
					return r.Err
				}
			}
		}
		return err
	})
	if err != nil {
		return err
	}

	urlC, dropC, err := createDB(ctx, server, "audittrail_bench_handmade")
	if err != nil {
		return err
	}
	defer dropC()
	pool, err := pgxpool.New(ctx, urlC)
	if err != nil {
		return err
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, handmadeSchema); err != nil {
		return err
	}
	theirs, err := parallel(evs, clients, func(b []*event.Event) error { return handmadeInsert(ctx, pool, b) })
	if err != nil {
		return err
	}
	fmt.Printf("| ingest | events/s |\n|---|---|\n| PostgreSQL store (Append: seq, tree, COPY) | %.0f |\n| hand-made table (COPY) | %.0f |\n", ours, theirs)
	fmt.Printf("ingest ratio hand-made/ours: %.2f\n\n", theirs/ours)

	// Fresh statistics for both, as autovacuum would give them after a
	// while, so neither plan depends on when it last ran.
	for _, u := range []string{urlB, urlC} {
		if err := analyze(ctx, u); err != nil {
			return err
		}
	}
	kinds := queryKinds(now, mrand.New(mrand.NewPCG(7, 8)))
	if err := storeSearches(st, kinds, queries); err != nil {
		return err
	}
	return handmadeSearches(ctx, pool, queryKinds(now, mrand.New(mrand.NewPCG(7, 8))), queries)
}

func analyze(ctx context.Context, url string) error {
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	_, err = c.Exec(ctx, "ANALYZE")
	return err
}

// parallel runs fn over the batches with n workers and returns events/s.
func parallel(batches [][]*event.Event, n int, fn func([]*event.Event) error) (float64, error) {
	var next atomic.Int64
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	total := 0
	for _, b := range batches {
		total += len(b)
	}
	start := time.Now()
	for range n {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(batches) {
					return
				}
				if err := fn(batches[i]); err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	return float64(total) / time.Since(start).Seconds(), firstErr
}

func toEvent(r *pb.CreateEventRequest) *event.Event {
	p := r.GetEvent()
	return &event.Event{
		ID: r.GetEventId(), EventTime: p.GetEventTime().AsTime(), EventSource: p.GetEventSource(), Action: p.GetAction(),
		ReadOnly: p.GetReadOnly(), Status: event.Status{Code: p.GetStatus().GetCode()}, HasStatus: true,
		Principal: p.GetPrincipal(), SourceIPAddress: p.GetSourceIpAddress(), Resource: p.GetResource(),
		UserAgent: p.GetUserAgent(), Metadata: p.GetMetadata(),
	}
}

// handmadeSchema is what a team would build instead: one table, a uuid
// primary key, the same secondary indexes, PostgreSQL regexes.
const handmadeSchema = `
CREATE TABLE audit_events (
    id uuid PRIMARY KEY,
    event_time timestamptz NOT NULL,
    receive_time timestamptz NOT NULL DEFAULT now(),
    event_source text NOT NULL,
    action text NOT NULL,
    read_only boolean NOT NULL,
    status_code int NOT NULL,
    status_message text NOT NULL,
    principal text NOT NULL,
    source_ip_address text NOT NULL,
    resource text,
    workspace text,
    user_agent text,
    metadata jsonb,
    request_parameters jsonb,
    type smallint NOT NULL
);
CREATE INDEX ON audit_events (event_time DESC);
CREATE INDEX ON audit_events (event_source, event_time DESC);
CREATE INDEX ON audit_events (action, event_time DESC);
CREATE INDEX ON audit_events (principal, event_time DESC);
CREATE INDEX ON audit_events (resource, event_time DESC);
CREATE INDEX ON audit_events (workspace, event_time DESC);
CREATE INDEX ON audit_events (source_ip_address, event_time DESC);
CREATE INDEX ON audit_events USING gin (metadata jsonb_path_ops);
`

func handmadeInsert(ctx context.Context, pool *pgxpool.Pool, b []*event.Event) error {
	rows := make([][]any, len(b))
	for i, e := range b {
		meta, _ := json.Marshal(e.Metadata)
		params, _ := json.Marshal(e.RequestParameters)
		id, _ := event.IDBytes(e.ID)
		rows[i] = []any{id, e.EventTime, e.EventSource, e.Action, e.ReadOnly, e.Status.Code, e.Status.Message, e.Principal,
			e.SourceIPAddress, e.Resource, e.Workspace, e.UserAgent, meta, params, int16(e.Type)}
	}
	_, err := pool.CopyFrom(ctx, pgx.Identifier{"audit_events"}, []string{"id", "event_time", "event_source", "action", "read_only",
		"status_code", "status_message", "principal", "source_ip_address", "resource", "workspace", "user_agent", "metadata",
		"request_parameters", "type"}, pgx.CopyFromRows(rows))
	return err
}

// handmadeSearches runs the query set as a team would write it in SQL.
func handmadeSearches(ctx context.Context, pool *pgxpool.Pool, kinds []queryKind, queries int) error {
	fmt.Printf("hand-made table (SQL, PostgreSQL regexes): newest 50\n| query | p50 | p99 |\n|---|---|---|\n")
	for _, k := range kinds {
		var lat []time.Duration
		for range queries {
			f := k.filter()
			start := event.DefaultSearchStart
			if f.StartEventTime != nil {
				start = f.StartEventTime.AsTime()
			}
			where, args := "event_time >= $1 AND event_time < $2", []any{start, f.EndEventTime.AsTime()}
			add := func(cond string, v any) {
				args = append(args, v)
				where += fmt.Sprintf(" AND "+cond, len(args))
			}
			if f.PrincipalExact != nil {
				add("principal = $%d", f.GetPrincipalExact())
			}
			if f.PrincipalRegex != nil {
				add("principal ~ $%d", f.GetPrincipalRegex())
			}
			if f.ActionRegex != nil {
				add("action ~ $%d", f.GetActionRegex())
			}
			if len(f.MetadataExact) > 0 {
				m, _ := json.Marshal(f.MetadataExact)
				add("metadata @> $%d::jsonb", string(m))
			}
			t := time.Now()
			rows, err := pool.Query(ctx, "SELECT id, event_time, event_source, action, read_only, status_code, status_message, principal, source_ip_address, resource, workspace, user_agent, metadata, request_parameters, type, receive_time FROM audit_events WHERE "+where+" ORDER BY event_time DESC, id DESC LIMIT 50", args...)
			if err != nil {
				return fmt.Errorf("%s: %w", k.name, err)
			}
			// Scanned into events, as an API would answer them.
			for rows.Next() {
				var e event.Event
				var id [16]byte
				var resource, workspace, ua *string
				var typ int16
				if err := rows.Scan(&id, &e.EventTime, &e.EventSource, &e.Action, &e.ReadOnly, &e.Status.Code, &e.Status.Message,
					&e.Principal, &e.SourceIPAddress, &resource, &workspace, &ua, &e.Metadata, &e.RequestParameters, &typ, &e.ReceiveTime); err != nil {
					return fmt.Errorf("%s: %w", k.name, err)
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return fmt.Errorf("%s: %w", k.name, err)
			}
			lat = append(lat, time.Since(t))
		}
		slices.Sort(lat)
		fmt.Printf("| %s | %s | %s |\n", k.name, ms(lat[len(lat)/2]), ms(lat[len(lat)*99/100]))
	}
	return nil
}
