package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/audittrail/audittrail/api/audittrail/v1"
)

const accessPolicy = `bindings:
  - principals: ["services/*"]
    permissions: ["events.create"]
  - principals: ["users/*"]
    claims: {groups: "audit-admins"}
    permissions: ["events.read"]
  - principals: ["users/alice"]
    permissions: ["events.read"]
    workspaces: ["workspaces/w1"]
`

func writePolicy(t *testing.T, path, doc string) {
	t.Helper()
	// Write then rename, as configuration tools do, so the server never
	// reads a half-written file.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// startAccessServer runs a server with the issuer and a policy file.
func startAccessServer(t *testing.T, iss *issuer, policy string, args ...string) (*server, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "policy.yaml")
	writePolicy(t, path, policy)
	s := startServer(t, "", append([]string{"--oidc-issuer", iss.url(), "--oidc-audience", "audittrail", "--policy", path}, args...)...)
	return s, path
}

func TestOIDCTokens(t *testing.T) {
	iss := newIssuer(t)
	s, _ := startAccessServer(t, iss, accessPolicy)
	admin := iss.claims("carol")
	admin["groups"] = []string{"staff", "audit-admins"}
	search := func(tok string) int {
		code, _ := s.restAs(tok, "POST", "/v1/events:search", `{"pageSize":1}`)
		return code
	}
	edit := func(f func(c map[string]any)) map[string]any {
		c := iss.claims("carol")
		c["groups"] = []string{"audit-admins"}
		f(c)
		return c
	}
	iss.addRSA("rsa-unpublished")
	unpublished := iss.sign("rsa-unpublished", admin)
	iss.remove("rsa-unpublished")

	cases := []struct {
		name string
		tok  string
		want int
	}{
		{"valid RSA", iss.sign("rsa-1", admin), 200},
		{"valid ECDSA", iss.sign("ec-1", admin), 200},
		{"no group: authenticated, not authorized", iss.sign("rsa-1", iss.claims("carol")), 403},
		{"expired", iss.sign("rsa-1", edit(func(c map[string]any) { c["exp"] = time.Now().Add(-5 * time.Minute).Unix() })), 401},
		{"not yet valid", iss.sign("rsa-1", edit(func(c map[string]any) { c["nbf"] = time.Now().Add(4 * time.Minute).Unix() })), 401},
		{"wrong audience", iss.sign("rsa-1", edit(func(c map[string]any) { c["aud"] = "other-app" })), 401},
		{"wrong issuer", iss.sign("rsa-1", edit(func(c map[string]any) { c["iss"] = "https://evil.example" })), 401},
		{"alg none", unsigned("rsa-1", admin), 401},
		{"HS256 keyed with the public key", iss.hmacWithPublicKey("rsa-1", admin), 401},
		{"tampered signature", tamper(iss.sign("rsa-1", admin)), 401},
		{"tampered payload", func() string {
			p := strings.Split(iss.sign("rsa-1", iss.claims("carol")), ".")
			return p[0] + "." + strings.Split(iss.sign("rsa-1", admin), ".")[1] + "." + p[2]
		}(), 401},
		{"unknown kid", unpublished, 401},
		{"no sub", iss.sign("rsa-1", edit(func(c map[string]any) { delete(c, "sub") })), 401},
		{"sub with a slash", iss.sign("rsa-1", edit(func(c map[string]any) { c["sub"] = "a/b" })), 401},
		{"garbage", "a.b.c", 401},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := search(tc.tok); got != tc.want {
				t.Fatalf("HTTP %d, want %d", got, tc.want)
			}
		})
	}

	t.Run("key rotation", func(t *testing.T) {
		old := iss.sign("rsa-1", admin)
		if got := search(old); got != 200 {
			t.Fatalf("before rotation: %d", got)
		}
		iss.addRSA("rsa-2")
		iss.remove("rsa-1")
		if got := search(iss.sign("rsa-2", admin)); got != 200 {
			t.Fatalf("token of the new key: HTTP %d, want 200 (JWKS re-fetched)", got)
		}
		if got := search(old); got != 401 {
			t.Fatalf("token of the removed key: HTTP %d, want 401", got)
		}
	})

	t.Run("gRPC", func(t *testing.T) {
		c, _ := s.grpcClient()
		ctx := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+iss.sign("ec-1", admin))
		if _, err := c.SearchEvents(ctx, &pb.SearchEventsRequest{}); err != nil {
			t.Fatalf("gRPC search with a JWT: %v", err)
		}
		ctx = metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+unsigned("ec-1", admin))
		if _, err := c.SearchEvents(ctx, &pb.SearchEventsRequest{}); status.Code(err) != codes.Unauthenticated {
			t.Fatalf("gRPC alg none: %v", err)
		}
	})

	t.Run("service account creates, people cannot", func(t *testing.T) {
		sa := iss.claims("0f8c-uuid-of-service-user")
		sa["azp"], sa["preferred_username"] = "ingest", "service-account-ingest"
		code, body := s.restAs(iss.sign("rsa-2", sa), "POST", "/v1/events?event_id="+newID(), ev(nil))
		if code != 200 {
			t.Fatalf("service account create: HTTP %d %v", code, body)
		}
		code, _ = s.restAs(iss.sign("rsa-2", admin), "POST", "/v1/events?event_id="+newID(), ev(nil))
		if code != 403 {
			t.Fatalf("person create: HTTP %d, want 403", code)
		}
	})

	t.Run("login_principal", func(t *testing.T) {
		c := iss.claims("4711")
		c["preferred_username"], c["groups"] = "dave.smith", "audit-admins"
		daveTok := iss.sign("ec-1", c)
		id := newID()
		s.create(id, ev(map[string]any{"principal": "users/4711"}))
		other := newID()
		s.create(other, ev(map[string]any{"principal": "users/nobody-knows"}))
		if code, _ := s.restAs(daveTok, "POST", "/v1/events:search", "{}"); code != 200 {
			t.Fatal("dave cannot search")
		}
		code, body := s.restAs(daveTok, "GET", "/v1/events/"+id, nil)
		if code != 200 || body["loginPrincipal"] != "dave.smith" {
			t.Fatalf("get: HTTP %d loginPrincipal %q, want dave.smith", code, body["loginPrincipal"])
		}
		if _, body := s.rest("GET", "/v1/events/"+other, nil); body["loginPrincipal"] != "" {
			t.Fatalf("unknown principal's loginPrincipal = %q, want empty", body["loginPrincipal"])
		}
		_, body = s.rest("POST", "/v1/events:search", map[string]any{"filter": map[string]any{"principalExact": "users/4711"}})
		evs := body["events"].([]any)
		if len(evs) == 0 || evs[0].(map[string]any)["loginPrincipal"] != "dave.smith" {
			t.Fatalf("search loginPrincipal: %v", evs)
		}
		// A later login under another name wins.
		c["preferred_username"] = "dave.s"
		s.restAs(iss.sign("ec-1", c), "POST", "/v1/events:search", "{}")
		if _, body := s.rest("GET", "/v1/events/"+id, nil); body["loginPrincipal"] != "dave.s" {
			t.Fatalf("after rename: %q", body["loginPrincipal"])
		}
	})
}

