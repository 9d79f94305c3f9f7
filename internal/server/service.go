package server

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/audittrail/audittrail/api/audittrail/v1"
	"github.com/audittrail/audittrail/internal/event"
	"github.com/audittrail/audittrail/internal/store"
)

// Contract constants of SPEC §3.
const (
	maxBatch        = 1000
	defaultPageSize = 50
	maxPageSize     = 1000
	searchAction    = "actions/audittrail/events/SEARCH"
)

// serve runs one RPC: it authenticates, calls fn, counts and times the call
// and converts the error to the client's status. Both gRPC and REST requests
// pass through here, so both get the same behaviour.
func serve[T any](s *Server, ctx context.Context, rpc string, fn func(context.Context, *Identity) (T, error)) (T, error) {
	start := time.Now()
	ctx, span := s.tracer.Start(ctx, rpc, trace.WithSpanKind(trace.SpanKindServer))
	defer span.End()
	var resp T
	var id *Identity
	var err error
	if ri := requestInfoFrom(ctx); ri != nil && ri.identity != nil {
		id = ri.identity // authenticated by admission, before the body was read
	} else if id, err = s.authenticate(ctx); err == nil && ri != nil {
		ri.identity = id // for the request's log line (viewer pages)
	}
	if err == nil {
		resp, err = fn(ctx, id)
	}
	st := toStatus(err)
	span.SetAttributes(attribute.String("rpc.grpc.status_code", st.Code().String()))
	if id != nil {
		span.SetAttributes(attribute.String("audittrail.principal", id.Principal))
	}
	if st.Code() != codes.OK {
		span.SetStatus(otelcodes.Error, st.Message())
	}
	s.metrics.requests.WithLabelValues(rpc, st.Code().String()).Inc()
	s.metrics.latency.WithLabelValues(rpc).Observe(time.Since(start).Seconds())
	if st.Code() == codes.Internal || st.Code() == codes.Unavailable {
		// An outage fails every request: one line per RPC and code every
		// few seconds, with the count of those not logged.
		if n, ok := s.errLog.allow(rpc+" "+st.Code().String(), s.now()); ok {
			s.logger.Error("rpc failed", "rpc", rpc, "code", st.Code().String(), "err", err, "suppressed", n)
		}
	}
	if err != nil {
		var zero T
		return zero, st.Err()
	}
	return resp, nil
}

// CreateEvent implements pb.EventServiceServer. The response wraps the
// stored event, as H2O's API does.
func (s *Server) CreateEvent(ctx context.Context, req *pb.CreateEventRequest) (*pb.CreateEventResponse, error) {
	return serve(s, ctx, "CreateEvent", func(ctx context.Context, id *Identity) (*pb.CreateEventResponse, error) {
		if !id.Create {
			return nil, withClientMessage("events.create permission required", errPermissionDenied)
		}
		e, err := s.parseEvent(req.GetEventId(), req.GetEvent())
		if err != nil {
			return nil, s.existingOr(ctx, req.GetEventId(), err)
		}
		res, err := s.appendEvents(ctx, []*event.Event{e})
		if err != nil {
			return nil, err
		}
		if err := res[0].Err; err != nil {
			return nil, duplicateError(e.ID, err)
		}
		if err := s.waitForCheckpoint(ctx, req.GetWaitForCheckpoint(), res[0].Seq); err != nil {
			return nil, err
		}
		s.metrics.accepted.Inc()
		s.metrics.batchSize.Observe(1)
		return &pb.CreateEventResponse{Event: storedEvent(e, res[0])}, nil
	})
}

func (s *Server) parseEvent(id string, p *pb.Event) (*event.Event, error) {
	if err := event.ValidateID(id); err != nil {
		return nil, err
	}
	e, err := eventFromProto(id, p)
	if err != nil {
		return nil, err
	}
	if err := s.cfg.Rules.Normalize(e, s.now()); err != nil {
		return nil, err
	}
	return e, nil
}

