package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/audittrail/audittrail/internal/adapters/k8saudit"
	"github.com/audittrail/audittrail/internal/adapters/keycloak"
)

// adapterFlags configure the ingest adapters.
type adapterFlags struct {
	k8sCluster, k8sUserPrefix string
	k8sWorkspaces             multiFlag
	keycloakSecretFile        string
	otlpLogs                  bool
	pull                      keycloak.PullerConfig
	pullSecretFile            string
}

func (a *adapterFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&a.k8sCluster, "k8s-audit-cluster", "", "serve the Kubernetes audit webhook at /v1/adapters/kubernetes/audit for this cluster name (docs/ADAPTERS.md)")
	fs.StringVar(&a.k8sUserPrefix, "k8s-audit-user-prefix", "oidc:", "prefix the apiserver puts on OIDC usernames (--oidc-username-prefix), stripped from users/<name>")
	fs.Var(&a.k8sWorkspaces, "k8s-audit-workspace", "namespace=workspaces/<id>: the workspace of that namespace's events (repeatable)")
	a.pull = keycloak.DefaultPullerConfig()
	fs.StringVar(&a.pull.BaseURL, "keycloak-url", "", "pull Keycloak's user and admin events from its admin REST API at this URL (docs/ADAPTERS.md)")
	fs.StringVar(&a.pull.Realm, "keycloak-realm", "", "the realm whose events are pulled")
	fs.StringVar(&a.pull.ClientID, "keycloak-client-id", "", "a confidential client whose service account may view events")
	fs.StringVar(&a.pullSecretFile, "keycloak-client-secret-file", "", "file holding that client's secret")
	fs.DurationVar(&a.pull.Interval, "keycloak-poll-interval", a.pull.Interval, "wait between polls of Keycloak's events")
	fs.IntVar(&a.pull.PageSize, "keycloak-page-size", a.pull.PageSize, "events asked of Keycloak per page")
	fs.DurationVar(&a.pull.Overlap, "keycloak-poll-overlap", a.pull.Overlap, "how far before its cursor each poll reads again (late events; read twice, stored once)")
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

// keycloakPuller returns the puller's configuration (its cursor in the
// data directory), or nil when it is off.
func (a *adapterFlags) keycloakPuller(dataDir string) (*keycloak.PullerConfig, error) {
	if a.pull.BaseURL == "" {
		return nil, nil
	}
	cfg := a.pull
	if a.pullSecretFile != "" {
		b, err := os.ReadFile(a.pullSecretFile)
		if err != nil {
			return nil, fmt.Errorf("serve: --keycloak-client-secret-file: %w", err)
		}
		cfg.ClientSecret = strings.TrimSpace(string(b))
	}
	cfg.CursorFile = filepath.Join(dataDir, "keycloak.cursor")
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	return &cfg, nil
}