// TestScopedReaderSeesOnlyItsWorkspaces tries every route to another
// workspace's events as a reader scoped to workspaces/w1.
func TestScopedReaderSeesOnlyItsWorkspaces(t *testing.T) {
	iss := newIssuer(t)
	s, _ := startAccessServer(t, iss, accessPolicy)
	alice := iss.sign("rsa-1", iss.claims("alice"))
	names := map[string]string{} // event name → workspace
	for i := range 30 {
		ws := []string{"w1", "w2", ""}[i%3]
		e := ev(map[string]any{"metadata": map[string]any{"ws": "is-" + ws, "n": fmt.Sprint(i)}})
		if ws != "" {
			e["resource"] = "//svc/workspaces/" + ws + "/things/t" + fmt.Sprint(i)
		}
		body := s.create(newID(), e)
		names[body["name"].(string)] = body["workspace"].(string)
	}
	var w1, foreign []string
	for n, ws := range names {
		if ws == "workspaces/w1" {
			w1 = append(w1, n)
		} else {
			foreign = append(foreign, n)
		}
	}
	aliceSearch := func(filter map[string]any, pageToken string) (int, map[string]any) {
		return s.restAs(alice, "POST", "/v1/events:search", map[string]any{"filter": filter, "pageSize": 1000, "pageToken": pageToken})
	}
	onlyW1 := func(t *testing.T, body map[string]any) []string {
		t.Helper()
		var got []string
		for _, e := range body["events"].([]any) {
			e := e.(map[string]any)
			if e["workspace"] != "workspaces/w1" && e["eventSource"] != "audittrail-server" {
				t.Fatalf("foreign event %s of workspace %q returned", e["name"], e["workspace"])
			}
			got = append(got, e["name"].(string))
		}
		return got
	}
	for _, tc := range []struct {
		name   string
		filter map[string]any
		want   int // events of w1 expected; -1: PERMISSION_DENIED
	}{
		{"no filter narrowed", map[string]any{"eventSourceExact": "e2e-source"}, 10},
		{"workspace_exact of another", map[string]any{"workspaceExact": "workspaces/w2"}, -1},
		{"workspace_exact own", map[string]any{"workspaceExact": "workspaces/w1"}, 10},
		{"workspace_regex of another", map[string]any{"workspaceRegex": "w2"}, -1},
		{"workspace_regex matching all", map[string]any{"workspaceRegex": ".*", "eventSourceExact": "e2e-source"}, 10},
		{"workspace_regex alternation", map[string]any{"workspaceRegex": "^workspaces/(w1|w2)$"}, 10},
		{"resource_regex of another", map[string]any{"resourceRegex": "workspaces/w2/"}, 0},
		{"metadata of another", map[string]any{"metadataExact": map[string]any{"ws": "is-w2"}}, 0},
		{"metadata of no workspace", map[string]any{"metadataExact": map[string]any{"ws": "is-"}}, 0},
		{"metadata regex", map[string]any{"metadataRegex": map[string]any{"ws": "."}}, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := aliceSearch(tc.filter, "")
			if tc.want < 0 {
				if code != 403 || body["code"] != float64(7) {
					t.Fatalf("HTTP %d %v, want 403", code, body)
				}
				return
			}
			if code != 200 {
				t.Fatalf("HTTP %d %v", code, body)
			}
			if got := onlyW1(t, body); len(got) != tc.want {
				t.Fatalf("%d events, want %d", len(got), tc.want)
			}
		})
	}

	t.Run("paging stays narrowed", func(t *testing.T) {
		var got []string
		tok := ""
		for range 100 {
			code, body := s.restAs(alice, "POST", "/v1/events:search", map[string]any{"filter": map[string]any{"eventSourceExact": "e2e-source"}, "pageSize": 3, "pageToken": tok})
			if code != 200 {
				t.Fatalf("HTTP %d %v", code, body)
			}
			got = append(got, onlyW1(t, body)...)
			if tok = body["nextPageToken"].(string); tok == "" {
				break
			}
		}
		slices.Sort(got)
		slices.Sort(w1)
		if !slices.Equal(got, w1) {
			t.Fatalf("paged %d events, want the %d of w1", len(got), len(w1))
		}
	})

	t.Run("page tokens of other callers and filters", func(t *testing.T) {
		_, body := s.rest("POST", "/v1/events:search", map[string]any{"pageSize": 1})
		adminTok := body["nextPageToken"].(string)
		if code, body := aliceSearch(nil, adminTok); code != 400 {
			t.Fatalf("admin's token used by alice: HTTP %d %v, want 400", code, body)
		}
		code, body := s.restAs(alice, "POST", "/v1/events:search", map[string]any{"filter": map[string]any{"workspaceExact": "workspaces/w1"}, "pageSize": 1})
		if code != 200 || body["nextPageToken"] == "" {
			t.Fatalf("alice's first page: %d %v", code, body)
		}
		if code, body := aliceSearch(map[string]any{"workspaceRegex": "."}, body["nextPageToken"].(string)); code != 400 {
			t.Fatalf("token used with another filter: HTTP %d %v, want 400", code, body)
		}
	})

	missing := "events/" + newID()
	_, missingBody := s.restAs(alice, "GET", "/v1/"+missing, nil)
	hiddenMsg := func(body map[string]any, name string) string {
		return strings.ReplaceAll(fmt.Sprint(body["message"]), name, "X")
	}
	t.Run("GetEvent", func(t *testing.T) {
		for _, n := range foreign {
			code, body := s.restAs(alice, "GET", "/v1/"+n, nil)
			if code != 404 || hiddenMsg(body, n) != hiddenMsg(missingBody, missing) {
				t.Fatalf("GET foreign %s: HTTP %d %v; want the 404 of a missing event %v", n, code, body, missingBody)
			}
		}
		if code, _ := s.restAs(alice, "GET", "/v1/"+w1[0], nil); code != 200 {
			t.Fatalf("GET own event: HTTP %d", code)
		}
		c, _ := s.grpcClient()
		ctx := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+alice)
		if _, err := c.GetEvent(ctx, &pb.GetEventRequest{Name: foreign[0]}); status.Code(err) != codes.NotFound {
			t.Fatalf("gRPC GetEvent foreign: %v", err)
		}
	})

	t.Run("proof RPCs", func(t *testing.T) {
		time.Sleep(1500 * time.Millisecond) // let a checkpoint cover the events
		for _, n := range foreign {
			if code, body := s.restAs(alice, "GET", "/v1/"+n+":proof", nil); code != 404 || hiddenMsg(body, n) != hiddenMsg(missingBody, missing) {
				t.Fatalf("event proof of foreign %s: HTTP %d %v", n, code, body)
			}
			if code, body := s.restAs(alice, "GET", "/v1/log/inclusionProof?name="+n, nil); code != 404 {
				t.Fatalf("inclusion proof of foreign %s: HTTP %d %v", n, code, body)
			}
		}
		if code, body := s.restAs(alice, "GET", "/v1/"+w1[0]+":proof", nil); code != 200 {
			t.Fatalf("own event proof: HTTP %d %v", code, body)
		}
		// By seq: every seq of a foreign event answers like a seq beyond
		// the log.
		_, entries := s.rest("GET", "/v1/log/entries?page_size=1000", nil)
		_, beyond := s.restAs(alice, "GET", "/v1/log/inclusionProof?seq=999999", nil)
		visible := 0
		for i := range entries["entries"].([]any) {
			code, body := s.restAs(alice, "GET", fmt.Sprintf("/v1/log/inclusionProof?seq=%d", i), nil)
			switch {
			case code == 200:
				visible++
			case code != 404 || strings.ReplaceAll(fmt.Sprint(body["message"]), fmt.Sprint(i), "N") != strings.ReplaceAll(fmt.Sprint(beyond["message"]), "999999", "N"):
				t.Fatalf("inclusion proof of seq %d: HTTP %d %v (beyond the log: %v)", i, code, body, beyond)
			}
		}
		if visible != len(w1) {
			t.Fatalf("%d seqs provable by alice, want the %d of w1", visible, len(w1))
		}
		if code, _ := s.restAs(alice, "GET", "/v1/log/entries", nil); code != 403 {
			t.Fatalf("log entries (every event's bytes) for a scoped reader: HTTP %d, want 403", code)
		}
		if code, _ := s.restAs(alice, "GET", "/v1/log/checkpoint", nil); code != 200 {
			t.Fatalf("checkpoint for a scoped reader: HTTP %d, want 200", code)
		}
	})

	t.Run("denied searches are self-audited", func(t *testing.T) {
		names := s.searchAll(map[string]any{"principalExact": "users/alice", "actionExact": "actions/audittrail/events/SEARCH", "statusCodeRegex": "^7$"}, 100)
		if len(names) < 2 {
			t.Fatalf("%d denied searches of alice recorded, want at least 2", len(names))
		}
	})
}

