package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/audittrail/audittrail/api/audittrail/v1"
)

func TestUnauthenticated(t *testing.T) {
	s := startServer(t, "")
	id := newID()
	s.create(id, ev(nil))
	routes := []struct{ method, path string }{
		{"POST", "/v1/events?event_id=" + newID()},
		{"POST", "/v1/events:batchCreate"},
		{"POST", "/v1/events:search"},
		{"GET", "/v1/events/" + id},
	}
	for _, tok := range []string{"", "wrong", s.token + "x"} {
		for _, r := range routes {
			t.Run(fmt.Sprintf("%s %s token=%q", r.method, r.path, tok), func(t *testing.T) {
				code, body := s.restAs(tok, r.method, r.path, "{}")
				if code != 401 || body["code"] != float64(16) {
					t.Errorf("HTTP %d %v; want 401 code 16", code, body)
				}
			})
		}
	}
	t.Run("gRPC", func(t *testing.T) {
		c, _ := s.grpcClient()
		ctx := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer nope")
		_, err := c.GetEvent(ctx, &pb.GetEventRequest{Name: "events/" + id})
		if status.Code(err) != codes.Unauthenticated {
			t.Errorf("GetEvent with a bad token: %v, want UNAUTHENTICATED", err)
		}
		_, err = c.SearchEvents(t.Context(), &pb.SearchEventsRequest{})
		if status.Code(err) != codes.Unauthenticated {
			t.Errorf("SearchEvents without token: %v, want UNAUTHENTICATED", err)
		}
	})
}

