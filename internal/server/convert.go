package server

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/audittrail/audittrail/api/audittrail/v1"
	"github.com/audittrail/audittrail/internal/event"
	"github.com/audittrail/audittrail/internal/store"
)

// eventFromProto converts a client's event. Output-only fields (name,
// receive_time, login_principal, workspace) are ignored, as AIP-203 asks:
// the workspace comes from workspace_override or the resource.
func eventFromProto(id string, p *pb.Event) (*event.Event, error) {
	if p == nil {
		return nil, &event.FieldError{Field: "event", Rule: "required"}
	}
	e := &event.Event{
		ID:                id,
		EventSource:       p.GetEventSource(),
		Action:            p.GetAction(),
		ReadOnly:          p.GetReadOnly(),
		Principal:         p.GetPrincipal(),
		SourceIPAddress:   p.GetSourceIpAddress(),
		Resource:          p.GetResource(),
		WorkspaceOverride: p.WorkspaceOverride,
		UserAgent:         p.GetUserAgent(),
		Metadata:          p.GetMetadata(),
		RequestParameters: p.GetRequestParameters(),
		Type:              event.Type(p.GetType()),
	}
	if p.EventTime != nil {
		if err := p.EventTime.CheckValid(); err != nil {
			return nil, &event.FieldError{Field: "event_time", Rule: "must be a valid timestamp"}
		}
		e.EventTime = p.EventTime.AsTime()
		if e.EventTime.IsZero() { // 0001-01-01 is "set", and before 1970
			e.EventTime = time.Unix(-1, 0)
		}
	}
	if p.Status != nil {
		e.HasStatus = true
		e.Status = event.Status{Code: p.Status.GetCode(), Message: p.Status.GetMessage()}
	}
	return e, nil
}

// EventProto is the API form of a stored event (its REST JSON through
// protojson), as every RPC and the native export format return it.
func EventProto(r store.Record) *pb.Event {
	e := r.Event
	return &pb.Event{
		Name:              e.Name(),
		EventTime:         timestamppb.New(e.EventTime),
		ReceiveTime:       timestamppb.New(e.ReceiveTime),
		EventSource:       e.EventSource,
		Action:            e.Action,
		ReadOnly:          e.ReadOnly,
		Status:            &pb.Status{Code: e.Status.Code, Message: e.Status.Message},
		Principal:         e.Principal,
		SourceIpAddress:   e.SourceIPAddress,
		Resource:          e.Resource,
		Workspace:         e.Workspace,
		UserAgent:         e.UserAgent,
		Metadata:          e.Metadata,
		RequestParameters: e.RequestParameters,
		Type:              pb.EventType(e.Type),
	}
}

func filterSpecFromProto(f *pb.Filter) (event.FilterSpec, error) {
	var s event.FilterSpec
	if f == nil {
		return s, nil
	}
	for _, tc := range []struct {
		field string
		ts    *timestamppb.Timestamp
		dst   **time.Time
	}{
		{"filter.start_event_time", f.StartEventTime, &s.Start},
		{"filter.end_event_time", f.EndEventTime, &s.End},
	} {
		if tc.ts == nil {
			continue
		}
		if err := tc.ts.CheckValid(); err != nil {
			return s, &event.FieldError{Field: tc.field, Rule: "must be a valid timestamp"}
		}
		t := tc.ts.AsTime()
		*tc.dst = &t
	}
	s.Exact = [event.NumFields]*string{
		event.FieldEventSource: f.EventSourceExact,
		event.FieldAction:      f.ActionExact,
		event.FieldPrincipal:   f.PrincipalExact,
		event.FieldResource:    f.ResourceExact,
		event.FieldWorkspace:   f.WorkspaceExact,
		event.FieldSourceIP:    f.SourceIpAddressExact,
	}
	s.Regex = [event.NumFields]*string{
		event.FieldEventSource: f.EventSourceRegex,
		event.FieldAction:      f.ActionRegex,
		event.FieldPrincipal:   f.PrincipalRegex,
		event.FieldResource:    f.ResourceRegex,
		event.FieldWorkspace:   f.WorkspaceRegex,
		event.FieldSourceIP:    f.SourceIpAddressRegex,
	}
	s.StatusCodeRegex = f.StatusCodeRegex
	s.ReadOnly = f.ReadOnly
	s.MetadataExact = f.MetadataExact
	s.MetadataRegex = f.MetadataRegex
	for _, t := range f.IncludeTypes {
		s.IncludeTypes = append(s.IncludeTypes, event.Type(t))
	}
	for _, t := range f.ExcludeTypes {
		s.ExcludeTypes = append(s.ExcludeTypes, event.Type(t))
	}
	return s, nil
}
