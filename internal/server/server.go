// Package server is the transport layer: the gRPC EventService, its REST
// gateway on the same port, authentication, health and metrics. Domain rules
// live in package event and storage behind store.Store; this package only
// translates, authorises and maps errors to codes (in toStatus alone).
package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	pb "github.com/audittrail/audittrail/api/audittrail/v1"
	"github.com/audittrail/audittrail/internal/adapters/k8saudit"
	"github.com/audittrail/audittrail/internal/event"
	"github.com/audittrail/audittrail/internal/store"
	"github.com/audittrail/audittrail/internal/version"
)

// Config is the server's behaviour. Start from DefaultConfig.
type Config struct {
	// AuditSource is the event_source of the server's own events.
	AuditSource string
	// Rules are the event validation rules.
	Rules event.Rules
	// SearchBudget bounds the work of one SearchEvents call; when it is
	// spent the call returns a partial page and a token.
	SearchBudget time.Duration
	// MaxBodyBytes bounds REST request bodies and gRPC messages.
	MaxBodyBytes int64
	// PageTokenKey signs page tokens; at least 32 bytes.
	PageTokenKey []byte
	// Version is what GET /version answers.
	Version version.Info
	// MaxInflightBytes bounds the bytes of API requests being read,
	// decoded and served at once; a request past it is refused with
	// RESOURCE_EXHAUSTED (429). Decoding costs memory of about 20 times a
	// JSON body, so this bounds most of the server's memory.
	MaxInflightBytes int64
	// MaxConcurrentWrites bounds the create calls in progress.
	MaxConcurrentWrites int
	// AdmissionWait is how long a request may wait for room under those
	// bounds before it is refused.
	AdmissionWait time.Duration
	// K8sAudit, when set, serves the Kubernetes audit webhook at
	// /v1/adapters/kubernetes/audit with this mapping.
	K8sAudit *k8saudit.Config
	// OTLPLogs serves an OTLP/HTTP logs receiver at /v1/logs for records
	// that follow the audit.* attribute contract.
	OTLPLogs bool
	// KeycloakSecret, when set, serves Keycloak's event webhook at
	// /adapters/keycloak/events, whose bodies it signs (HMAC-SHA256).
	KeycloakSecret []byte
	// TokenCacheTTL is how long a server-issued token, once found, is
	// trusted without reading the store again: a revocation takes up to
	// this long to take effect on a server that saw the token.
	TokenCacheTTL time.Duration
}

// DefaultConfig returns the contract's defaults; PageTokenKey must still be
// set.
func DefaultConfig() Config {
	return Config{
		AuditSource:  "audittrail-server",
		Rules:        event.DefaultRules(),
		SearchBudget: 2 * time.Second,
		MaxBodyBytes: 16 << 20,
		// Sized for a 2-core box: a few full batches at once, which is
		// what two cores can decode in parallel anyway.
		MaxInflightBytes:    64 << 20,
		MaxConcurrentWrites: 16,
		AdmissionWait:       100 * time.Millisecond,
		TokenCacheTTL:       2 * time.Second,
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if err := c.Rules.Validate(); err != nil {
		return fmt.Errorf("server config: %w", err)
	}
	probe := newSelfAuditEvent(c.AuditSource, "services/probe", time.Unix(1, 0), nil)
	if err := c.Rules.Normalize(probe, time.Unix(1, 0)); err != nil {
		return fmt.Errorf("server config: audit source: %w", err)
	}
	if c.SearchBudget <= 0 {
		return errors.New("server config: search budget must be positive")
	}
	if c.MaxBodyBytes < 1<<20 {
		return errors.New("server config: max body bytes must be at least 1 MiB")
	}
	if c.MaxInflightBytes < c.MaxBodyBytes {
		return fmt.Errorf("server config: max in-flight bytes %d must be at least the body limit %d", c.MaxInflightBytes, c.MaxBodyBytes)
	}
	if c.MaxConcurrentWrites < 1 || c.AdmissionWait < 0 || c.TokenCacheTTL < 0 {
		return errors.New("server config: max concurrent writes must be positive, the admission wait and token cache TTL not negative")
	}
	if c.K8sAudit != nil {
		if err := c.K8sAudit.Validate(); err != nil {
			return fmt.Errorf("server config: %w", err)
		}
	}
	if len(c.PageTokenKey) < 32 {
		return errors.New("server config: page token key must be at least 32 bytes")
	}
	return nil
}

// Deps are the server's collaborators, passed in explicitly.
type Deps struct {
	Store store.Store
	// Log signs checkpoints of the store's tree and serves them.
	Log CheckpointSource
	// OIDC verifies JWT bearer tokens; nil accepts only server-issued
	// tokens and client certificates.
	OIDC TokenVerifier
	// Policy grants permissions; nil grants them to the bootstrap admin
	// only.
	Policy PolicySource
	// UI, when set, builds the web viewer over the server's EventService;
	// it is served at / and /ui/ on every listener.
	UI     func(api *Server) (http.Handler, error)
	Logger *slog.Logger
	// Registerer receives the server's metrics.
	Registerer prometheus.Registerer
	// Gatherer serves /metrics.
	Gatherer prometheus.Gatherer
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Tracer records a span per RPC and per store call; nil records
	// nothing.
	Tracer trace.Tracer
	// Sinks, when set, reports the export sinks to SinkService.
	Sinks SinkSource
}

// Server implements pb.EventServiceServer and serves it over gRPC and REST.
type Server struct {
	pb.UnimplementedEventServiceServer
	cfg     Config
	store   store.Store
	log     CheckpointSource
	oidc    TokenVerifier
	policy  PolicySource
	ui      func(api *Server) (http.Handler, error)
	logger  *slog.Logger
	now     func() time.Time
	metrics *metrics
	gather  prometheus.Gatherer
	logins  sync.Map // principal → login name last recorded by this process
	adm     *admission
	tracer  trace.Tracer
	tokens  *tokenCache
	errLog  *logLimiter
	sinks   SinkSource
}

var _ pb.EventServiceServer = (*Server)(nil)

// New returns a server; call Handler to serve it.
func New(cfg Config, deps Deps) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Store == nil || deps.Log == nil || deps.Logger == nil || deps.Registerer == nil || deps.Gatherer == nil {
		return nil, errors.New("server: store, log, logger, registerer and gatherer are required")
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Tracer == nil {
		deps.Tracer = noop.NewTracerProvider().Tracer("")
	}
	m, err := newMetrics(deps.Registerer, cfg.Version)
	if err != nil {
		return nil, err
	}
	return &Server{
		cfg: cfg, store: deps.Store, log: deps.Log, oidc: deps.OIDC, policy: deps.Policy, ui: deps.UI, logger: deps.Logger,
		now: deps.Now, metrics: m, gather: deps.Gatherer, adm: newAdmission(cfg), tracer: deps.Tracer,
		tokens: &tokenCache{ttl: cfg.TokenCacheTTL, store: deps.Store, m: map[[32]byte]cachedToken{}},
		errLog: &logLimiter{every: 10 * time.Second, last: map[string]*limitedLine{}},
		sinks:  deps.Sinks,
	}, nil
}
