package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/grpclog"

	"github.com/audittrail/audittrail/internal/access"
	"github.com/audittrail/audittrail/internal/adapters/keycloak"
	"github.com/audittrail/audittrail/internal/server"
	"github.com/audittrail/audittrail/internal/tlog"
	"github.com/audittrail/audittrail/internal/viewer"
)

// The bootstrap admin of SPEC §4.
const adminPrincipal = access.AdminPrincipal

// Files in the data directory.
const (
	adminTokenFile   = "admin.token"
	signingKeyFile   = "log.key"
	pageTokenKeyFile = "search-token.key"
	eventsDir        = "events"
)

type serveCommand struct {
	env *env

	addr, publicAddr        string
	data, storeURL, config  string
	auditSource, logLevel   string
	signingKey, logOrigin   string
	clockSkew, searchBudget time.Duration
	shutdownTimeout         time.Duration

	policy                    string
	oidc                      access.OIDCConfig
	oidcAlgorithms            string
	tlsCert, tlsKey, clientCA string

	viewerClientID, viewerSecretFile string
	viewerScopes, viewerURL          string
	viewerPlainHTTP                  bool

	listen   listenFlags
	limits   limitFlags
	tracing  tracingFlags
	tracer   trace.Tracer // set by Run from tracing
	adapters adapterFlags
}

func (c *serveCommand) flags() *flag.FlagSet {
	fs := newFlagSet("serve")
	fs.SetOutput(c.env.stderr)
	def := server.DefaultConfig()
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8080", "listen address for gRPC and REST (HOST:PORT)")
	fs.StringVar(&c.publicAddr, "public-addr", "", "optional second listen address that serves the read RPCs only (HOST:PORT)")
	fs.StringVar(&c.data, "data", "./data", "data directory of the embedded store, keys and the admin token")
	fs.StringVar(&c.storeURL, "store", "", "store URL: postgres://user:pass@host:5432/db selects PostgreSQL (docs/OPERATIONS.md); empty selects the embedded store in --data")
	fs.StringVar(&c.config, "config", "", "optional YAML file; its keys are these flags' names")
	fs.StringVar(&c.auditSource, "audit-source", def.AuditSource, "event_source of the server's own events")
	fs.DurationVar(&c.clockSkew, "max-clock-skew", def.Rules.MaxClockSkew, "how far in the future event_time may be")
	fs.DurationVar(&c.searchBudget, "search-budget", def.SearchBudget, "work budget of one SearchEvents call")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 30*time.Second, "how long SIGTERM waits for in-flight requests")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&c.signingKey, "signing-key", "", "signed-note private key of the integrity log (default: <data>/log.key, generated on first start)")
	fs.StringVar(&c.logOrigin, "log-origin", "", "origin name for a newly generated signing key (default: <hostname>/audittrail/<random>)")
	fs.StringVar(&c.policy, "policy", "", "authorization policy file (YAML, docs/ACCESS.md); reloaded on SIGHUP and when it changes. Without it only the admin has access")
	od := access.DefaultOIDCConfig()
	c.oidc = od
	fs.StringVar(&c.oidc.Issuer, "oidc-issuer", "", "OIDC issuer URL; enables JWT bearer tokens checked against its JWKS")
	fs.StringVar(&c.oidc.Audience, "oidc-audience", "", "audience (aud) JWTs must carry; required with --oidc-issuer")
	fs.StringVar(&c.oidcAlgorithms, "oidc-algorithms", strings.Join(od.Algorithms, ","), "accepted JWT signing algorithms (comma-separated; asymmetric only)")
	fs.DurationVar(&c.oidc.Leeway, "oidc-leeway", od.Leeway, "clock skew tolerated on JWT exp and nbf")
	fs.StringVar(&c.oidc.UserClaim, "oidc-user-claim", od.UserClaim, "claim that names a person: users/<value>")
	fs.StringVar(&c.oidc.UsernameClaim, "oidc-username-claim", od.UsernameClaim, "claim with the login name shown as login_principal")
	fs.StringVar(&c.oidc.ClientIDClaim, "oidc-client-id-claim", od.ClientIDClaim, "claim with the client id of a service-account token: services/<value>")
	fs.StringVar(&c.oidc.ServiceAccountPrefix, "oidc-service-account-prefix", od.ServiceAccountPrefix, "username prefix that marks service-account tokens (Keycloak)")
	fs.StringVar(&c.viewerClientID, "viewer-oidc-client-id", "", "client id of the web viewer at --oidc-issuer; enables sign-in there (authorization code with PKCE)")
	fs.StringVar(&c.viewerSecretFile, "viewer-oidc-client-secret-file", "", "file holding the viewer client's secret, for a confidential client (a public client needs none)")
	fs.StringVar(&c.viewerScopes, "viewer-oidc-scopes", "openid profile", "scopes the viewer requests at sign-in (space-separated)")
	fs.BoolVar(&c.viewerPlainHTTP, "viewer-plain-http", false, "browsers reach the viewer over plain HTTP with no TLS in front (not even a proxy): its cookies are then not Secure")
	fs.StringVar(&c.viewerURL, "viewer-url", "", "the viewer's external URL (scheme://host[:port]) for the OIDC redirect URI; default: the request's own")
	fs.StringVar(&c.tlsCert, "tls-cert", "", "TLS certificate file (PEM); serves HTTPS and gRPC over TLS on every listener")
	fs.StringVar(&c.tlsKey, "tls-key", "", "TLS private key file (PEM), with --tls-cert")
	c.listen.register(fs)
	c.limits.register(fs, def)
	c.tracing.register(fs)
	c.adapters.register(fs)
	fs.StringVar(&c.clientCA, "client-ca", "", "CA bundle (PEM) for client certificates (mutual TLS): a verified certificate authenticates services/<name> from its spiffe:// URI SAN or CN")
	return fs
}

