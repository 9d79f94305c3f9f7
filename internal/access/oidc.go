package access

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/audittrail/audittrail/internal/event"
)

// ErrUnauthenticated wraps every token that is rejected.
var ErrUnauthenticated = errors.New("access: invalid token")

// ErrUnavailable means the identity provider could not be reached to check
// a token; the caller may retry.
var ErrUnavailable = errors.New("access: identity provider unavailable")

// OIDCConfig configures the verifier of JWT bearer tokens. Start from
// DefaultOIDCConfig.
type OIDCConfig struct {
	// Issuer is the issuer URL; discovery is at
	// Issuer/.well-known/openid-configuration.
	Issuer string
	// Audience must be one of the token's `aud` values.
	Audience string
	// Algorithms are the accepted signing algorithms.
	Algorithms []string
	// Leeway is the clock skew tolerated on exp and nbf.
	Leeway time.Duration
	// UserClaim names the claim that identifies a person: users/<value>.
	UserClaim string
	// UsernameClaim holds the login name shown as login_principal.
	UsernameClaim string
	// ClientIDClaim holds the client id of a service account's token:
	// services/<value>.
	ClientIDClaim string
	// ServiceAccountPrefix marks service-account tokens by their username
	// (Keycloak: `service-account-<client>`). A token whose subject equals
	// its client id is a service account too (Okta, Auth0, Dex).
	ServiceAccountPrefix string
	// DiscoveryRetry is the least time between two failed discoveries.
	DiscoveryRetry time.Duration
}

// DefaultOIDCConfig fits Keycloak's defaults.
func DefaultOIDCConfig() OIDCConfig {
	return OIDCConfig{
		Algorithms:           []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"},
		Leeway:               time.Minute,
		UserClaim:            "sub",
		UsernameClaim:        "preferred_username",
		ClientIDClaim:        "azp",
		ServiceAccountPrefix: "service-account-",
		DiscoveryRetry:       10 * time.Second,
	}
}

// Validate checks the configuration.
func (c *OIDCConfig) Validate() error {
	switch {
	case c.Issuer == "":
		return errors.New("access: oidc issuer required")
	case c.Audience == "":
		return errors.New("access: oidc audience required (--oidc-audience)")
	case len(c.Algorithms) == 0:
		return errors.New("access: oidc algorithms required")
	case c.Leeway < 0 || c.Leeway > 10*time.Minute:
		return errors.New("access: oidc leeway must be between 0 and 10m")
	case c.UserClaim == "" || c.ClientIDClaim == "":
		return errors.New("access: oidc user and client id claims required")
	}
	for _, a := range c.Algorithms {
		if strings.EqualFold(a, "none") || strings.HasPrefix(strings.ToUpper(a), "HS") {
			return fmt.Errorf("access: oidc algorithm %q not allowed (asymmetric algorithms only)", a)
		}
	}
	return nil
}

// OIDC verifies JWT bearer tokens against an issuer's discovery document
// and JWKS. Keys are cached and re-fetched when a token names an unknown
// key id, so the issuer can rotate keys without a restart.
type OIDC struct {
	cfg    OIDCConfig
	client *http.Client
	logger *slog.Logger
	now    func() time.Time

	mu       sync.Mutex
	verifier *oidc.IDTokenVerifier
	failedAt time.Time
	lastErr  error
}

// NewOIDC returns a verifier. Discovery happens on first use and is retried,
// so the server starts while the identity provider is down. client and now
// may be nil.
func NewOIDC(cfg OIDCConfig, client *http.Client, logger *slog.Logger, now func() time.Time) (*OIDC, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	if now == nil {
		now = time.Now
	}
	return &OIDC{cfg: cfg, client: client, logger: logger, now: now}, nil
}

// Discover fetches the discovery document now; serve calls it at start to
// report a misconfigured issuer early.
func (o *OIDC) Discover(ctx context.Context) error {
	_, err := o.getVerifier(ctx)
	return err
}

