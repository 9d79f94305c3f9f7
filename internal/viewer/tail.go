package viewer

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	pb "github.com/audittrail/audittrail/api/audittrail/v1"
)

// tailHeartbeat keeps proxies from closing an idle stream and lets the
// browser notice a dead connection.
const tailHeartbeat = 15 * time.Second

// tail streams new events matching the search parameters as server-sent
// events: `event: event` with the API's JSON per event and, as its id, the
// position that resumes the tail after it (EventSource sends it back as
// Last-Event-ID when it reconnects, so a dropped connection loses nothing);
// `event: ping` as heartbeat, which lets the page notice a dead connection;
// and `event: stopped` with the reason before the stream ends (its name is
// not `error`, which EventSource reserves for its own connection errors).
func (v *Viewer) tail(w http.ResponseWriter, r *http.Request) {
	ctx, ok := callerContext(r)
	if !ok {
		http.Error(w, "sign in first", http.StatusUnauthorized)
		return
	}
	q := r.URL.Query()
	q.Del("page_token")
	req, errs := v.parseSearch(q, &searchView{})
	for _, e := range errs {
		http.Error(w, e, http.StatusBadRequest)
		return
	}
	// A tail has no end: only the start of the chosen window applies.
	req.Filter.EndEventTime = nil
	// The position to resume at: EventSource's own reconnection sends
	// Last-Event-ID; the page's sends from=.
	from := int64(-1)
	for _, p := range []struct{ name, val string }{{"Last-Event-ID", r.Header.Get("Last-Event-ID")}, {"from", q.Get("from")}} {
		if p.val == "" {
			continue
		}
		n, err := strconv.ParseInt(p.val, 10, 64)
		if err != nil || n < 0 {
			http.Error(w, p.name+": not a tail position (a sequence number)", http.StatusBadRequest)
			return
		}
		from = n
		break
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 2000\n: tail started\n\n")
	rc.Flush()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type item struct {
		e    *pb.Event
		next int64
	}
	events := make(chan item, 64)
	done := make(chan error, 1)
	go func() {
		done <- v.api.Tail(ctx, req.Filter, from, func(e *pb.Event, next int64) error {
			select {
			case events <- item{e, next}:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	beat := time.NewTicker(tailHeartbeat)
	defer beat.Stop()
	for {
		var err error
		select {
		case it := <-events:
			b, _ := protojson.Marshal(it.e)
			_, err = fmt.Fprintf(w, "event: event\nid: %d\ndata: %s\n\n", it.next, b)
		case <-v.stop:
			fmt.Fprint(w, "event: stopped\ndata: server shutting down\n\n")
			rc.Flush()
			return
		case <-beat.C:
			_, err = fmt.Fprint(w, "event: ping\ndata:\n\n")
		case terr := <-done:
			if terr != nil {
				fmt.Fprintf(w, "event: stopped\ndata: %s\n\n", status.Convert(terr).Message())
				rc.Flush()
			}
			return
		}
		if err == nil {
			err = rc.Flush()
		}
		if err != nil {
			return // the browser went away; the deferred cancel ends the tail
		}
	}
}
