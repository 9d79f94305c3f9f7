// Package export delivers the log to destinations outside the store: an
// archive in object storage, Parquet files for analytics, and (later) SIEMs.
//
// Every sink runs behind one Runner, which owns what all of them need: a
// durable cursor kept in the store, batching, retries with backoff, a lease
// so that one replica runs each sink, and metrics. Ingest never waits for a
// sink: the Runner reads the log after the fact, in sequence order.
//
// Delivery is exactly-once for sinks whose Deliver is idempotent: before a
// batch is handed to the sink, its seq range is written to the cursor as
// pending; after a crash the same range is delivered again, so the sink sees
// the same records and can recognise what it already stored (the object
// sinks write each object once with If-None-Match: * and compare hashes).
package export

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/audittrail/audittrail/internal/event"
	"github.com/audittrail/audittrail/internal/store"
)

// Log is what a Runner reads: the events in seq order and the cursors.
type Log interface {
	ReadRange(ctx context.Context, from uint64, n int) ([]store.Record, error)
	Size(ctx context.Context) (uint64, error)
	SinkCursor(ctx context.Context, name string) ([]byte, error)
	PutSinkCursor(ctx context.Context, name string, cursor []byte) error
}

// Leaser is implemented by stores shared by several replicas: HoldLease
// reports whether this process runs the named job. Without it, the Runner
// always runs.
type Leaser interface {
	HoldLease(ctx context.Context, name string) (bool, error)
}

// Batch is one delivery: the records of seqs First..Last (inclusive) that
// pass the sink's filter, in seq order. Records may be empty when the
// filter selected none of the range.
type Batch struct {
	First, Last uint64
	Records     []store.Record
}

// Sink is one destination.
type Sink interface {
	// Deliver hands a batch to the destination and returns once the
	// destination acknowledged it, with the sink's new private state. After
	// a crash Deliver is called again with the same batch and the state it
	// had before: it must then not store the records twice (or must give
	// the destination a key that deduplicates them).
	Deliver(ctx context.Context, state []byte, b Batch) ([]byte, error)
}

// Ticker is implemented by sinks with periodic work (the archive's
// digests): Tick runs every Options.TickInterval and once more with final
// set when the Runner stops. Like Deliver it must be safe to repeat.
type Ticker interface {
	Tick(ctx context.Context, state []byte, final bool) ([]byte, error)
}

// Bounder is implemented by sinks that may only deliver events below a
// bound (the archive delivers only what a signed checkpoint covers).
type Bounder interface {
	Bound(ctx context.Context) (uint64, error)
}

// Cursor is a sink's durable position, kept in the store as JSON.
type Cursor struct {
	// Next is the first seq not yet delivered.
	Next uint64 `json:"next"`
	// Pending is the batch being delivered: after a restart it is
	// delivered again, exactly, before anything else.
	Pending *Range `json:"pending,omitempty"`
	// State is the sink's private state, saved with each delivery.
	State json.RawMessage `json:"state,omitempty"`
	// Delivered counts events handed to the sink (after the filter).
	Delivered uint64 `json:"delivered"`
}

// Range is an inclusive seq range.
type Range struct {
	First uint64 `json:"first"`
	Last  uint64 `json:"last"`
}

// Options configures a Runner.
type Options struct {
	// Name identifies the sink: its cursor, lease and metrics label.
	Name string
	// Type is shown in status ("s3-archive", "parquet", …).
	Type string
	// Filter, when set, selects the events delivered; the cursor still
	// moves over the others.
	Filter func(*event.Event) bool
	// MaxEvents, MaxBytes (of stored event bytes) and MaxAge bound one
	// batch: it is delivered when any is reached (MaxAge counted from when
	// the batch's first event was read).
	MaxEvents int
	MaxBytes  int
	MaxAge    time.Duration
	// PollInterval is how often the log is read for new events.
	PollInterval time.Duration
	// TickInterval is how often a Ticker sink's Tick runs.
	TickInterval time.Duration
	// MinBackoff and MaxBackoff bound the wait between failed deliveries
	// (doubling, with jitter).
	MinBackoff, MaxBackoff time.Duration
	Logger                 *slog.Logger
	Now                    func() time.Time
}