func (o *OIDC) getVerifier(ctx context.Context) (*oidc.IDTokenVerifier, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.verifier != nil {
		return o.verifier, nil
	}
	if !o.failedAt.IsZero() && o.now().Sub(o.failedAt) < o.cfg.DiscoveryRetry {
		return nil, o.lastErr
	}
	// The key set keeps using this context for its fetches, so it must
	// outlive the request.
	kctx := oidc.ClientContext(context.WithoutCancel(ctx), o.client)
	dctx, cancel := context.WithTimeout(kctx, 10*time.Second)
	defer cancel()
	p, err := oidc.NewProvider(dctx, o.cfg.Issuer)
	if err != nil {
		o.failedAt, o.lastErr = o.now(), fmt.Errorf("%w: discovery of %s: %w", ErrUnavailable, o.cfg.Issuer, err)
		o.logger.Error("oidc discovery failed", "issuer", o.cfg.Issuer, "err", err)
		return nil, o.lastErr
	}
	o.verifier = oidc.NewVerifier(o.cfg.Issuer, oidc.NewRemoteKeySet(kctx, jwksURL(p)), &oidc.Config{
		ClientID:             o.cfg.Audience,
		SupportedSigningAlgs: o.cfg.Algorithms,
		// go-oidc has no leeway on exp; checking against a clock set back
		// by the leeway gives one.
		Now: func() time.Time { return o.now().Add(-o.cfg.Leeway) },
	})
	return o.verifier, nil
}

func jwksURL(p *oidc.Provider) string {
	var doc struct {
		JWKS string `json:"jwks_uri"`
	}
	_ = p.Claims(&doc)
	return doc.JWKS
}

// LooksLikeJWT reports whether token has the three dot-separated parts of a
// JWS compact serialization, so it is sent to the OIDC verifier rather than
// looked up as a server-issued token.
func LooksLikeJWT(token string) bool { return strings.Count(token, ".") == 2 }

// Authenticate verifies a JWT and maps it to a principal: service-account
// tokens to services/<client id>, others to users/<sub>.
func (o *OIDC) Authenticate(ctx context.Context, raw string) (Subject, string, error) {
	v, err := o.getVerifier(ctx)
	if err != nil {
		return Subject{}, "", err
	}
	tok, err := v.Verify(ctx, raw)
	if err != nil {
		return Subject{}, "", fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	}
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		return Subject{}, "", fmt.Errorf("%w: claims: %w", ErrUnauthenticated, err)
	}
	// go-oidc allows 5 minutes on nbf whatever the configuration; apply ours.
	if nbf, ok := claims["nbf"].(float64); ok && time.Unix(int64(nbf), 0).After(o.now().Add(o.cfg.Leeway)) {
		return Subject{}, "", fmt.Errorf("%w: token not valid before %s", ErrUnauthenticated, time.Unix(int64(nbf), 0).UTC().Format(time.RFC3339))
	}
	username, _ := claims[o.cfg.UsernameClaim].(string)
	clientID, _ := claims[o.cfg.ClientIDClaim].(string)
	if clientID == "" {
		clientID, _ = claims["client_id"].(string)
	}
	sub, _ := claims[o.cfg.UserClaim].(string)
	principal := ""
	switch {
	case clientID != "" && ((o.cfg.ServiceAccountPrefix != "" && strings.HasPrefix(username, o.cfg.ServiceAccountPrefix)) || tok.Subject == clientID):
		principal = "services/" + clientID
	case sub != "":
		principal = "users/" + sub
	default:
		return Subject{}, "", fmt.Errorf("%w: no %q claim", ErrUnauthenticated, o.cfg.UserClaim)
	}
	if event.CheckPrincipal(principal) != nil {
		return Subject{}, "", fmt.Errorf("%w: %q is not a valid principal", ErrUnauthenticated, principal)
	}
	return Subject{Principal: principal, Claims: claims}, username, nil
}
