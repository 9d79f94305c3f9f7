package server

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/audittrail/audittrail/api/audittrail/v1"
)

func TestDecodeProblem(t *testing.T) {
	marshal := func(m proto.Message) []byte {
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// invalid replaces the marker with bytes that are not UTF-8.
	invalid := func(b []byte) []byte { return bytes.Replace(b, []byte("MARK"), []byte("\xff\xfe\xfd\xfc"), 1) }
	ev := &pb.Event{EventTime: timestamppb.Now(), EventSource: "s", Action: "a", Principal: "users/MARK", SourceIpAddress: "8.8.8.8"}
	create := marshal(&pb.CreateEventRequest{EventId: "x", Event: ev})
	batch := marshal(&pb.BatchCreateEventsRequest{Requests: []*pb.CreateEventRequest{
		{EventId: "a", Event: &pb.Event{Principal: "users/ok"}},
		{EventId: "b", Event: &pb.Event{Metadata: map[string]string{"k": "vMARK"}}},
	}})
	search := marshal(&pb.SearchEventsRequest{Filter: &pb.Filter{ActionRegex: new("MARK")}})
	for _, tc := range []struct {
		name string
		b    []byte
		md   proto.Message
		want string
	}{
		{"string in a nested message", invalid(create), &pb.CreateEventRequest{}, "event.principal: must be valid UTF-8"},
		{"map value in a repeated message", invalid(batch), &pb.BatchCreateEventsRequest{}, "requests[1].event.metadata.value: must be valid UTF-8"},
		{"optional filter string", invalid(search), &pb.SearchEventsRequest{}, "filter.action_regex: must be valid UTF-8"},
		{"truncated", create[:len(create)-3], &pb.CreateEventRequest{}, "event: malformed protobuf"},
		{"garbage", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, &pb.CreateEventRequest{}, "request: malformed protobuf (bad field tag)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if proto.Unmarshal(tc.b, tc.md) == nil {
				t.Fatal("the input decodes: the case tests nothing")
			}
			got := decodeProblem(tc.b, tc.md.ProtoReflect().Descriptor())
			if len(got) < len(tc.want) || got[:len(tc.want)] != tc.want {
				t.Errorf("got %q, want it to start with %q", got, tc.want)
			}
		})
	}
}
