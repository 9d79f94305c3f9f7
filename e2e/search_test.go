package e2e

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/audittrail/audittrail/api/audittrail/v1"
)

var t0 = time.Date(2026, 2, 1, 12, 0, 0, 0, time.UTC)

// seed stores a dataset whose event i has event_time t0 - (i/2) minutes
// (pairs tie on time) and varied fields; it returns the names in storage
// order.
func seed(t *testing.T, s *server, n int) ([]string, []map[string]any) {
	var reqs []map[string]any
	var evs []map[string]any
	for i := range n {
		e := ev(map[string]any{
			"eventTime":       t0.Add(-time.Duration(i/2) * time.Minute).Format(time.RFC3339Nano),
			"eventSource":     []string{"src-a", "src-b"}[i%2],
			"action":          []string{"actions/x/CREATE", "actions/x/DELETE", "actions/y/GET"}[i%3],
			"principal":       []string{"users/0001", "users/0002", "users/1000", "services/svc"}[i%4],
			"sourceIpAddress": []string{"8.8.8.8", "10.0.0.1", "2001:4860::1"}[i%3],
			"resource":        fmt.Sprintf("//svc/workspaces/w%d/things/t%d", i%3, i%5),
			"readOnly":        i%2 == 0,
			"status":          map[string]any{"code": []int{0, 3, 5, 7}[i%4]},
			"metadata":        map[string]any{"env": []string{"prod", "dev"}[i%2], "tier": fmt.Sprint(i % 3)},
			"type":            []string{"TYPE_API", "TYPE_SYSTEM", "TYPE_UNSPECIFIED"}[i%3],
		})
		evs = append(evs, e)
		reqs = append(reqs, map[string]any{"eventId": newID(), "event": e})
	}
	code, body := s.rest("POST", "/v1/events:batchCreate", map[string]any{"requests": reqs})
	if code != 200 || len(body["failedRequests"].(map[string]any)) != 0 {
		t.Fatalf("seed: HTTP %d %v", code, body["failedRequests"])
	}
	var names []string
	for _, e := range body["events"].([]any) {
		names = append(names, e.(map[string]any)["name"].(string))
	}
	return names, evs
}

// window bounds searches to the seeded range, away from self-audit events.
func window(f map[string]any) map[string]any {
	out := map[string]any{"startEventTime": t0.Add(-24 * time.Hour).Format(time.RFC3339), "endEventTime": t0.Add(time.Second).Format(time.RFC3339)}
	for k, v := range f {
		out[k] = v
	}
	return out
}

