package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// h2oClient replays, request for request, what H2O's published Python client
// (h2o-audit-trail, an OpenAPI-generated client of H2O's grpc-gateway API)
// sends: login_custom()'s unauthenticated GET /version probe, its token
// provider's refresh-token exchange at the OIDC issuer, and the JSON bodies
// of the generated client (lowerCamelCase names, unset filter fields as
// null, Python's isoformat timestamps). The package itself cannot be
// installed here (no PyPI), so its wire format is reproduced from its
// source; docs/COMPATIBILITY.md lists what it sends and reads.
type h2oClient struct {
	t        *testing.T
	endpoint string
	token    string
}

// h2oLoginCustom does what h2o_audit_trail.login_custom(endpoint,
// refresh_token, issuer_url, client_id) does before its first call.
func h2oLoginCustom(t *testing.T, endpoint, refreshToken, issuerURL, clientID string) *h2oClient {
	t.Helper()
	resp, err := http.Get(strings.TrimRight(endpoint, "/") + "/version") // no token
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		t.Fatalf("Server is not reachable. Status code: %d, Response body: %s", resp.StatusCode, body)
	}
	resp, err = http.Get(issuerURL + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var disc struct {
		TokenEndpoint string `json:"token_endpoint"`
	}
	json.NewDecoder(resp.Body).Decode(&disc)
	resp.Body.Close()
	resp, err = http.PostForm(disc.TokenEndpoint, url.Values{
		"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}, "client_id": {clientID},
	})
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if resp.StatusCode != 200 || tok.AccessToken == "" {
		t.Fatalf("refresh token exchange: HTTP %d", resp.StatusCode)
	}
	return &h2oClient{t: t, endpoint: strings.TrimRight(endpoint, "/"), token: tok.AccessToken}
}

func (c *h2oClient) call(path string, body any) (int, map[string]any) {
	c.t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		c.t.Fatal(err)
	}
	req, err := http.NewRequest("POST", c.endpoint+path, bytes.NewReader(b))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "OpenAPI-Generator/1.0.0/python")
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		c.t.Fatalf("POST %s: HTTP %d, not a JSON object: %q", path, resp.StatusCode, raw)
	}
	return resp.StatusCode, out
}

// createEvent is event_service_create_event: the id as query parameter
// eventId, the Event as body.
func (c *h2oClient) createEvent(id string, e map[string]any) (int, map[string]any) {
	return c.call("/v1/events?eventId="+url.QueryEscape(id), e)
}

// batchCreate is event_service_batch_create_events.
func (c *h2oClient) batchCreate(reqs ...map[string]any) (int, map[string]any) {
	return c.call("/v1/events:batchCreate", map[string]any{"requests": reqs})
}

// search is event_service_search_events as search_events() calls it: every
// filter field present, null where the caller set nothing, the maps and
// lists empty, pageSize 0 and pageToken "" unless given.
func (c *h2oClient) search(set map[string]any, pageSize int, pageToken string) (int, map[string]any) {
	filter := map[string]any{
		"startEventTime": nil, "endEventTime": nil,
		"eventSourceExact": nil, "eventSourceRegex": nil, "resourceExact": nil, "resourceRegex": nil,
		"readOnly": nil, "statusCodeRegex": nil, "principalExact": nil, "principalRegex": nil,
		"sourceIpAddressExact": nil, "sourceIpAddressRegex": nil,
		"metadataExact": map[string]any{}, "metadataRegex": map[string]any{},
		"workspaceExact": nil, "workspaceRegex": nil, "actionExact": nil, "actionRegex": nil,
		"includeTypes": []any{}, "excludeTypes": []any{},
	}
	for k, v := range set {
		if _, ok := filter[k]; !ok {
			c.t.Fatalf("H2O's filter has no field %q", k)
		}
		filter[k] = v
	}
	return c.call("/v1/events:search", map[string]any{"filter": filter, "pageSize": pageSize, "pageToken": pageToken})
}

// pyTime is Python's datetime.isoformat() of an aware UTC datetime:
// microseconds (left out when zero) and a +00:00 offset.
func pyTime(t time.Time) string {
	t = t.UTC().Truncate(time.Microsecond)
	if t.Nanosecond() == 0 {
		return t.Format("2006-01-02T15:04:05-07:00")
	}
	return t.Format("2006-01-02T15:04:05.000000-07:00")
}

