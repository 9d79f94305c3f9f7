package e2e

import (
	"crypto/hmac"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/audittrail/audittrail/internal/export"
)

// The real binary streams OCSF events to a webhook that verifies each
// signature as docs/EXPORT.md describes, through the receiver being down
// and a kill -9 of the server: every acknowledged event arrives at least
// once, as API Activity.
func TestWebhookSinkOCSF(t *testing.T) {
	secret := "whsec-0123456789abcdef"
	var mu sync.Mutex
	got := map[string]map[string]any{}
	down := true
	bad := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if !hmac.Equal([]byte(r.Header.Get(export.HeaderSignature)), []byte(export.Sign([]byte(secret), r.Header.Get(export.HeaderTimestamp), body))) {
			bad++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if down {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		var b struct{ Events []map[string]any }
		json.Unmarshal(body, &b)
		for _, e := range b.Events {
			got[e["metadata"].(map[string]any)["uid"].(string)] = e
		}
	}))
	defer srv.Close()
	data := t.TempDir()
	os.WriteFile(filepath.Join(data, "hook.secret"), []byte(secret+"\n"), 0o600)
	writeFile(t, data, "audittrail.yaml", []byte(fmt.Sprintf(`sinks:
  - name: siem
    type: webhook
    format: ocsf
    flush: {max_events: 100, max_age: 200ms}
    webhook: {url: %q, secret_file: %q}
`, srv.URL, filepath.Join(data, "hook.secret"))))
	cfg := filepath.Join(data, "audittrail.yaml")
	s := startServer(t, data, "--config", cfg)
	first := createBatch(t, s, 120, "actions/siem/things/DELETE")
	time.Sleep(500 * time.Millisecond)
	mu.Lock()
	down = false
	mu.Unlock()
	s.kill()
	s = startServer(t, data, "--config", cfg)
	second := createBatch(t, s, 30, "actions/siem/things/CREATE")
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := 0
		for _, name := range append(append([]string{}, first...), second...) {
			if _, ok := got[name[len("events/"):]]; ok {
				n++
			}
		}
		mu.Unlock()
		if n == 150 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of 150 events reached the webhook", n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if bad != 0 {
		t.Fatalf("%d deliveries failed the signature check", bad)
	}
	e := got[first[0][len("events/"):]]
	if e["class_uid"] != float64(6003) || e["activity_id"] != float64(4) || e["type_uid"] != float64(600304) ||
		e["api"].(map[string]any)["operation"] != "actions/siem/things/DELETE" || e["actor"].(map[string]any)["user"].(map[string]any)["uid"] != "users/e2e" {
		t.Fatalf("OCSF event: %v", e)
	}
}
