package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/audittrail/audittrail/internal/adapters/k8saudit"
)

// adapterFlags configure the ingest adapters.
type adapterFlags struct {
	k8sCluster, k8sUserPrefix string
	k8sWorkspaces             multiFlag
	keycloakSecretFile        string
	otlpLogs                  bool
}

func (a *adapterFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&a.k8sCluster, "k8s-audit-cluster", "", "serve the Kubernetes audit webhook at /v1/adapters/kubernetes/audit for this cluster name (docs/ADAPTERS.md)")
	fs.StringVar(&a.k8sUserPrefix, "k8s-audit-user-prefix", "oidc:", "prefix the apiserver puts on OIDC usernames (--oidc-username-prefix), stripped from users/<name>")
	fs.Var(&a.k8sWorkspaces, "k8s-audit-workspace", "namespace=workspaces/<id>: the workspace of that namespace's events (repeatable)")
	fs.BoolVar(&a.otlpLogs, "otlp-logs", false, "serve an OTLP/HTTP logs receiver at /v1/logs for records with the audit.* attributes (docs/ADAPTERS.md)")
	fs.StringVar(&a.keycloakSecretFile, "keycloak-webhook-secret-file", "", "serve Keycloak's event webhook at /adapters/keycloak/events, its bodies signed (HMAC-SHA256) with the secret in this file")
}

// keycloakSecret reads the webhook secret, or returns nil when it is off.
func (a *adapterFlags) keycloakSecret() ([]byte, error) {
	if a.keycloakSecretFile == "" {
		return nil, nil
	}
	b, err := os.ReadFile(a.keycloakSecretFile)
	if err != nil {
		return nil, fmt.Errorf("serve: --keycloak-webhook-secret-file: %w", err)
	}
	secret := []byte(strings.TrimSpace(string(b)))
	if len(secret) < 16 {
		return nil, fmt.Errorf("serve: --keycloak-webhook-secret-file: the secret must be at least 16 bytes")
	}
	return secret, nil
}

// k8sAudit returns the webhook's mapping, or nil when it is off.
func (a *adapterFlags) k8sAudit() (*k8saudit.Config, error) {
	if a.k8sCluster == "" {
		return nil, nil
	}
	c := k8saudit.DefaultConfig()
	c.Cluster, c.UserPrefix = a.k8sCluster, a.k8sUserPrefix
	for _, kv := range a.k8sWorkspaces {
		ns, ws, ok := strings.Cut(kv, "=")
		if !ok || ns == "" {
			return nil, fmt.Errorf("serve: --k8s-audit-workspace %q: want namespace=workspaces/<id>", kv)
		}
		c.Workspaces[ns] = ws
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	return &c, nil
}
