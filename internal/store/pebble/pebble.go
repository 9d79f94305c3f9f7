// Package pebble is the embedded event store, on CockroachDB's Pebble
// key-value engine. It needs no setup: a directory is all it takes.
//
// One sequencer goroutine owns sequence numbers and groups the Appends that
// arrive while the previous group is being synced; one committer goroutine
// writes each group as one synced Pebble batch, in order: one fsync per
// group, never one per event.
package pebble

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	sumtlog "golang.org/x/mod/sumdb/tlog"

	"github.com/audittrail/audittrail/internal/event"
	"github.com/audittrail/audittrail/internal/store"
	"github.com/audittrail/audittrail/internal/tlog"
)

// Options configure the store. Start from DefaultOptions.
type Options struct {
	// Origin names the integrity log; it is part of every leaf. A store
	// keeps the origin it was created with and refuses to open with another.
	Origin string
	// CacheSize is the block cache in bytes.
	CacheSize int64
	// MemTableSize is the size of one memtable in bytes.
	MemTableSize uint64
	// MaxGroupEvents caps how many events one group commit takes.
	MaxGroupEvents int
	// MaxCompactions is how many compactions may run at once.
	MaxCompactions int
	// MinFreeBytes is the free space of the store's file system below
	// which appends are refused (UNAVAILABLE, "disk full") before they are
	// written, so that the WAL never runs into ENOSPC mid-write (Pebble
	// cannot go on after a failed synced write) and flushes and compactions
	// keep room to finish. Appends resume by themselves once space is
	// free. 0 means the default of twice the memtable size plus 32 MiB.
	MinFreeBytes int64
	// Now is the clock for receive times.
	Now func() time.Time
	// Logger receives store and Pebble logs.
	Logger *slog.Logger
	// Registerer, when set, receives the store's metrics.
	Registerer prometheus.Registerer
	// Tracer, when set, records a span per group commit, linked to the
	// spans of the Appends it wrote.
	Tracer trace.Tracer
}

// DefaultOptions returns options fit for a small production server.
func DefaultOptions() Options {
	return Options{
		Origin:         "audittrail.local/log",
		CacheSize:      256 << 20,
		MemTableSize:   64 << 20,
		MaxGroupEvents: 16384,
		MaxCompactions: 2,
		Now:            time.Now,
		Logger:         slog.New(slog.DiscardHandler),
	}
}

func (o *Options) validate() error {
	if o.CacheSize <= 0 || o.MemTableSize == 0 || o.MaxGroupEvents <= 0 || o.MaxCompactions <= 0 || o.MinFreeBytes < 0 {
		return fmt.Errorf("pebble store: cache size, memtable size, max group events and max compactions must be positive, the free-space reserve not negative")
	}
	if o.MinFreeBytes == 0 {
		o.MinFreeBytes = DefaultMinFreeBytes(o.MemTableSize)
	}
	if o.Now == nil || o.Logger == nil {
		return fmt.Errorf("pebble store: Now and Logger are required")
	}
	if err := tlog.ValidOrigin(o.Origin); err != nil {
		return fmt.Errorf("pebble store: %w", err)
	}
	return nil
}

// DefaultMinFreeBytes is the free-space reserve for a memtable size: room
// to flush two memtables, plus margin for the manifest and compactions.
func DefaultMinFreeBytes(memTableSize uint64) int64 { return 2*int64(memTableSize) + 32<<20 }

// Store is the Pebble-backed store.Store.
type Store struct {
	db   *pebble.DB
	dir  string
	opts Options
	// broken is set when a synced write failed: the store takes no more
	// writes until it is restarted (its *store.UnavailableError).
	broken atomic.Pointer[error]

	queue *store.AppendQueue
	done  chan struct{} // closed when the committer has exited

	commits chan *pendingGroup // sequencer → committer

	// Owned by the sequencer goroutine.
	nextSeq  uint64
	lastRecv time.Time
	tree     *tlog.Builder
	entries  []kv
	families familyEntries
	arena    []byte

	tokenMu sync.Mutex // serialises token writes (check, then write)

	inflightMu sync.Mutex
	inflight   map[[16]byte]struct{} // ids of built, uncommitted groups

	size atomic.Uint64 // committed events; Search and Size read it

	commitSeconds prometheus.Histogram
	groupEvents   prometheus.Histogram
}

