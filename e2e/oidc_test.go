package e2e

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// issuer is an OIDC identity provider served in-process: a discovery
// document, a JWKS whose keys the test can rotate, and the authorization
// code flow with PKCE, which signs in loginAs without a form.
type issuer struct {
	t   *testing.T
	srv *httptest.Server

	mu   sync.Mutex
	keys map[string]signingKey // kid → key, all published in the JWKS
	// jwksFetches counts JWKS downloads.
	jwksFetches int
	// loginAs is the subject the authorization endpoint signs in.
	loginAs string
	codes   map[string]authCode // issued, not yet redeemed
	// exchanges counts codes redeemed with a verifier matching their S256
	// challenge.
	exchanges int
	// refresh maps refresh tokens to the claims of the access tokens they
	// are exchanged for (grant_type=refresh_token, as H2O's client does).
	refresh map[string]refreshGrant
	// refreshes counts refresh-token exchanges.
	refreshes int
}

type refreshGrant struct {
	clientID string
	claims   func() map[string]any
}

type authCode struct {
	challenge, redirect, clientID, sub string
}

type signingKey struct {
	alg jose.SignatureAlgorithm
	key crypto.Signer
}

func newIssuer(t *testing.T) *issuer {
	iss := &issuer{t: t, keys: map[string]signingKey{}, codes: map[string]authCode{}, refresh: map[string]refreshGrant{}}
	iss.addRSA("rsa-1")
	iss.addECDSA("ec-1")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{
			"issuer":                                iss.url(),
			"jwks_uri":                              iss.url() + "/keys",
			"authorization_endpoint":                iss.url() + "/auth",
			"token_endpoint":                        iss.url() + "/token",
			"id_token_signing_alg_values_supported": []string{"RS256", "ES256"},
		})
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) {
		iss.mu.Lock()
		defer iss.mu.Unlock()
		iss.jwksFetches++
		var set jose.JSONWebKeySet
		for kid, k := range iss.keys {
			set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.key.Public(), KeyID: kid, Algorithm: string(k.alg), Use: "sig"})
		}
		json.NewEncoder(w).Encode(set)
	})
	mux.HandleFunc("GET /auth", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43 || q.Get("state") == "" {
			http.Error(w, "the authorization code flow with PKCE S256 and state is required", http.StatusBadRequest)
			return
		}
		iss.mu.Lock()
		code := b64([]byte(newID()))
		iss.codes[code] = authCode{q.Get("code_challenge"), q.Get("redirect_uri"), q.Get("client_id"), iss.loginAs}
		iss.mu.Unlock()
		http.Redirect(w, r, q.Get("redirect_uri")+"?"+url.Values{"code": {code}, "state": {q.Get("state")}}.Encode(), http.StatusFound)
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		clientID := r.PostForm.Get("client_id")
		if id, _, ok := r.BasicAuth(); ok {
			clientID = id
		}
		if r.PostForm.Get("grant_type") == "refresh_token" {
			iss.refreshGrant(w, clientID, r.PostForm.Get("refresh_token"))
			return
		}
		iss.mu.Lock()
		c, ok := iss.codes[r.PostForm.Get("code")]
		delete(iss.codes, r.PostForm.Get("code")) // single use
		sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		ok = ok && r.PostForm.Get("grant_type") == "authorization_code" && c.redirect == r.PostForm.Get("redirect_uri") &&
			c.clientID == clientID && b64(sum[:]) == c.challenge
		if ok {
			iss.exchanges++
		}
		iss.mu.Unlock()
		if !ok {
			tokenAnswer(w, nil)
			return
		}
		tokenAnswer(w, map[string]any{"access_token": iss.sign("rsa-1", iss.claims(c.sub)), "token_type": "Bearer", "expires_in": 600})
	})
	iss.srv = httptest.NewServer(mux)
	t.Cleanup(iss.srv.Close)
	return iss
}

func (iss *issuer) url() string { return iss.srv.URL }

