package store

import (
	"context"
	"sync"

	"go.opentelemetry.io/otel/trace"

	"github.com/audittrail/audittrail/internal/event"
)

// UrgentMaxEvents is the largest Append that takes the urgent lane: single
// creates and the server's own events are not left waiting behind a
// backlog of 1000-event batches.
const UrgentMaxEvents = 8

// AppendQueue hands Append calls to a store's single writer, in groups: the
// requests that queued while the previous group was written share the next
// write (group commit). Callers encode their events in their own goroutine.
//
// Small requests queue in an urgent lane that the writer serves first: a
// group that starts with them holds only them, so it commits in one sync
// rather than behind the bulk. Sequence order stays dense, as the writer
// numbers events in the order it groups them.
type AppendQueue struct {
	urgent, bulk chan *AppendRequest
	mu           sync.RWMutex // guards closed against in-flight Submits
	closed       bool
}

// AppendRequest is one queued Append call.
type AppendRequest struct {
	Events []*event.Event
	*Encoded
	// Results is filled by the writer, one per event.
	Results []AppendResult
	// Own marks the server's own events (self-audit): a store may let
	// them use room it refuses to clients, so that reads go on being
	// recorded, and answered, when a disk is nearly full.
	Own bool
	// Caller is the span of the Append call, for the writer's span to
	// link to.
	Caller trace.SpanContext
	err    error
	done   chan struct{}
}

// Finish reports the outcome to the caller; a non-nil err means nothing of
// the request was stored.
func (r *AppendRequest) Finish(err error) {
	r.err = err
	close(r.done)
}

// NewAppendQueue returns an open queue.
func NewAppendQueue() *AppendQueue {
	return &AppendQueue{urgent: make(chan *AppendRequest, 1024), bulk: make(chan *AppendRequest, 256)}
}

type ownKey struct{}

// WithOwnEvents marks the Appends made with ctx as the server's own events.
func WithOwnEvents(ctx context.Context) context.Context {
	return context.WithValue(ctx, ownKey{}, true)
}

// OwnEvents reports whether ctx carries WithOwnEvents.
func OwnEvents(ctx context.Context) bool { own, _ := ctx.Value(ownKey{}).(bool); return own }

// Submit encodes events, queues them and waits for the writer's verdict.
// Once queued, a request is written or failed whatever happens to the
// caller's context: the caller must learn which.
func (q *AppendQueue) Submit(ctx context.Context, events []*event.Event) ([]AppendResult, error) {
	enc, err := Encode(events)
	if err != nil {
		return nil, err
	}
	req := &AppendRequest{Events: events, Encoded: enc, Results: make([]AppendResult, len(events)), Own: OwnEvents(ctx), Caller: trace.SpanContextFromContext(ctx), done: make(chan struct{})}
	lane := q.bulk
	if len(events) <= UrgentMaxEvents {
		lane = q.urgent
	}
	q.mu.RLock()
	if q.closed {
		q.mu.RUnlock()
		return nil, ErrClosed
	}
	lane <- req
	q.mu.RUnlock()
	<-req.done
	if req.err != nil {
		return nil, req.err
	}
	return req.Results, nil
}

// Run calls write with each group of queued requests (at least one request,
// up to maxEvents events when more are waiting) until the queue is closed
// and drained. write must Finish every request of its group, now or later.
func (q *AppendQueue) Run(maxEvents int, write func(group []*AppendRequest, events int)) {
	urgent, bulk := q.urgent, q.bulk
	for urgent != nil || bulk != nil {
		var first *AppendRequest
		select { // the urgent lane first, whenever it holds a request
		case r, ok := <-urgent:
			if !ok {
				urgent = nil
				continue
			}
			first = r
		default:
			select {
			case r, ok := <-urgent:
				if !ok {
					urgent = nil
					continue
				}
				first = r
			case r, ok := <-bulk:
				if !ok {
					bulk = nil
					continue
				}
				first = r
			}
		}
		group, n := []*AppendRequest{first}, len(first.Events)
		group, n = take(urgent, group, n, maxEvents)
		if len(first.Events) > UrgentMaxEvents {
			group, n = take(bulk, group, n, maxEvents)
		}
		write(group, n)
	}
}

// take adds what lane holds to group without waiting, up to maxEvents.
func take(lane chan *AppendRequest, group []*AppendRequest, n, maxEvents int) ([]*AppendRequest, int) {
	for lane != nil && n < maxEvents {
		select {
		case r, ok := <-lane:
			if !ok {
				return group, n
			}
			group = append(group, r)
			n += len(r.Events)
		default:
			return group, n
		}
	}
	return group, n
}

// Close stops accepting requests; Run returns once the queued ones are
// handed out. It reports false when the queue was already closed.
func (q *AppendQueue) Close() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false
	}
	q.closed = true
	close(q.urgent)
	close(q.bulk)
	return true
}

// Closed reports whether Close was called.
func (q *AppendQueue) Closed() bool {
	q.mu.RLock()
	defer q.mu.RUnlock()
	return q.closed
}