var _ store.Store = (*Store)(nil)

// Open opens or creates the store in dir.
func Open(dir string, opts Options) (*Store, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pebble store: %w", err)
	}
	cache := pebble.NewCache(opts.CacheSize)
	defer cache.Unref()
	stalls := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "audittrail_store_write_stalls_total",
		Help: "Times Pebble delayed writes because flushes or compactions fell behind.",
	})
	stallSeconds := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "audittrail_store_write_stall_seconds_total",
		Help: "Time writes spent delayed by Pebble write stalls.",
	})
	var stallStart atomic.Int64
	po := &pebble.Options{
		Cache:              cache,
		MemTableSize:       opts.MemTableSize,
		FormatMajorVersion: pebble.FormatNewest,
		Logger:             newPebbleLogger(opts.Logger),
		CompactionConcurrencyRange: func() (int, int) {
			return 1, opts.MaxCompactions
		},
		EventListener: &pebble.EventListener{
			WriteStallBegin: func(info pebble.WriteStallBeginInfo) {
				stalls.Inc()
				stallStart.Store(time.Now().UnixNano())
				opts.Logger.Warn("pebble store: write stall", "reason", info.Reason)
			},
			WriteStallEnd: func() {
				if t := stallStart.Swap(0); t != 0 {
					stallSeconds.Add(time.Since(time.Unix(0, t)).Seconds())
				}
			},
		},
	}
	// Bloom filters let id checks and index-to-event lookups skip the
	// sstables that cannot hold the key.
	for i := range po.Levels {
		po.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	// Opening replays the write-ahead log into new tables: on a disk
	// without room for them Pebble would retry forever, so say why
	// instead.
	if need, free, err := openSpace(dir); err == nil && free < need {
		return nil, fmt.Errorf("pebble store: open %s: %w", dir, &store.UnavailableError{Cause: fmt.Sprintf(
			"disk full: %d MiB free, opening needs at least %d MiB; free space and start again", free>>20, need>>20)})
	}
	db, err := pebble.Open(dir, po)
	if err != nil {
		return nil, fmt.Errorf("pebble store: open %s: %w", dir, err)
	}
	s := &Store{
		db:       db,
		dir:      dir,
		opts:     opts,
		queue:    store.NewAppendQueue(),
		commits:  make(chan *pendingGroup, 1),
		done:     make(chan struct{}),
		inflight: map[[16]byte]struct{}{},
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "audittrail_store_commit_seconds",
			Help:    "Time to write and sync one group commit.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		groupEvents: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "audittrail_store_commit_group_events",
			Help:    "Events written by one group commit.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 8),
		}),
	}
	if err := s.checkOrigin(); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.recover(); err != nil {
		db.Close()
		return nil, err
	}
	if opts.Registerer != nil {
		for _, c := range []prometheus.Collector{s.commitSeconds, s.groupEvents, stalls, stallSeconds} {
			if err := opts.Registerer.Register(c); err != nil {
				db.Close()
				return nil, fmt.Errorf("pebble store: register metrics: %w", err)
			}
		}
	}
	go s.sequence()
	go s.commit()
	return s, nil
}

// checkOrigin records the log origin in a new store and refuses another one
// in an existing store: leaves already committed name it.
func (s *Store) checkOrigin() error {
	v, closer, err := s.db.Get(originKey)
	if errors.Is(err, pebble.ErrNotFound) {
		if err := s.db.Set(originKey, []byte(s.opts.Origin), pebble.Sync); err != nil {
			return fmt.Errorf("pebble store: record origin: %w", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("pebble store: read origin: %w", err)
	}
	defer closer.Close()
	if string(v) != s.opts.Origin {
		return fmt.Errorf("pebble store: the log in this store has origin %q, not %q", v, s.opts.Origin)
	}
	return nil
}

// recover loads the sequencer state from the newest seq entry and the tree
// frontier from the stored hashes.
func (s *Store) recover() error {
	defer func() {
		if s.tree == nil {
			s.tree, _ = tlog.NewBuilder(0, nil)
		}
	}()
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixSeq}, UpperBound: []byte{prefixSeq + 1}})
	if err != nil {
		return fmt.Errorf("pebble store: recover: %w", err)
	}
	defer it.Close()
	if !it.Last() {
		return it.Error()
	}
	k := it.Key()
	if len(k) != 9 {
		return fmt.Errorf("pebble store: recover: %w", errBadKey)
	}
	rec, err := s.getByOrder(it.Value()[:orderLen])
	if err != nil {
		return fmt.Errorf("pebble store: recover: %w", err)
	}
	s.nextSeq = rec.Seq + 1
	s.lastRecv = rec.Event.ReceiveTime
	s.size.Store(s.nextSeq)
	if s.tree, err = tlog.NewBuilder(int64(s.nextSeq), s.readHashes); err != nil {
		return fmt.Errorf("pebble store: recover: %w", err)
	}
	return nil
}

