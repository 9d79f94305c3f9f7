package server

import (
	"context"
	"testing"
	"time"

	"github.com/audittrail/audittrail/internal/store"
	"github.com/audittrail/audittrail/internal/store/pebble"
)

func TestLogLimiter(t *testing.T) {
	l := &logLimiter{every: 10 * time.Second, last: map[string]*limitedLine{}}
	t0 := time.Unix(100, 0)
	for _, tc := range []struct {
		key        string
		at         time.Duration
		ok         bool
		suppressed int
	}{
		{"a", 0, true, 0},
		{"a", time.Second, false, 0},
		{"b", time.Second, true, 0}, // keys are independent
		{"a", 2 * time.Second, false, 0},
		{"a", 11 * time.Second, true, 2},
		{"a", 12 * time.Second, false, 0},
	} {
		n, ok := l.allow(tc.key, t0.Add(tc.at))
		if ok != tc.ok || n != tc.suppressed {
			t.Errorf("%s at %v: %d, %v; want %d, %v", tc.key, tc.at, n, ok, tc.suppressed, tc.ok)
		}
	}
}

// TestTokenCache: a found token is served from the cache within the TTL,
// a revocation shows after it (or at once after forget), and unknown
// tokens are not cached.
func TestTokenCache(t *testing.T) {
	st, err := pebble.Open(t.TempDir(), pebble.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	t0 := time.Now()
	if err := st.CreateToken(ctx, store.Token{ID: "t1", Hash: HashToken("s1"), Principal: "services/a", CreateTime: t0}); err != nil {
		t.Fatal(err)
	}
	c := &tokenCache{ttl: 2 * time.Second, store: st, m: map[[32]byte]cachedToken{}}
	if _, err := c.get(ctx, HashToken("s2"), t0); err == nil {
		t.Fatal("unknown token found")
	}
	if err := st.CreateToken(ctx, store.Token{ID: "t2", Hash: HashToken("s2"), Principal: "services/b", CreateTime: t0}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.get(ctx, HashToken("s2"), t0); err != nil {
		t.Fatalf("a token created after a miss: %v", err)
	}
	if _, err := c.get(ctx, HashToken("s1"), t0); err != nil {
		t.Fatal(err)
	}
	if _, err := st.RevokeTokens(ctx, "t1", "", t0); err != nil {
		t.Fatal(err)
	}
	if tok, _ := c.get(ctx, HashToken("s1"), t0.Add(time.Second)); !tok.RevokeTime.IsZero() {
		t.Error("within the TTL the cached record is served")
	}
	if tok, _ := c.get(ctx, HashToken("s1"), t0.Add(3*time.Second)); tok.RevokeTime.IsZero() {
		t.Error("after the TTL the revocation must show")
	}
	c.forget()
	if len(c.m) != 0 {
		t.Error("forget left entries")
	}
}
