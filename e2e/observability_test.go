package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestRequestLog: each request is logged once at info as JSON with its
// method, route, status, duration, principal and remote address; a failed
// authentication at warn; never a token or a payload.
func TestRequestLog(t *testing.T) {
	s := startServer(t, "")
	id := newID()
	s.create(id, ev(map[string]any{"metadata": map[string]any{"secret_payload": "do-not-log-me"}}))
	s.restAs("wrong-token", "POST", "/v1/events:search", "{}")
	c, ctx := s.grpcClient()
	c.SearchEvents(ctx, nil)
	resp, err := http.Get(s.url("/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), `audittrail_build_info{commit=`) {
		t.Error("no audittrail_build_info on /metrics")
	}
	time.Sleep(100 * time.Millisecond) // the log lines of the last requests
	var created, grpcSearch, authWarn int
	for _, line := range strings.Split(s.log.String(), "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		if strings.Contains(line, s.token) || strings.Contains(line, "wrong-token") || strings.Contains(line, "do-not-log-me") {
			t.Errorf("log line carries a token or payload: %s", line)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not JSON: %s", line)
		}
		switch {
		case m["msg"] == "request" && m["route"] == "/v1/events" && m["method"] == "POST":
			created++
			if m["level"] != "INFO" || m["status"] != float64(200) || m["principal"] != "services/audittrail-admin" || m["remote"] != "127.0.0.1" || m["duration"] == nil {
				t.Errorf("create's log line %v", m)
			}
		case m["msg"] == "request" && m["route"] == "/audittrail.v1.EventService/SearchEvents":
			grpcSearch++
			if m["grpc_code"] != "0" || m["principal"] != "services/audittrail-admin" {
				t.Errorf("gRPC search's log line %v", m)
			}
		case m["msg"] == "authentication failed":
			authWarn++
			if m["level"] != "WARN" {
				t.Errorf("failed authentication logged at %v", m["level"])
			}
		}
	}
	if created != 1 || grpcSearch != 1 || authWarn != 1 {
		t.Errorf("log lines: %d for the create, %d for the gRPC search, %d failed authentications; want 1 each\n%s", created, grpcSearch, authWarn, s.log)
	}
}

// TestGrafanaDashboardMetricsExist: every metric the dashboard in
// deploy/grafana queries is one the server exports.
func TestGrafanaDashboardMetricsExist(t *testing.T) {
	s := startServer(t, "")
	s.create(newID(), ev(nil))
	s.searchAll(map[string]any{}, 10)
	s.restAs("wrong", "POST", "/v1/events:search", "{}") // a refused request
	b, err := os.ReadFile("../deploy/grafana/audittrail.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil || len(dash.Panels) == 0 {
		t.Fatalf("dashboard: %v", err)
	}
	resp, err := http.Get(s.url("/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	exported, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	names := regexp.MustCompile(`audittrail_[a-z0-9_]+`)
	checked := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, n := range names.FindAllString(tg.Expr, -1) {
				base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_sum"), "_count")
				if !strings.Contains(string(exported), "# TYPE "+base+" ") {
					t.Errorf("panel %q queries %s, which /metrics does not export", p.Title, n)
				}
				checked++
			}
		}
	}
	if checked < 10 {
		t.Errorf("only %d metric references checked", checked)
	}
}
