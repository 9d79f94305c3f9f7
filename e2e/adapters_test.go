package e2e

import (
	"fmt"
	"os"
	"slices"
	"testing"
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
