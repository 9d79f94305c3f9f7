package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/audittrail/audittrail/api/audittrail/v1"
)

// TestWorkspaceOverride covers SPEC §2: workspace is output only (ignored
// on input), workspace_override wins over the resource even as "", and is
// never returned.
func TestWorkspaceOverride(t *testing.T) {
	s := startServer(t, "")
	res := "//engine-manager/workspaces/8dcc/daiEngines/e1"
	for _, tc := range []struct {
		name string
		set  map[string]any
		want string
	}{
		{"derived from resource", map[string]any{"resource": res}, "workspaces/8dcc"},
		{"workspace input ignored", map[string]any{"resource": res, "workspace": "workspaces/other"}, "workspaces/8dcc"},
		{"invalid workspace input ignored", map[string]any{"workspace": "not a workspace"}, ""},
		{"override wins", map[string]any{"resource": res, "workspaceOverride": "workspaces/w9"}, "workspaces/w9"},
		{"override proto name", map[string]any{"resource": res, "workspace_override": "workspaces/w8"}, "workspaces/w8"},
		{"empty override means none", map[string]any{"resource": res, "workspaceOverride": ""}, ""},
		{"null override is unset", map[string]any{"resource": res, "workspaceOverride": nil}, "workspaces/8dcc"},
		{"override without resource", map[string]any{"workspaceOverride": "workspaces/w7"}, "workspaces/w7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := ev(nil)
			for k, v := range tc.set {
				e[k] = v // nil stays as JSON null
			}
			id := newID()
			got := s.create(id, e)
			if got["workspace"] != tc.want {
				t.Errorf("workspace %q, want %q", got["workspace"], tc.want)
			}
			_, fetched := s.rest("GET", "/v1/events/"+id, nil)
			for name, m := range map[string]map[string]any{"create": got, "get": fetched} {
				if _, ok := m["workspaceOverride"]; ok {
					t.Errorf("%s answer carries workspaceOverride: %v", name, m)
				}
			}
			if fetched["workspace"] != tc.want {
				t.Errorf("stored workspace %q, want %q", fetched["workspace"], tc.want)
			}
		})
	}
	t.Run("gRPC", func(t *testing.T) {
		c, ctx := s.grpcClient()
		e := &pb.Event{EventTime: timestamppb.Now(), EventSource: "s", Action: "a", Status: &pb.Status{}, Principal: "users/x",
			SourceIpAddress: "8.8.8.8", Resource: res, Workspace: "workspaces/ignored", WorkspaceOverride: new("")}
		resp, err := c.CreateEvent(ctx, &pb.CreateEventRequest{EventId: newID(), Event: e})
		if err != nil || resp.GetEvent().GetWorkspace() != "" || resp.GetEvent().WorkspaceOverride != nil {
			t.Errorf("got %v, %v; want workspace \"\" and no override", resp, err)
		}
		e.WorkspaceOverride = new("w1")
		_, err = c.CreateEvent(ctx, &pb.CreateEventRequest{EventId: newID(), Event: e})
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), "workspace_override") {
			t.Errorf("invalid override: %v", err)
		}
	})
}

