package server

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/audittrail/audittrail/api/audittrail/v1"
	"github.com/audittrail/audittrail/internal/event"
	"github.com/audittrail/audittrail/internal/store"
)

// Actions of the token administration events the server records.
const (
	tokenCreateAction = "actions/audittrail/tokens/CREATE"
	tokenRevokeAction = "actions/audittrail/tokens/REVOKE"
)

// maxTokenTTL bounds a token's lifetime (ten years) so an expiry never
// overflows.
const maxTokenTTL = 10 * 365 * 24 * time.Hour

// tokenServer implements pb.TokenServiceServer on a Server.
type tokenServer struct {
	pb.UnimplementedTokenServiceServer
	s *Server
}

var _ pb.TokenServiceServer = (*tokenServer)(nil)

// NewToken returns a fresh token secret (`at_` and 43 base64url
// characters, 256 random bits) and a short random id.
func NewToken() (secret, id string, err error) {
	b := make([]byte, 32+6)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("server: token: %w", err)
	}
	return "at_" + base64.RawURLEncoding.EncodeToString(b[:32]), hex.EncodeToString(b[32:]), nil
}

func errNotAdmin() error {
	return withClientMessage("token administration is reserved to services/audittrail-admin", errPermissionDenied)
}

func tokenProto(t store.Token) *pb.Token {
	out := &pb.Token{Id: t.ID, Principal: t.Principal, LoginName: t.LoginName, CreatedBy: t.CreatedBy, CreateTime: timestamppb.New(t.CreateTime)}
	if !t.ExpireTime.IsZero() {
		out.ExpireTime = timestamppb.New(t.ExpireTime)
	}
	if !t.RevokeTime.IsZero() {
		out.RevokeTime = timestamppb.New(t.RevokeTime)
	}
	return out
}

// CreateToken implements pb.TokenServiceServer.
func (ts *tokenServer) CreateToken(ctx context.Context, req *pb.CreateTokenRequest) (*pb.CreateTokenResponse, error) {
	s := ts.s
	return serve(s, ctx, "CreateToken", func(ctx context.Context, id *Identity) (*pb.CreateTokenResponse, error) {
		if !id.Admin {
			return nil, errNotAdmin()
		}
		p := req.GetPrincipal()
		if err := event.CheckPrincipal(p); err != nil {
			return nil, err
		}
		if !strings.HasPrefix(p, "services/") {
			return nil, &event.FieldError{Field: "principal", Rule: fmt.Sprintf("tokens are issued to services/… principals only (people sign in with OIDC), got %q", p)}
		}
		ttl := time.Duration(req.GetTtlSeconds()) * time.Second
		if req.GetTtlSeconds() < 0 || ttl > maxTokenTTL {
			return nil, &event.FieldError{Field: "ttl_seconds", Rule: fmt.Sprintf("must be 0 (never expires) to %d, got %d", int64(maxTokenTTL/time.Second), req.GetTtlSeconds())}
		}
		login := req.GetLoginName()
		if len(login) > 256 || strings.ContainsFunc(login, func(r rune) bool { return r < ' ' || r == 0x7f }) || !utf8.ValidString(login) {
			return nil, &event.FieldError{Field: "login_name", Rule: "must be at most 256 bytes of UTF-8 without control characters"}
		}
		secret, tid, err := NewToken()
		if err != nil {
			return nil, err
		}
		now := s.now().UTC()
		t := store.Token{ID: tid, Hash: HashToken(secret), Principal: p, LoginName: login, CreatedBy: id.Principal, CreateTime: now}
		if ttl > 0 {
			t.ExpireTime = now.Add(ttl)
		}
		if err := s.store.CreateToken(ctx, t); err != nil {
			return nil, err
		}
		if login != "" {
			s.logins.Store(p, login)
		}
		s.auditAdmin(ctx, id, tokenCreateAction, map[string]string{"principal": p, "token_id": tid, "ttl_seconds": fmt.Sprint(req.GetTtlSeconds())})
		return &pb.CreateTokenResponse{Token: tokenProto(t), Secret: secret}, nil
	})
}

// ListTokens implements pb.TokenServiceServer.
func (ts *tokenServer) ListTokens(ctx context.Context, _ *pb.ListTokensRequest) (*pb.ListTokensResponse, error) {
	s := ts.s
	return serve(s, ctx, "ListTokens", func(ctx context.Context, id *Identity) (*pb.ListTokensResponse, error) {
		if !id.Admin {
			return nil, errNotAdmin()
		}
		all, err := s.store.Tokens(ctx)
		if err != nil {
			return nil, err
		}
		out := &pb.ListTokensResponse{}
		for _, t := range all {
			out.Tokens = append(out.Tokens, tokenProto(t))
		}
		return out, nil
	})
}

// RevokeTokens implements pb.TokenServiceServer.
func (ts *tokenServer) RevokeTokens(ctx context.Context, req *pb.RevokeTokensRequest) (*pb.RevokeTokensResponse, error) {
	s := ts.s
	return serve(s, ctx, "RevokeTokens", func(ctx context.Context, id *Identity) (*pb.RevokeTokensResponse, error) {
		if !id.Admin {
			return nil, errNotAdmin()
		}
		if (req.GetId() == "") == (req.GetPrincipal() == "") {
			return nil, &event.FieldError{Field: "id", Rule: "exactly one of id and principal is required"}
		}
		if req.GetPrincipal() != "" {
			if err := event.CheckPrincipal(req.GetPrincipal()); err != nil {
				return nil, err
			}
		}
		revoked, err := s.store.RevokeTokens(ctx, req.GetId(), req.GetPrincipal(), s.now().UTC())
		if err != nil {
			return nil, err
		}
		s.tokens.forget() // at once here; other replicas within the cache TTL
		out := &pb.RevokeTokensResponse{}
		var ids []string
		for _, t := range revoked {
			out.Tokens = append(out.Tokens, tokenProto(t))
			ids = append(ids, t.ID)
		}
		params := map[string]string{"revoked": strings.Join(ids, ",")}
		if req.GetId() != "" {
			params["token_id"] = req.GetId()
		} else {
			params["principal"] = req.GetPrincipal()
		}
		s.auditAdmin(ctx, id, tokenRevokeAction, params)
		return out, nil
	})
}

// auditAdmin records a token administration call as an event. The change
// is already made, so a failure to record it is logged, not returned.
func (s *Server) auditAdmin(ctx context.Context, id *Identity, action string, params map[string]string) {
	e := s.selfAuditEvent(ctx, id.Principal, action, false, params)
	e.Status = event.Status{Code: 0}
	if err := s.recordSelf(ctx, e); err != nil {
		s.logger.Error("token administration not recorded", "action", action, "err", err)
	}
}