func TestSearchFiltersAndOrder(t *testing.T) {
	s := startServer(t, "")
	const n = 60
	names, _ := seed(t, s, n)
	// Newest first; ties (pairs 2k, 2k+1) by acceptance order, newest first.
	order := func(pred func(i int) bool) []string {
		var out []string
		for k := 0; k < n; k += 2 {
			for _, i := range []int{k + 1, k} {
				if i < n && pred(i) {
					out = append(out, names[i])
				}
			}
		}
		return out
	}
	tests := []struct {
		name   string
		filter map[string]any
		pred   func(i int) bool
	}{
		{"time window only", nil, func(int) bool { return true }},
		{"start inclusive end exclusive", map[string]any{"startEventTime": t0.Add(-5 * time.Minute).Format(time.RFC3339), "endEventTime": t0.Add(-2 * time.Minute).Format(time.RFC3339)}, func(i int) bool { return i/2 >= 3 && i/2 <= 5 }},
		{"event_source_exact", map[string]any{"eventSourceExact": "src-b"}, func(i int) bool { return i%2 == 1 }},
		{"event_source_regex", map[string]any{"eventSourceRegex": "-a$"}, func(i int) bool { return i%2 == 0 }},
		{"action_exact", map[string]any{"actionExact": "actions/y/GET"}, func(i int) bool { return i%3 == 2 }},
		{"action_regex", map[string]any{"actionRegex": ".*CREATE$"}, func(i int) bool { return i%3 == 0 }},
		{"action_regex alternation", map[string]any{"actionRegex": "(CREATE|GET)"}, func(i int) bool { return i%3 != 1 }},
		{"principal_exact", map[string]any{"principalExact": "users/0002"}, func(i int) bool { return i%4 == 1 }},
		{"principal_regex prefix", map[string]any{"principalRegex": "^users/00"}, func(i int) bool { return i%4 < 2 }},
		{"principal_regex unanchored", map[string]any{"principalRegex": "0"}, func(i int) bool { return i%4 < 3 }},
		{"resource_exact", map[string]any{"resourceExact": "//svc/workspaces/w1/things/t2"}, func(i int) bool { return i%3 == 1 && i%5 == 2 }},
		{"resource_regex", map[string]any{"resourceRegex": "(t1|t3)$"}, func(i int) bool { return i%5 == 1 || i%5 == 3 }},
		{"workspace_exact", map[string]any{"workspaceExact": "workspaces/w2"}, func(i int) bool { return i%3 == 2 }},
		{"workspace_regex", map[string]any{"workspaceRegex": "^workspaces/w[01]$"}, func(i int) bool { return i%3 < 2 }},
		{"source_ip_address_exact private", map[string]any{"sourceIpAddressExact": "private"}, func(i int) bool { return i%3 == 1 }},
		{"source_ip_address_exact v6", map[string]any{"sourceIpAddressExact": "2001:4860::1"}, func(i int) bool { return i%3 == 2 }},
		{"source_ip_address_regex", map[string]any{"sourceIpAddressRegex": `^\d+\.\d+`}, func(i int) bool { return i%3 == 0 }},
		{"status_code_regex", map[string]any{"statusCodeRegex": "^(0|3)$"}, func(i int) bool { return i%4 < 2 }},
		{"read_only true", map[string]any{"readOnly": true}, func(i int) bool { return i%2 == 0 }},
		{"read_only false", map[string]any{"readOnly": false}, func(i int) bool { return i%2 == 1 }},
		{"metadata_exact", map[string]any{"metadataExact": map[string]any{"env": "dev", "tier": "1"}}, func(i int) bool { return i%2 == 1 && i%3 == 1 }},
		{"metadata_regex", map[string]any{"metadataRegex": map[string]any{"tier": "^[12]$"}}, func(i int) bool { return i%3 != 0 }},
		{"metadata_regex missing key", map[string]any{"metadataRegex": map[string]any{"nope": ".*"}}, func(int) bool { return false }},
		{"include_types", map[string]any{"includeTypes": []string{"TYPE_SYSTEM"}}, func(i int) bool { return i%3 == 1 }},
		{"include api (unspecified stored as api)", map[string]any{"includeTypes": []string{"TYPE_API"}}, func(i int) bool { return i%3 != 1 }},
		{"exclude_types", map[string]any{"excludeTypes": []string{"TYPE_API"}}, func(i int) bool { return i%3 == 1 }},
		{"combined", map[string]any{"principalExact": "users/0001", "actionRegex": "CREATE", "readOnly": true}, func(i int) bool { return i%4 == 0 && i%3 == 0 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := window(nil)
			for k, v := range tc.filter {
				f[k] = v
			}
			want := order(tc.pred)
			for _, ps := range []int{1000, 7} {
				if d := cmp.Diff(want, s.searchAll(f, ps)); d != "" {
					t.Fatalf("page size %d (-want +got):\n%s", ps, d)
				}
			}
		})
	}
	t.Run("gRPC", func(t *testing.T) {
		c, ctx := s.grpcClient()
		resp, err := c.SearchEvents(ctx, &pb.SearchEventsRequest{Filter: &pb.Filter{
			StartEventTime: timestamppb.New(t0.Add(-time.Hour)), EndEventTime: timestamppb.New(t0.Add(time.Second)),
			PrincipalExact: new("users/0002"),
		}})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range resp.Events {
			got = append(got, e.Name)
		}
		if d := cmp.Diff(order(func(i int) bool { return i%4 == 1 }), got); d != "" {
			t.Errorf("(-want +got):\n%s", d)
		}
	})
}

