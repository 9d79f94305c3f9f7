package event

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func valid() *Event {
	return &Event{
		ID:              "6f1c2b9e-2f7a-4b1e-9c3d-0a1b2c3d4e5f",
		EventTime:       now.Add(-time.Minute),
		EventSource:     "h2oai-enginemanager-server",
		Action:          "actions/enginemanager/daiEngines/CREATE",
		HasStatus:       true,
		Principal:       "users/8f7e",
		SourceIPAddress: "8.8.8.8",
	}
}

func TestNormalizeRejects(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	bigMap := func(n int) map[string]string {
		m := map[string]string{}
		for i := range n {
			m["k"+strings.Repeat("x", i%50)+string(rune('a'+i%26))+string(rune('a'+i/26))] = "v"
		}
		return m
	}
	tests := []struct {
		name    string
		mutate  func(e *Event)
		wantMsg string // substring of the error
	}{
		{"id missing", func(e *Event) { e.ID = "" }, "event_id: required"},
		{"id uppercase", func(e *Event) { e.ID = "6F1C2B9E-2F7A-4B1E-9C3D-0A1B2C3D4E5F" }, "event_id must be in UUIDv4 format"},
		{"id version 1", func(e *Event) { e.ID = "6f1c2b9e-2f7a-1b1e-9c3d-0a1b2c3d4e5f" }, "event_id must be in UUIDv4 format"},
		{"id bad variant", func(e *Event) { e.ID = "6f1c2b9e-2f7a-4b1e-7c3d-0a1b2c3d4e5f" }, "event_id must be in UUIDv4 format"},
		{"id braces", func(e *Event) { e.ID = "{6f1c2b9e-2f7a-4b1e-9c3d-0a1b2c3d4e5f}" }, "event_id must be in UUIDv4 format"},
		{"id no dashes", func(e *Event) { e.ID = "6f1c2b9e2f7a4b1e9c3d0a1b2c3d4e5f" }, "event_id must be in UUIDv4 format"},
		{"event_time unset", func(e *Event) { e.EventTime = time.Time{} }, "event_time: required"},
		{"event_time before 1970", func(e *Event) { e.EventTime = time.Unix(-1, 0) }, "event_time: must not be before 1970"},
		{"event_time too far ahead", func(e *Event) { e.EventTime = now.Add(10*time.Minute + time.Nanosecond) }, "event_time: must not be more than 10m0s in the future"},
		{"event_source missing", func(e *Event) { e.EventSource = "" }, "event_source: required"},
		{"event_source too long", func(e *Event) { e.EventSource = long(257) }, "event_source: must be at most 256 characters"},
		{"event_source space", func(e *Event) { e.EventSource = "a b" }, "event_source: must not contain whitespace"},
		{"event_source tab", func(e *Event) { e.EventSource = "a\tb" }, "event_source: must not contain whitespace"},
		{"event_source control", func(e *Event) { e.EventSource = "a\x01b" }, "event_source: must not contain whitespace or control"},
		{"event_source nbsp", func(e *Event) { e.EventSource = "a\u00a0b" }, "event_source: must not contain whitespace"},
		{"event_source bad utf8", func(e *Event) { e.EventSource = "a\xffb" }, "event_source: must be valid UTF-8"},
		{"action missing", func(e *Event) { e.Action = "" }, "action: required"},
		{"action too long", func(e *Event) { e.Action = long(513) }, "action: must be at most 512 characters"},
		{"action newline", func(e *Event) { e.Action = "a\nb" }, "action: must not contain whitespace"},
		{"action zero-width space", func(e *Event) { e.Action = "actions/a\u200bb" }, "action: must not contain whitespace or control characters, format characters included"},
		{"action RTL override", func(e *Event) { e.Action = "actions/\u202eETELED" }, "action: must not contain whitespace or control characters, format characters included"},
		{"event_source BOM", func(e *Event) { e.EventSource = "\ufeffsrc" }, "event_source: must not contain"},
		{"principal zero-width space", func(e *Event) { e.Principal = "users/a\u200b" }, "principal: must not contain whitespace or control characters, format characters included"},
		{"resource workspace too long", func(e *Event) { e.Resource = "//x/workspaces/" + long(246) }, "resource: names a workspace of more than 256 characters"},
		{"status missing", func(e *Event) { e.HasStatus = false }, "status: required"},
		{"status code negative", func(e *Event) { e.Status.Code = -1 }, "status.code: must be a google.rpc.Code value 0-16"},
		{"status code 17", func(e *Event) { e.Status.Code = 17 }, "status.code: must be"},
		{"status message bad utf8", func(e *Event) { e.Status.Message = "\xc3" }, "status.message: must be valid UTF-8"},
		{"principal missing", func(e *Event) { e.Principal = "" }, "principal: required"},
		{"principal no prefix", func(e *Event) { e.Principal = "alice" }, "principal: must be of the form users/<id> or services/<name>"},
		{"principal other prefix", func(e *Event) { e.Principal = "groups/a" }, "principal: must be of the form"},
		{"principal empty segment", func(e *Event) { e.Principal = "users/" }, "principal: must be of the form"},
		{"principal two segments", func(e *Event) { e.Principal = "users/a/b" }, "principal: must be of the form"},
		{"principal whitespace", func(e *Event) { e.Principal = "users/a b" }, "principal: must not contain whitespace"},
		{"principal too long", func(e *Event) { e.Principal = "users/" + long(507) }, "principal: must be at most 512 characters"},
		{"ip missing", func(e *Event) { e.SourceIPAddress = "" }, "source_ip_address: required"},
		{"ip garbage", func(e *Event) { e.SourceIPAddress = "not-an-ip" }, "source_ip_address: must be an IPv4 or IPv6 literal"},
		{"ip with port", func(e *Event) { e.SourceIPAddress = "8.8.8.8:80" }, "source_ip_address: must be"},
		{"ip cidr", func(e *Event) { e.SourceIPAddress = "8.8.8.0/24" }, "source_ip_address: must be"},
		{"ip with zone", func(e *Event) { e.SourceIPAddress = "2001:db8::1%eth0" }, "source_ip_address: must be"},
		{"ip Private capitalised", func(e *Event) { e.SourceIPAddress = "Private" }, "source_ip_address: must be"},
		{"resource too long", func(e *Event) { e.Resource = long(2049) }, "resource: must be at most 2048 characters"},
		{"resource bad utf8", func(e *Event) { e.Resource = "\xff" }, "resource: must be valid UTF-8"},
		{"workspace_override wrong form", func(e *Event) { e.WorkspaceOverride = new("w1") }, `workspace_override: must be "" or of the form workspaces/<id>`},
		{"workspace_override empty id", func(e *Event) { e.WorkspaceOverride = new("workspaces/") }, "workspace_override: must be"},
		{"workspace_override nested", func(e *Event) { e.WorkspaceOverride = new("workspaces/a/b") }, "workspace_override: must be"},
		{"workspace_override space", func(e *Event) { e.WorkspaceOverride = new("workspaces/a b") }, "workspace_override: must be"},
		{"workspace_override too long", func(e *Event) { e.WorkspaceOverride = new("workspaces/" + long(246)) }, "workspace_override: must be at most 256 characters, got 257"},
		{"workspace_override bad utf8", func(e *Event) { e.WorkspaceOverride = new("workspaces/\xff") }, "workspace_override: must be valid UTF-8"},
		{"user_agent too long", func(e *Event) { e.UserAgent = long(1025) }, "user_agent: must be at most 1024 characters"},
		{"metadata key uppercase", func(e *Event) { e.Metadata = map[string]string{"Invalid-Key": "x"} }, `metadata key "Invalid-Key": must be lowercase letters, digits or '_'`},
		{"metadata key empty", func(e *Event) { e.Metadata = map[string]string{"": "x"} }, `metadata key "": must be 1-63 characters`},
		{"metadata key too long", func(e *Event) { e.Metadata = map[string]string{long(64): "x"} }, "must be 1-63 characters"},
		{"metadata key digit first", func(e *Event) { e.Metadata = map[string]string{"1a": "x"} }, "must start with a letter"},
		{"metadata key underscore first", func(e *Event) { e.Metadata = map[string]string{"_a": "x"} }, "must start with a letter"},
		{"metadata key underscore last", func(e *Event) { e.Metadata = map[string]string{"a_": "x"} }, "must end with a letter or digit"},
		{"metadata key dash", func(e *Event) { e.Metadata = map[string]string{"a-b": "x"} }, "must be lowercase letters, digits or '_'"},
		{"metadata too many", func(e *Event) { e.Metadata = bigMap(65) }, "metadata: must have at most 64 entries, got 65"},
		{"metadata value too long", func(e *Event) { e.Metadata = map[string]string{"k": long(4097)} }, `metadata["k"]: value must be at most 4096 bytes`},
		{"metadata value bad utf8", func(e *Event) { e.Metadata = map[string]string{"k": "\xff"} }, "value must be valid UTF-8"},
		{"params too many", func(e *Event) { e.RequestParameters = bigMap(65) }, "request_parameters: must have at most 64 entries"},
		{"params key too long", func(e *Event) { e.RequestParameters = map[string]string{long(257): "x"} }, "must be at most 256 bytes"},
		{"params value too long", func(e *Event) { e.RequestParameters = map[string]string{"k": long(4097)} }, "value must be at most 4096 bytes"},
		{"type unknown", func(e *Event) { e.Type = 3 }, "type: must be TYPE_UNSPECIFIED, TYPE_API or TYPE_SYSTEM"},
		{"whole event over 64 KiB", func(e *Event) {
			e.Metadata = map[string]string{}
			for i := range 17 {
				e.Metadata[string(rune('a'+i))] = long(4000)
			}
		}, "event: must be at most 64 KiB serialized"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := valid()
			tc.mutate(e)
			before := *e
			err := DefaultRules().Normalize(e, now)
			if err == nil {
				t.Fatalf("Normalize accepted the event; want error containing %q", tc.wantMsg)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error %q, want it to contain %q", err, tc.wantMsg)
			}
			if e.SourceIPAddress != before.SourceIPAddress || e.Workspace != before.Workspace || e.Type != before.Type {
				t.Error("a rejected event was modified")
			}
		})
	}
}