// existingOr returns ALREADY_EXISTS when the event that failed validation
// has a well-formed id that is stored already, else invalid. SPEC §3: an
// existing id answers ALREADY_EXISTS whatever the content, so a client
// retrying with a mangled copy still learns that its event is stored. Only
// the failure path pays for the lookup.
func (s *Server) existingOr(ctx context.Context, id string, invalid error) error {
	if event.ValidateID(id) != nil {
		return invalid
	}
	if _, err := s.store.Get(ctx, id); err == nil {
		return duplicateError(id, store.ErrAlreadyExists)
	}
	return invalid
}

func duplicateError(id string, err error) error {
	return withClientMessage(fmt.Sprintf("event %s%s already exists", event.NamePrefix, id), err)
}

func storedEvent(e *event.Event, r store.AppendResult) *pb.Event {
	e.ReceiveTime = r.ReceiveTime
	return EventProto(store.Record{Seq: r.Seq, Event: e})
}

// BatchCreateEvents implements pb.EventServiceServer.
func (s *Server) BatchCreateEvents(ctx context.Context, req *pb.BatchCreateEventsRequest) (*pb.BatchCreateEventsResponse, error) {
	return serve(s, ctx, "BatchCreateEvents", func(ctx context.Context, id *Identity) (*pb.BatchCreateEventsResponse, error) {
		if !id.Create {
			return nil, withClientMessage("events.create permission required", errPermissionDenied)
		}
		n := len(req.GetRequests())
		if n == 0 || n > maxBatch {
			return nil, &event.FieldError{Field: "requests", Rule: fmt.Sprintf("must hold 1 to %d requests, got %d", maxBatch, n)}
		}
		resp := &pb.BatchCreateEventsResponse{FailedRequests: map[int32]*pb.Status{}}
		valid := make([]*event.Event, 0, n)
		index := make([]int, 0, n)
		for i, r := range req.GetRequests() {
			e, err := s.parseEvent(r.GetEventId(), r.GetEvent())
			if err != nil {
				st := toStatus(s.existingOr(ctx, r.GetEventId(), err))
				resp.FailedRequests[int32(i)] = &pb.Status{Code: int32(st.Code()), Message: st.Message()}
				continue
			}
			valid = append(valid, e)
			index = append(index, i)
		}
		if len(valid) > 0 {
			res, err := s.appendEvents(ctx, valid)
			if err != nil {
				return nil, err
			}
			var maxSeq uint64
			stored := false
			for j, r := range res {
				if r.Err == nil {
					maxSeq, stored = max(maxSeq, r.Seq), true
				}
				if r.Err != nil {
					st := toStatus(duplicateError(valid[j].ID, r.Err))
					resp.FailedRequests[int32(index[j])] = &pb.Status{Code: int32(st.Code()), Message: st.Message()}
					continue
				}
				resp.Events = append(resp.Events, storedEvent(valid[j], r))
			}
			if err := s.waitForCheckpoint(ctx, req.GetWaitForCheckpoint() && stored, maxSeq); err != nil {
				return nil, err
			}
		}
		s.metrics.accepted.Add(float64(len(resp.Events)))
		s.metrics.batchSize.Observe(float64(n))
		return resp, nil
	})
}

// appendEvents is store.Append in a span of its own: the queueing and
// the group commit it waits for.
func (s *Server) appendEvents(ctx context.Context, events []*event.Event) ([]store.AppendResult, error) {
	ctx, span := s.tracer.Start(ctx, "store.Append", trace.WithAttributes(attribute.Int("audittrail.events", len(events))))
	defer span.End()
	res, err := s.store.Append(ctx, events)
	if err != nil {
		span.SetStatus(otelcodes.Error, err.Error())
	}
	return res, err
}

// GetEvent implements pb.EventServiceServer.
func (s *Server) GetEvent(ctx context.Context, req *pb.GetEventRequest) (*pb.Event, error) {
	return serve(s, ctx, "GetEvent", func(ctx context.Context, id *Identity) (*pb.Event, error) {
		rec, err := s.eventByName(ctx, id, req.GetName())
		if err != nil {
			return nil, err
		}
		out := []*pb.Event{EventProto(rec)}
		if err := s.fillLoginNames(ctx, out); err != nil {
			return nil, err
		}
		return out[0], nil
	})
}