// pyNow is datetime.now(timezone.utc).
func pyNow() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// h2oEvent is event_to_api_event(Event(...)) as the generated model
// serialises it: the six required fields, status, and the wrapper's
// defaults for the optional ones; output-only fields are not sent.
func h2oEvent(at time.Time, principal string, set map[string]any) map[string]any {
	e := map[string]any{
		"eventTime": pyTime(at), "eventSource": "h2oai-enginemanager-server",
		"action": "actions/enginemanager/daiEngines/CREATE", "readOnly": false,
		"status": map[string]any{"code": 0}, "principal": principal, "sourceIpAddress": "1.1.1.1",
		"resource": "", "requestParameters": map[string]any{}, "userAgent": "", "metadata": map[string]any{},
		"type": "TYPE_API",
	}
	for k, v := range set {
		e[k] = v
	}
	return e
}

// checkH2OEvent fails unless e carries every field event_from_api_event
// reads, with the JSON type H2O's model declares, and nothing input-only.
func checkH2OEvent(t *testing.T, e any) map[string]any {
	t.Helper()
	m, ok := e.(map[string]any)
	if !ok {
		t.Fatalf("event %v is not an object", e)
	}
	for _, k := range []string{"name", "eventSource", "action", "principal", "loginPrincipal", "sourceIpAddress", "resource", "workspace", "userAgent"} {
		if _, ok := m[k].(string); !ok {
			t.Errorf("event %v: %s missing or not a string", m["name"], k)
		}
	}
	for _, k := range []string{"eventTime", "receiveTime"} {
		s, _ := m[k].(string)
		if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
			t.Errorf("event %v: %s %q is not an RFC 3339 time", m["name"], k, m[k])
		}
	}
	for _, k := range []string{"metadata", "requestParameters"} {
		if _, ok := m[k].(map[string]any); !ok {
			t.Errorf("event %v: %s missing or not an object", m["name"], k)
		}
	}
	if _, ok := m["readOnly"].(bool); !ok {
		t.Errorf("event %v: readOnly missing", m["name"])
	}
	if st, ok := m["status"].(map[string]any); !ok || st["code"] == nil {
		t.Errorf("event %v: status.code missing", m["name"])
	}
	if !slices.Contains([]any{"TYPE_UNSPECIFIED", "TYPE_API", "TYPE_SYSTEM"}, m["type"]) {
		t.Errorf("event %v: type %v", m["name"], m["type"])
	}
	if _, ok := m["workspaceOverride"]; ok {
		t.Errorf("event %v: workspaceOverride is input only", m["name"])
	}
	return m
}

