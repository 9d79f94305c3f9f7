package store

import (
	"sync"

	"github.com/audittrail/audittrail/internal/event"
)

// AppendQueue hands Append calls to a store's single writer, in groups: the
// requests that queued while the previous group was written share the next
// write (group commit). Callers encode their events in their own goroutine.
type AppendQueue struct {
	reqs   chan *AppendRequest
	mu     sync.RWMutex // guards closed against in-flight Submits
	closed bool
}

// AppendRequest is one queued Append call.
type AppendRequest struct {
	Events []*event.Event
	*Encoded
	// Results is filled by the writer, one per event.
	Results []AppendResult
	err     error
	done    chan struct{}
}

// Finish reports the outcome to the caller; a non-nil err means nothing of
// the request was stored.
func (r *AppendRequest) Finish(err error) {
	r.err = err
	close(r.done)
}

// NewAppendQueue returns an open queue.
func NewAppendQueue() *AppendQueue { return &AppendQueue{reqs: make(chan *AppendRequest, 256)} }

// Submit encodes events, queues them and waits for the writer's verdict.
// Once queued, a request is written or failed whatever happens to the
// caller's context: the caller must learn which.
func (q *AppendQueue) Submit(events []*event.Event) ([]AppendResult, error) {
	enc, err := Encode(events)
	if err != nil {
		return nil, err
	}
	req := &AppendRequest{Events: events, Encoded: enc, Results: make([]AppendResult, len(events)), done: make(chan struct{})}
	q.mu.RLock()
	if q.closed {
		q.mu.RUnlock()
		return nil, ErrClosed
	}
	q.reqs <- req
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
	for first := range q.reqs {
		group := []*AppendRequest{first}
		n := len(first.Events)
	drain:
		for n < maxEvents {
			select {
			case r, ok := <-q.reqs:
				if !ok {
					break drain
				}
				group = append(group, r)
				n += len(r.Events)
			default:
				break drain
			}
		}
		write(group, n)
	}
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
	close(q.reqs)
	return true
}

// Closed reports whether Close was called.
func (q *AppendQueue) Closed() bool {
	q.mu.RLock()
	defer q.mu.RUnlock()
	return q.closed
}
