package client

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/encoding/protojson"

	pb "github.com/audittrail/audittrail/api/audittrail/v1"
)

// RecorderOptions configure a Recorder. Start from DefaultRecorderOptions.
type RecorderOptions struct {
	// BufferSize is how many events may wait unsent; Record drops (and
	// counts) events past it rather than block its caller.
	BufferSize int
	// BatchSize is the most events one call carries (at most 1000).
	BatchSize int
	// FlushInterval is how long an event may wait for its batch to fill.
	FlushInterval time.Duration
	// MinBackoff and MaxBackoff bound the wait between retries of a batch
	// (doubling, with jitter). A batch is retried until it is stored or the
	// recorder is closed; only UNAVAILABLE, RESOURCE_EXHAUSTED,
	// DEADLINE_EXCEEDED and network errors are retried.
	MinBackoff, MaxBackoff time.Duration
	// SpoolDir, when set, keeps every event in a file from Record until
	// the server has stored it, so that events recorded while the audit
	// trail is down survive a restart of the service: a new Recorder on the
	// same directory sends them first, with their ids, so nothing is
	// stored twice. (Files are synced when a batch is cut: a power loss
	// may lose the batch being filled, a process restart does not.)
	SpoolDir string
}

// DefaultRecorderOptions returns the defaults.
func DefaultRecorderOptions() RecorderOptions {
	return RecorderOptions{BufferSize: 10000, BatchSize: 500, FlushInterval: time.Second,
		MinBackoff: 100 * time.Millisecond, MaxBackoff: 10 * time.Second}
}

func (o RecorderOptions) validate() error {
	if o.BufferSize < 1 || o.BatchSize < 1 || o.BatchSize > 1000 || o.FlushInterval <= 0 || o.MinBackoff <= 0 || o.MaxBackoff < o.MinBackoff {
		return errors.New("client: recorder options: buffer and batch sizes must be positive (a batch at most 1000), the interval and backoffs positive, the max backoff at least the min")
	}
	return nil
}

// RecorderStats counts what a Recorder did.
type RecorderStats struct {
	// Recorded were taken by Record; Dropped were refused (buffer full
	// or recorder closed); Stored the server has; Rejected it refused as
	// invalid (they are not retried); Retries counts failed attempts.
	Recorded, Dropped, Stored, Rejected, Retries uint64
}

// Recorder records events for a service without blocking its request
// path: Record returns at once (dropping, and counting, events when the
// buffer is full), and one goroutine sends them in batches, by size and by
// time, each event with the id Record chose, so that a batch retried after
// a timeout is never stored twice. Close it to send what is left.
type Recorder struct {
	c    *Client
	opts RecorderOptions

	mu       sync.Mutex
	closed   bool
	cur      []*pb.CreateEventRequest // the batch being filled
	curSpool *os.File                 // its spool file, when spooling
	curW     *bufio.Writer
	queue    []*batch // cut, unsent, oldest first
	buffered int      // events in cur and queue
	cutSeq   uint64   // batches cut so far

	wake    chan struct{} // a batch was queued
	sentSeq atomic.Uint64 // batches finished (stored or given up)
	ctx     context.Context
	stop    context.CancelFunc
	done    chan struct{}
	spoolN  atomic.Uint64

	recorded, dropped, stored, rejected, retries atomic.Uint64
}

type batch struct {
	reqs  []*pb.CreateEventRequest
	spool string // its file, or ""
	seq   uint64
}

// NewRecorder starts a recorder over c. With a SpoolDir, the events a
// previous recorder left unsent are queued first.
func NewRecorder(c *Client, opts RecorderOptions) (*Recorder, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	ctx, stop := context.WithCancel(context.Background())
	r := &Recorder{c: c, opts: opts, wake: make(chan struct{}, 1), ctx: ctx, stop: stop, done: make(chan struct{})}
	if opts.SpoolDir != "" {
		if err := r.replaySpool(); err != nil {
			stop()
			return nil, err
		}
	}
	go r.send()
	go r.tick()
	return r, nil
}

// Record queues e and returns its id (a UUIDv4 chosen now). ok is false
// when e was dropped: the buffer is full or the recorder closed.
func (r *Recorder) Record(e *pb.Event) (id string, ok bool) {
	id = uuid.NewString()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.buffered >= r.opts.BufferSize {
		r.dropped.Add(1)
		return id, false
	}
	req := &pb.CreateEventRequest{EventId: id, Event: e}
	r.spoolLocked(req)
	r.cur = append(r.cur, req)
	r.buffered++
	r.recorded.Add(1)
	if len(r.cur) >= r.opts.BatchSize {
		r.cutLocked()
	}
	return id, true
}

// Stats returns the counts so far.
func (r *Recorder) Stats() RecorderStats {
	return RecorderStats{Recorded: r.recorded.Load(), Dropped: r.dropped.Load(), Stored: r.stored.Load(),
		Rejected: r.rejected.Load(), Retries: r.retries.Load()}
}

// Flush waits until every event recorded before it is stored (or rejected
// as invalid), or ctx ends.
func (r *Recorder) Flush(ctx context.Context) error {
	r.mu.Lock()
	r.cutLocked()
	mark := r.cutSeq
	r.mu.Unlock()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for r.sentSeq.Load() < mark {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-r.done:
			return errors.New("client: recorder closed with events unsent")
		case <-tick.C:
		}
	}
	return nil
}