// DefaultOptions are the flush limits of the object sinks.
func DefaultOptions() Options {
	return Options{
		MaxEvents: 10000, MaxBytes: 8 << 20, MaxAge: 60 * time.Second,
		PollInterval: 200 * time.Millisecond, TickInterval: time.Hour,
		MinBackoff: 200 * time.Millisecond, MaxBackoff: 30 * time.Second,
		Logger: slog.New(slog.DiscardHandler), Now: time.Now,
	}
}

// Validate reports the first invalid option.
func (o *Options) Validate() error {
	switch {
	case o.Name == "":
		return errors.New("export: sink name is required")
	case o.MaxEvents < 1 || o.MaxEvents > 1_000_000:
		return fmt.Errorf("export: sink %s: max_events must be between 1 and 1000000, got %d", o.Name, o.MaxEvents)
	case o.MaxBytes < 1<<10:
		return fmt.Errorf("export: sink %s: max_bytes must be at least 1024, got %d", o.Name, o.MaxBytes)
	case o.MaxAge <= 0:
		return fmt.Errorf("export: sink %s: max_age must be positive", o.Name)
	case o.PollInterval <= 0 || o.TickInterval <= 0:
		return fmt.Errorf("export: sink %s: poll and tick intervals must be positive", o.Name)
	case o.MinBackoff <= 0 || o.MaxBackoff < o.MinBackoff:
		return fmt.Errorf("export: sink %s: backoff must satisfy 0 < min <= max", o.Name)
	case o.Logger == nil || o.Now == nil:
		return fmt.Errorf("export: sink %s: logger and clock are required", o.Name)
	}
	return nil
}

// Status is a sink's position, for `audittrail sink status`.
type Status struct {
	Name, Type string
	// Running: this replica holds the sink's lease.
	Running bool
	// Next is the first seq not delivered; Size the log's size when last
	// read.
	Next, Size uint64
	Delivered  uint64
	// LagSeconds is how long ago the oldest undelivered event was received
	// (0 when caught up).
	LagSeconds   float64
	LastDelivery time.Time
	LastError    string
}

// LagEvents is how many events the sink is behind the log.
func (s Status) LagEvents() uint64 {
	if s.Size < s.Next {
		return 0
	}
	return s.Size - s.Next
}

// Runner runs one sink.
type Runner struct {
	log  Log
	sink Sink
	opts Options
	m    *Metrics

	mu     sync.Mutex
	status Status
}

// NewRunner returns a Runner; call Run to start it.
func NewRunner(log Log, sink Sink, m *Metrics, opts Options) (*Runner, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	return &Runner{log: log, sink: sink, opts: opts, m: m, status: Status{Name: opts.Name, Type: opts.Type}}, nil
}

// Status returns the sink's latest known position.
func (r *Runner) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status
}

// Current is Status with the durable cursor read from the store when
// another replica runs the sink, so every replica answers with the sink's
// real position.
func (r *Runner) Current(ctx context.Context) Status {
	st := r.Status()
	if st.Running {
		return st
	}
	if b, err := r.log.SinkCursor(ctx, r.opts.Name); err == nil {
		var c Cursor
		if json.Unmarshal(b, &c) == nil {
			st.Next, st.Delivered = c.Next, c.Delivered
		}
	}
	if size, err := r.log.Size(ctx); err == nil {
		st.Size = size
	}
	return st
}

func (r *Runner) setStatus(f func(*Status)) {
	r.mu.Lock()
	f(&r.status)
	r.mu.Unlock()
}