func TestSearchPaging(t *testing.T) {
	s := startServer(t, "")
	names, _ := seed(t, s, 120)
	search := func(body map[string]any) (int, map[string]any) { return s.rest("POST", "/v1/events:search", body) }

	t.Run("page sizes", func(t *testing.T) {
		for _, tc := range []struct{ size, want int }{{0, 50}, {1, 1}, {1001, 120}} {
			code, body := search(map[string]any{"filter": window(nil), "pageSize": tc.size})
			if code != 200 || len(body["events"].([]any)) != tc.want {
				t.Errorf("pageSize %d: HTTP %d, %d events; want %d", tc.size, code, len(body["events"].([]any)), tc.want)
			}
		}
		code, body := search(map[string]any{"filter": window(nil), "pageSize": -1})
		if code != 400 || !strings.Contains(body["message"].(string), "page_size") {
			t.Errorf("negative page size: HTTP %d %v", code, body)
		}
	})
	t.Run("exact page then empty token", func(t *testing.T) {
		code, body := search(map[string]any{"filter": window(nil), "pageSize": 120})
		if code != 200 || body["nextPageToken"] != "" || body["searchedUntilTime"] != t0.Add(-24*time.Hour).Format(time.RFC3339) {
			t.Errorf("HTTP %d token %q searchedUntil %v; want no token and the effective start", code, body["nextPageToken"], body["searchedUntilTime"])
		}
		code, body = search(map[string]any{"filter": window(nil), "pageSize": 10})
		if code != 200 || body["nextPageToken"] == "" {
			t.Fatalf("HTTP %d: want a token", code)
		}
		until, _ := time.Parse(time.RFC3339, body["searchedUntilTime"].(string))
		last, _ := time.Parse(time.RFC3339, body["events"].([]any)[9].(map[string]any)["eventTime"].(string))
		if until.After(last) {
			t.Errorf("searchedUntilTime %v is after the last returned event %v", until, last)
		}
	})
	t.Run("no skips or repeats while events arrive", func(t *testing.T) {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				// New events land before, inside and after the pages read.
				at := t0.Add(-time.Duration(i%70) * time.Minute).Add(time.Duration(i) * time.Millisecond)
				s.create(newID(), ev(map[string]any{"eventTime": at.Format(time.RFC3339Nano)}))
			}
		})
		got := s.searchAll(window(nil), 7)
		close(stop)
		wg.Wait()
		seen := map[string]int{}
		for _, n := range got {
			seen[n]++
			if seen[n] > 1 {
				t.Errorf("%s returned twice", n)
			}
		}
		for _, n := range names {
			if seen[n] != 1 {
				t.Errorf("%s skipped", n)
			}
		}
	})
	t.Run("token bound to filter and bytes", func(t *testing.T) {
		f := window(map[string]any{"actionRegex": "CREATE"})
		code, body := search(map[string]any{"filter": f, "pageSize": 5})
		tok, _ := body["nextPageToken"].(string)
		if code != 200 || tok == "" {
			t.Fatalf("HTTP %d, token %q", code, tok)
		}
		if code, _ := search(map[string]any{"filter": f, "pageSize": 5, "pageToken": tok}); code != 200 {
			t.Fatalf("token with its own filter: HTTP %d", code)
		}
		other := window(map[string]any{"actionRegex": "DELETE"})
		if code, body := search(map[string]any{"filter": other, "pageSize": 5, "pageToken": tok}); code != 400 || !strings.Contains(body["message"].(string), "page_token") {
			t.Errorf("token with another filter: HTTP %d %v", code, body)
		}
		if code, _ := search(map[string]any{"filter": window(nil), "pageSize": 5, "pageToken": tok}); code != 400 {
			t.Errorf("token with no filter: HTTP %d", code)
		}
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
		for i := range len(tok) {
			b := []byte(tok)
			b[i] = alphabet[(strings.IndexByte(alphabet, b[i])+1)%len(alphabet)]
			if code, _ := search(map[string]any{"filter": f, "pageSize": 5, "pageToken": string(b)}); code != 400 {
				t.Errorf("token altered at byte %d: HTTP %d, want 400", i, code)
			}
		}
		for _, bad := range []string{tok[:len(tok)-1], tok + "A", "garbage", tok + "=="} {
			if code, _ := search(map[string]any{"filter": f, "pageSize": 5, "pageToken": bad}); code != 400 {
				t.Errorf("token %q: HTTP %d, want 400", bad, code)
			}
		}
	})
}