// Append implements store.Store.
func (s *Store) Append(ctx context.Context, events []*event.Event) ([]store.AppendResult, error) {
	res, err := s.queue.Submit(ctx, events)
	if err != nil && !errors.Is(err, store.ErrClosed) {
		return nil, fmt.Errorf("pebble store: %w", err)
	}
	return res, err
}

// sequence assigns seqs and receive times and builds one batch per group of
// queued requests. It hands each batch to the committer and goes on building
// the next group while the previous one syncs; commits stay in seq order
// because there is one committer.
func (s *Store) sequence() {
	defer close(s.commits)
	s.queue.Run(s.opts.MaxGroupEvents, func(group []*store.AppendRequest, n int) {
		// Refused before anything is assigned: the sequencer's state
		// stays that of the last group built, so later groups go on
		// without a gap once space is free.
		if group, n = s.admitSpace(group, n); len(group) > 0 {
			s.commits <- s.prepare(group, n)
		}
	})
}

// pendingGroup is a built batch on its way to the committer.
type pendingGroup struct {
	reqs  []*store.AppendRequest
	batch *pebble.Batch // nil when nothing is new
	ids   [][16]byte    // ids written, to drop from inflight after commit
	size  uint64        // store size after this group
	n     int
	start time.Time
	err   error
}

type kv struct{ k, v []byte }

func (s *Store) prepare(group []*store.AppendRequest, n int) *pendingGroup {
	pg := &pendingGroup{reqs: group, n: n, start: time.Now()}
	now := s.opts.Now().UTC()
	if now.Before(s.lastRecv) {
		now = s.lastRecv // receive times never decrease along seq
	}
	seq := s.nextSeq
	stored, err := s.existing(group, n)
	if err != nil {
		pg.err = fmt.Errorf("pebble store: check ids: %w", err)
		return pg
	}
	seen := make(map[[16]byte]struct{}, n)
	// The key arena and entry lists are reused from group to group: the
	// batch copies what it is given.
	arena := s.arena[:0]
	fams := &s.families
	fams.reset()
	defer func() { s.arena = arena[:0] }()
	key := func(parts ...[]byte) []byte {
		from := len(arena)
		for _, p := range parts {
			arena = append(arena, p...)
		}
		return arena[from:len(arena):len(arena)]
	}
	for _, r := range group {
		for i, e := range r.Events {
			id := r.IDs[i]
			if _, dup := seen[id]; dup {
				r.Results[i].Err = fmt.Errorf("%w: %s (repeated in request)", store.ErrAlreadyExists, e.ID)
				continue
			}
			if _, exists := stored[id]; exists {
				r.Results[i].Err = fmt.Errorf("%w: %s", store.ErrAlreadyExists, e.ID)
				continue
			}
			seen[id] = struct{}{}
			pg.ids = append(pg.ids, id)
			event.SetEncodedReceiveTime(r.Bytes[i], now)
			salt := r.Salt(i)
			first, hashes, err := s.tree.AppendEvent(s.opts.Origin, now.UnixNano(), id, salt, r.Bytes[i])
			if err != nil {
				pg.err = fmt.Errorf("pebble store: tree: %w", err)
				return pg
			}
			// hashes[0] is the leaf hash: it is kept in the seq entry
			// rather than under a key of its own (one key fewer per event).
			for j := 1; j < len(hashes); j++ {
				fams.add(kv{key(hashKey(first + int64(j))), key(hashes[j][:])})
			}
			order := key(orderKey(nil, e.EventTime, seq))
			fams.add(kv{key([]byte{prefixEvent}, order), key(salt, r.Bytes[i])})
			fams.add(kv{key(seqKey(seq)), key(order, hashes[0][:])})
			fams.add(kv{key(idKey(id)), order})
			for f := range event.NumFields {
				if v := e.Value(f); v != "" {
					fams.add(kv{key(indexValuePrefix(nil, f, v), order), nil})
				}
			}
			r.Results[i] = store.AppendResult{Seq: seq, ReceiveTime: now}
			seq++
		}
	}
	pg.size = seq
	if len(pg.ids) > 0 {
		// Ascending keys let the memtable's inserter reuse its position
		// from one key to the next instead of searching from the top.
		entries := fams.sorted(s.entries[:0])
		defer func() { s.entries = entries[:0] }()
		size := 0
		for _, e := range entries {
			size += len(e.k) + len(e.v) + 2*binary.MaxVarintLen32 + 1
		}
		pg.batch = s.db.NewBatchWithSize(size)
		for _, e := range entries {
			pg.batch.Set(e.k, e.v, nil)
		}
		s.inflightMu.Lock()
		for _, id := range pg.ids {
			s.inflight[id] = struct{}{}
		}
		s.inflightMu.Unlock()
	}
	s.nextSeq = seq
	s.lastRecv = now
	return pg
}