func TestNormalizeAccepts(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(e *Event)
		check  func(t *testing.T, e *Event)
	}{
		{"limits exactly", func(e *Event) {
			e.EventSource = strings.Repeat("é", 256)
			e.Action = strings.Repeat("a", 512)
			e.Principal = "services/" + strings.Repeat("s", 503)
			e.Resource = strings.Repeat("r", 2048)
			e.UserAgent = strings.Repeat("u", 1024)
			e.Metadata = map[string]string{"k": strings.Repeat("v", 4096), strings.Repeat("a", 63): ""}
			e.RequestParameters = map[string]string{strings.Repeat("p", 256): "x", "Any Key/ok": ""}
		}, nil},
		{"event_time at skew limit", func(e *Event) { e.EventTime = now.Add(10 * time.Minute) }, nil},
		{"event_time epoch", func(e *Event) { e.EventTime = time.Unix(0, 0) }, nil},
		{"status code 16", func(e *Event) { e.Status.Code = 16 }, nil},
		{"metadata key forms", func(e *Event) { e.Metadata = map[string]string{"a": "", "a1": "", "a_b_9": ""} }, nil},
		{"unspecified type is api", func(e *Event) {}, func(t *testing.T, e *Event) {
			if e.Type != TypeAPI {
				t.Errorf("type %v, want TypeAPI", e.Type)
			}
		}},
		{"system type kept", func(e *Event) { e.Type = TypeSystem }, func(t *testing.T, e *Event) {
			if e.Type != TypeSystem {
				t.Errorf("type %v", e.Type)
			}
		}},
		{"workspace derived", func(e *Event) { e.Resource = "//engine-manager/workspaces/8dcc/daiEngines/e1" }, func(t *testing.T, e *Event) {
			if e.Workspace != "workspaces/8dcc" {
				t.Errorf("workspace %q", e.Workspace)
			}
		}},
		{"workspace derived from first", func(e *Event) { e.Resource = "workspaces/a/x/workspaces/b" }, func(t *testing.T, e *Event) {
			if e.Workspace != "workspaces/a" {
				t.Errorf("workspace %q", e.Workspace)
			}
		}},
		{"workspace input ignored", func(e *Event) { e.Resource = "//x/workspaces/w1"; e.Workspace = "workspaces/w2" }, func(t *testing.T, e *Event) {
			if e.Workspace != "workspaces/w1" {
				t.Errorf("workspace %q, want the one of resource", e.Workspace)
			}
		}},
		{"workspace input ignored without resource", func(e *Event) { e.Workspace = "not even valid" }, func(t *testing.T, e *Event) {
			if e.Workspace != "" {
				t.Errorf("workspace %q, want none", e.Workspace)
			}
		}},
		{"workspace_override wins over resource", func(e *Event) { e.Resource = "//x/workspaces/w1"; e.WorkspaceOverride = new("workspaces/w2") }, func(t *testing.T, e *Event) {
			if e.Workspace != "workspaces/w2" || e.WorkspaceOverride != nil {
				t.Errorf("workspace %q override %v, want workspaces/w2 and nil", e.Workspace, e.WorkspaceOverride)
			}
		}},
		{"workspace_override empty means none", func(e *Event) { e.Resource = "//x/workspaces/w1"; e.WorkspaceOverride = new("") }, func(t *testing.T, e *Event) {
			if e.Workspace != "" {
				t.Errorf("workspace %q, want none", e.Workspace)
			}
		}},
		{"workspace_override without resource", func(e *Event) { e.WorkspaceOverride = new("workspaces/w9") }, func(t *testing.T, e *Event) {
			if e.Workspace != "workspaces/w9" {
				t.Errorf("workspace %q", e.Workspace)
			}
		}},
		{"workspace_override at 256 characters", func(e *Event) { e.WorkspaceOverride = new("workspaces/" + strings.Repeat("w", 245)) }, nil},
		{"resource free form", func(e *Event) { e.Resource = "plain name with spaces" }, func(t *testing.T, e *Event) {
			if e.Workspace != "" {
				t.Errorf("workspace %q, want none", e.Workspace)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := valid()
			tc.mutate(e)
			if err := DefaultRules().Normalize(e, now); err != nil {
				t.Fatalf("Normalize: %v", err)
			}
			if tc.check != nil {
				tc.check(t, e)
			}
		})
	}
}