// Run delivers until ctx is done, then delivers what is left and runs a
// final Tick (both bounded by finalTimeout) and returns nil. Failures are
// retried, never returned.
func (r *Runner) Run(ctx context.Context, finalTimeout time.Duration) error {
	defer r.setStatus(func(s *Status) { s.Running = false })
	var c Cursor
	loaded := false
	nextTick := r.opts.Now().Add(r.opts.TickInterval)
	backoff := r.opts.MinBackoff
	fail := func(op string, err error) {
		r.m.failures.WithLabelValues(r.opts.Name).Inc()
		r.setStatus(func(s *Status) { s.LastError = op + ": " + err.Error() })
		r.opts.Logger.Warn("export: sink "+op+" failed; retrying", "sink", r.opts.Name, "err", err, "retry_in", backoff)
		sleep(ctx, jitter(backoff))
		backoff = min(2*backoff, r.opts.MaxBackoff)
	}
	for ctx.Err() == nil {
		if l, ok := r.log.(Leaser); ok {
			held, err := l.HoldLease(ctx, "sink/"+r.opts.Name)
			r.setStatus(func(s *Status) { s.Running = held && err == nil })
			if err != nil || !held {
				loaded = false // another replica may move the cursor meanwhile
				sleep(ctx, time.Second)
				continue
			}
		} else {
			r.setStatus(func(s *Status) { s.Running = true })
		}
		if !loaded {
			var err error
			if c, err = r.loadCursor(ctx); err != nil {
				fail("reading the cursor", err)
				continue
			}
			loaded = true
		}
		if t, ok := r.sink.(Ticker); ok && !r.opts.Now().Before(nextTick) {
			st, err := t.Tick(ctx, c.State, false)
			if err != nil {
				fail("tick", err)
				continue
			}
			c.State = st
			if err := r.saveCursor(ctx, c); err != nil {
				fail("saving the cursor", err)
				continue
			}
			nextTick = r.opts.Now().Add(r.opts.TickInterval)
		}
		delivered, op, err := r.deliverNext(ctx, &c, true)
		switch {
		case err != nil && ctx.Err() == nil:
			fail(op, err)
		case err == nil && delivered:
			backoff = r.opts.MinBackoff
		case err == nil:
			sleep(ctx, r.opts.PollInterval)
		}
	}
	if !loaded || !r.Status().Running {
		return nil
	}
	// Stopping: deliver what is there without waiting for batches to fill,
	// then the final tick (the archive's last digest), within finalTimeout.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finalTimeout)
	defer cancel()
	for {
		delivered, op, err := r.deliverNext(fctx, &c, false)
		if err != nil {
			r.opts.Logger.Error("export: sink stopped with events undelivered; they are delivered at the next start", "sink", r.opts.Name, "op", op, "err", err)
			break
		}
		if !delivered {
			break
		}
	}
	if t, ok := r.sink.(Ticker); ok {
		if st, err := t.Tick(fctx, c.State, true); err != nil {
			r.opts.Logger.Error("export: final tick of sink failed", "sink", r.opts.Name, "err", err)
		} else {
			c.State = st
			if err := r.saveCursor(fctx, c); err != nil {
				r.opts.Logger.Error("export: saving the cursor after the final tick failed", "sink", r.opts.Name, "err", err)
			}
		}
	}
	return nil
}

