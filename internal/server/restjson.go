package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/grpc-ecosystem/grpc-gateway/v2/utilities"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/audittrail/audittrail/internal/event"
)

// restJSON is the gateway's marshaler: protobuf's canonical JSON, with
// request bodies decoded strictly (one JSON value and nothing after it,
// unknown fields refused) and decode errors that name the field, e.g.
// `eventTime: must be an RFC 3339 timestamp string, got 123`, instead of
// protojson's `syntax error (line 1:14): unexpected token 123`.
type restJSON struct{ runtime.JSONPb }

var _ runtime.Marshaler = (*restJSON)(nil)

func newRESTJSON() *restJSON {
	return &restJSON{runtime.JSONPb{
		MarshalOptions:   protojson.MarshalOptions{EmitUnpopulated: true},
		UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
	}}
}

// NewDecoder implements runtime.Marshaler.
func (m *restJSON) NewDecoder(r io.Reader) runtime.Decoder {
	return runtime.DecoderFunc(func(v any) error {
		b, err := io.ReadAll(r)
		if err != nil {
			return err // the body limit; the error handler answers 413
		}
		msg := protoTarget(v)
		if msg == nil {
			return fmt.Errorf("server: decode into %T", v)
		}
		return decodeBody(b, msg, m.UnmarshalOptions)
	})
}

// protoTarget returns the message v points to: v itself, or *v for the
// `body: field` mapping, where the gateway passes the field's address.
func protoTarget(v any) proto.Message {
	if m, ok := v.(proto.Message); ok {
		return m
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Pointer {
		return nil
	}
	if rv.Elem().IsNil() {
		rv.Elem().Set(reflect.New(rv.Elem().Type().Elem()))
	}
	m, _ := rv.Elem().Interface().(proto.Message)
	return m
}

// decodeBody unmarshals one JSON value into msg. An empty body is io.EOF,
// which the gateway takes as "no body"; every other error is a
// *event.FieldError naming where the body went wrong.
func decodeBody(b []byte, msg proto.Message, opts protojson.UnmarshalOptions) error {
	trimmed := bytes.TrimSpace(b)
	if len(trimmed) == 0 {
		return io.EOF
	}
	if !utf8.Valid(b) {
		return &event.FieldError{Field: "request body", Rule: "must be valid UTF-8"}
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	var first json.RawMessage
	if err := dec.Decode(&first); err != nil {
		var se *json.SyntaxError
		off := len(trimmed)
		if ok := asSyntax(err, &se); ok {
			off = int(se.Offset)
		}
		return bodyError(trimmed, off, nil, "is not valid JSON: "+strings.TrimPrefix(err.Error(), "json: "))
	}
	if rest := trimmed[dec.InputOffset():]; len(bytes.TrimSpace(rest)) > 0 {
		return &event.FieldError{Field: "request body", Rule: fmt.Sprintf("must hold one JSON value; unexpected data after byte %d", dec.InputOffset())}
	}
	err := opts.Unmarshal(first, msg)
	if err == nil {
		return nil
	}
	text := err.Error()
	off := protojsonOffset(first, text)
	reason := protojsonReason.ReplaceAllString(strings.TrimPrefix(text, "proto:"), "")
	return bodyError(first, off, msg.ProtoReflect().Descriptor(), strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(reason), ":")))
}

func asSyntax(err error, se **json.SyntaxError) bool {
	e, ok := err.(*json.SyntaxError)
	*se = e
	return ok
}

var (
	protojsonPos    = regexp.MustCompile(`\(line (\d+):(\d+)\)`)
	protojsonReason = regexp.MustCompile(`\s*(syntax error\s*)?\(line \d+:\d+\)`)
)

// protojsonOffset turns protojson's "(line L:C)" (C counts runes) into a
// byte offset of b; len(b) when the error has no position.
func protojsonOffset(b []byte, text string) int {
	m := protojsonPos.FindStringSubmatch(text)
	if m == nil {
		return len(b)
	}
	line, _ := strconv.Atoi(m[1])
	col, _ := strconv.Atoi(m[2])
	off := 0
	for l := 1; l < line && off < len(b); off++ {
		if b[off] == '\n' {
			l++
		}
	}
	for c := 1; c < col && off < len(b); c++ {
		_, n := utf8.DecodeRune(b[off:])
		off += n
	}
	return off
}

// bodyError names the JSON path at off and, when the path is a field of md
// (nil for JSON syntax errors), what that field takes.
func bodyError(b []byte, off int, md protoreflect.MessageDescriptor, reason string) error {
	path := jsonPathAt(b, off)
	if len(path) == 0 {
		return &event.FieldError{Field: "request body", Rule: reason}
	}
	if want := expectation(md, path); want != "" && !strings.Contains(reason, "unknown field") {
		reason = want + " (" + reason + ")"
	}
	return &event.FieldError{Field: strings.Join(path, "."), Rule: reason}
}