func TestIPRedaction(t *testing.T) {
	tests := map[string]string{
		"8.8.8.8":                "8.8.8.8",
		"203.0.113.7":            "203.0.113.7",
		"2001:4860:4860::8888":   "2001:4860:4860::8888",
		"2001:4860:4860:0::0001": "2001:4860:4860::1",
		"::ffff:8.8.4.4":         "8.8.4.4",
		"10.0.0.1":               "private",
		"172.16.0.1":             "private",
		"172.31.255.255":         "private",
		"172.32.0.1":             "172.32.0.1",
		"192.168.1.1":            "private",
		"fd00::1":                "private",
		"fc00::1":                "private",
		"127.0.0.1":              "private",
		"127.8.9.1":              "private",
		"::1":                    "private",
		"169.254.1.1":            "private",
		"fe80::1":                "private",
		"100.64.0.1":             "private",
		"100.127.255.255":        "private",
		"100.128.0.1":            "100.128.0.1",
		"0.0.0.0":                "private",
		"::":                     "private",
		"::ffff:10.1.1.1":        "private",
		"private":                "private",
		// IPv4 embedded in IPv6 is judged by the embedded address.
		"::10.0.0.1":        "private", // IPv4-compatible
		"::8.8.8.8":         "::808:808",
		"64:ff9b::10.0.0.1": "private", // NAT64
		"64:ff9b::8.8.8.8":  "64:ff9b::808:808",
		"64:ff9b:1:a00:1::": "private", // NAT64 local-use /48 of 10.0.0.1
		"2002:a00:1::":      "private", // 6to4 of 10.0.0.1
		"2002:c0a8:101::1":  "private", // 6to4 of 192.168.1.1
		"2002:808:808::1":   "2002:808:808::1",
		"255.255.255.255":   "private",
		"240.0.0.1":         "private",
		"0.1.2.3":           "private",
	}
	for in, want := range tests {
		t.Run(in, func(t *testing.T) {
			e := valid()
			e.SourceIPAddress = in
			if err := DefaultRules().Normalize(e, now); err != nil {
				t.Fatal(err)
			}
			if e.SourceIPAddress != want {
				t.Errorf("stored %q, want %q", e.SourceIPAddress, want)
			}
		})
	}
}

func TestCodecRoundTrip(t *testing.T) {
	e := valid()
	e.ReceiveTime = now
	e.ReadOnly = true
	e.Status = Status{Code: 5, Message: "nf"}
	e.Resource = "r\x00x"
	e.Metadata = map[string]string{"b": "2", "a": "1"}
	e.RequestParameters = map[string]string{"z": ""}
	e.Type = TypeSystem
	b, err := AppendBinary(nil, e)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != EncodedLen(e) {
		t.Errorf("EncodedLen %d, encoding is %d bytes", EncodedLen(e), len(b))
	}
	got, err := UnmarshalBinary(b)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(e, got); d != "" {
		t.Errorf("round trip (-want +got):\n%s", d)
	}
	for _, bad := range [][]byte{nil, b[:10], append(append([]byte{}, b...), 0), append([]byte{2}, b[1:]...)} {
		if _, err := UnmarshalBinary(bad); !errors.Is(err, ErrCorrupt) {
			t.Errorf("UnmarshalBinary(%d bytes) err %v, want ErrCorrupt", len(bad), err)
		}
	}
}
