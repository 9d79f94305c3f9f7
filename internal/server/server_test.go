package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"

	"github.com/audittrail/audittrail/internal/access"
	"github.com/audittrail/audittrail/internal/event"
	"github.com/audittrail/audittrail/internal/store"
	"github.com/audittrail/audittrail/internal/store/pebble"
	"github.com/audittrail/audittrail/internal/tlog"
)

// testPolicy: services/a creates and reads, users/b reads everything,
// users/s reads workspace w1, users/c may do nothing.
const testPolicy = `bindings:
  - principals: [services/a]
    permissions: [events.create, events.read]
  - principals: [users/b]
    permissions: [events.read]
  - principals: [users/s]
    permissions: [events.read]
    workspaces: [workspaces/w1]
`

type staticPolicy struct{ p *access.Policy }

func (s staticPolicy) Current() *access.Policy { return s.p }

// newTestServer serves a real Pebble store in a temp dir with two readers.
func newTestServer(t *testing.T, mutate func(*Config)) *httptest.Server {
	t.Helper()
	opts := pebble.DefaultOptions()
	opts.CacheSize, opts.MemTableSize = 8<<20, 4<<20
	st, err := pebble.Open(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg := DefaultConfig()
	cfg.PageTokenKey = bytes.Repeat([]byte{7}, 32)
	if mutate != nil {
		mutate(&cfg)
	}
	reg := prometheus.NewRegistry()
	skey, _, err := tlog.GenerateKey(pebble.DefaultOptions().Origin)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := tlog.NewCheckpointer(st, skey, tlog.DefaultCheckpointerOptions())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go cp.Run(ctx)
	for tok, principal := range map[string]string{"tok-a": "services/a", "tok-b": "users/b", "tok-c": "users/c", "tok-s": "users/s", "tok-admin": "services/audittrail-admin"} {
		if err := st.CreateToken(ctx, store.Token{ID: tok, Hash: HashToken(tok), Principal: principal, CreateTime: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	policy, err := access.ParsePolicy([]byte(testPolicy))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(cfg, Deps{
		Store: st, Log: cp, Policy: staticPolicy{policy},
		Logger: slog.New(slog.DiscardHandler), Registerer: reg, Gatherer: reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	h, err := srv.Handler()
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	return hs
}

func post(t *testing.T, hs *httptest.Server, token, path, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", hs.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func seedEvents(t *testing.T, hs *httptest.Server, n int) {
	t.Helper()
	var reqs []string
	for i := range n {
		reqs = append(reqs, fmt.Sprintf(`{"eventId":"%08d-0000-4000-8000-000000000000","event":{"eventTime":"2026-01-01T00:00:%02dZ","eventSource":"s","action":"a","status":{},"principal":"users/x","sourceIpAddress":"8.8.8.8"}}`, i, i%60))
	}
	if code, body := post(t, hs, "tok-a", "/v1/events:batchCreate", `{"requests":[`+strings.Join(reqs, ",")+`]}`); code != 200 {
		t.Fatalf("seed: %d %v", code, body)
	}
}

func TestPageTokenBoundToCaller(t *testing.T) {
	hs := newTestServer(t, nil)
	seedEvents(t, hs, 10)
	const search = `{"filter":{"eventSourceExact":"s"},"pageSize":3%s}`
	code, body := post(t, hs, "tok-a", "/v1/events:search", fmt.Sprintf(search, ""))
	tok, _ := body["nextPageToken"].(string)
	if code != 200 || tok == "" {
		t.Fatalf("first page: %d %v", code, body)
	}
	withTok := fmt.Sprintf(search, `,"pageToken":"`+tok+`"`)
	if code, _ := post(t, hs, "tok-a", "/v1/events:search", withTok); code != 200 {
		t.Errorf("own token: HTTP %d", code)
	}
	if code, body := post(t, hs, "tok-b", "/v1/events:search", withTok); code != 400 || !strings.Contains(body["message"].(string), "page_token") {
		t.Errorf("another caller's token: HTTP %d %v, want 400", code, body)
	}
}

func TestCreateNeedsPermission(t *testing.T) {
	hs := newTestServer(t, nil)
	code, body := post(t, hs, "tok-b", "/v1/events?event_id=00000000-0000-4000-8000-000000000000", `{}`)
	if code != 403 || body["code"] != float64(7) {
		t.Errorf("create by a reader: HTTP %d %v, want 403", code, body)
	}
}

func TestSearchBudgetGivesPartialPages(t *testing.T) {
	hs := newTestServer(t, func(c *Config) { c.SearchBudget = time.Nanosecond })
	seedEvents(t, hs, 200)
	filter := `{"filter":{"actionRegex":"nomatch"},"pageSize":10%s}`
	tok, pages := "", 0
	for {
		extra := ""
		if tok != "" {
			extra = `,"pageToken":"` + tok + `"`
		}
		code, body := post(t, hs, "tok-a", "/v1/events:search", fmt.Sprintf(filter, extra))
		if code != 200 {
			t.Fatalf("HTTP %d %v", code, body)
		}
		pages++
		tok = body["nextPageToken"].(string)
		if tok == "" {
			if body["searchedUntilTime"] != "2025-07-01T00:00:00Z" {
				t.Errorf("last page searchedUntilTime %v, want the effective start", body["searchedUntilTime"])
			}
			break
		}
		if pages > 500 {
			t.Fatal("no progress")
		}
	}
	if pages < 2 {
		t.Errorf("a 1ns budget over 200 events answered in %d page; want empty pages with tokens", pages)
	}
}

func TestToStatusHidesInternals(t *testing.T) {
	tests := []struct {
		err     error
		code    codes.Code
		message string
	}{
		{&event.FieldError{Field: "f", Rule: "r"}, codes.InvalidArgument, "f: r"},
		{fmt.Errorf("wrapped: %w", &event.FieldError{Field: "f", Rule: "r"}), codes.InvalidArgument, "f: r"},
		{fmt.Errorf("pebble store: disk /var/x: %w", store.ErrUnavailable), codes.Unavailable, "store unavailable, retry later"},
		{withClientMessage("event events/x already exists", fmt.Errorf("store detail: %w", store.ErrAlreadyExists)), codes.AlreadyExists, "event events/x already exists"},
		{errors.New("pebble: corruption in /data/000123.sst"), codes.Internal, "internal error"},
		{fmt.Errorf("x: %w", errUnauthenticated), codes.Unauthenticated, "missing or invalid bearer token"},
		{context.Canceled, codes.Canceled, "request canceled"},
	}
	for _, tc := range tests {
		t.Run(tc.err.Error(), func(t *testing.T) {
			st := toStatus(tc.err)
			if st.Code() != tc.code || st.Message() != tc.message {
				t.Errorf("toStatus = %v %q, want %v %q", st.Code(), st.Message(), tc.code, tc.message)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	for name, mutate := range map[string]func(*Config){
		"short key":        func(c *Config) { c.PageTokenKey = []byte("short") },
		"bad audit source": func(c *Config) { c.AuditSource = "has space" },
		"zero budget":      func(c *Config) { c.SearchBudget = 0 },
		"negative skew":    func(c *Config) { c.Rules.MaxClockSkew = -time.Second },
		"tiny body":        func(c *Config) { c.MaxBodyBytes = 10 },
	} {
		t.Run(name, func(t *testing.T) {
			c := DefaultConfig()
			c.PageTokenKey = make([]byte, 32)
			mutate(&c)
			if c.Validate() == nil {
				t.Error("Validate accepted a bad config")
			}
		})
	}
}

func TestDeniedSearchIsAudited(t *testing.T) {
	hs := newTestServer(t, nil)
	if code, body := post(t, hs, "tok-c", "/v1/events:search", `{"filter":{"actionRegex":"x"}}`); code != 403 || body["code"] != float64(7) {
		t.Fatalf("search without events.read: HTTP %d %v, want 403", code, body)
	}
	code, body := post(t, hs, "tok-a", "/v1/events:search", `{"filter":{"principalExact":"users/c"}}`)
	if code != 200 || len(body["events"].([]any)) != 1 {
		t.Fatalf("HTTP %d %v: want the denied search recorded", code, body)
	}
	e := body["events"].([]any)[0].(map[string]any)
	st := e["status"].(map[string]any)
	if e["action"] != "actions/audittrail/events/SEARCH" || st["code"] != float64(7) || e["requestParameters"].(map[string]any)["action_regex"] != "x" {
		t.Errorf("recorded %v", e)
	}
}
