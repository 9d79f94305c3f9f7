package format

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/audittrail/audittrail/internal/event"
	"github.com/audittrail/audittrail/internal/store"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func base() *event.Event {
	return &event.Event{
		ID: "0b9e2ad5-7a55-4c1e-8d4b-3f2a1c0e9d8b", EventTime: time.Date(2026, 12, 1, 10, 0, 0, 123456789, time.UTC),
		ReceiveTime: time.Date(2026, 12, 1, 10, 0, 1, 0, time.UTC), EventSource: "billing", Action: "actions/billing/invoices/CREATE",
		Principal: "users/alice", SourceIPAddress: "203.0.113.7", Resource: "workspaces/w1/invoices/9", Workspace: "workspaces/w1",
		UserAgent: "curl/8.5", Metadata: map[string]string{"env": "prod"}, RequestParameters: map[string]string{"amount": "12"},
		Type: event.TypeAPI,
	}
}

// Golden files pin every mapped field (docs/EXPORT.md, "OCSF mapping");
// `go test ./internal/export/format -update` rewrites them after a
// deliberate change.
func TestOCSFGolden(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(*event.Event)
		login string
	}{
		{"create", func(*event.Event) {}, "alice@example.com"},
		{"read_only_wins_over_verb", func(e *event.Event) { e.ReadOnly = true }, ""},
		{"update", func(e *event.Event) { e.Action = "actions/billing/invoices/PATCH" }, ""},
		{"delete_failed", func(e *event.Event) {
			e.Action = "actions/billing/invoices/DELETE"
			e.Status = event.Status{Code: 7, Message: "permission denied"}
		}, ""},
		{"other_private_minimal", func(e *event.Event) {
			e.Action, e.SourceIPAddress, e.UserAgent, e.Resource, e.Workspace = "actions/billing/invoices/APPROVE", event.PrivateAddress, "", "", ""
			e.Metadata, e.RequestParameters = nil, nil
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := base()
			tc.edit(e)
			b, err := OCSF(store.Record{Seq: 3, Event: e}, Product{Name: "audittrail", Vendor: "audittrail", Version: "v1.2.3"}, tc.login)
			if err != nil {
				t.Fatal(err)
			}
			var pretty bytes.Buffer
			json.Indent(&pretty, b, "", "  ")
			pretty.WriteByte('\n')
			path := filepath.Join("testdata", "ocsf_"+tc.name+".json")
			if *update {
				os.WriteFile(path, pretty.Bytes(), 0o644)
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(pretty.Bytes(), want) {
				t.Fatalf("%s differs:\n%s", path, pretty.Bytes())
			}
		})
	}
}

func TestNativeIsTheRESTJSON(t *testing.T) {
	b, err := Native(store.Record{Seq: 3, Event: base()})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	if m["name"] != "events/0b9e2ad5-7a55-4c1e-8d4b-3f2a1c0e9d8b" || m["eventSource"] != "billing" || m["eventTime"] != "2026-12-01T10:00:00.123456789Z" {
		t.Fatalf("native: %s", b)
	}
}