// existing returns the ids of the group that are stored already or belong
// to a built group not yet committed. Stored ids are found with one iterator
// and ascending prefix seeks, which is far cheaper than one Get per id.
func (s *Store) existing(group []*store.AppendRequest, n int) (map[[16]byte]struct{}, error) {
	found := map[[16]byte]struct{}{}
	ids := make([][16]byte, 0, n)
	s.inflightMu.Lock()
	for _, r := range group {
		for _, id := range r.IDs {
			if _, pending := s.inflight[id]; pending {
				found[id] = struct{}{}
			} else {
				ids = append(ids, id)
			}
		}
	}
	s.inflightMu.Unlock()
	slices.SortFunc(ids, func(a, b [16]byte) int { return bytes.Compare(a[:], b[:]) })
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixID}, UpperBound: []byte{prefixID + 1}})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	for _, id := range ids {
		k := idKey(id)
		if it.SeekPrefixGE(k) && bytes.Equal(it.Key(), k) {
			found[id] = struct{}{}
		}
	}
	return found, it.Error()
}

// commit writes and syncs groups in the order they were built.
func (s *Store) commit() {
	defer close(s.done)
	var broken error
	for pg := range s.commits {
		span := s.commitSpan(pg)
		err := pg.err
		if broken != nil {
			err = broken
		}
		if err == nil && pg.batch != nil {
			if cerr := pg.batch.Commit(pebble.Sync); cerr != nil {
				s.opts.Logger.Error("pebble store: commit failed", "err", cerr)
				err = cerr
			}
		}
		if pg.batch != nil {
			pg.batch.Close()
		}
		if err == nil {
			s.size.Store(pg.size)
			s.commitSeconds.Observe(time.Since(pg.start).Seconds())
			s.groupEvents.Observe(float64(pg.n))
		} else if broken == nil {
			// A failed synced write leaves the WAL state unknown, and a
			// failed prepare the sequencer's: stop accepting writes rather
			// than risk gaps or reuse of seqs.
			broken = &store.UnavailableError{Cause: "a write failed; the store takes no writes until the server is restarted"}
			s.broken.Store(&broken)
			err = fmt.Errorf("%w: %w", broken, err)
		}
		s.inflightMu.Lock()
		for _, id := range pg.ids {
			delete(s.inflight, id)
		}
		s.inflightMu.Unlock()
		if err != nil {
			span.SetStatus(otelcodes.Error, err.Error())
		}
		span.End()
		for _, r := range pg.reqs {
			r.Finish(err)
		}
	}
}