// deliverNext delivers the next batch, if there is one, and moves the
// cursor past it; on failure it reports which step failed. wait lets a
// partial batch fill for up to MaxAge.
func (r *Runner) deliverNext(ctx context.Context, c *Cursor, wait bool) (delivered bool, op string, err error) {
	b, err := r.nextBatch(ctx, c, wait)
	if err != nil || b == nil {
		return false, "reading the log", err
	}
	st, err := r.sink.Deliver(ctx, c.State, *b)
	if err != nil {
		return false, "delivery", err
	}
	next := Cursor{Next: b.Last + 1, State: st, Delivered: c.Delivered + uint64(len(b.Records))}
	if err := r.saveCursor(ctx, next); err != nil {
		// The batch is delivered but not recorded: c still holds it as
		// pending, so the retry (or a restart) delivers it again.
		return false, "saving the cursor", err
	}
	*c = next
	r.m.delivered.WithLabelValues(r.opts.Name).Add(float64(len(b.Records)))
	r.m.deliveries.WithLabelValues(r.opts.Name).Inc()
	r.setStatus(func(s *Status) { s.LastDelivery, s.LastError = r.opts.Now(), "" })
	return true, "", nil
}

func (r *Runner) loadCursor(ctx context.Context) (Cursor, error) {
	var c Cursor
	b, err := r.log.SinkCursor(ctx, r.opts.Name)
	if errors.Is(err, store.ErrNotFound) {
		return c, nil
	}
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("export: sink %s: cursor: %w", r.opts.Name, err)
	}
	r.setStatus(func(s *Status) { s.Next, s.Delivered = c.Next, c.Delivered })
	return c, nil
}

func (r *Runner) saveCursor(ctx context.Context, c Cursor) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if err := r.log.PutSinkCursor(ctx, r.opts.Name, b); err != nil {
		return err
	}
	r.setStatus(func(s *Status) { s.Next, s.Delivered = c.Next, c.Delivered })
	r.m.cursor.WithLabelValues(r.opts.Name).Set(float64(c.Next))
	return nil
}