func TestSearchValidation(t *testing.T) {
	s := startServer(t, "")
	tests := []struct {
		name    string
		filter  map[string]any
		wantMsg string
	}{
		{"start after end", map[string]any{"startEventTime": "2026-02-02T00:00:00Z", "endEventTime": "2026-02-01T00:00:00Z"}, "filter.start_event_time: must not be after end_event_time"},
		{"invalid regex", map[string]any{"actionRegex": "(unclosed"}, "filter.action_regex: invalid RE2 pattern"},
		{"not RE2", map[string]any{"principalRegex": `(?<=x)y`}, "filter.principal_regex: invalid RE2 pattern"},
		{"pattern too long", map[string]any{"resourceRegex": strings.Repeat("a", 1025)}, "filter.resource_regex: pattern must be at most 1024 bytes"},
		{"bad metadata regex", map[string]any{"metadataRegex": map[string]any{"env": "["}}, `filter.metadata_regex["env"]`},
		{"bad status regex", map[string]any{"statusCodeRegex": "*"}, "filter.status_code_regex"},
		{"pattern too complex", map[string]any{"actionRegex": strings.Repeat(".{1000}", 11)}, "filter.action_regex: pattern too complex"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := s.rest("POST", "/v1/events:search", map[string]any{"filter": tc.filter})
			if code != 400 || body["code"] != float64(3) || !strings.Contains(body["message"].(string), tc.wantMsg) {
				t.Errorf("HTTP %d %v; want 400 with %q", code, body, tc.wantMsg)
			}
		})
	}
	t.Run("start equals end", func(t *testing.T) {
		s.create(newID(), ev(map[string]any{"eventTime": "2026-02-01T00:00:00Z"}))
		code, body := s.rest("POST", "/v1/events:search", map[string]any{"filter": map[string]any{"startEventTime": "2026-02-01T00:00:00Z", "endEventTime": "2026-02-01T00:00:00Z"}})
		if code != 200 || len(body["events"].([]any)) != 0 || body["nextPageToken"] != "" {
			t.Errorf("HTTP %d %v; want no events", code, body)
		}
	})
	t.Run("default end is now", func(t *testing.T) {
		future := time.Now().Add(5 * time.Minute).UTC()
		s.create(newID(), ev(map[string]any{"eventTime": future.Format(time.RFC3339Nano), "action": "future/one"}))
		code, body := s.rest("POST", "/v1/events:search", map[string]any{"filter": map[string]any{"actionExact": "future/one"}})
		if code != 200 || len(body["events"].([]any)) != 0 {
			t.Errorf("HTTP %d, %d events; an event after now is outside the default window", code, len(body["events"].([]any)))
		}
		code, body = s.rest("POST", "/v1/events:search", map[string]any{"filter": map[string]any{"actionExact": "future/one", "endEventTime": future.Add(time.Second).Format(time.RFC3339Nano)}})
		if code != 200 || len(body["events"].([]any)) != 1 {
			t.Errorf("HTTP %d, %d events with an explicit end; want 1", code, len(body["events"].([]any)))
		}
	})
	t.Run("default window", func(t *testing.T) {
		s.create(newID(), ev(map[string]any{"eventTime": "2025-06-30T23:59:59Z", "action": "old/one"}))
		s.create(newID(), ev(map[string]any{"eventTime": "2025-07-01T00:00:00Z", "action": "old/two"}))
		code, body := s.rest("POST", "/v1/events:search", map[string]any{"filter": map[string]any{"actionRegex": "^old/"}})
		if code != 200 || len(body["events"].([]any)) != 1 || body["events"].([]any)[0].(map[string]any)["action"] != "old/two" {
			t.Errorf("HTTP %d %v; want only the event at the default start", code, body["events"])
		}
	})
}

