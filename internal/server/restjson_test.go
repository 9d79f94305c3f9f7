package server

import (
	"strings"
	"testing"
)

// TestMalformedRESTInput: every kind of broken body or query answers 400
// with code 3 and a message naming the field (SPEC §5), never protojson's
// position-only text.
func TestMalformedRESTInput(t *testing.T) {
	hs := newTestServer(t, nil)
	const id = "00000000-0000-4000-8000-000000000001"
	ev := func(fields string) string {
		return `{"eventTime":"2026-01-01T00:00:00Z","eventSource":"s","action":"a","status":{"code":0},"principal":"services/a","sourceIpAddress":"8.8.8.8"` + fields + `}`
	}
	for _, tc := range []struct {
		name, path, body, want string
	}{
		{"timestamp as number", "/v1/events?event_id=" + id, `{"eventTime":123}`, "eventTime: must be an RFC 3339 timestamp string"},
		{"timestamp not RFC 3339", "/v1/events?event_id=" + id, `{"eventTime":"yesterday"}`, "eventTime: must be an RFC 3339 timestamp string"},
		{"string as number", "/v1/events?event_id=" + id, ev(`,"resource":5`), "resource: must be a string"},
		{"string as object", "/v1/events?event_id=" + id, ev(`,"userAgent":{}`), "userAgent: must be a string"},
		{"bool as string", "/v1/events?event_id=" + id, ev(`,"readOnly":"yes"`), "readOnly: must be true or false"},
		{"metadata value number", "/v1/events?event_id=" + id, ev(`,"metadata":{"a":1}`), "metadata.a: must be a string"},
		{"metadata as list", "/v1/events?event_id=" + id, ev(`,"metadata":["a"]`), "metadata: must be an object of a string"},
		{"status code as string", "/v1/events?event_id=" + id, `{"status":{"code":"zero"}}`, "status.code: must be a number"},
		{"status code fraction", "/v1/events?event_id=" + id, `{"status":{"code":1.5}}`, "status.code: must be a number"},
		{"unknown enum", "/v1/events?event_id=" + id, ev(`,"type":"TYPE_BOGUS"`), "type: must be one of TYPE_UNSPECIFIED, TYPE_API, TYPE_SYSTEM"},
		{"unknown field", "/v1/events?event_id=" + id, ev(`,"bogus":1`), `unknown field "bogus"`},
		{"duplicate field", "/v1/events?event_id=" + id, ev(`,"action":"b"`), "action"},
		{"trailing comma", "/v1/events?event_id=" + id, `{"eventTime":"2026-01-01T00:00:00Z",}`, "request body: is not valid JSON"},
		{"trailing garbage", "/v1/events?event_id=" + id, ev(``) + ` xx`, "request body: must hold one JSON value"},
		{"two objects", "/v1/events:search", `{}{}`, "request body: must hold one JSON value"},
		{"not an object", "/v1/events:search", `[1,2]`, "request body"},
		{"truncated", "/v1/events:search", `{"filter":{"actionRegex":"a"`, "filter.actionRegex: is not valid JSON: unexpected EOF"},
		{"invalid UTF-8", "/v1/events:search", "{\"filter\":{\"actionRegex\":\"\xff\"}}", "request body: must be valid UTF-8"},
		{"nested list element", "/v1/events:batchCreate", `{"requests":[{"eventId":"x","event":{}},{"eventId":"y","event":{"eventTime":7}}]}`, "requests[1].event.eventTime: must be an RFC 3339 timestamp string"},
		{"filter types not a list", "/v1/events:search", `{"filter":{"includeTypes":"TYPE_API"}}`, "filter.includeTypes: must be a list of one of"},
		{"page size as string", "/v1/events:search", `{"pageSize":"ten"}`, "pageSize: must be a number"},
		{"unknown query parameter", "/v1/events?event_idd=" + id, ev(``), `query parameter "event_idd": unknown`},
		{"query on a body method", "/v1/events:search?pageSize=5", `{}`, `query parameter "pageSize": unknown (this method takes none)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := post(t, hs, "tok-a", tc.path, tc.body)
			msg, _ := body["message"].(string)
			if code != 400 || body["code"] != float64(3) || !strings.Contains(msg, tc.want) {
				t.Errorf("HTTP %d %v; want 400, code 3, message containing %q", code, body, tc.want)
			}
		})
	}
}