// Close stops taking events and waits, until ctx ends, for the buffered
// ones to be sent; those still unsent then stay in the spool, when there
// is one, for the next Recorder.
func (r *Recorder) Close(ctx context.Context) error {
	err := r.Flush(ctx)
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.stop()
	<-r.done
	return err
}

func (r *Recorder) tick() {
	t := time.NewTicker(r.opts.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-t.C:
			r.mu.Lock()
			r.cutLocked()
			r.mu.Unlock()
		}
	}
}

// cutLocked queues the batch being filled.
func (r *Recorder) cutLocked() {
	if len(r.cur) == 0 {
		return
	}
	r.cutSeq++
	b := &batch{reqs: r.cur, seq: r.cutSeq}
	if r.curSpool != nil {
		r.curW.Flush()
		r.curSpool.Sync()
		r.curSpool.Close()
		b.spool = r.curSpool.Name()
		r.curSpool, r.curW = nil, nil
	}
	r.cur = nil
	r.queue = append(r.queue, b)
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *Recorder) send() {
	defer close(r.done)
	for {
		r.mu.Lock()
		var b *batch
		if len(r.queue) > 0 {
			b = r.queue[0]
		}
		r.mu.Unlock()
		if b == nil {
			select {
			case <-r.ctx.Done():
				return
			case <-r.wake:
				continue
			}
		}
		if !r.deliver(b) {
			return // closed while the server was away: b stays spooled
		}
		if b.spool != "" {
			os.Remove(b.spool)
		}
		r.mu.Lock()
		r.queue = r.queue[1:]
		r.buffered -= len(b.reqs)
		r.mu.Unlock()
		r.sentSeq.Store(b.seq)
	}
}

// deliver sends one batch until it is stored or refused for good; it
// reports false when the recorder stopped first.
func (r *Recorder) deliver(b *batch) bool {
	backoff := r.opts.MinBackoff
	for {
		ctx, cancel := context.WithTimeout(r.ctx, 30*time.Second)
		resp, err := r.c.BatchCreateEvents(ctx, &pb.BatchCreateEventsRequest{Requests: b.reqs})
		cancel()
		switch {
		case err == nil:
			r.stored.Add(uint64(len(resp.GetEvents())))
			for _, st := range resp.GetFailedRequests() {
				if st.GetCode() == 6 { // stored already: an earlier attempt got through
					r.stored.Add(1)
				} else {
					r.rejected.Add(1) // invalid: another try would not help
				}
			}
			return true
		case r.ctx.Err() != nil:
			return false
		case !retryable(err):
			// The whole call was refused (a bad token, no permission):
			// counted, and its spool file kept aside for the operator.
			r.rejected.Add(uint64(len(b.reqs)))
			if b.spool != "" {
				os.Rename(b.spool, b.spool+".rejected")
				b.spool = ""
			}
			return true
		}
		r.retries.Add(1)
		select {
		case <-r.ctx.Done():
			return false
		case <-time.After(backoff/2 + rand.N(backoff/2+1)):
		}
		backoff = min(2*backoff, r.opts.MaxBackoff)
	}
}

// retryable reports the failures worth another try: the server is busy,
// away, or did not answer in time.
func retryable(err error) bool {
	var apiErr *Error
	if errors.As(err, &apiErr) {
		switch apiErr.Code {
		case 4, 8, 14: // DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, UNAVAILABLE
			return true
		}
		switch apiErr.HTTPStatus {
		case 429, 502, 503, 504: // a proxy in front answering for the server
			return true
		}
		return false
	}
	var netErr net.Error
	return errors.As(err, &netErr) || errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "connection refused") || strings.Contains(err.Error(), "EOF")
}

// spoolLocked appends req to the spool file of the batch being filled.
func (r *Recorder) spoolLocked(req *pb.CreateEventRequest) {
	if r.opts.SpoolDir == "" {
		return
	}
	if r.curSpool == nil {
		name := filepath.Join(r.opts.SpoolDir, fmt.Sprintf("%020d-%06d.jsonl", time.Now().UnixNano(), r.spoolN.Add(1)))
		f, err := os.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
		if err != nil {
			return // the event is still in memory
		}
		r.curSpool, r.curW = f, bufio.NewWriter(f)
	}
	if b, err := protojson.Marshal(req); err == nil {
		r.curW.Write(append(b, '\n'))
	}
}

// replaySpool queues the batches a previous recorder left in SpoolDir.
func (r *Recorder) replaySpool() error {
	if err := os.MkdirAll(r.opts.SpoolDir, 0o700); err != nil {
		return fmt.Errorf("client: spool: %w", err)
	}
	names, err := filepath.Glob(filepath.Join(r.opts.SpoolDir, "*.jsonl"))
	if err != nil {
		return fmt.Errorf("client: spool: %w", err)
	}
	sort.Strings(names)
	for _, n := range names {
		data, err := os.ReadFile(n)
		if err != nil {
			return fmt.Errorf("client: spool: %w", err)
		}
		var reqs []*pb.CreateEventRequest
		for _, line := range strings.Split(string(data), "\n") {
			req := &pb.CreateEventRequest{}
			if strings.TrimSpace(line) != "" && protojson.Unmarshal([]byte(line), req) == nil {
				reqs = append(reqs, req) // a line cut short by a crash is skipped
			}
		}
		if len(reqs) == 0 {
			os.Remove(n)
			continue
		}
		r.cutSeq++
		r.queue = append(r.queue, &batch{reqs: reqs, spool: n, seq: r.cutSeq})
		r.buffered += len(reqs)
	}
	return nil
}
