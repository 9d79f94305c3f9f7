package viewer

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// OIDCLogin configures sign-in through the OIDC issuer with the
// authorization-code flow and PKCE (S256). The viewer keeps the access
// token it receives as the session's bearer token, so the issuer's client
// must put the API's audience (--oidc-audience) in its access tokens.
type OIDCLogin struct {
	// Issuer is the issuer URL, as for the API's token verification.
	Issuer string
	// ClientID is the viewer's client at the issuer (a public client, or a
	// confidential one with ClientSecret).
	ClientID     string
	ClientSecret string
	// Scopes requested; "openid" is always among them.
	Scopes []string
	// BaseURL is the viewer's external URL (scheme://host[:port]); the
	// redirect URI is BaseURL/ui/oidc/callback. Empty: the request's own
	// scheme and host, which suits a server reached directly.
	BaseURL string
	// HTTPClient reaches the issuer; http.DefaultClient when nil.
	HTTPClient *http.Client
}

// Validate reports a configuration that cannot work.
func (o *OIDCLogin) Validate() error {
	if o.Issuer == "" || o.ClientID == "" {
		return errors.New("viewer: oidc sign-in needs the issuer and a client id")
	}
	if o.BaseURL != "" {
		u, err := url.Parse(o.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return errors.New("viewer: oidc base URL must be scheme://host[:port]")
		}
	}
	return nil
}

// oidcCookie carries state, the PKCE verifier and the page to return to
// across the round trip through the issuer. SameSite=Lax, because the
// issuer's redirect back is a cross-site navigation.
const oidcCookie = "audittrail_oidc"

type oidcFlow struct {
	cfg OIDCLogin

	mu       sync.Mutex
	provider *oidc.Provider // discovered on first use: the issuer may start after us
}

func (f *oidcFlow) client(ctx context.Context) context.Context {
	if f.cfg.HTTPClient == nil {
		return ctx
	}
	return oidc.ClientContext(ctx, f.cfg.HTTPClient)
}

func (f *oidcFlow) oauth(r *http.Request) (*oauth2.Config, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.provider == nil {
		p, err := oidc.NewProvider(f.client(r.Context()), f.cfg.Issuer)
		if err != nil {
			return nil, err
		}
		f.provider = p
	}
	base := f.cfg.BaseURL
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	scopes := []string{oidc.ScopeOpenID}
	for _, s := range f.cfg.Scopes {
		if s != oidc.ScopeOpenID {
			scopes = append(scopes, s)
		}
	}
	return &oauth2.Config{
		ClientID: f.cfg.ClientID, ClientSecret: f.cfg.ClientSecret, Endpoint: f.provider.Endpoint(),
		RedirectURL: strings.TrimSuffix(base, "/") + "/ui/oidc/callback", Scopes: scopes,
	}, nil
}

func (v *Viewer) oidcLogin(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.URL.Query().Get("next"))
	cfg, err := v.oidc.oauth(r)
	if err != nil {
		v.opts.Logger.Warn("viewer: oidc discovery failed", "err", err)
		v.signinError(w, http.StatusBadGateway, next, "OIDC sign-in: the issuer cannot be reached; try again or sign in with a token")
		return
	}
	state, verifier := randomToken(), oauth2.GenerateVerifier()
	http.SetCookie(w, &http.Cookie{
		Name: oidcCookie, Value: state + "~" + verifier + "~" + base64.RawURLEncoding.EncodeToString([]byte(next)),
		Path: "/ui/oidc/", MaxAge: 600, HttpOnly: true, Secure: !v.opts.PlainHTTP, SameSite: http.SameSiteLaxMode,
	})
	http.Redirect(w, r, cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)), http.StatusSeeOther)
}

func (v *Viewer) oidcCallback(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: oidcCookie, Path: "/ui/oidc/", MaxAge: -1, HttpOnly: true, Secure: !v.opts.PlainHTTP, SameSite: http.SameSiteLaxMode})
	q := r.URL.Query()
	var state, verifier, next string
	if c, err := r.Cookie(oidcCookie); err == nil {
		parts := strings.Split(c.Value, "~")
		if len(parts) == 3 {
			n, _ := base64.RawURLEncoding.DecodeString(parts[2])
			state, verifier, next = parts[0], parts[1], safeNext(string(n))
		}
	}
	if next == "" {
		next = "/"
	}
	if e := q.Get("error"); e != "" {
		v.signinError(w, http.StatusUnauthorized, next, "OIDC sign-in: the issuer answered "+e+": "+q.Get("error_description"))
		return
	}
	if state == "" || subtle.ConstantTimeCompare([]byte(state), []byte(q.Get("state"))) != 1 {
		v.signinError(w, http.StatusBadRequest, next, "OIDC sign-in: state: does not match this browser's sign-in; start again")
		return
	}
	cfg, err := v.oidc.oauth(r)
	if err != nil {
		v.signinError(w, http.StatusBadGateway, next, "OIDC sign-in: the issuer cannot be reached; try again")
		return
	}
	tok, err := cfg.Exchange(v.oidc.client(r.Context()), q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		v.opts.Logger.Warn("viewer: oidc code exchange failed", "err", err)
		v.signinError(w, http.StatusUnauthorized, next, "OIDC sign-in: the issuer refused the authorization code; start again")
		return
	}
	ctx := metadata.NewIncomingContext(r.Context(), metadata.Pairs("authorization", "Bearer "+tok.AccessToken))
	if _, err := v.api.Principal(ctx); err != nil {
		v.signinError(w, http.StatusUnauthorized, next, "OIDC sign-in: the access token was refused: "+status.Convert(err).Message())
		return
	}
	v.setSession(w, tok.AccessToken)
	// The session cookie is SameSite=Strict, so a redirect that continues
	// the issuer's cross-site navigation would arrive without it; a page
	// of our own that moves on makes the next request same-site.
	v.render(w, http.StatusOK, "continue.html", map[string]any{"Next": next})
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
