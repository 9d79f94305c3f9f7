package server

import (
	"context"
	"time"

	"google.golang.org/grpc"

	pb "github.com/audittrail/audittrail/api/audittrail/v1"
	"github.com/audittrail/audittrail/internal/event"
)

// tailAction is the self-audit action of a tail.
const tailAction = "actions/audittrail/events/TAIL"

// tailInterval is how often a tail looks for new events.
const tailInterval = time.Second

// Tail sends, until ctx ends, every event that matches filter and
// that the caller may read, in acceptance order, starting at sequence
// number from, or with the first event accepted after the call when from
// is negative. With each event it passes next, the from that resumes the
// tail after that event, so that a client that reconnects misses nothing. Time bounds in the filter apply to event_time as in a search; the
// end defaults to no limit. The caller is authenticated, and its grants
// re-evaluated, on every poll, so a revoked token or a narrowed policy
// takes effect within a second. The tail is recorded once, as an event
// with action actions/audittrail/events/TAIL. Errors are gRPC statuses.
func (s *Server) Tail(ctx context.Context, filter *pb.Filter, from int64, send func(e *pb.Event, next int64) error) error {
	id, f, err := s.tailFilter(ctx, filter)
	if id != nil {
		e := s.selfAuditEvent(ctx, id.Principal, tailAction, true, searchParams(filter))
		st := toStatus(err)
		e.Status = event.Status{Code: int32(st.Code()), Message: st.Message()}
		if aerr := s.recordSelf(ctx, e); aerr != nil && err == nil {
			err = aerr
		}
	}
	if err != nil {
		return toStatus(err).Err()
	}
	s.metrics.tails.Inc()
	defer s.metrics.tails.Dec()
	size, err := s.store.Size(ctx)
	if err != nil {
		return toStatus(err).Err()
	}
	next := size
	if from >= 0 && uint64(from) < size {
		next = uint64(from)
	}
	t := time.NewTicker(tailInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if id, f, err = s.tailFilter(ctx, filter); err != nil {
			return toStatus(err).Err()
		}
		for {
			recs, err := s.store.ReadRange(ctx, next, 1000)
			if err != nil {
				return toStatus(err).Err()
			}
			var (
				out   []*pb.Event
				nexts []int64
			)
			for _, r := range recs {
				next = r.Seq + 1
				if f.Match(r.Event) && id.canSee(r.Event) {
					out = append(out, EventProto(r))
					nexts = append(nexts, int64(next))
				}
			}
			if err := s.fillLoginNames(ctx, out); err != nil {
				return toStatus(err).Err()
			}
			for i, e := range out {
				if err := send(e, nexts[i]); err != nil {
					return nil // the client went away
				}
			}
			if len(recs) < 1000 {
				break
			}
		}
	}
}

// tailFilter authenticates the caller and compiles its narrowed filter.
func (s *Server) tailFilter(ctx context.Context, filter *pb.Filter) (*Identity, *event.Filter, error) {
	id, err := s.authenticate(ctx)
	if err != nil {
		return nil, nil, err
	}
	if !id.CanRead() {
		return id, nil, errNoRead()
	}
	spec, err := filterSpecFromProto(filter)
	if err != nil {
		return id, nil, err
	}
	if spec.End == nil {
		end := time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)
		spec.End = &end
	}
	f, err := spec.Compile(s.now())
	if err != nil {
		return id, nil, err
	}
	return id, f, narrowToWorkspaces(id, f)
}

// TailEvents is EventService.TailEvents: Tail over a gRPC stream.
func (s *Server) TailEvents(req *pb.TailEventsRequest, stream grpc.ServerStreamingServer[pb.TailEventsResponse]) error {
	from := int64(-1)
	if req.StartSeq != nil {
		if from = req.GetStartSeq(); from < 0 {
			return toStatus(&event.FieldError{Field: "start_seq", Rule: "must not be negative"}).Err()
		}
	}
	return s.Tail(stream.Context(), req.GetFilter(), from, func(e *pb.Event, next int64) error {
		return stream.Send(&pb.TailEventsResponse{Event: e, NextSeq: next})
	})
}