// TestFilterPresence covers SPEC §3: every string filter field has
// presence; null is unset, "" a value, on REST and gRPC, and page tokens
// tell the two apart.
func TestFilterPresence(t *testing.T) {
	s := startServer(t, "")
	src := "presence-src"
	noResource := s.create(newID(), ev(map[string]any{"eventSource": src}))["name"].(string)
	withWS := s.create(newID(), ev(map[string]any{"eventSource": src, "resource": "//x/workspaces/w1/r"}))["name"].(string)
	overridden := s.create(newID(), ev(map[string]any{"eventSource": src, "resource": "//x/workspaces/w1/r", "workspaceOverride": ""}))["name"].(string)
	all := []string{noResource, withWS, overridden}
	fields := []string{"eventSource", "action", "principal", "resource", "workspace", "sourceIpAddress"}
	want := map[string][]string{ // exact "" per field
		"resource": {noResource}, "workspace": {noResource, overridden},
	}
	search := func(filter map[string]any) []string {
		filter["eventSourceRegex"] = "^" + src + "$" // isolates the test's events whatever else is set
		names := s.searchAll(filter, 2)
		sort.Strings(names)
		return names
	}
	sorted := func(v []string) []string { v = slices.Clone(v); sort.Strings(v); return v }
	for _, f := range fields {
		t.Run(f+" exact empty", func(t *testing.T) {
			if got := search(map[string]any{f + "Exact": ""}); !slices.Equal(got, sorted(want[f])) {
				t.Errorf("got %v, want %v", got, sorted(want[f]))
			}
		})
		t.Run(f+" exact null", func(t *testing.T) {
			if got := search(map[string]any{f + "Exact": nil}); !slices.Equal(got, sorted(all)) {
				t.Errorf("got %v, want all %v", got, sorted(all))
			}
		})
		t.Run(f+" regex empty", func(t *testing.T) {
			filter := map[string]any{f + "Regex": ""}
			if f == "eventSource" {
				filter = map[string]any{"eventSourceExact": src, f + "Regex": ""}
			}
			if got := search(filter); !slices.Equal(got, sorted(all)) {
				t.Errorf("got %v, want all %v", got, sorted(all))
			}
		})
	}
	t.Run("status regex empty", func(t *testing.T) {
		if got := search(map[string]any{"statusCodeRegex": ""}); !slices.Equal(got, sorted(all)) {
			t.Errorf("got %v, want all", got)
		}
	})
	t.Run("page token bound to presence", func(t *testing.T) {
		filter := map[string]any{"eventSourceExact": src, "workspaceExact": ""}
		code, body := s.rest("POST", "/v1/events:search", map[string]any{"filter": filter, "pageSize": 1})
		tok, _ := body["nextPageToken"].(string)
		if code != 200 || tok == "" {
			t.Fatalf("HTTP %d %v; want a first page with a token", code, body)
		}
		code, body = s.rest("POST", "/v1/events:search", map[string]any{"filter": map[string]any{"eventSourceExact": src, "workspaceExact": nil}, "pageSize": 1, "pageToken": tok})
		if code != 400 || !strings.Contains(body["message"].(string), "page_token") {
			t.Errorf("token reused with workspace_exact unset: HTTP %d %v; want 400 page_token", code, body)
		}
		if code, body = s.rest("POST", "/v1/events:search", map[string]any{"filter": filter, "pageSize": 1, "pageToken": tok}); code != 200 {
			t.Errorf("token with its own filter: HTTP %d %v", code, body)
		}
	})
	t.Run("gRPC", func(t *testing.T) {
		c, ctx := s.grpcClient()
		for _, tc := range []struct {
			filter *pb.Filter
			want   []string
		}{
			{&pb.Filter{EventSourceExact: &src, ResourceExact: new("")}, []string{noResource}},
			{&pb.Filter{EventSourceExact: &src, WorkspaceExact: new("")}, []string{noResource, overridden}},
			{&pb.Filter{EventSourceExact: &src, PrincipalExact: new("")}, nil},
			{&pb.Filter{EventSourceExact: &src, PrincipalRegex: new("")}, all},
			{&pb.Filter{EventSourceExact: &src}, all},
		} {
			resp, err := c.SearchEvents(ctx, &pb.SearchEventsRequest{Filter: tc.filter})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range resp.Events {
				got = append(got, e.GetName())
			}
			sort.Strings(got)
			if !slices.Equal(got, sorted(tc.want)) {
				t.Errorf("%v: got %v, want %v", tc.filter, got, sorted(tc.want))
			}
		}
	})
	t.Run("CLI", func(t *testing.T) {
		out, errOut, code := s.cli("", "event", "search", "--source", src, "--workspace", "", "-o", "jsonl", "--server", "http://"+s.addr)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		var got []string
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var e map[string]any
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				t.Fatalf("line %q: %v", line, err)
			}
			got = append(got, e["name"].(string))
		}
		sort.Strings(got)
		if want := sorted([]string{noResource, overridden}); !slices.Equal(got, want) {
			t.Errorf("--workspace '': got %v, want %v", got, want)
		}
		out, errOut, code = s.cli("", "event", "create", "--source", src, "--action", "a", "--principal", "services/cli",
			"--ip", "8.8.8.8", "--resource", "//x/workspaces/w1/r", "--workspace", "", "--server", "http://"+s.addr)
		var e map[string]any
		if code != 0 || json.Unmarshal([]byte(out), &e) != nil || e["workspace"] != "" || e["resource"] != "//x/workspaces/w1/r" {
			t.Errorf("create --workspace '': exit %d %s %s; want the stored event without a workspace", code, out, errOut)
		}
	})
}

