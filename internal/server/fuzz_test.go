package server

import (
	"errors"
	"io"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	pb "github.com/audittrail/audittrail/api/audittrail/v1"
	"github.com/audittrail/audittrail/internal/event"
)

// FuzzDecodeBody feeds arbitrary request bodies to the REST decoder: it
// must never panic, and every refusal must be a FieldError that names a
// field or the body.
func FuzzDecodeBody(f *testing.F) {
	for _, s := range []string{`{}`, `{"eventTime":123}`, `{"filter":{"actionRegex":"a"`, `{"requests":[{"event":{"metadata":{"a":1}}}]}`, `{} x`, "\xff", `[`, `{"a":1,}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		for _, msg := range []proto.Message{&pb.SearchEventsRequest{}, &pb.BatchCreateEventsRequest{}, &pb.Event{}} {
			err := decodeBody([]byte(body), msg, protojson.UnmarshalOptions{})
			if err == nil || errors.Is(err, io.EOF) {
				continue
			}
			var fe *event.FieldError
			if !errors.As(err, &fe) || fe.Field == "" || !strings.Contains(err.Error(), fe.Field) {
				t.Fatalf("body %q: error %v names no field", body, err)
			}
		}
	})
}

// FuzzDecodeProblem feeds arbitrary bytes to the protobuf problem finder.
func FuzzDecodeProblem(f *testing.F) {
	f.Add([]byte{0x0a, 0x02, 0xff, 0xfe})
	f.Add([]byte{0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, m := range []proto.Message{&pb.CreateEventRequest{}, &pb.BatchCreateEventsRequest{}, &pb.SearchEventsRequest{}} {
			if msg := decodeProblem(b, m.ProtoReflect().Descriptor()); msg == "" || !strings.Contains(msg, ": ") {
				t.Fatalf("%x: problem %q", b, msg)
			}
		}
	})
}