func mustTime(t *testing.T, v any) time.Time {
	t.Helper()
	ts, err := time.Parse(time.RFC3339Nano, v.(string))
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

const h2oPolicy = `bindings:
  - principals: ["services/*"]
    permissions: ["events.create", "events.read"]
  - principals: ["users/user4"]
    permissions: ["events.read"]
  - principals: ["users/alice"]
    permissions: ["events.read"]
    workspaces: ["workspaces/w1"]
`

// TestH2OClient runs the flow of H2O's own client example and the checks of
// H2O's own e2e tests, replayed in their wire format, against a server set
// up as a replacement of H2O's service: OIDC sign-in through refresh
// tokens, --public-addr for readers, --audit-source h2oai-audittrail-server.
func TestH2OClient(t *testing.T) {
	iss := newIssuer(t)
	claims := func(sub, username, azp string) func() map[string]any {
		return func() map[string]any {
			c := iss.claims(sub)
			c["preferred_username"], c["azp"] = username, azp
			return c
		}
	}
	iss.addRefreshToken("rt-service", "h2o-example", claims("7d1e0c52-sa", "service-account-h2o-example", "h2o-example"))
	iss.addRefreshToken("rt-user4", "hac-platform-public", claims("user4", "user4", "hac-platform-public"))
	iss.addRefreshToken("rt-alice", "hac-platform-public", claims("alice", "alice", "hac-platform-public"))
	s, _ := startAccessServer(t, iss, h2oPolicy, "--public-addr", "127.0.0.1:0", "--audit-source", "h2oai-audittrail-server")
	internal, public := "http://"+s.addr, "http://"+s.publicAddr+"/" // login_custom strips the slash
	svc := h2oLoginCustom(t, internal, "rt-service", iss.url(), "h2o-example")
	user4 := h2oLoginCustom(t, public, "rt-user4", iss.url(), "hac-platform-public")

	t.Run("example flow: create, batch create, paged search", func(t *testing.T) {
		start := pyNow()
		ids := []string{newID(), newID(), newID(), newID()}
		code, body := svc.createEvent(ids[0], h2oEvent(pyNow(), "users/jans", map[string]any{"metadata": map[string]any{"display_name": "event1"}}))
		if code != 200 || len(body) != 1 {
			t.Fatalf("create: HTTP %d %v; want 200 and {event}", code, body)
		}
		e := checkH2OEvent(t, body["event"])
		if e["name"] != "events/"+ids[0] || e["metadata"].(map[string]any)["display_name"] != "event1" {
			t.Errorf("created %v", e)
		}
		var reqs []map[string]any
		for i, p := range []string{"users/jans", "users/foo", "users/jans"} {
			reqs = append(reqs, map[string]any{"eventId": ids[i+1], "event": h2oEvent(pyNow(), p, map[string]any{"metadata": map[string]any{"display_name": "event" + string(rune('2'+i))}})})
		}
		reqs = append(reqs, map[string]any{"eventId": "not-a-uuid", "event": h2oEvent(pyNow(), "users/jans", nil)})
		code, body = svc.batchCreate(reqs...)
		if code != 200 {
			t.Fatalf("batch: HTTP %d %v", code, body)
		}
		events := body["events"].([]any)
		if len(events) != 3 {
			t.Fatalf("batch created %d events, want 3", len(events))
		}
		for i, e := range events {
			if checkH2OEvent(t, e)["name"] != "events/"+ids[i+1] {
				t.Errorf("batch event %d: %v", i, e)
			}
		}
		failed := body["failedRequests"].(map[string]any)
		if st, ok := failed["3"].(map[string]any); len(failed) != 1 || !ok || st["code"] != float64(3) || st["message"] != "event_id must be in UUIDv4 format" {
			t.Errorf("failedRequests %v, want index 3 with code 3", failed)
		}
		end := pyNow()
		var got []string
		tok := ""
		for page := range 5 {
			code, body := svc.search(map[string]any{"startEventTime": pyTime(start), "endEventTime": pyTime(end), "principalExact": "users/jans"}, 2, tok)
			if code != 200 {
				t.Fatalf("page %d: HTTP %d %v", page+1, code, body)
			}
			for _, e := range body["events"].([]any) {
				got = append(got, checkH2OEvent(t, e)["metadata"].(map[string]any)["display_name"].(string))
			}
			if tok = body["nextPageToken"].(string); tok == "" {
				break
			}
		}
		if want := []string{"event4", "event2", "event1"}; !slices.Equal(got, want) || tok != "" {
			t.Errorf("paged search gave %v (last token %q), want %v", got, tok, want)
		}
	})

	t.Run("test_create_event", func(t *testing.T) {
		now, id := pyNow(), newID()
		code, body := svc.createEvent(id, h2oEvent(now, "users/jans", map[string]any{
			"resource": "workspaces/w1/daiEngine/e1", "requestParameters": map[string]any{"param1": "val1", "param2": "val2"},
			"status": map[string]any{"code": 3, "message": "cpu must be < 5"}, "userAgent": "Mozilla/5.0",
			"metadata": map[string]any{"key1": "v1", "key2": "v2"},
		}))
		if code != 200 {
			t.Fatalf("HTTP %d %v", code, body)
		}
		e := checkH2OEvent(t, body["event"])
		if e["name"] != "events/"+id || !mustTime(t, e["eventTime"]).Equal(now) || !now.Before(mustTime(t, e["receiveTime"])) ||
			e["workspace"] != "workspaces/w1" || e["sourceIpAddress"] != "1.1.1.1" || e["status"].(map[string]any)["message"] != "cpu must be < 5" {
			t.Errorf("stored %v", e)
		}
	})

	t.Run("test_search_events", func(t *testing.T) {
		start := pyNow()
		ids := []string{newID(), newID(), newID()}
		var reqs []map[string]any
		for i, id := range ids {
			reqs = append(reqs, map[string]any{"eventId": id, "event": h2oEvent(pyNow(), "users/jans", map[string]any{"resource": "rsrc" + string(rune('1'+i))})})
		}
		if code, body := svc.batchCreate(reqs...); code != 200 || len(body["events"].([]any)) != 3 {
			t.Fatalf("batch: HTTP %d %v", code, body)
		}
		for _, tc := range []struct {
			filter map[string]any
			want   []string
		}{
			{map[string]any{"startEventTime": pyTime(start)}, []string{ids[2], ids[1], ids[0]}},
			{map[string]any{"startEventTime": pyTime(start), "resourceExact": "rsrc1"}, []string{ids[0]}},
			{map[string]any{"startEventTime": pyTime(start), "resourceRegex": "(rsrc1|rsrc2)"}, []string{ids[1], ids[0]}},
		} {
			code, body := user4.search(tc.filter, 0, "")
			if code != 200 {
				t.Fatalf("%v: HTTP %d %v", tc.filter, code, body)
			}
			var got []string
			for _, e := range body["events"].([]any) {
				got = append(got, strings.TrimPrefix(checkH2OEvent(t, e)["name"].(string), "events/"))
			}
			if !slices.Equal(got, tc.want) || body["nextPageToken"] != "" || !mustTime(t, body["searchedUntilTime"]).Equal(start) {
				t.Errorf("%v: got %v token %q until %v; want %v, no token, until %v", tc.filter, got, body["nextPageToken"], body["searchedUntilTime"], tc.want, start)
			}
		}
	})

	t.Run("public address: test_create_event_not_allowed and batch", func(t *testing.T) {
		if code, body := user4.createEvent(newID(), h2oEvent(pyNow(), "users/jans", nil)); code != http.StatusMethodNotAllowed {
			t.Errorf("create on the public address: HTTP %d %v, want 405", code, body)
		}
		if code, body := user4.batchCreate(map[string]any{"eventId": newID(), "event": h2oEvent(pyNow(), "users/jans", nil)}); code != http.StatusMethodNotAllowed {
			t.Errorf("batch on the public address: HTTP %d %v, want 405", code, body)
		}
	})

	t.Run("public address: test_internal_audit", func(t *testing.T) {
		start := pyNow()
		if code, body := user4.search(nil, 0, ""); code != 200 {
			t.Fatalf("search_events(): HTTP %d %v", code, body)
		}
		time.Sleep(500 * time.Millisecond)
		end := pyNow()
		code, body := user4.search(map[string]any{"startEventTime": pyTime(start), "endEventTime": pyTime(end),
			"eventSourceExact": "h2oai-audittrail-server", "actionExact": "actions/audittrail/events/SEARCH"}, 0, "")
		if code != 200 || len(body["events"].([]any)) != 1 {
			t.Fatalf("HTTP %d %v; want exactly the one SEARCH event", code, body)
		}
		e := checkH2OEvent(t, body["events"].([]any)[0])
		if e["principal"] != "users/user4" || e["loginPrincipal"] != "user4" || e["readOnly"] != true {
			t.Errorf("SEARCH event %v", e)
		}
	})

	t.Run("scoped reader: workspace_exact empty is permission denied", func(t *testing.T) {
		alice := h2oLoginCustom(t, public, "rt-alice", iss.url(), "hac-platform-public")
		code, body := alice.search(map[string]any{"workspaceExact": ""}, 0, "")
		if code != 403 || !strings.Contains(body["message"].(string), "workspace_exact") {
			t.Errorf("HTTP %d %v; want 403 naming workspace_exact", code, body)
		}
		if code, body := alice.search(map[string]any{"workspaceExact": nil}, 0, ""); code != 200 {
			t.Errorf("null workspace_exact: HTTP %d %v; want 200 (unset)", code, body)
		}
	})

	if iss.refreshes != 3 {
		t.Errorf("%d refresh-token exchanges, want 3 (one per login)", iss.refreshes)
	}
}