// jsonPathAt returns the keys and indexes leading to byte off of b: the
// member or element being read there.
func jsonPathAt(b []byte, off int) []string {
	type frame struct {
		obj       bool
		key       string
		idx       int
		expectKey bool
	}
	var st []*frame
	for i := 0; i < len(b) && i < off; i++ {
		switch b[i] {
		case '"':
			j := i + 1
			for j < len(b) && b[j] != '"' {
				if b[j] == '\\' {
					j++
				}
				j++
			}
			if n := len(st); n > 0 && st[n-1].obj && st[n-1].expectKey {
				if k, err := strconv.Unquote(string(b[i:min(j+1, len(b))])); err == nil {
					st[n-1].key = k
				} else {
					st[n-1].key = string(b[i+1 : min(j, len(b))])
				}
				st[n-1].expectKey = false
			}
			i = j
		case '{':
			st = append(st, &frame{obj: true, expectKey: true})
		case '[':
			st = append(st, &frame{})
		case '}', ']':
			if len(st) > 0 {
				st = st[:len(st)-1]
			}
		case ',':
			if n := len(st); n > 0 {
				if st[n-1].obj {
					st[n-1].key, st[n-1].expectKey = "", true
				} else {
					st[n-1].idx++
				}
			}
		}
	}
	var path []string
	for _, f := range st {
		switch {
		case f.obj && f.key != "":
			path = append(path, f.key)
		case !f.obj:
			if len(path) == 0 {
				path = append(path, "")
			}
			path[len(path)-1] += fmt.Sprintf("[%d]", f.idx)
		}
	}
	return path
}

// expectation says what the field at path takes, following md by JSON or
// proto names; "" when path does not name a field.
func expectation(md protoreflect.MessageDescriptor, path []string) string {
	var fd protoreflect.FieldDescriptor
	for i, p := range path {
		name, _, _ := strings.Cut(p, "[")
		if md == nil {
			return ""
		}
		if fd != nil && fd.IsMap() {
			fd = fd.MapValue() // a map key: the path goes on in the value
		} else if fd = md.Fields().ByJSONName(name); fd == nil {
			if fd = md.Fields().ByName(protoreflect.Name(name)); fd == nil {
				return ""
			}
		}
		if i < len(path)-1 {
			if fd.IsMap() {
				continue
			}
			md = fd.Message()
		}
	}
	if fd == nil {
		return ""
	}
	if fd.IsMap() {
		return "must be an object of " + kindText(fd.MapValue())
	}
	if fd.IsList() && !strings.Contains(path[len(path)-1], "[") {
		return "must be a list of " + kindText(fd)
	}
	return "must be " + kindText(fd)
}

func kindText(fd protoreflect.FieldDescriptor) string {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return "a string"
	case protoreflect.BoolKind:
		return "true or false"
	case protoreflect.EnumKind:
		var names []string
		for i := 0; i < fd.Enum().Values().Len(); i++ {
			names = append(names, string(fd.Enum().Values().Get(i).Name()))
		}
		return "one of " + strings.Join(names, ", ")
	case protoreflect.MessageKind:
		if fd.Message().FullName() == "google.protobuf.Timestamp" {
			return `an RFC 3339 timestamp string (e.g. "2026-11-25T10:00:00Z")`
		}
		return "an object"
	case protoreflect.BytesKind:
		return "a base64 string"
	}
	return "a number"
}

// strictQuery is the gateway's query parameter parser: grpc-gateway
// ignores parameters that name no field, so a typo (`?event_idd=…`) would
// go unnoticed; they are refused, as unknown body fields are.
type strictQuery struct{ runtime.DefaultQueryParser }

// Parse implements runtime.QueryParameterParser.
func (p *strictQuery) Parse(msg proto.Message, values url.Values, filter *utilities.DoubleArray) error {
	for key := range values {
		if !queryField(msg.ProtoReflect().Descriptor(), key, filter) {
			return &event.FieldError{Field: "query parameter " + strconv.Quote(key), Rule: "unknown"}
		}
	}
	return p.DefaultQueryParser.Parse(msg, values, filter)
}

// queryField reports whether key (dotted, by proto or JSON names) is a
// field of md that is not bound to the path or body.
func queryField(md protoreflect.MessageDescriptor, key string, filter *utilities.DoubleArray) bool {
	var path []string
	for _, part := range strings.Split(key, ".") {
		if md == nil {
			return false
		}
		fd := md.Fields().ByName(protoreflect.Name(part))
		if fd == nil {
			fd = md.Fields().ByJSONName(part)
		}
		if fd == nil {
			return false
		}
		path = append(path, string(fd.Name()))
		md = fd.Message()
	}
	return !filter.HasCommonPrefix(path)
}
