package viewer

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	pb "github.com/audittrail/audittrail/api/audittrail/v1"
)

// tailHeartbeat keeps proxies from closing an idle stream and lets the
// browser notice a dead connection.
const tailHeartbeat = 15 * time.Second

// tail streams new events matching the search parameters as server-sent
// events: `event: event` with the API's JSON per event, a comment line as
// heartbeat, and `event: error` before the stream ends on an error
// (EventSource then reconnects after the `retry` delay).
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
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 2000\n: tail started\n\n")
	rc.Flush()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events := make(chan *pb.Event, 64)
	done := make(chan error, 1)
	go func() {
		done <- v.api.TailEvents(ctx, req.Filter, func(e *pb.Event) error {
			select {
			case events <- e:
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
		case e := <-events:
			b, _ := protojson.Marshal(e)
			_, err = fmt.Fprintf(w, "event: event\nid: %s\ndata: %s\n\n", e.GetName(), b)
		case <-v.stop:
			fmt.Fprint(w, "event: error\ndata: server shutting down\n\n")
			rc.Flush()
			return
		case <-beat.C:
			_, err = fmt.Fprint(w, ": heartbeat\n\n")
		case terr := <-done:
			if terr != nil {
				fmt.Fprintf(w, "event: error\ndata: %s\n\n", status.Convert(terr).Message())
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
