package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"strings"

	"google.golang.org/grpc/metadata"
)

// Identity is an authenticated caller and what it may do.
type Identity struct {
	// Principal is `users/<id>` or `services/<name>`.
	Principal string
	// CanCreate grants events.create.
	CanCreate bool
	// ReadAll grants events.read on every event.
	ReadAll bool
}

// Authenticator turns a bearer token into an Identity. It returns an error
// for an unknown, expired or malformed token.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (*Identity, error)
}

// StaticTokens authenticates a fixed set of tokens, held only as SHA-256
// hashes and compared in constant time.
type StaticTokens struct {
	entries []staticToken
}

type staticToken struct {
	hash [sha256.Size]byte
	id   Identity
}

var _ Authenticator = (*StaticTokens)(nil)

// NewStaticTokens returns an authenticator for tokens mapped to identities.
func NewStaticTokens(tokens map[string]Identity) *StaticTokens {
	st := &StaticTokens{}
	for tok, id := range tokens {
		st.entries = append(st.entries, staticToken{hash: sha256.Sum256([]byte(tok)), id: id})
	}
	return st
}

// Authenticate implements Authenticator. Every entry is compared, so the
// time taken does not depend on which one matches.
func (s *StaticTokens) Authenticate(_ context.Context, token string) (*Identity, error) {
	h := sha256.Sum256([]byte(token))
	var found *Identity
	for i := range s.entries {
		if subtle.ConstantTimeCompare(h[:], s.entries[i].hash[:]) == 1 {
			found = &s.entries[i].id
		}
	}
	if found == nil || token == "" {
		return nil, errUnauthenticated
	}
	id := *found
	return &id, nil
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