func TestSearchSelfAudit(t *testing.T) {
	s := startServer(t, "")
	c, ctx := s.grpcClient()
	f := map[string]any{"actionRegex": "CREATE", "readOnly": true, "metadataExact": map[string]any{"env": "prod"}, "includeTypes": []string{"TYPE_SYSTEM"}, "startEventTime": "2026-01-01T00:00:00Z"}
	if code, body := s.rest("POST", "/v1/events:search", map[string]any{"filter": f}); code != 200 {
		t.Fatalf("search: HTTP %d %v", code, body)
	}
	if code, _ := s.rest("POST", "/v1/events:search", map[string]any{"filter": map[string]any{"principalRegex": "("}}); code != 400 {
		t.Fatalf("invalid search: HTTP %d", code)
	}
	_, err := c.SearchEvents(ctx, &pb.SearchEventsRequest{PageSize: -3})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("gRPC negative page size: %v", err)
	}
	// The audit events are searchable right after the searches returned.
	code, body := s.rest("POST", "/v1/events:search", map[string]any{"filter": map[string]any{"actionExact": "actions/audittrail/events/SEARCH"}})
	if code != 200 {
		t.Fatalf("HTTP %d", code)
	}
	evs := body["events"].([]any)
	if len(evs) != 3 {
		t.Fatalf("%d search events, want 3 (this search is recorded after it answers)", len(evs))
	}
	grpcSearch, bad, first := evs[0].(map[string]any), evs[1].(map[string]any), evs[2].(map[string]any)
	for _, e := range evs {
		e := e.(map[string]any)
		for k, v := range map[string]any{"eventSource": "audittrail-server", "readOnly": true, "type": "TYPE_API", "principal": "services/audittrail-admin", "sourceIpAddress": "private"} {
			if e[k] != v {
				t.Errorf("%s = %v, want %v", k, e[k], v)
			}
		}
	}
	wantParams := map[string]any{"action_regex": "CREATE", "read_only": "true", "metadata_exact": `{"env":"prod"}`, "include_types": "TYPE_SYSTEM", "start_event_time": "2026-01-01T00:00:00Z"}
	if d := cmp.Diff(wantParams, first["requestParameters"]); d != "" {
		t.Errorf("request_parameters (-want +got):\n%s", d)
	}
	if st := first["status"].(map[string]any); st["code"] != float64(0) {
		t.Errorf("successful search recorded with status %v", st)
	}
	if st := bad["status"].(map[string]any); st["code"] != float64(3) || !strings.Contains(st["message"].(string), "principal_regex") {
		t.Errorf("invalid search recorded with status %v, want code 3 and its message", st)
	}
	if st := grpcSearch["status"].(map[string]any); st["code"] != float64(3) {
		t.Errorf("invalid gRPC search recorded with status %v", st)
	}
	if ua := first["userAgent"].(string); !strings.Contains(ua, "Go-http-client") {
		t.Errorf("user agent %q, want the caller's", ua)
	}
	if ua := grpcSearch["userAgent"].(string); !strings.Contains(ua, "grpc-go") {
		t.Errorf("gRPC user agent %q, want the caller's", ua)
	}
	names := []string{}
	for _, e := range evs {
		names = append(names, e.(map[string]any)["name"].(string))
	}
	if slices.Contains(names, "") {
		t.Error("audit event without a name")
	}
}