// TestVersionAndOpenAPI covers SPEC §5's /version (no token, every
// listener, what --version prints) and the served OpenAPI document.
func TestVersionAndOpenAPI(t *testing.T) {
	s := startServer(t, "", "--public-addr", "127.0.0.1:0")
	get := func(t *testing.T, url string) map[string]any {
		t.Helper()
		resp, err := http.Get(url) // no token
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var m map[string]any
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || json.Unmarshal(b, &m) != nil {
			t.Fatalf("GET %s: HTTP %d %s %q", url, resp.StatusCode, resp.Header.Get("Content-Type"), b)
		}
		return m
	}
	out, err := runBinary("--version")
	if err != nil {
		t.Fatalf("--version: %v %s", err, out)
	}
	for _, addr := range []string{s.addr, s.publicAddr} {
		v := get(t, "http://"+addr+"/version")
		for _, k := range []string{"version", "commit", "buildTime", "goVersion"} {
			if _, ok := v[k].(string); !ok {
				t.Errorf("%s /version: %s missing in %v", addr, k, v)
			}
		}
		if v["version"] == "" || !strings.HasPrefix(v["goVersion"].(string), "go1.") {
			t.Errorf("/version %v", v)
		}
		if !strings.Contains(out, v["version"].(string)) || !strings.Contains(out, v["goVersion"].(string)) {
			t.Errorf("--version printed %q, /version answers %v", out, v)
		}
		doc := get(t, "http://"+addr+"/openapi.json")
		defs := doc["definitions"].(map[string]any)
		event := defs["v1Event"].(map[string]any)
		req := event["required"].([]any)
		for _, f := range []string{"eventTime", "eventSource", "action", "readOnly", "principal", "sourceIpAddress"} {
			if !slices.Contains(req, any(f)) {
				t.Errorf("v1Event.required %v lacks %s", req, f)
			}
		}
		props := event["properties"].(map[string]any)
		for _, f := range []string{"name", "receiveTime", "loginPrincipal", "workspace"} {
			if props[f].(map[string]any)["readOnly"] != true {
				t.Errorf("v1Event.%s is not readOnly", f)
			}
		}
		if props["workspaceOverride"] == nil || props["eventTime"].(map[string]any)["readOnly"] == true {
			t.Errorf("v1Event properties %v", props)
		}
		st := defs["audittrailV1Status"].(map[string]any)
		if !slices.Contains(st["required"].([]any), any("code")) {
			t.Errorf("Status.required %v", st["required"])
		}
		if _, ok := doc["securityDefinitions"].(map[string]any)["bearer"]; !ok || doc["info"].(map[string]any)["title"] != "audittrail API" {
			t.Errorf("securityDefinitions %v info %v", doc["securityDefinitions"], doc["info"])
		}
		if _, ok := defs["v1CreateEventResponse"]; !ok {
			t.Error("no v1CreateEventResponse")
		}
	}
}