// addRefreshToken lets clientID exchange rt for access tokens with the
// claims claims() returns.
func (iss *issuer) addRefreshToken(rt, clientID string, claims func() map[string]any) {
	iss.mu.Lock()
	iss.refresh[rt] = refreshGrant{clientID, claims}
	iss.mu.Unlock()
}

func (iss *issuer) refreshGrant(w http.ResponseWriter, clientID, rt string) {
	iss.mu.Lock()
	g, ok := iss.refresh[rt]
	ok = ok && g.clientID == clientID
	if ok {
		iss.refreshes++
	}
	iss.mu.Unlock()
	if !ok {
		tokenAnswer(w, nil)
		return
	}
	tokenAnswer(w, map[string]any{"access_token": iss.sign("rsa-1", g.claims()), "token_type": "Bearer", "expires_in": 600, "refresh_token": rt})
}

// tokenAnswer writes a token endpoint's answer: body, or invalid_grant
// when body is nil.
func tokenAnswer(w http.ResponseWriter, body map[string]any) {
	w.Header().Set("Content-Type", "application/json")
	if body == nil {
		w.WriteHeader(http.StatusBadRequest)
		body = map[string]any{"error": "invalid_grant"}
	}
	json.NewEncoder(w).Encode(body)
}

func (iss *issuer) addRSA(kid string) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		iss.t.Fatal(err)
	}
	iss.mu.Lock()
	iss.keys[kid] = signingKey{jose.RS256, k}
	iss.mu.Unlock()
}

func (iss *issuer) addECDSA(kid string) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		iss.t.Fatal(err)
	}
	iss.mu.Lock()
	iss.keys[kid] = signingKey{jose.ES256, k}
	iss.mu.Unlock()
}

func (iss *issuer) remove(kid string) {
	iss.mu.Lock()
	delete(iss.keys, kid)
	iss.mu.Unlock()
}

// claims are a valid token's claims for a person; edit them per case.
func (iss *issuer) claims(sub string) map[string]any {
	now := time.Now()
	return map[string]any{
		"iss": iss.url(), "aud": []string{"audittrail"}, "sub": sub, "azp": "web-ui",
		"iat": now.Unix(), "nbf": now.Add(-time.Minute).Unix(), "exp": now.Add(10 * time.Minute).Unix(),
	}
}

// sign signs claims with the key kid (which need not be published).
func (iss *issuer) sign(kid string, claims map[string]any) string {
	iss.mu.Lock()
	k, ok := iss.keys[kid]
	iss.mu.Unlock()
	if !ok {
		iss.t.Fatalf("no key %s", kid)
	}
	return signWith(iss.t, k, kid, claims)
}

func signWith(t *testing.T, k signingKey, kid string, claims map[string]any) string {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: jose.JSONWebKey{Key: k.key, KeyID: kid}}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// unsigned is a token with `alg: none`.
func unsigned(kid string, claims map[string]any) string {
	h, _ := json.Marshal(map[string]string{"alg": "none", "typ": "JWT", "kid": kid})
	p, _ := json.Marshal(claims)
	return b64(h) + "." + b64(p) + "."
}

// hmacWithPublicKey is the algorithm-confusion attack: HS256 keyed with the
// issuer's public RSA key bytes.
func (iss *issuer) hmacWithPublicKey(kid string, claims map[string]any) string {
	iss.mu.Lock()
	pub := iss.keys[kid].key.Public()
	iss.mu.Unlock()
	der, _ := x509.MarshalPKIXPublicKey(pub)
	h, _ := json.Marshal(map[string]string{"alg": "HS256", "typ": "JWT", "kid": kid})
	p, _ := json.Marshal(claims)
	signed := b64(h) + "." + b64(p)
	mac := hmac.New(sha256.New, der)
	mac.Write([]byte(signed))
	return signed + "." + b64(mac.Sum(nil))
}

// tamper flips one character of the signature.
func tamper(tok string) string {
	i := strings.LastIndex(tok, ".") + 5
	c := byte('A')
	if tok[i] == 'A' {
		c = 'B'
	}
	return tok[:i] + string(c) + tok[i+1:]
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