// Run starts the server and blocks until ctx is done (SIGINT/SIGTERM), then
// drains in-flight requests and closes the store.
func (c *serveCommand) Run(ctx context.Context, args []string) error {
	fs := c.flags()
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("serve: unexpected arguments %q", fs.Args())
	}
	var sinkCfgs []sinkConfig
	if c.config != "" {
		sinksNode, err := applyConfigFile(fs, c.config)
		if err != nil {
			return err
		}
		if sinkCfgs, err = parseSinks(c.config, sinksNode); err != nil {
			return err
		}
	}
	if err := c.listen.validate(); err != nil {
		return err
	}
	log, err := newLogger(c.env.stderr, c.logLevel)
	if err != nil {
		return err
	}
	grpclog.SetLoggerV2(grpcLogger{log}) // process-wide, like the server itself
	tlsConfig, err := c.tlsConfig()
	if err != nil {
		return err
	}
	var policy *access.PolicyFile
	if c.policy != "" {
		if policy, err = access.LoadPolicyFile(c.policy, log); err != nil {
			return fmt.Errorf("serve: --policy: %w", err)
		}
		go policy.Watch(ctx, 2*time.Second)
		go reloadOnHangup(ctx, policy, log)
	}
	var verifier server.TokenVerifier
	if c.oidc.Issuer != "" {
		c.oidc.Algorithms = strings.Split(c.oidcAlgorithms, ",")
		o, err := access.NewOIDC(c.oidc, nil, log, nil)
		if err != nil {
			return fmt.Errorf("serve: %w", err)
		}
		if err := o.Discover(ctx); err != nil {
			log.Warn("oidc issuer not reachable yet; JWTs are refused until it is", "err", err)
		}
		verifier = o
	}
	viewerOIDC, err := c.viewerOIDC()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(c.data, 0o700); err != nil {
		return fmt.Errorf("serve: data directory: %w", err)
	}

	reg := prometheus.NewRegistry()
	tracer, stopTracing, err := c.tracing.tracer(ctx, buildVersion().Version)
	if err != nil {
		return err
	}
	c.tracer = tracer
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := stopTracing(sctx); err != nil {
			log.Warn("traces not flushed", "err", err)
		}
	}()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	st, skey, key, err := c.openStore(ctx, log, reg)
	if err != nil {
		return err
	}
	defer st.Close()
	tokenPath := filepath.Join(c.data, adminTokenFile)
	adminToken, err := loadOrCreateSecret(tokenPath, func() ([]byte, error) {
		b, err := randomBytes(32)
		return []byte("at_" + base64.RawURLEncoding.EncodeToString(b) + "\n"), err
	})
	if err != nil {
		return err
	}

	if err := registerAdminToken(ctx, st, strings.TrimSpace(string(adminToken)), log); err != nil {
		return err
	}

	copts := tlog.DefaultCheckpointerOptions()
	copts.Logger = log
	copts.Registerer = reg
	checkpointer, err := tlog.NewCheckpointer(st, skey, copts)
	if err != nil {
		return err
	}
	logCtx, stopLog := context.WithCancel(context.Background())
	logDone := make(chan struct{})
	go func() { checkpointer.Run(logCtx); close(logDone) }()
	defer func() { stopLog(); <-logDone }()

	cfg := server.DefaultConfig()
	cfg.AuditSource = c.auditSource
	cfg.Rules.MaxClockSkew = c.clockSkew
	cfg.SearchBudget = c.searchBudget
	cfg.PageTokenKey = key
	cfg.Version = buildVersion()
	if cfg.K8sAudit, err = c.adapters.k8sAudit(); err != nil {
		return err
	}
	if cfg.KeycloakSecret, err = c.adapters.keycloakSecret(); err != nil {
		return err
	}
	cfg.OTLPLogs = c.adapters.otlpLogs
	if ml := c.limits.apply(&cfg, c.env.getenv); ml > 0 {
		log.Info("soft memory limit", "bytes", ml)
	}
	sinks, err := newSinkSet(sinkCfgs, st, skey, c.env.getenv, log, reg, buildVersion().Version)
	if err != nil {
		return err
	}
	var viewers []*viewer.Viewer // one per listener
	srv, err := server.New(cfg, server.Deps{
		Store:  st,
		Log:    checkpointer,
		OIDC:   verifier,
		Policy: policySource(policy),
		UI: func(api *server.Server) (http.Handler, error) {
			vopts := viewer.DefaultOptions()
			vopts.Logger = log
			vopts.VerifierKey = checkpointer.VerifierKey()
			vopts.OIDC = viewerOIDC
			vopts.PlainHTTP = c.viewerPlainHTTP
			v, err := viewer.New(api, vopts)
			if err != nil {
				return nil, err
			}
			viewers = append(viewers, v)
			return v.Handler(), nil
		},
		Logger:     log,
		Tracer:     tracer,
		Registerer: reg,
		Gatherer:   reg,
		Sinks:      sinks,
	})
	if err != nil {
		return err
	}
	pullCfg, err := c.adapters.keycloakPuller(c.data)
	if err != nil {
		return err
	}
	if pullCfg != nil {
		puller, err := keycloak.NewPuller(*pullCfg, srv, log, nil)
		if err != nil {
			return err
		}
		pullCtx, stopPull := context.WithCancel(ctx)
		pullDone := make(chan struct{})
		go func() { puller.Run(pullCtx); close(pullDone) }()
		defer func() { stopPull(); <-pullDone }()
		log.Info("pulling Keycloak events", "url", pullCfg.BaseURL, "realm", pullCfg.Realm)
	}
	handler, err := srv.Handler()
	if err != nil {
		return err
	}
	// Sinks read the log after the fact: ingest never waits for them.
	sinks.start(c.shutdownTimeout)
	defer sinks.stopAndWait()
	for _, sc := range sinkCfgs {
		log.Info("export sink", "name", sc.Name, "type", sc.Type)
	}
	publicHandler, err := srv.PublicHandler()
	if err != nil {
		return err
	}

	rejected := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "audittrail_connections_rejected_total",
		Help: "Connections answered 503 and closed because --max-connections were open.",
	})
	if err := reg.Register(rejected); err != nil {
		return fmt.Errorf("serve: metrics: %w", err)
	}
	ln, err := c.listen.listen(c.addr, tlsConfig, rejected)
	if err != nil {
		return fmt.Errorf("serve: listen: %w", err)
	}
	scheme := "http"
	if tlsConfig != nil {
		scheme = "https"
	}
	hs := c.listen.httpServer(handler, tlsConfig != nil, log)
	servers := []*http.Server{hs}
	errc := make(chan error, 3)
	if c.publicAddr != "" {
		pln, err := c.listen.listen(c.publicAddr, tlsConfig, rejected)
		if err != nil {
			return fmt.Errorf("serve: listen on --public-addr: %w", err)
		}
		phs := c.listen.httpServer(publicHandler, tlsConfig != nil, log)
		servers = append(servers, phs)
		go func() { errc <- phs.Serve(pln) }()
		log.Info("audittrail public listener (read RPCs only)", "addr", pln.Addr().String())
		fmt.Fprintf(c.env.stderr, "audittrail: serving read-only gRPC and REST on %s://%s\n", scheme, pln.Addr())
	}
	if c.listen.metricsAddr != "" {
		mln, err := c.listen.listen(c.listen.metricsAddr, nil, rejected)
		if err != nil {
			return fmt.Errorf("serve: listen on --metrics-addr: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", srv.MetricsHandler())
		mhs := c.listen.httpServer(mux, false, log)
		servers = append(servers, mhs)
		go func() { errc <- mhs.Serve(mln) }()
		log.Info("audittrail metrics listener", "addr", mln.Addr().String())
		fmt.Fprintf(c.env.stderr, "audittrail: serving metrics on http://%s/metrics\n", mln.Addr())
	}
	absToken, _ := filepath.Abs(tokenPath)
	registerLocalServer(ln.Addr().String(), absToken, log)
	log.Info("audittrail listening", "addr", ln.Addr().String(), "data", c.data, "admin_token_file", absToken)
	fmt.Fprintf(c.env.stderr, "audittrail: serving gRPC and REST on %s://%s\naudittrail: admin token (principal %s) is in %s\n",
		scheme, ln.Addr(), adminPrincipal, absToken)

	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: draining in-flight requests")
	for _, v := range viewers {
		v.Shutdown() // live tails end; unary requests drain
	}
	sctx, cancel := context.WithTimeout(context.Background(), c.shutdownTimeout)
	defer cancel()
	for _, srv := range servers {
		if err := srv.Shutdown(sctx); err != nil {
			log.Warn("shutdown: requests still running at timeout", "err", err)
		}
	}
	stopLog()
	<-logDone
	// A last checkpoint covers every event accepted before the drain.
	if err := checkpointer.Sign(context.Background()); err != nil {
		log.Error("final checkpoint not signed", "err", err)
	}
	// Then the sinks deliver up to it and write their last digests.
	sinks.stopAndWait()
	if err := st.Close(); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

// signingKeyFile reads --signing-key; ok is false when it is not set.
func (c *serveCommand) signingKeyFile() (key string, ok bool, err error) {
	if c.signingKey == "" {
		return "", false, nil
	}
	b, err := os.ReadFile(c.signingKey)
	if err != nil {
		return "", true, fmt.Errorf("serve: --signing-key: %w", err)
	}
	return strings.TrimSpace(string(b)), true, nil
}

// newSigningKey generates a signing key for --log-origin, by default
// <hostname>/audittrail/<random>.
func (c *serveCommand) newSigningKey() ([]byte, error) {
	origin := c.logOrigin
	if origin == "" {
		host, _ := os.Hostname()
		suffix, err := randomBytes(4)
		if err != nil {
			return nil, err
		}
		origin = fmt.Sprintf("%s/audittrail/%x", strings.ToLower(host), suffix)
	}
	skey, _, err := tlog.GenerateKey(origin)
	return []byte(skey + "\n"), err
}

func newLogger(w interface{ Write([]byte) (int, error) }, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("serve: --log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			return slog.New(slog.NewTextHandler(w, opts)), nil
		}
	}
	return slog.New(slog.NewJSONHandler(w, opts)), nil
}

func randomBytes(n int) ([]byte, error) {
	b := make([]byte, n)
	_, err := rand.Read(b)
	return b, err
}

// loadOrCreateSecret returns the file's contents, creating it with mode 0600
// from gen when it does not exist. A file readable by others is refused.
func loadOrCreateSecret(path string, gen func() ([]byte, error)) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		fi, err := os.Stat(path)
		if err != nil {
			return nil, err
		}
		if fi.Mode().Perm()&0o077 != 0 {
			return nil, fmt.Errorf("serve: %s is accessible by others (mode %v); chmod 600 it", path, fi.Mode().Perm())
		}
		if len(b) == 0 {
			return nil, fmt.Errorf("serve: %s is empty", path)
		}
		return b, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("serve: %w", err)
	}
	b, err = gen()
	if err != nil {
		return nil, fmt.Errorf("serve: generate %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return nil, fmt.Errorf("serve: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("serve: sync %s: %w", path, err)
	}
	return b, f.Close()
}