func TestPolicyReload(t *testing.T) {
	iss := newIssuer(t)
	s, path := startAccessServer(t, iss, accessPolicy)
	bob := iss.sign("rsa-1", iss.claims("bob"))
	code := func() int {
		c, _ := s.restAs(bob, "POST", "/v1/events:search", "{}")
		return c
	}
	waitFor := func(want int, why string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for code() != want {
			if time.Now().After(deadline) {
				t.Fatalf("%s: bob still gets HTTP %d, want %d\n%s", why, code(), want, s.log)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if c := code(); c != 403 {
		t.Fatalf("bob before any grant: HTTP %d", c)
	}
	writePolicy(t, path, accessPolicy+"  - principals: [users/bob]\n    permissions: [events.read]\n")
	waitFor(200, "file changed")

	writePolicy(t, path, accessPolicy+"  - principals: [users/bob]\n    permissions: [events.create, events.read]\n")
	time.Sleep(3 * time.Second)
	if c := code(); c != 200 {
		t.Fatalf("an invalid policy changed access: HTTP %d", c)
	}
	if !strings.Contains(s.log.String(), "policy rejected") || !strings.Contains(s.log.String(), "line 10") {
		t.Fatalf("no log line naming the rejected policy's line:\n%s", s.log)
	}
	if c, _ := s.restAs(bob, "POST", "/v1/events?event_id="+newID(), ev(nil)); c != 403 {
		t.Fatalf("user create after a policy that tried to grant it: HTTP %d", c)
	}

	// SIGHUP reloads at once.
	writePolicy(t, path, accessPolicy)
	s.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(403, "SIGHUP")
	if !strings.Contains(s.log.String(), "policy reloaded on SIGHUP") {
		t.Fatalf("no SIGHUP log line:\n%s", s.log)
	}

	t.Run("an invalid policy stops the start", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "bad.yaml")
		writePolicy(t, bad, "bindings:\n  - principals: [\"users/*\"]\n    permissions: [events.create]\n")
		out, err := runBinary("serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0", "--policy", bad)
		if err == nil || !strings.Contains(out, "line 2") || !strings.Contains(out, "events.create can only be granted to services/") {
			t.Fatalf("serve with a policy granting create to users: %v\n%s", err, out)
		}
	})
}

func TestServiceTokens(t *testing.T) {
	policy := filepath.Join(t.TempDir(), "policy.yaml")
	writePolicy(t, policy, "bindings:\n  - principals: [\"services/*\"]\n    permissions: [events.create]\n  - principals: [services/reader]\n    permissions: [events.read]\n")
	s := startServer(t, "", "--policy", policy)
	server := "--server=" + s.url("")
	create := func(args ...string) string {
		t.Helper()
		out, errOut, code := s.cli("", append([]string{"token", "create", server}, args...)...)
		if code != 0 {
			t.Fatalf("token create %v: exit %d\n%s", args, code, errOut)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		return lines[len(lines)-1]
	}
	ingest := create("--principal", "services/ingest", "--expires", "90d", "--login-name", "ingest-bot")
	if !strings.HasPrefix(ingest, "at_") {
		t.Fatalf("token line %q", ingest)
	}
	reader := create("--principal", "services/reader")
	id := newID()
	if c, body := s.restAs(ingest, "POST", "/v1/events?event_id="+id, ev(map[string]any{"principal": "services/ingest"})); c != 200 {
		t.Fatalf("create with a service token: HTTP %d %v", c, body)
	}
	if c, _ := s.restAs(ingest, "POST", "/v1/events:search", "{}"); c != 403 {
		t.Fatalf("search without read: HTTP %d", c)
	}
	c, body := s.restAs(reader, "GET", "/v1/events/"+id, nil)
	if c != 200 || body["loginPrincipal"] != "ingest-bot" {
		t.Fatalf("get with reader: HTTP %d loginPrincipal %v", c, body["loginPrincipal"])
	}
	if c, _ := s.restAs(reader, "POST", "/v1/tokens", map[string]any{"principal": "services/x"}); c != 403 {
		t.Fatalf("token create by a non-admin: HTTP %d", c)
	}
	if _, errOut, code := s.cli("", "token", "create", server, "--principal", "users/alice"); code == 0 || !strings.Contains(errOut, "services/") {
		t.Fatalf("token for a user: exit %d %s", code, errOut)
	}

	out, _, _ := s.cli("", "token", "list", server)
	for _, want := range []string{"services/ingest", "ingest-bot", "services/reader", "services/audittrail-admin", "active"} {
		if !strings.Contains(out, want) {
			t.Fatalf("token list lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, ingest) || strings.Contains(out, s.token) {
		t.Fatalf("token list shows a secret:\n%s", out)
	}
	filepath.WalkDir(s.data, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if raw, _ := os.ReadFile(p); strings.Contains(string(raw), ingest) {
				t.Errorf("the token's secret is stored in %s", p)
			}
		}
		return nil
	})

	if out, errOut, code := s.cli("", "token", "revoke", server, "--principal", "services/ingest"); code != 0 || !strings.Contains(out, "revoked") {
		t.Fatalf("revoke: exit %d %s %s", code, out, errOut)
	}
	if c, _ := s.restAs(ingest, "POST", "/v1/events?event_id="+newID(), ev(nil)); c != 401 {
		t.Fatalf("revoked token: HTTP %d, want 401 at once", c)
	}
	short := create("--principal", "services/short", "--expires", "1s")
	if c, _ := s.restAs(short, "POST", "/v1/events?event_id="+newID(), ev(nil)); c != 200 {
		t.Fatalf("fresh short token: HTTP %d", c)
	}
	time.Sleep(1200 * time.Millisecond)
	if c, _ := s.restAs(short, "POST", "/v1/events?event_id="+newID(), ev(nil)); c != 401 {
		t.Fatalf("expired token: HTTP %d, want 401", c)
	}
	out, _, _ = s.cli("", "token", "list", server)
	var readerID string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "services/reader") {
			readerID = strings.Fields(l)[0]
		}
	}
	if _, _, code := s.cli("", "token", "revoke", server, "--id", readerID); code != 0 {
		t.Fatal("revoke by id failed")
	}
	if c, _ := s.restAs(reader, "GET", "/v1/events/"+id, nil); c != 401 {
		t.Fatalf("token revoked by id: HTTP %d", c)
	}
	// Administration is itself on the record.
	if n := len(s.searchAll(map[string]any{"actionRegex": "^actions/audittrail/tokens/(CREATE|REVOKE)$"}, 100)); n != 5 {
		t.Fatalf("%d token administration events, want 5 (3 creates, 2 revokes)", n)
	}

	// The bootstrap token survives restarts as the same token.
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	s2 := startServer(t, s.data, "--policy", policy)
	if c, _ := s2.rest("POST", "/v1/events:search", "{}"); c != 200 {
		t.Fatalf("admin after restart: HTTP %d", c)
	}
	if c, _ := s2.restAs(ingest, "POST", "/v1/events?event_id="+newID(), ev(nil)); c != 401 {
		t.Fatalf("revoked token after restart: HTTP %d", c)
	}
	if c, _ := s2.restAs("", "POST", "/v1/tokens", map[string]any{"principal": "services/x"}); c != http.StatusUnauthorized {
		t.Fatalf("token create without a token: HTTP %d", c)
	}
}
