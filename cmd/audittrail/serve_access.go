package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/audittrail/audittrail/internal/access"
	"github.com/audittrail/audittrail/internal/server"
	"github.com/audittrail/audittrail/internal/store"
	"github.com/audittrail/audittrail/internal/viewer"
)

// tlsConfig builds the listeners' TLS configuration from --tls-cert,
// --tls-key and --client-ca; nil when TLS is off.
func (c *serveCommand) tlsConfig() (*tls.Config, error) {
	if (c.tlsCert == "") != (c.tlsKey == "") {
		return nil, errors.New("serve: --tls-cert and --tls-key go together")
	}
	if c.tlsCert == "" {
		if c.clientCA != "" {
			return nil, errors.New("serve: --client-ca needs --tls-cert and --tls-key")
		}
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(c.tlsCert, c.tlsKey)
	if err != nil {
		return nil, fmt.Errorf("serve: --tls-cert/--tls-key: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}}
	if c.clientCA != "" {
		pem, err := os.ReadFile(c.clientCA)
		if err != nil {
			return nil, fmt.Errorf("serve: --client-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("serve: --client-ca: no PEM certificate in %s", c.clientCA)
		}
		// Bearer tokens stay valid on the same port, so a certificate is
		// optional; one that is sent must verify.
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.VerifyClientCertIfGiven
	}
	return cfg, nil
}

// viewerOIDC is the viewer's OIDC sign-in from the --viewer-* flags; nil
// when --viewer-oidc-client-id is not set.
func (c *serveCommand) viewerOIDC() (*viewer.OIDCLogin, error) {
	if c.viewerClientID == "" {
		if c.viewerSecretFile != "" || c.viewerURL != "" {
			return nil, errors.New("serve: --viewer-oidc-client-secret-file and --viewer-url need --viewer-oidc-client-id")
		}
		return nil, nil
	}
	if c.oidc.Issuer == "" {
		return nil, errors.New("serve: --viewer-oidc-client-id needs --oidc-issuer")
	}
	o := &viewer.OIDCLogin{Issuer: c.oidc.Issuer, ClientID: c.viewerClientID, Scopes: strings.Fields(c.viewerScopes), BaseURL: c.viewerURL}
	if c.viewerSecretFile != "" {
		b, err := os.ReadFile(c.viewerSecretFile)
		if err != nil {
			return nil, fmt.Errorf("serve: --viewer-oidc-client-secret-file: %w", err)
		}
		o.ClientSecret = strings.TrimSpace(string(b))
	}
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("serve: --viewer-url: %w", err)
	}
	return o, nil
}

// reloadOnHangup reloads the policy on every SIGHUP until ctx is done.
func reloadOnHangup(ctx context.Context, pf *access.PolicyFile, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if changed, err := pf.Reload(); err != nil {
				log.Error("policy rejected on SIGHUP; the previous policy stays in force", "err", err)
			} else {
				log.Info("policy reloaded on SIGHUP", "changed", changed)
			}
		}
	}
}

// policySource avoids handing the server a typed nil.
func policySource(pf *access.PolicyFile) server.PolicySource {
	if pf == nil {
		return nil
	}
	return pf
}

// registerAdminToken makes the bootstrap token of <data>/admin.token one of
// the server-issued tokens. A revoked bootstrap token stays revoked: delete
// the file and restart to get a new one.
func registerAdminToken(ctx context.Context, st store.Store, secret string, log *slog.Logger) error {
	hash := server.HashToken(secret)
	t, err := st.TokenByHash(ctx, hash)
	switch {
	case err == nil:
		if !t.RevokeTime.IsZero() {
			log.Warn("the admin token in the data directory is revoked; delete admin.token and restart for a new one", "token_id", t.ID)
		}
		return nil
	case !errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("serve: admin token: %w", err)
	}
	t = store.Token{ID: "bootstrap-" + hex.EncodeToString(hash[:4]), Hash: hash, Principal: adminPrincipal,
		CreatedBy: "audittrail serve", CreateTime: time.Now().UTC()}
	if err := st.CreateToken(ctx, t); err != nil {
		return fmt.Errorf("serve: admin token: %w", err)
	}
	return nil
}