// SearchEvents implements pb.EventServiceServer. Every authenticated call,
// valid or not, is recorded as a search event before the call returns.
func (s *Server) SearchEvents(ctx context.Context, req *pb.SearchEventsRequest) (*pb.SearchEventsResponse, error) {
	return serve(s, ctx, "SearchEvents", func(ctx context.Context, id *Identity) (*pb.SearchEventsResponse, error) {
		received := s.now()
		resp, err := s.search(ctx, id, req, received)
		if aerr := s.auditSearch(ctx, id, req, received, err); aerr != nil {
			// A search that cannot be recorded is not answered.
			return nil, fmt.Errorf("server: record search: %w", aerr)
		}
		return resp, err
	})
}

func (s *Server) search(ctx context.Context, id *Identity, req *pb.SearchEventsRequest, now time.Time) (*pb.SearchEventsResponse, error) {
	if !id.CanRead() {
		return nil, errNoRead()
	}
	size := int(req.GetPageSize())
	switch {
	case size < 0:
		return nil, &event.FieldError{Field: "page_size", Rule: fmt.Sprintf("must not be negative, got %d", size)}
	case size == 0:
		size = defaultPageSize
	case size > maxPageSize:
		size = maxPageSize
	}
	filterBytes, err := proto.MarshalOptions{Deterministic: true}.Marshal(req.GetFilter())
	if err != nil {
		return nil, fmt.Errorf("server: marshal filter: %w", err)
	}
	q := store.Query{Limit: size, Deadline: time.Now().Add(s.cfg.SearchBudget)}
	if tok := req.GetPageToken(); tok != "" {
		pt, err := decodePageToken(s.cfg.PageTokenKey, tok, filterBytes, id.Principal)
		if err != nil {
			return nil, err
		}
		now, q.Size, q.After = pt.now, pt.size, &pt.pos
	}
	spec, err := filterSpecFromProto(req.GetFilter())
	if err != nil {
		return nil, err
	}
	if q.Filter, err = spec.Compile(now); err != nil {
		return nil, err
	}
	if err := narrowToWorkspaces(id, q.Filter); err != nil {
		return nil, err
	}
	start := time.Now()
	sctx, span := s.tracer.Start(ctx, "store.Search")
	res, err := s.store.Search(sctx, q)
	span.SetAttributes(attribute.Int("audittrail.events", len(res.Records)))
	span.End()
	s.metrics.storeSearch.Observe(time.Since(start).Seconds())
	if err != nil {
		return nil, err
	}
	resp := &pb.SearchEventsResponse{
		Events:            make([]*pb.Event, 0, len(res.Records)),
		SearchedUntilTime: timestamppb.New(q.Filter.Start),
	}
	for _, r := range res.Records {
		resp.Events = append(resp.Events, EventProto(r))
	}
	if err := s.fillLoginNames(ctx, resp.Events); err != nil {
		return nil, err
	}
	if res.Next != nil {
		resp.NextPageToken = encodePageToken(s.cfg.PageTokenKey, pageToken{now: now, size: res.Size, pos: *res.Next}, filterBytes, id.Principal)
		resp.SearchedUntilTime = timestamppb.New(res.Next.EventTime)
	}
	return resp, nil
}

func errNoRead() error {
	return withClientMessage("events.read permission required", errPermissionDenied)
}

// narrowToWorkspaces limits a scoped reader's search to its workspaces. A
// workspace filter that names only workspaces outside the set is refused
// rather than silently answered with nothing, so the caller learns why; so
// is workspace_exact "", the events without a workspace, which only global
// readers see.
func narrowToWorkspaces(id *Identity, f *event.Filter) error {
	if id.ReadAll {
		return nil
	}
	if ws := f.Exact[event.FieldWorkspace]; ws != nil && *ws == "" {
		return withClientMessage(`filter.workspace_exact: "" selects events without a workspace, which only global readers may read`, errPermissionDenied)
	}
	if ws := f.Exact[event.FieldWorkspace]; ws != nil && !slices.Contains(id.Workspaces, *ws) {
		return withClientMessage(fmt.Sprintf("filter.workspace_exact: %q is not among the workspaces you may read", *ws), errPermissionDenied)
	}
	if re := f.Regex[event.FieldWorkspace]; re != nil && !slices.ContainsFunc(id.Workspaces, re.MatchString) {
		return withClientMessage(fmt.Sprintf("filter.workspace_regex: %q matches none of the workspaces you may read", re.String()), errPermissionDenied)
	}
	f.Workspaces = id.Workspaces
	return nil
}

