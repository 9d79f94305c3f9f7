package server

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/audittrail/audittrail/internal/access"
	"github.com/audittrail/audittrail/internal/event"
	"github.com/audittrail/audittrail/internal/store"
)

// Identity is an authenticated caller and what the policy lets it do.
type Identity struct {
	// Principal is `users/<id>` or `services/<name>`.
	Principal string
	access.Grants
}

// canSee reports whether the caller may read e: global readers see every
// event, scoped readers only those of their workspaces (never those
// without a workspace).
func (id *Identity) canSee(e *event.Event) bool {
	return id.ReadAll || (e.Workspace != "" && slices.Contains(id.Workspaces, e.Workspace))
}

// TokenVerifier checks JWT bearer tokens issued by an identity provider and
// returns the caller and its login name.
type TokenVerifier interface {
	Authenticate(ctx context.Context, raw string) (access.Subject, string, error)
}

var _ TokenVerifier = (*access.OIDC)(nil)

// PolicySource yields the authorization policy in force.
type PolicySource interface {
	Current() *access.Policy
}

var _ PolicySource = (*access.PolicyFile)(nil)

// HashToken is the stored form of a server-issued token's secret. Secrets
// carry 256 random bits, so a plain SHA-256 is enough.
func HashToken(secret string) [32]byte { return sha256.Sum256([]byte(secret)) }

// authenticate turns the request's credentials into an Identity: a JWT
// goes to the OIDC verifier, any other bearer token is looked up among the
// server-issued tokens, and a request without a token may present a client
// certificate (mutual TLS) for a service.
func (s *Server) authenticate(ctx context.Context) (*Identity, error) {
	tok, ok := bearerToken(ctx)
	var subj access.Subject
	switch {
	case ok && s.oidc != nil && access.LooksLikeJWT(tok):
		var login string
		var err error
		if subj, login, err = s.oidc.Authenticate(ctx, tok); err != nil {
			if errors.Is(err, access.ErrUnavailable) {
				return nil, withClientMessage("identity provider unavailable, retry later", fmt.Errorf("%w: %w", store.ErrUnavailable, err))
			}
			s.logger.Debug("token rejected", "err", err)
			return nil, fmt.Errorf("%w: %w", errUnauthenticated, err)
		}
		s.rememberLogin(ctx, subj.Principal, login)
	case ok:
		t, err := s.tokens.get(ctx, HashToken(tok), s.now())
		if errors.Is(err, store.ErrNotFound) {
			return nil, errUnauthenticated
		}
		if err != nil {
			return nil, err
		}
		if !t.Active(s.now()) {
			s.logger.Debug("token rejected: revoked or expired", "token_id", t.ID)
			return nil, fmt.Errorf("%w: token %s revoked or expired", errUnauthenticated, t.ID)
		}
		subj.Principal = t.Principal
	default:
		ri := requestInfoFrom(ctx)
		if ri == nil || ri.certPrincipal == "" {
			return nil, errUnauthenticated
		}
		subj.Principal = ri.certPrincipal
	}
	var policy *access.Policy
	if s.policy != nil {
		policy = s.policy.Current()
	}
	return &Identity{Principal: subj.Principal, Grants: policy.Grants(subj)}, nil
}

// tokenCache keeps server-issued tokens found by their hash for a short
// while, so that a busy client does not cost a store read per request (a
// database round trip with PostgreSQL). A revocation takes effect within
// the TTL; unknown tokens are not cached, so a new one works at once.
type tokenCache struct {
	ttl   time.Duration
	store store.Store
	mu    sync.Mutex
	m     map[[32]byte]cachedToken
}

type cachedToken struct {
	t       store.Token
	fetched time.Time
}

func (c *tokenCache) get(ctx context.Context, hash [32]byte, now time.Time) (store.Token, error) {
	c.mu.Lock()
	e, ok := c.m[hash]
	c.mu.Unlock()
	if ok && now.Sub(e.fetched) < c.ttl {
		return e.t, nil
	}
	t, err := c.store.TokenByHash(ctx, hash)
	if err != nil {
		return t, err
	}
	c.mu.Lock()
	if len(c.m) > 10000 { // bounded: start over rather than grow
		clear(c.m)
	}
	c.m[hash] = cachedToken{t, now}
	c.mu.Unlock()
	return t, nil
}

// forget drops every cached token, after a revocation.
func (c *tokenCache) forget() {
	c.mu.Lock()
	clear(c.m)
	c.mu.Unlock()
}

// rememberLogin records a principal's latest login name, writing only when
// it changed since this process last saw it.
func (s *Server) rememberLogin(ctx context.Context, principal, login string) {
	if login == "" {
		return
	}
	if prev, ok := s.logins.Load(principal); ok && prev.(string) == login {
		return
	}
	if err := s.store.SetLoginName(ctx, principal, login); err != nil {
		s.logger.Warn("login name not recorded", "principal", principal, "err", err)
		return
	}
	s.logins.Store(principal, login)
}

// certPrincipal maps a verified client certificate to `services/<name>`:
// the last path segment of a spiffe:// URI SAN, else the subject CN. It
// returns "" when neither gives a valid principal.
func certPrincipal(cert *x509.Certificate) string {
	for _, u := range cert.URIs {
		if name := path.Base(u.Path); u.Scheme == "spiffe" && name != "." && name != "/" && event.CheckPrincipal("services/"+name) == nil {
			return "services/" + name
		}
	}
	if cn := cert.Subject.CommonName; cn != "" && event.CheckPrincipal("services/"+cn) == nil {
		return "services/" + cn
	}
	return ""
}

// bearerToken extracts the token of an `Authorization: Bearer …` header,
// from the HTTP request info or, failing that, gRPC metadata.
func bearerToken(ctx context.Context) (string, bool) {
	h := ""
	if ri := requestInfoFrom(ctx); ri != nil {
		h = ri.authorization
	}
	if h == "" {
		if md, ok := metadata.FromIncomingContext(ctx); ok {
			if v := md.Get("authorization"); len(v) > 0 {
				h = v[0]
			}
		}
	}
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// Principal authenticates the caller of ctx, as every RPC does, and
// returns its principal; for in-process callers (the web viewer's sign-in).
// Errors are gRPC statuses.
func (s *Server) Principal(ctx context.Context) (string, error) {
	id, err := s.authenticate(ctx)
	if err != nil {
		return "", toStatus(err).Err()
	}
	return id.Principal, nil
}
