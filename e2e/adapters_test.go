package e2e

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestKubernetesAuditWebhook stores a real-shaped EventList with the
// documented mapping, skips non-final stages, stores the rest when one
// item is bad, and stores a resent batch once.
func TestKubernetesAuditWebhook(t *testing.T) {
	s := startServer(t, "", "--k8s-audit-cluster", "prod-eu", "--k8s-audit-workspace", "team-a=workspaces/team-a")
	body, err := os.ReadFile("testdata/k8s-audit-eventlist.json")
	if err != nil {
		t.Fatal(err)
	}
	for try := range 2 { // the apiserver resends a batch it got no 2xx for
		code, resp := s.rest("POST", "/v1/adapters/kubernetes/audit", body)
		want := map[string]any{"stored": float64(3), "duplicates": float64(0), "invalid": float64(1), "skipped": float64(1)}
		if try == 1 {
			want["stored"], want["duplicates"] = float64(0), float64(3)
		}
		if code != 200 || fmt.Sprint(resp) != fmt.Sprint(want) {
			t.Fatalf("try %d: HTTP %d %v; want 200 %v", try+1, code, resp, want)
		}
	}
	code, resp := s.rest("POST", "/v1/events:search", map[string]any{"filter": map[string]any{"eventSourceExact": "kubernetes-apiserver", "startEventTime": "2026-11-01T00:00:00Z"}})
	if code != 200 {
		t.Fatal(resp)
	}
	byAction := map[string]map[string]any{}
	for _, e := range resp["events"].([]any) {
		m := e.(map[string]any)
		byAction[m["action"].(string)] = m
	}
	if len(byAction) != 3 {
		t.Fatalf("stored actions %v", slices.Collect(func(yield func(string) bool) {
			for k := range byAction {
				yield(k)
			}
		}))
	}
	for action, want := range map[string]map[string]any{
		"actions/kubernetes/apps/deployments/CREATE": {
			"principal": "users/alice@example.com", "readOnly": false, "sourceIpAddress": "203.0.113.7", "workspace": "workspaces/team-a",
			"resource": "//kubernetes/prod-eu/apis/apps/v1/namespaces/team-a/deployments", "eventTime": "2026-11-30T09:00:00.123456Z",
			"status": map[string]any{"code": float64(0), "message": ""}, "type": "TYPE_API",
		},
		"actions/kubernetes/core/secrets/GET": {
			"principal": "services/ci.deployer", "readOnly": true, "sourceIpAddress": "private", "workspace": "",
			"resource": "//kubernetes/prod-eu/api/v1/namespaces/kube-system/secrets/admin-token",
		},
		"actions/kubernetes/core/nodes/status/PATCH": {
			"principal": "services/node.node-1", "type": "TYPE_SYSTEM", "status": map[string]any{"code": float64(13), "message": "the apiserver's handler panicked"},
		},
	} {
		got := byAction[action]
		if got == nil {
			t.Errorf("no event with action %s", action)
			continue
		}
		for k, v := range want {
			if fmt.Sprint(got[k]) != fmt.Sprint(v) {
				t.Errorf("%s: %s = %v, want %v", action, k, got[k], v)
			}
		}
	}
	secret := byAction["actions/kubernetes/core/secrets/GET"]
	if st := secret["status"].(map[string]any); st["code"] != float64(7) {
		t.Errorf("forbidden read: status %v, want code 7", st)
	}
	if md := byAction["actions/kubernetes/apps/deployments/CREATE"]["metadata"].(map[string]any); md["source_ips"] != "203.0.113.7,10.0.0.5" || md["audit_id"] != "5c1e0d1a-9a1f-4d7e-8a3b-0c2d4e6f8a10" {
		t.Errorf("metadata %v", md)
	}
	if code, _ := s.restAs("", "POST", "/v1/adapters/kubernetes/audit", body); code != 401 {
		t.Errorf("without a token: HTTP %d, want 401", code)
	}
}

