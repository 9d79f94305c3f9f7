package server

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	protoenc "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// grpcCodec is the server's protobuf codec. grpc-go turns every codec
// error into INTERNAL before a handler runs, but a request that is not
// valid protobuf (truncated, garbage, invalid UTF-8 in a string) is the
// client's mistake: SPEC §5 wants INVALID_ARGUMENT naming the field. So the
// codec never fails a decode: it resets the message and keeps the error,
// and the interceptors that every RPC passes through answer it.
type grpcCodec struct {
	base encoding.CodecV2
	// bad maps a message that failed to decode to its client error.
	bad sync.Map
}

var _ encoding.CodecV2 = (*grpcCodec)(nil)

func newGRPCCodec() *grpcCodec { return &grpcCodec{base: encoding.GetCodecV2(protoenc.Name)} }

func (c *grpcCodec) Name() string                           { return protoenc.Name }
func (c *grpcCodec) Marshal(v any) (mem.BufferSlice, error) { return c.base.Marshal(v) }
func (c *grpcCodec) Unmarshal(data mem.BufferSlice, v any) error {
	err := c.base.Unmarshal(data, v)
	m, ok := v.(proto.Message)
	if err == nil || !ok {
		return err
	}
	proto.Reset(m)
	c.bad.Store(m, status.Error(codes.InvalidArgument, decodeProblem(data.Materialize(), m.ProtoReflect().Descriptor())))
	return nil
}

// decodeErr returns (and forgets) the decode error of req.
func (c *grpcCodec) decodeErr(req any) error {
	if err, ok := c.bad.LoadAndDelete(req); ok {
		return err.(error)
	}
	return nil
}

// unary answers requests that failed to decode.
func (c *grpcCodec) unary(onBad func(method string, err error)) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
		if err := c.decodeErr(req); err != nil {
			onBad(info.FullMethod, err)
			return nil, err
		}
		return next(ctx, req)
	}
}

// stream does the same for the messages of streaming RPCs.
func (c *grpcCodec) stream(onBad func(method string, err error)) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, next grpc.StreamHandler) error {
		return next(srv, &checkedStream{ServerStream: ss, c: c, method: info.FullMethod, onBad: onBad})
	}
}

type checkedStream struct {
	grpc.ServerStream
	c      *grpcCodec
	method string
	onBad  func(string, error)
}

func (s *checkedStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if err := s.c.decodeErr(m); err != nil {
		s.onBad(s.method, err)
		return err
	}
	return nil
}

// decodeProblem names what makes b not a valid encoding of md: the first
// string field with invalid UTF-8, or the field whose bytes are cut short.
func decodeProblem(b []byte, md protoreflect.MessageDescriptor) string {
	if path, rule := walkWire(b, md, ""); path != "" {
		return path + ": " + rule
	} else if rule != "" {
		return "request: " + rule
	}
	return "request: not a valid protobuf message"
}

// walkWire returns the path and rule of the first problem in b, or "" and
// "" when it finds none.
func walkWire(b []byte, md protoreflect.MessageDescriptor, prefix string) (path, rule string) {
	seen := map[protowire.Number]int{}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return strings.TrimSuffix(prefix, "."), "malformed protobuf (bad field tag)"
		}
		var fd protoreflect.FieldDescriptor
		name := fmt.Sprintf("%sfield %d", prefix, num)
		if md != nil {
			if fd = md.Fields().ByNumber(num); fd != nil {
				name = prefix + string(fd.Name())
			}
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			return name, "malformed protobuf (value truncated or of the wrong wire type)"
		}
		val := b[n : n+m]
		b = b[n+m:]
		if fd == nil || typ != protowire.BytesType {
			continue
		}
		if fd.Cardinality() == protoreflect.Repeated && !fd.IsMap() {
			name = fmt.Sprintf("%s[%d]", name, seen[num])
			seen[num]++
		}
		content, _ := protowire.ConsumeBytes(val)
		switch {
		case fd.Kind() == protoreflect.StringKind && !utf8.Valid(content):
			return name, "must be valid UTF-8"
		case fd.IsMap():
			if p, r := walkWire(content, fd.Message(), name+"."); r != "" {
				return p, r
			}
		case fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind:
			if p, r := walkWire(content, fd.Message(), name+"."); r != "" {
				return p, r
			}
		}
	}
	return "", ""
}