// commitSpan starts the span of one group commit, linked to its callers'.
func (s *Store) commitSpan(pg *pendingGroup) trace.Span {
	if s.opts.Tracer == nil {
		return noop.Span{}
	}
	var links []trace.Link
	for _, r := range pg.reqs {
		if r.Caller.IsValid() {
			links = append(links, trace.Link{SpanContext: r.Caller})
		}
	}
	_, span := s.opts.Tracer.Start(context.Background(), "pebble.commit", trace.WithLinks(links...),
		trace.WithAttributes(attribute.Int("audittrail.events", pg.n), attribute.Int("audittrail.requests", len(pg.reqs))))
	return span
}

// getByOrder reads the event stored under an order key.
func (s *Store) getByOrder(order []byte) (store.Record, error) {
	v, closer, err := s.db.Get(eventKey(order))
	if err != nil {
		return store.Record{}, fmt.Errorf("pebble store: event for index entry: %w", err)
	}
	defer closer.Close()
	return decodeRecord(order, v)
}

// saltLen is the size of the per-event salt stored before the event bytes.
const saltLen = store.SaltLen

func decodeRecord(order, v []byte) (store.Record, error) {
	if len(v) < saltLen {
		return store.Record{}, fmt.Errorf("pebble store: record of %d bytes: %w", len(v), event.ErrCorrupt)
	}
	stored := bytes.Clone(v[saltLen:])
	e, err := event.UnmarshalBinary(stored)
	if err != nil {
		return store.Record{}, fmt.Errorf("pebble store: %w", err)
	}
	_, seq, err := parseOrder(order)
	if err != nil {
		return store.Record{}, err
	}
	return store.Record{Seq: seq, Event: e, Stored: stored, Salt: bytes.Clone(v[:saltLen])}, nil
}

// Get implements store.Store.
func (s *Store) Get(ctx context.Context, id string) (store.Record, error) {
	idb, err := event.IDBytes(id)
	if err != nil {
		return store.Record{}, fmt.Errorf("%w: %s", store.ErrNotFound, id)
	}
	order, closer, err := s.db.Get(idKey(idb))
	if errors.Is(err, pebble.ErrNotFound) {
		return store.Record{}, fmt.Errorf("%w: %s", store.ErrNotFound, id)
	}
	if err != nil {
		return store.Record{}, fmt.Errorf("pebble store: get %s: %w", id, err)
	}
	defer closer.Close()
	return s.getByOrder(order)
}

// Size implements store.Store.
func (s *Store) Size(context.Context) (uint64, error) { return s.size.Load(), nil }

// Ping implements store.Store.
func (s *Store) Ping(context.Context) error {
	if s.queue.Closed() {
		return store.ErrClosed
	}
	if b := s.broken.Load(); b != nil {
		return *b
	}
	return s.spaceError(s.opts.MinFreeBytes)
}

// spaceError is a "disk full" UnavailableError when the store's file
// system has less free space than reserve, else nil.
func (s *Store) spaceError(reserve int64) error {
	free, err := freeBytes(s.dir)
	if err != nil {
		s.opts.Logger.Warn("pebble store: free space unknown", "err", err)
		return nil // unknown is not full; Pebble reports real write errors
	}
	if free < reserve {
		return &store.UnavailableError{Cause: fmt.Sprintf("disk full: %d MiB free, below the reserve of %d MiB; writes resume when space is freed",
			free>>20, reserve>>20)}
	}
	return nil
}

// admitSpace fails the requests of group that the free space does not
// allow and returns the rest. Client events need the whole reserve; the
// server's own (the record of each search) may use its first half, so that
// reads go on being recorded and answered while clients are refused.
func (s *Store) admitSpace(group []*store.AppendRequest, n int) ([]*store.AppendRequest, int) {
	clientErr := s.spaceError(s.opts.MinFreeBytes)
	if clientErr == nil {
		return group, n
	}
	ownErr := s.spaceError(s.opts.MinFreeBytes / 2)
	kept := group[:0]
	for _, r := range group {
		switch {
		case r.Own && ownErr == nil:
			kept = append(kept, r)
		case r.Own:
			r.Finish(ownErr)
			n -= len(r.Events)
		default:
			r.Finish(clientErr)
			n -= len(r.Events)
		}
	}
	return kept, n
}