// TestKeycloakWebhook stores Keycloak's LOGIN_ERROR and admin CREATE USER
// events with the documented mapping, only with a valid signature, never
// the representation in clear, and a resent delivery once.
func TestKeycloakWebhook(t *testing.T) {
	secretFile := filepath.Join(t.TempDir(), "kc.secret")
	secret := "a-shared-webhook-secret"
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, "", "--keycloak-webhook-secret-file", secretFile)
	body, err := os.ReadFile("testdata/keycloak-events.json")
	if err != nil {
		t.Fatal(err)
	}
	post := func(sig string) (int, map[string]any) {
		req, _ := http.NewRequest("POST", s.url("/adapters/keycloak/events"), bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Keycloak-Signature", sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	sig := hex.EncodeToString(mac.Sum(nil))
	if code, _ := post("00" + sig[2:]); code != 401 {
		t.Errorf("a wrong signature: HTTP %d, want 401", code)
	}
	for try, want := range []string{"map[duplicates:0 invalid:0 skipped:0 stored:2]", "map[duplicates:2 invalid:0 skipped:0 stored:0]"} {
		if code, m := post("sha256=" + sig); code != 200 || fmt.Sprint(m) != want {
			t.Fatalf("delivery %d: HTTP %d %v, want %s", try+1, code, m, want)
		}
	}
	code, resp := s.rest("POST", "/v1/events:search", map[string]any{"filter": map[string]any{"eventSourceExact": "thirdparty-chainguard-bitnamikeycloak", "startEventTime": "2025-07-01T00:00:00Z"}})
	if code != 200 || len(resp["events"].([]any)) != 2 {
		t.Fatalf("HTTP %d %v", code, resp)
	}
	raw, _ := json.Marshal(resp)
	if strings.Contains(string(raw), "S3cret") || strings.Contains(string(raw), "newuser") {
		t.Error("the admin event's representation was stored in clear")
	}
	byAction := map[string]map[string]any{}
	for _, e := range resp["events"].([]any) {
		byAction[e.(map[string]any)["action"].(string)] = e.(map[string]any)
	}
	login := byAction["actions/keycloak/events/LOGIN"]
	if login == nil || login["principal"] != "users/5b7c9d1e-2f3a-4b5c-9d6e-7f8a9b0c1d2e" || login["sourceIpAddress"] != "198.51.100.23" ||
		fmt.Sprint(login["status"]) != "map[code:16 message:invalid_user_credentials]" || login["eventTime"] != "2025-11-30T09:00:00.123Z" {
		t.Errorf("LOGIN_ERROR mapped to %v", login)
	}
	create := byAction["actions/keycloak/user/CREATE"]
	if create == nil || create["principal"] != "users/0d1e2f3a-4b5c-4d6e-8f7a-9b0c1d2e3f4a" || create["sourceIpAddress"] != "private" ||
		create["resource"] != "//keycloak/realms/hac/users/6e7f8a9b-0c1d-4e2f-8a3b-4c5d6e7f8a9b" || create["metadata"].(map[string]any)["representation_sha256"] == nil {
		t.Errorf("admin CREATE USER mapped to %v", create)
	}
}

// fakeKeycloak serves a realm's token endpoint and its user and admin
// events as Keycloak's admin REST API does (dateFrom in ms, direction=asc,
// first/max paging), and records the dateFrom of each query.
type fakeKeycloak struct {
	mu        sync.Mutex
	user      []map[string]any
	admin     []map[string]any
	dateFroms []int64
	srv       *httptest.Server
}

func newFakeKeycloak(t *testing.T) *fakeKeycloak {
	k := &fakeKeycloak{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /realms/hac/protocol/openid-connect/token", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		id, secret, _ := r.BasicAuth()
		if r.PostForm.Get("grant_type") != "client_credentials" || id != "audit-puller" || secret != "puller-secret" {
			http.Error(w, `{"error":"unauthorized_client"}`, 401)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"access_token":"kc-token","token_type":"Bearer","expires_in":300}`)
	})
	serve := func(list *[]map[string]any) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer kc-token" || r.URL.Query().Get("direction") != "asc" {
				http.Error(w, "forbidden", 403)
				return
			}
			q := r.URL.Query()
			from, _ := strconv.ParseInt(q.Get("dateFrom"), 10, 64)
			first, _ := strconv.Atoi(q.Get("first"))
			maxN, _ := strconv.Atoi(q.Get("max"))
			k.mu.Lock()
			k.dateFroms = append(k.dateFroms, from)
			var out []map[string]any
			for _, e := range *list {
				if int64(e["time"].(int)) >= from {
					out = append(out, e)
				}
			}
			k.mu.Unlock()
			out = out[min(first, len(out)):]
			out = out[:min(maxN, len(out))]
			json.NewEncoder(w).Encode(out)
		}
	}
	mux.HandleFunc("GET /admin/realms/hac/events", serve(&k.user))
	mux.HandleFunc("GET /admin/realms/hac/admin-events", serve(&k.admin))
	k.srv = httptest.NewServer(mux)
	t.Cleanup(k.srv.Close)
	return k
}

func (k *fakeKeycloak) addUser(id string, at int, typ string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.user = append(k.user, map[string]any{"id": id, "time": at, "type": typ, "realmId": "hac", "userId": "u-" + id, "ipAddress": "198.51.100.1"})
}

// TestKeycloakPuller pulls user and admin events from a Keycloak-shaped
// admin API, pages through them, stores each once despite the
// overlapping windows, and resumes from its cursor after a restart.
func TestKeycloakPuller(t *testing.T) {
	k := newFakeKeycloak(t)
	base := 1764493200000 // ms
	for i := range 5 {
		k.addUser(fmt.Sprintf("e%d", i), base+i*1000, []string{"LOGIN", "LOGIN_ERROR", "LOGOUT"}[i%3])
	}
	k.admin = append(k.admin, map[string]any{"id": "a1", "time": base + 1500, "realmId": "hac", "resourceType": "USER", "operationType": "CREATE",
		"resourcePath": "users/x", "authDetails": map[string]any{"userId": "admin-1", "ipAddress": "10.0.0.1"}, "representation": `{"password":"p"}`})
	data := t.TempDir()
	secretFile := filepath.Join(t.TempDir(), "kc")
	os.WriteFile(secretFile, []byte("puller-secret"), 0o600)
	args := []string{"--keycloak-url", k.srv.URL, "--keycloak-realm", "hac", "--keycloak-client-id", "audit-puller",
		"--keycloak-client-secret-file", secretFile, "--keycloak-poll-interval", "200ms", "--keycloak-poll-overlap", "3s", "--keycloak-page-size", "2"}
	count := func(s *server) int {
		return len(s.searchAll(map[string]any{"eventSourceExact": "thirdparty-chainguard-bitnamikeycloak", "startEventTime": "2025-01-01T00:00:00Z"}, 1000))
	}
	waitFor := func(s *server, n int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) && count(s) < n {
			time.Sleep(100 * time.Millisecond)
		}
		time.Sleep(600 * time.Millisecond) // more polls: nothing more may appear
		if got := count(s); got != n {
			t.Fatalf("%d Keycloak events stored, want %d", got, n)
		}
	}
	s := startServer(t, data, args...)
	waitFor(s, 6)
	s.kill()
	k.mu.Lock()
	k.dateFroms = nil
	k.mu.Unlock()
	k.addUser("e5", base+10000, "LOGIN")
	k.addUser("e6", base+11000, "CODE_TO_TOKEN")
	s2 := startServer(t, data, args...)
	waitFor(s2, 8)
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.dateFroms) == 0 || k.dateFroms[0] != int64(base+4000-3000) {
		t.Errorf("after the restart the first query read from %v, want the cursor less the overlap (%d)", k.dateFroms, base+1000)
	}
}
