package event

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// FuzzNormalize feeds arbitrary events and ids to the validator: it must
// never panic, every accepted event must satisfy the stored-form invariants,
// and its encoding must round-trip.
func FuzzNormalize(f *testing.F) {
	f.Add("6f1c2b9e-2f7a-4b1e-9c3d-0a1b2c3d4e5f", int64(0), "src", "act", "users/a", "10.0.0.1", "//x/workspaces/w/y", "", "k", "v", int32(0), int32(0))
	f.Add("bad", int64(-5), "a b", "", "users/", "::1", "", "workspaces/x", "Bad", "", int32(17), int32(9))
	f.Fuzz(func(t *testing.T, id string, offset int64, src, action, principal, ip, resource, ws, mk, mv string, code, typ int32) {
		e := &Event{
			ID: id, EventTime: now.Add(time.Duration(offset)), EventSource: src, Action: action,
			HasStatus: true, Status: Status{Code: code}, Principal: principal, SourceIPAddress: ip,
			Resource: resource, WorkspaceOverride: &ws, Metadata: map[string]string{mk: mv}, Type: Type(typ),
		}
		if err := DefaultRules().Normalize(e, now); err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field == "" || !strings.Contains(err.Error(), fe.Field) {
				t.Fatalf("error %q does not name a field", err)
			}
			return
		}
		if e.Type == TypeUnspecified || (e.SourceIPAddress != PrivateAddress && strings.ContainsAny(e.SourceIPAddress, " %")) {
			t.Fatalf("accepted event not in stored form: %+v", e)
		}
		b, err := AppendBinary(nil, e)
		if err != nil {
			t.Fatalf("AppendBinary of an accepted event: %v", err)
		}
		if _, err := UnmarshalBinary(b); err != nil {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// FuzzUnmarshalBinary checks that decoding arbitrary bytes never panics and
// that whatever decodes re-encodes to the same bytes (one meaning per
// encoding).
func FuzzUnmarshalBinary(f *testing.F) {
	e := valid()
	e.Metadata = map[string]string{"a": "b"}
	b, _ := AppendBinary(nil, e)
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := UnmarshalBinary(b)
		if err != nil {
			return
		}
		again, err := AppendBinary(nil, e)
		if err != nil {
			t.Fatal(err)
		}
		if string(again) != string(b) {
			t.Fatalf("decoded event re-encodes differently")
		}
	})
}

// FuzzFilterCompile feeds arbitrary patterns to the filter compiler.
func FuzzFilterCompile(f *testing.F) {
	f.Add("^users/00", "(a|b", "^(0|3)$")
	f.Fuzz(func(t *testing.T, p1, p2, p3 string) {
		var s FilterSpec
		s.Regex[FieldPrincipal] = new(p1)
		s.Regex[FieldAction] = new(p2)
		s.StatusCodeRegex = new(p3)
		flt, err := s.Compile(now)
		if err != nil {
			return
		}
		if prefix, ok := flt.RegexPrefix(FieldPrincipal); ok && flt.Regex[FieldPrincipal].MatchString(p1) && !strings.HasPrefix(p1, prefix) {
			// A value matched by an anchored regex must start with its prefix.
			t.Fatalf("pattern %q matches %q which lacks prefix %q", p1, p1, prefix)
		}
		flt.Match(valid())
	})
}