// openSpace returns the free space of dir's file system and the least
// that opening the store needs: room for a new manifest, WAL and the first
// tables. (A replayed WAL larger than the memtable is flushed at open and
// may need more; Pebble then reports the write error.)
func openSpace(dir string) (need, free int64, err error) {
	free, err = freeBytes(dir)
	return 16 << 20, free, err
}

// freeBytes is the space available to this process on dir's file system.
func freeBytes(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// Close stops accepting Appends, lets queued ones commit, and closes Pebble.
func (s *Store) Close() error {
	if !s.queue.Close() {
		return nil
	}
	<-s.done
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("pebble store: close: %w", err)
	}
	return nil
}

type pebbleLogger struct {
	l *slog.Logger
	// Background errors repeat while their cause lasts (a flush retried
	// on a full disk): one line per format every 10 s, with a count.
	mu   *sync.Mutex
	last map[string]*repeated
}

type repeated struct {
	at time.Time
	n  int
}

func newPebbleLogger(l *slog.Logger) pebbleLogger {
	return pebbleLogger{l: l, mu: &sync.Mutex{}, last: map[string]*repeated{}}
}

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug("pebble: " + fmt.Sprintf(format, args...))
}

func (p pebbleLogger) Errorf(format string, args ...any) {
	p.mu.Lock()
	r := p.last[format]
	now := time.Now()
	if r != nil && now.Sub(r.at) < 10*time.Second {
		r.n++
		p.mu.Unlock()
		return
	}
	suppressed := 0
	if r != nil {
		suppressed = r.n
	}
	p.last[format] = &repeated{at: now}
	p.mu.Unlock()
	p.l.Error("pebble: "+fmt.Sprintf(format, args...), "suppressed", suppressed)
}

func (p pebbleLogger) Fatalf(format string, args ...any) {
	p.l.Error("pebble: fatal: " + fmt.Sprintf(format, args...))
	os.Exit(1)
}

// ReadRange implements store.Store.
func (s *Store) ReadRange(ctx context.Context, from uint64, n int) ([]store.Record, error) {
	it, err := s.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: seqKey(from), UpperBound: []byte{prefixSeq + 1}})
	if err != nil {
		return nil, fmt.Errorf("pebble store: read range: %w", err)
	}
	defer it.Close()
	// One iterator over the events serves every lookup of the range: a
	// Get per event would build a new iterator each time.
	evIt, err := s.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: []byte{prefixEvent}, UpperBound: []byte{prefixEvent + 1}})
	if err != nil {
		return nil, fmt.Errorf("pebble store: read range: %w", err)
	}
	defer evIt.Close()
	var out []store.Record
	for ok := it.First(); ok && len(out) < n; ok = it.Next() {
		order := it.Value()[:orderLen]
		key := eventKey(order)
		if !evIt.SeekGE(key) || !bytes.Equal(evIt.Key(), key) {
			return nil, fmt.Errorf("pebble store: event for index entry: %w", errors.Join(pebble.ErrNotFound, evIt.Error()))
		}
		rec, err := decodeRecord(order, evIt.Value())
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, errors.Join(it.Error(), evIt.Error())
}

// readHashes reads tree hashes; every index must exist. Level-0 hashes are
// the leaf hashes kept in the seq entries.
func (s *Store) readHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if level, n := sumtlog.SplitStoredHashIndex(x); level == 0 {
			h, err := s.leafHash(uint64(n))
			if err != nil {
				return nil, err
			}
			out[i] = h
			continue
		}
		v, closer, err := s.db.Get(hashKey(x))
		if errors.Is(err, pebble.ErrNotFound) {
			return nil, fmt.Errorf("%w: tree hash %d", store.ErrNotFound, x)
		}
		if err != nil {
			return nil, fmt.Errorf("pebble store: read hash %d: %w", x, err)
		}
		if len(v) != len(out[i]) {
			closer.Close()
			return nil, fmt.Errorf("pebble store: tree hash %d has %d bytes: %w", x, len(v), errBadKey)
		}
		copy(out[i][:], v)
		closer.Close()
	}
	return out, nil
}

