package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
)

// TestOTLPLogsReceiver feeds the receiver with the OpenTelemetry Go SDK's
// own OTLP/HTTP log exporter: records with the audit.* attributes are
// stored (a record sent twice once), others refused without failing the
// export.
func TestOTLPLogsReceiver(t *testing.T) {
	s := startServer(t, "", "--otlp-logs")
	ctx := context.Background()
	exp, err := otlploghttp.New(ctx, otlploghttp.WithEndpoint(s.addr), otlploghttp.WithInsecure(),
		otlploghttp.WithHeaders(map[string]string{"Authorization": "Bearer " + s.token}))
	if err != nil {
		t.Fatal(err)
	}
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewSimpleProcessor(exp)),
		sdklog.WithResource(resource.NewSchemaless(semconv.ServiceName("billing"))))
	logger := lp.Logger("audit")
	uid := newID()
	emit := func(attrs ...attribute.KeyValue) {
		var r otellog.Record
		r.SetTimestamp(time.Now())
		r.SetBody(attribute.StringValue("invoice changed"))
		r.AddAttributes(attrs...)
		logger.Emit(ctx, r)
	}
	full := []attribute.KeyValue{
		attribute.String("audit.action", "actions/billing/invoices/CREATE"), attribute.String("audit.principal", "services/billing"),
		attribute.String("audit.source_ip", "203.0.113.5"), attribute.String("audit.resource", "//billing/workspaces/w1/invoices/7"),
		attribute.Int("audit.status_code", 0), attribute.Bool("audit.read_only", false), attribute.String("audit.metadata.env", "prod"),
		attribute.String("log.record.uid", uid),
	}
	emit(full...)
	emit(full...) // sent again: stored once
	emit(attribute.String("audit.action", "actions/billing/invoices/GET"), attribute.String("audit.principal", "users/ann"),
		attribute.String("audit.source_ip", "10.0.0.9"), attribute.Bool("audit.read_only", true))
	emit(attribute.String("audit.action", "actions/billing/invoices/DELETE"), attribute.String("audit.source_ip", "10.0.0.9")) // no principal
	emit(attribute.String("http.route", "/healthz"))                                                                           // not an audit record
	if err := lp.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	got := s.searchAll(map[string]any{"eventSourceExact": "billing"}, 100)
	if len(got) != 2 {
		t.Fatalf("stored %v, want 2 events", got)
	}
	code, e := s.rest("GET", "/v1/events/"+uid, nil)
	if code != 200 || e["action"] != "actions/billing/invoices/CREATE" || e["workspace"] != "workspaces/w1" || e["metadata"].(map[string]any)["env"] != "prod" {
		t.Errorf("the record with log.record.uid: HTTP %d %v", code, e)
	}
	// OTLP/JSON, and the partial success that reports refused records.
	body := fmt.Sprintf(`{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"json-svc"}}]},"scopeLogs":[{"logRecords":[
		{"timeUnixNano":"%d","attributes":[{"key":"audit.action","value":{"stringValue":"actions/json/CREATE"}},{"key":"audit.principal","value":{"stringValue":"services/json"}},{"key":"audit.source_ip","value":{"stringValue":"8.8.8.8"}}]},
		{"timeUnixNano":"%d","attributes":[{"key":"audit.action","value":{"stringValue":"actions/json/CREATE"}}]}]}]}]}`, time.Now().UnixNano(), time.Now().UnixNano())
	req, _ := http.NewRequest("POST", s.url("/v1/logs"), strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	ps, _ := out["partialSuccess"].(map[string]any)
	if resp.StatusCode != 200 || fmt.Sprint(ps["rejectedLogRecords"]) != "1" || ps["errorMessage"] == "" {
		t.Errorf("OTLP/JSON: HTTP %d %v; want 200 with one rejected record", resp.StatusCode, out)
	}
	if got := s.searchAll(map[string]any{"eventSourceExact": "json-svc"}, 10); len(got) != 1 {
		t.Errorf("OTLP/JSON stored %v", got)
	}
}