func TestCreateValidation(t *testing.T) {
	s := startServer(t, "")
	future := time.Now().Add(11 * time.Minute).UTC().Format(time.RFC3339)
	meta := func(n int) map[string]any {
		m := map[string]any{}
		for i := range n {
			m[fmt.Sprintf("k%d", i)] = "v"
		}
		return m
	}
	tests := []struct {
		name    string
		id      string
		event   map[string]any
		wantMsg string
	}{
		{"id missing", "", ev(nil), "event_id: required"},
		{"id not uuid", "abc", ev(nil), "event_id must be in UUIDv4 format"},
		{"id uppercase", "6F1C2B9E-2F7A-4B1E-9C3D-0A1B2C3D4E5F", ev(nil), "event_id must be in UUIDv4 format"},
		{"id v1", "6f1c2b9e-2f7a-1b1e-9c3d-0a1b2c3d4e5f", ev(nil), "event_id must be in UUIDv4 format"},
		{"event_time missing", "", ev(map[string]any{"eventTime": nil}), "event_time: required"},
		{"event_time before 1970", "", ev(map[string]any{"eventTime": "1969-12-31T23:59:59Z"}), "event_time: must not be before 1970"},
		{"event_time in the future", "", ev(map[string]any{"eventTime": future}), "event_time: must not be more than 10m0s in the future"},
		{"event_source missing", "", ev(map[string]any{"eventSource": nil}), "event_source: required"},
		{"event_source whitespace", "", ev(map[string]any{"eventSource": "a b"}), "event_source: must not contain whitespace"},
		{"event_source too long", "", ev(map[string]any{"eventSource": strings.Repeat("s", 257)}), "event_source: must be at most 256 characters"},
		{"action missing", "", ev(map[string]any{"action": nil}), "action: required"},
		{"action control char", "", ev(map[string]any{"action": "a\u0007b"}), "action: must not contain whitespace or control"},
		{"action too long", "", ev(map[string]any{"action": strings.Repeat("a", 513)}), "action: must be at most 512 characters"},
		{"status missing", "", ev(map[string]any{"status": nil}), "status: required"},
		{"status code 17", "", ev(map[string]any{"status": map[string]any{"code": 17}}), "status.code: must be a google.rpc.Code value 0-16"},
		{"principal missing", "", ev(map[string]any{"principal": nil}), "principal: required"},
		{"principal bad form", "", ev(map[string]any{"principal": "alice"}), "principal: must be of the form users/<id> or services/<name>"},
		{"principal two segments", "", ev(map[string]any{"principal": "users/a/b"}), "principal: must be of the form"},
		{"principal too long", "", ev(map[string]any{"principal": "users/" + strings.Repeat("p", 507)}), "principal: must be at most 512 characters"},
		{"ip missing", "", ev(map[string]any{"sourceIpAddress": nil}), "source_ip_address: required"},
		{"ip invalid", "", ev(map[string]any{"sourceIpAddress": "999.1.1.1"}), "source_ip_address: must be an IPv4 or IPv6 literal"},
		{"resource too long", "", ev(map[string]any{"resource": strings.Repeat("r", 2049)}), "resource: must be at most 2048 characters"},
		{"workspace_override bad form", "", ev(map[string]any{"workspaceOverride": "w1"}), `workspace_override: must be "" or of the form workspaces/<id>`},
		{"workspace_override nested", "", ev(map[string]any{"workspace_override": "workspaces/a/b"}), "workspace_override: must be"},
		{"workspace_override too long", "", ev(map[string]any{"workspaceOverride": "workspaces/" + strings.Repeat("w", 246)}), "workspace_override: must be at most 256 characters"},
		{"workspace_override not a string", "", ev(map[string]any{"workspaceOverride": 7}), "workspaceOverride"},
		{"user_agent too long", "", ev(map[string]any{"userAgent": strings.Repeat("u", 1025)}), "user_agent: must be at most 1024 characters"},
		{"metadata key", "", ev(map[string]any{"metadata": map[string]any{"Invalid-Key": "x"}}), `metadata key "Invalid-Key": must be lowercase letters, digits or '_'`},
		{"metadata key start", "", ev(map[string]any{"metadata": map[string]any{"9a": "x"}}), "must start with a letter"},
		{"metadata key end", "", ev(map[string]any{"metadata": map[string]any{"a_": "x"}}), "must end with a letter or digit"},
		{"metadata key too long", "", ev(map[string]any{"metadata": map[string]any{strings.Repeat("k", 64): "x"}}), "must be 1-63 characters"},
		{"metadata too many", "", ev(map[string]any{"metadata": meta(65)}), "metadata: must have at most 64 entries"},
		{"metadata value too long", "", ev(map[string]any{"metadata": map[string]any{"k": strings.Repeat("v", 4097)}}), "value must be at most 4096 bytes"},
		{"params too many", "", ev(map[string]any{"requestParameters": meta(65)}), "request_parameters: must have at most 64 entries"},
		{"params key too long", "", ev(map[string]any{"requestParameters": map[string]any{strings.Repeat("k", 257): "x"}}), "must be at most 256 bytes"},
		{"params value too long", "", ev(map[string]any{"requestParameters": map[string]any{"k": strings.Repeat("v", 4097)}}), "value must be at most 4096 bytes"},
		{"type unknown", "", ev(map[string]any{"type": 5}), "type: must be TYPE_UNSPECIFIED, TYPE_API or TYPE_SYSTEM"},
		{"event over 64 KiB", "", ev(map[string]any{"metadata": func() map[string]any {
			m := map[string]any{}
			for i := range 20 {
				m[fmt.Sprintf("k%d", i)] = strings.Repeat("v", 4000)
			}
			return m
		}()}), "event: must be at most 64 KiB serialized"},
		{"unknown field", "", ev(map[string]any{"bogus": 1}), `unknown field "bogus"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := tc.id
			if id == "" && !strings.HasPrefix(tc.name, "id missing") {
				id = newID()
			}
			code, body := s.rest("POST", "/v1/events?event_id="+id, tc.event)
			if code != 400 || body["code"] != float64(3) {
				t.Fatalf("HTTP %d %v; want 400 code 3", code, body)
			}
			if msg, _ := body["message"].(string); !strings.Contains(msg, tc.wantMsg) {
				t.Errorf("message %q, want it to contain %q", msg, tc.wantMsg)
			}
			if len(body) != 2 {
				t.Errorf("error body %v: want exactly code and message", body)
			}
		})
	}
	t.Run("gRPC invalid argument", func(t *testing.T) {
		c, ctx := s.grpcClient()
		_, err := c.CreateEvent(ctx, &pb.CreateEventRequest{EventId: newID(), Event: &pb.Event{
			EventTime: timestamppb.Now(), EventSource: "s", Action: "a", Status: &pb.Status{},
			Principal: "users/x", SourceIpAddress: "8.8.8.8", Metadata: map[string]string{"Invalid-Key": "x"},
		}})
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), `metadata key "Invalid-Key"`) {
			t.Errorf("got %v", err)
		}
	})
	t.Run("nothing stored", func(t *testing.T) {
		if n := s.searchAll(map[string]any{"eventSourceExact": "e2e-source"}, 1000); len(n) != 0 {
			t.Errorf("invalid events were stored: %v", n)
		}
	})
}

func TestCreateStoresNormalisedEvent(t *testing.T) {
	s := startServer(t, "")
	id := newID()
	before := time.Now()
	got := s.create(id, map[string]any{
		"event_time":        "2026-03-04T05:06:07.123456789Z", // proto names are accepted too
		"event_source":      "h2oai-enginemanager-server",
		"action":            "actions/enginemanager/daiEngines/CREATE",
		"status":            map[string]any{"code": 7, "message": "denied"},
		"principal":         "services/engine",
		"source_ip_address": "192.168.7.1",
		"resource":          "//engine-manager/workspaces/8dcc/daiEngines/e1",
		"read_only":         true,
		"metadata":          map[string]any{"env": "prod"},
		"name":              "events/ignored", // output only
	})
	want := map[string]any{
		"name":            "events/" + id,
		"eventTime":       "2026-03-04T05:06:07.123456789Z",
		"sourceIpAddress": "private",
		"workspace":       "workspaces/8dcc",
		"type":            "TYPE_API",
		"readOnly":        true,
		"loginPrincipal":  "",
	}
	for k, v := range want {
		if fmt.Sprint(got[k]) != fmt.Sprint(v) {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	rt, err := time.Parse(time.RFC3339Nano, got["receiveTime"].(string))
	if err != nil || rt.Before(before.Add(-time.Second)) || rt.After(time.Now().Add(time.Second)) {
		t.Errorf("receiveTime %v not set to the acceptance time", got["receiveTime"])
	}
	code, fetched := s.rest("GET", "/v1/events/"+id, nil)
	if code != 200 || fmt.Sprint(fetched) != fmt.Sprint(got) {
		t.Errorf("GET: HTTP %d\n got %v\nwant %v", code, fetched, got)
	}

	t.Run("duplicate id", func(t *testing.T) {
		code, body := s.rest("POST", "/v1/events?event_id="+id, ev(map[string]any{"action": "actions/other/DELETE"}))
		if code != 409 || body["code"] != float64(6) {
			t.Fatalf("HTTP %d %v; want 409 code 6", code, body)
		}
		_, again := s.rest("GET", "/v1/events/"+id, nil)
		if fmt.Sprint(again) != fmt.Sprint(got) {
			t.Errorf("stored event changed by a duplicate create")
		}
	})
	t.Run("duplicate id with invalid content", func(t *testing.T) {
		code, body := s.rest("POST", "/v1/events?event_id="+id, ev(map[string]any{"principal": "nobody"}))
		if code != 409 || body["code"] != float64(6) {
			t.Fatalf("HTTP %d %v; want 409: an existing id answers ALREADY_EXISTS whatever the content", code, body)
		}
		code, body = s.rest("POST", "/v1/events:batchCreate", map[string]any{"requests": []map[string]any{{"eventId": id, "event": ev(map[string]any{"status": nil})}}})
		if st := body["failedRequests"].(map[string]any)["0"].(map[string]any); code != 200 || st["code"] != float64(6) {
			t.Errorf("batch: HTTP %d %v; want failed request 0 with code 6", code, body)
		}
	})
	t.Run("get unknown", func(t *testing.T) {
		code, body := s.rest("GET", "/v1/events/"+newID(), nil)
		if code != 404 || body["code"] != float64(5) {
			t.Errorf("HTTP %d %v; want 404 code 5", code, body)
		}
	})
	t.Run("get malformed name", func(t *testing.T) {
		code, body := s.rest("GET", "/v1/events/not-a-uuid", nil)
		if code != 400 || !strings.Contains(body["message"].(string), "name:") {
			t.Errorf("HTTP %d %v; want 400 naming the field", code, body)
		}
	})
	t.Run("grpc get", func(t *testing.T) {
		c, ctx := s.grpcClient()
		e, err := c.GetEvent(ctx, &pb.GetEventRequest{Name: "events/" + id})
		if err != nil || e.GetWorkspace() != "workspaces/8dcc" || e.GetStatus().GetCode() != 7 {
			t.Errorf("GetEvent: %v %v", e, err)
		}
	})
}

func TestBatchCreate(t *testing.T) {
	s := startServer(t, "")
	existing := newID()
	s.create(existing, ev(nil))
	repeated := newID()
	reqs := []map[string]any{
		{"eventId": newID(), "event": ev(map[string]any{"action": "a/0"})},
		{"eventId": "bad-id", "event": ev(nil)},
		{"eventId": newID(), "event": ev(map[string]any{"principal": "nobody"})},
		{"eventId": existing, "event": ev(nil)},
		{"eventId": repeated, "event": ev(map[string]any{"action": "a/4"})},
		{"eventId": repeated, "event": ev(map[string]any{"action": "a/5"})},
		{"event_id": newID(), "event": ev(map[string]any{"action": "a/6"})},
	}
	code, body := s.rest("POST", "/v1/events:batchCreate", map[string]any{"requests": reqs})
	if code != 200 {
		t.Fatalf("HTTP %d %v", code, body)
	}
	failed := body["failedRequests"].(map[string]any)
	wantFailed := map[string]float64{"1": 3, "2": 3, "3": 6, "5": 6}
	if len(failed) != len(wantFailed) {
		t.Errorf("failedRequests %v, want keys %v", failed, wantFailed)
	}
	for k, c := range wantFailed {
		st, ok := failed[k].(map[string]any)
		if !ok || st["code"] != c || st["message"] == "" {
			t.Errorf("failedRequests[%s] = %v, want code %v with a message", k, failed[k], c)
		}
	}
	var actions []string
	for _, e := range body["events"].([]any) {
		actions = append(actions, e.(map[string]any)["action"].(string))
	}
	if strings.Join(actions, ",") != "a/0,a/4,a/6" {
		t.Errorf("stored events %v, want a/0,a/4,a/6 in request order", actions)
	}

	for _, n := range []int{0, 1001} {
		t.Run(fmt.Sprintf("%d requests", n), func(t *testing.T) {
			reqs := make([]map[string]any, n)
			for i := range reqs {
				reqs[i] = map[string]any{"eventId": newID(), "event": ev(nil)}
			}
			code, body := s.rest("POST", "/v1/events:batchCreate", map[string]any{"requests": reqs})
			if code != 400 || !strings.Contains(body["message"].(string), "requests: must hold 1 to 1000") {
				t.Errorf("HTTP %d %v", code, body)
			}
		})
	}
	t.Run("1000 requests", func(t *testing.T) {
		c, ctx := s.grpcClient()
		req := &pb.BatchCreateEventsRequest{}
		for range 1000 {
			req.Requests = append(req.Requests, &pb.CreateEventRequest{EventId: newID(), Event: &pb.Event{
				EventTime: timestamppb.Now(), EventSource: "s", Action: "a", Status: &pb.Status{},
				Principal: "users/x", SourceIpAddress: "8.8.8.8",
			}})
		}
		resp, err := c.BatchCreateEvents(ctx, req)
		if err != nil || len(resp.Events) != 1000 || len(resp.FailedRequests) != 0 {
			t.Fatalf("gRPC batch of 1000: %d stored, %v failed, %v", len(resp.GetEvents()), resp.GetFailedRequests(), err)
		}
	})
}

func TestTransportRules(t *testing.T) {
	s := startServer(t, "")
	t.Run("method not allowed", func(t *testing.T) {
		for _, r := range []struct{ method, path string }{
			{"DELETE", "/v1/events/" + newID()},
			{"PUT", "/v1/events/" + newID()},
			{"PATCH", "/v1/events/" + newID()},
			{"GET", "/v1/events:search"},
			{"DELETE", "/v1/events"},
		} {
			code, body := s.rest(r.method, r.path, nil)
			if code != http.StatusMethodNotAllowed || body["message"] == nil {
				t.Errorf("%s %s: HTTP %d %v, want 405 with a JSON body", r.method, r.path, code, body)
			}
		}
	})
	t.Run("body limit", func(t *testing.T) {
		big := `{"requests":[{"eventId":"x","event":{"resource":"` + strings.Repeat("r", 17<<20) + `"}}]}`
		code, body := s.rest("POST", "/v1/events:batchCreate", big)
		if code != http.StatusRequestEntityTooLarge {
			t.Errorf("17 MiB body: HTTP %d %v, want 413", code, body)
		}
	})
	t.Run("body limit without content length", func(t *testing.T) {
		pr, pw := io.Pipe()
		go func() {
			pw.Write([]byte(`{"requests":[{"eventId":"x","event":{"resource":"`))
			chunk := []byte(strings.Repeat("r", 1<<20))
			for range 17 {
				if _, err := pw.Write(chunk); err != nil {
					return
				}
			}
			pw.Write([]byte(`"}}]}`))
			pw.Close()
		}()
		req, _ := http.NewRequest("POST", s.url("/v1/events:batchCreate"), pr)
		req.Header.Set("Authorization", "Bearer "+s.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		pr.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("chunked 17 MiB body: HTTP %d, want 413", resp.StatusCode)
		}
	})
	t.Run("large batch under the limit", func(t *testing.T) {
		reqs := make([]map[string]any, 1000)
		for i := range reqs {
			reqs[i] = map[string]any{"eventId": newID(), "event": ev(map[string]any{
				"metadata": map[string]any{"a": strings.Repeat("v", 4000), "b": strings.Repeat("w", 4000), "c": strings.Repeat("x", 4000)}})}
		}
		code, body := s.rest("POST", "/v1/events:batchCreate", map[string]any{"requests": reqs})
		if code != 200 || len(body["events"].([]any)) != 1000 {
			t.Errorf("batch of 1000 12 KB events: HTTP %d", code)
		}
	})
	t.Run("health", func(t *testing.T) {
		for _, p := range []string{"/healthz", "/readyz"} {
			resp, err := http.Get(s.url(p))
			if err != nil || resp.StatusCode != 200 {
				t.Errorf("%s: %v %v", p, resp, err)
			}
		}
		resp, err := http.Get(s.url("/metrics"))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		buf, _ := io.ReadAll(resp.Body)
		for _, m := range []string{"audittrail_requests_total", "audittrail_events_accepted_total", "audittrail_batch_size", "audittrail_store_commit_seconds", "audittrail_request_duration_seconds", "audittrail_log_checkpoint_size", "audittrail_log_checkpoint_timestamp_seconds", "audittrail_log_sign_failures_total"} {
			if !strings.Contains(string(buf), m) {
				t.Errorf("/metrics lacks %s", m)
			}
		}
	})
}

func TestPublicListenerServesReadsOnly(t *testing.T) {
	s := startServer(t, "", "--public-addr", "127.0.0.1:0")
	if s.publicAddr == "" {
		t.Fatal("no public address printed")
	}
	id := newID()
	s.create(id, ev(nil))
	pub := &server{t: t, addr: s.publicAddr, token: s.token, data: s.data}
	for _, r := range []struct{ path, body string }{
		{"/v1/events?event_id=" + newID(), "{}"},
		{"/v1/events:batchCreate", `{"requests":[]}`},
		{"/v1/tokens", `{"principal":"services/x"}`},
		{"/v1/tokens:revoke", `{"principal":"services/x"}`},
	} {
		code, body := pub.rest("POST", r.path, r.body)
		if code != http.StatusMethodNotAllowed || !strings.Contains(body["message"].(string), "read RPCs only") {
			t.Errorf("POST %s on the public address: HTTP %d %v, want 405", r.path, code, body)
		}
	}
	if code, _ := pub.rest("GET", "/v1/events/"+id, nil); code != 200 {
		t.Errorf("GET on the public address: HTTP %d", code)
	}
	if code, _ := pub.rest("POST", "/v1/events:search", "{}"); code != 200 {
		t.Errorf("search on the public address: HTTP %d", code)
	}
	if code, _ := pub.restAs("", "POST", "/v1/events:search", "{}"); code != 401 {
		t.Errorf("search without token on the public address: HTTP %d", code)
	}
	c, ctx := pub.grpcClient()
	_, err := c.CreateEvent(ctx, &pb.CreateEventRequest{EventId: newID(), Event: &pb.Event{}})
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("gRPC create on the public address: %v, want PERMISSION_DENIED", err)
	}
	_, err = c.BatchCreateEvents(ctx, &pb.BatchCreateEventsRequest{})
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("gRPC batch create on the public address: %v, want PERMISSION_DENIED", err)
	}
	if _, err := c.GetEvent(ctx, &pb.GetEventRequest{Name: "events/" + id}); err != nil {
		t.Errorf("gRPC get on the public address: %v", err)
	}
	conn, _ := pub.grpcConn()
	if _, err := pb.NewTokenServiceClient(conn).CreateToken(ctx, &pb.CreateTokenRequest{Principal: "services/x"}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("gRPC token create on the public address: %v, want PERMISSION_DENIED", err)
	}
	s.create(newID(), ev(nil)) // the internal address still creates
}