// leafHash returns the leaf hash committed for the event at seq, kept in
// its seq entry since the append.
func (s *Store) leafHash(seq uint64) (tlog.Hash, error) {
	v, closer, err := s.db.Get(seqKey(seq))
	if errors.Is(err, pebble.ErrNotFound) {
		return tlog.Hash{}, fmt.Errorf("%w: tree hash of record %d", store.ErrNotFound, seq)
	}
	if err != nil {
		return tlog.Hash{}, fmt.Errorf("pebble store: read seq %d: %w", seq, err)
	}
	defer closer.Close()
	if len(v) != orderLen+len(tlog.Hash{}) {
		return tlog.Hash{}, fmt.Errorf("pebble store: seq entry %d of %d bytes: %w", seq, len(v), errBadKey)
	}
	var h tlog.Hash
	copy(h[:], v[orderLen:])
	return h, nil
}

// ReadHashes implements store.Store.
func (s *Store) ReadHashes(_ context.Context, indexes []int64) ([]tlog.Hash, error) {
	return s.readHashes(indexes)
}

// PutCheckpoint implements store.Store.
func (s *Store) PutCheckpoint(_ context.Context, size uint64, signed []byte) error {
	if err := s.db.Set(checkpointKey(size), signed, pebble.Sync); err != nil {
		return fmt.Errorf("pebble store: put checkpoint %d: %w", size, err)
	}
	return nil
}

// Checkpoint implements store.Store.
func (s *Store) Checkpoint(_ context.Context, size uint64) ([]byte, error) {
	v, closer, err := s.db.Get(checkpointKey(size))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, fmt.Errorf("%w: checkpoint of size %d", store.ErrNotFound, size)
	}
	if err != nil {
		return nil, fmt.Errorf("pebble store: checkpoint %d: %w", size, err)
	}
	defer closer.Close()
	return bytes.Clone(v), nil
}

// LatestCheckpoint implements store.Store.
func (s *Store) LatestCheckpoint(ctx context.Context) (uint64, []byte, error) {
	it, err := s.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: []byte{prefixCkpt}, UpperBound: []byte{prefixCkpt + 1}})
	if err != nil {
		return 0, nil, fmt.Errorf("pebble store: latest checkpoint: %w", err)
	}
	defer it.Close()
	if !it.Last() {
		if err := it.Error(); err != nil {
			return 0, nil, fmt.Errorf("pebble store: latest checkpoint: %w", err)
		}
		return 0, nil, nil
	}
	return binary.BigEndian.Uint64(it.Key()[1:]), bytes.Clone(it.Value()), nil
}

// Checkpoints implements store.Store.
func (s *Store) Checkpoints(ctx context.Context, from uint64, n int) ([]store.SizedCheckpoint, error) {
	it, err := s.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: checkpointKey(from), UpperBound: []byte{prefixCkpt + 1}})
	if err != nil {
		return nil, fmt.Errorf("pebble store: checkpoints: %w", err)
	}
	defer it.Close()
	var out []store.SizedCheckpoint
	for ok := it.First(); ok && len(out) < n; ok = it.Next() {
		out = append(out, store.SizedCheckpoint{Size: binary.BigEndian.Uint64(it.Key()[1:]), Signed: bytes.Clone(it.Value())})
	}
	return out, it.Error()
}

// keyFamilies are the key prefixes a group writes, in ascending order.
var keyFamilies = [...]byte{prefixEvent, prefixHash, prefixID, prefixSeq, prefixIndex}

// familyEntries holds a group's entries bucketed by key family.
type familyEntries [len(keyFamilies)][]kv

func (f *familyEntries) add(e kv) {
	i := slices.Index(keyFamilies[:], e.k[0])
	f[i] = append(f[i], e)
}

// sorted returns all entries in ascending key order. Tree-hash and seq keys
// are produced in ascending order already; only the other families sort.
func (f *familyEntries) sorted(out []kv) []kv {
	for i, fam := range f {
		if p := keyFamilies[i]; p != prefixHash && p != prefixSeq {
			slices.SortFunc(fam, func(a, b kv) int { return bytes.Compare(a.k, b.k) })
		}
		out = append(out, fam...)
	}
	return out
}

func (f *familyEntries) reset() {
	for i := range f {
		f[i] = f[i][:0]
	}
}