// nextBatch returns the batch to deliver, nil when there is nothing yet.
// A new batch's range is saved as pending before it is returned.
func (r *Runner) nextBatch(ctx context.Context, c *Cursor, wait bool) (*Batch, error) {
	size, bound, err := r.readable(ctx)
	if err != nil {
		return nil, err
	}
	if c.Pending != nil {
		recs, err := r.read(ctx, c.Pending.First, c.Pending.Last+1, 0)
		if err != nil {
			return nil, err
		}
		r.observeLag(size, c.Next, recs)
		return &Batch{First: c.Pending.First, Last: c.Pending.Last, Records: r.filter(recs)}, nil
	}
	if bound <= c.Next {
		r.observeLag(size, c.Next, nil)
		return nil, nil
	}
	// Read up to the limits; wait (up to MaxAge from the first read) for a
	// partial batch to fill, so that objects are not needlessly small.
	started := r.opts.Now()
	recs, err := r.read(ctx, c.Next, bound, r.opts.MaxEvents)
	if err != nil {
		return nil, err
	}
	r.observeLag(size, c.Next, recs)
	for wait && !r.full(recs) && r.opts.Now().Sub(started) < r.opts.MaxAge && ctx.Err() == nil {
		sleep(ctx, r.opts.PollInterval)
		if _, bound, err = r.readable(ctx); err != nil {
			return nil, err
		}
		from := c.Next + uint64(len(recs))
		if bound > from {
			more, err := r.read(ctx, from, bound, r.opts.MaxEvents-len(recs))
			if err != nil {
				return nil, err
			}
			recs = append(recs, more...)
		}
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	recs = r.cut(recs)
	first, last := c.Next, c.Next+uint64(len(recs))-1
	c.Pending = &Range{first, last}
	if err := r.saveCursor(ctx, *c); err != nil {
		c.Pending = nil
		return nil, err
	}
	return &Batch{First: first, Last: last, Records: r.filter(recs)}, nil
}

// readable returns the log's size and the end of what the sink may read:
// the size, or less for a Bounder.
func (r *Runner) readable(ctx context.Context) (size, bound uint64, err error) {
	if size, err = r.log.Size(ctx); err != nil {
		return 0, 0, err
	}
	bound = size
	if bd, ok := r.sink.(Bounder); ok {
		if bound, err = bd.Bound(ctx); err != nil {
			return 0, 0, err
		}
		bound = min(bound, size)
	}
	return size, bound, nil
}

// read returns the records of seqs [from, to), at most limit (0: all).
func (r *Runner) read(ctx context.Context, from, to uint64, limit int) ([]store.Record, error) {
	var out []store.Record
	for from < to && (limit == 0 || len(out) < limit) {
		n := int(min(to-from, 1000))
		if limit > 0 {
			n = min(n, limit-len(out))
		}
		recs, err := r.log.ReadRange(ctx, from, n)
		if err != nil {
			return nil, err
		}
		if len(recs) == 0 {
			return nil, fmt.Errorf("export: sink %s: the log has no event at seq %d below size %d", r.opts.Name, from, to)
		}
		for i, rec := range recs {
			if rec.Seq != from+uint64(i) {
				return nil, fmt.Errorf("export: sink %s: the log returned seq %d, want %d", r.opts.Name, rec.Seq, from+uint64(i))
			}
		}
		out = append(out, recs...)
		from += uint64(len(recs))
	}
	return out, nil
}

// full reports whether recs reach a batch limit.
func (r *Runner) full(recs []store.Record) bool {
	return len(recs) >= r.opts.MaxEvents || batchBytes(recs) >= r.opts.MaxBytes
}

// cut keeps the longest prefix within MaxBytes (at least one record).
func (r *Runner) cut(recs []store.Record) []store.Record {
	n := 0
	for i, rec := range recs {
		n += len(rec.Stored)
		if n > r.opts.MaxBytes && i > 0 {
			return recs[:i]
		}
	}
	return recs
}

func batchBytes(recs []store.Record) int {
	n := 0
	for _, rec := range recs {
		n += len(rec.Stored)
	}
	return n
}

func (r *Runner) filter(recs []store.Record) []store.Record {
	if r.opts.Filter == nil {
		return recs
	}
	out := recs[:0:0]
	for _, rec := range recs {
		if r.opts.Filter(rec.Event) {
			out = append(out, rec)
		}
	}
	return out
}

func (r *Runner) observeLag(size, next uint64, recs []store.Record) {
	lag := 0.0
	if len(recs) > 0 && recs[0].Seq == next {
		lag = max(0, r.opts.Now().Sub(recs[0].Event.ReceiveTime).Seconds())
	}
	r.m.lagEvents.WithLabelValues(r.opts.Name).Set(float64(size - min(size, next)))
	r.m.lagSeconds.WithLabelValues(r.opts.Name).Set(lag)
	r.setStatus(func(s *Status) { s.Size, s.LagSeconds = size, lag })
}

// Metrics are the sinks' Prometheus metrics, labelled by sink name.
type Metrics struct {
	lagEvents, lagSeconds, cursor *prometheus.GaugeVec
	delivered, deliveries         *prometheus.CounterVec
	failures                      *prometheus.CounterVec
}

// NewMetrics registers the sink metrics with reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		lagEvents:  prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "audittrail_sink_lag_events", Help: "Events in the log not yet delivered by the sink."}, []string{"sink"}),
		lagSeconds: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "audittrail_sink_lag_seconds", Help: "Age of the oldest event not yet delivered by the sink (0 when caught up)."}, []string{"sink"}),
		cursor:     prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "audittrail_sink_cursor", Help: "First seq not yet delivered by the sink."}, []string{"sink"}),
		delivered:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "audittrail_sink_delivered_events_total", Help: "Events delivered by the sink."}, []string{"sink"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "audittrail_sink_deliveries_total", Help: "Batches acknowledged by the sink's destination."}, []string{"sink"}),
		failures:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "audittrail_sink_failures_total", Help: "Failed sink operations (each is retried)."}, []string{"sink"}),
	}
	if reg != nil {
		reg.MustRegister(m.lagEvents, m.lagSeconds, m.cursor, m.delivered, m.deliveries, m.failures)
	}
	return m
}

func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