// fillLoginNames sets login_principal from the names the server knows at
// read time.
func (s *Server) fillLoginNames(ctx context.Context, evs []*pb.Event) error {
	if len(evs) == 0 {
		return nil
	}
	var principals []string
	for _, e := range evs {
		if !slices.Contains(principals, e.GetPrincipal()) {
			principals = append(principals, e.GetPrincipal())
		}
	}
	names, err := s.store.LoginNames(ctx, principals)
	if err != nil {
		return err
	}
	for _, e := range evs {
		e.LoginPrincipal = names[e.GetPrincipal()]
	}
	return nil
}

// auditSearch records one search call as an event.
func (s *Server) auditSearch(ctx context.Context, id *Identity, req *pb.SearchEventsRequest, at time.Time, searchErr error) error {
	e := s.selfAuditEvent(ctx, id.Principal, searchAction, true, searchParams(req.GetFilter()))
	e.EventTime = at
	st := toStatus(searchErr)
	e.Status = event.Status{Code: int32(st.Code()), Message: st.Message()}
	return s.recordSelf(ctx, e)
}

// selfAuditEvent is an event of the server's own about a caller's request,
// from the caller's address and user agent.
func (s *Server) selfAuditEvent(ctx context.Context, principal, action string, readOnly bool, params map[string]string) *event.Event {
	e := newSelfAuditEvent(s.cfg.AuditSource, principal, s.now(), params)
	e.Action, e.ReadOnly = action, readOnly
	if ri := requestInfoFrom(ctx); ri != nil {
		e.SourceIPAddress = ri.remoteIP
		e.UserAgent = truncateRunes(ri.userAgent, event.MaxUserAgentLen)
	}
	return e
}

// recordSelf stores one of the server's own events, even when the caller
// has gone away.
func (s *Server) recordSelf(ctx context.Context, e *event.Event) error {
	if err := s.cfg.Rules.Normalize(e, s.now()); err != nil {
		return err
	}
	res, err := s.appendEvents(store.WithOwnEvents(context.WithoutCancel(ctx)), []*event.Event{e})
	if err != nil {
		return err
	}
	return res[0].Err
}

func newSelfAuditEvent(source, principal string, at time.Time, params map[string]string) *event.Event {
	return &event.Event{
		ID:                uuid.NewString(),
		EventTime:         at,
		EventSource:       source,
		Action:            searchAction,
		ReadOnly:          true,
		HasStatus:         true,
		Principal:         principal,
		SourceIPAddress:   event.PrivateAddress,
		RequestParameters: params,
		Type:              event.TypeAPI,
	}
}

// searchParams lists the filter fields that were set, by their proto names:
// scalars as text, timestamps as RFC 3339, maps as JSON objects and type
// lists comma-separated.
func searchParams(f *pb.Filter) map[string]string {
	params := map[string]string{}
	if f == nil {
		return params
	}
	f.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		name := string(fd.Name())
		var text string
		switch {
		case fd.IsMap():
			m := map[string]string{}
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				m[k.String()] = mv.String()
				return true
			})
			b, _ := json.Marshal(m)
			text = string(b)
		case fd.IsList():
			var names []string
			for i := 0; i < v.List().Len(); i++ {
				names = append(names, pb.EventType(v.List().Get(i).Enum()).String())
			}
			text = strings.Join(names, ",")
		case fd.Message() != nil:
			text = v.Message().Interface().(*timestamppb.Timestamp).AsTime().Format(time.RFC3339Nano)
		default:
			text = v.String()
		}
		params[name] = event.TruncateUTF8(text, event.MaxMapValueBytes)
		return true
	})
	return params
}

func truncateRunes(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n])
	}
	return s
}
