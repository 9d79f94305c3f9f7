package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/audittrail/audittrail/internal/event"
	"github.com/audittrail/audittrail/internal/store"
)

func testTokens(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.New(t)
	at := base.Truncate(time.Microsecond)
	mk := func(id, principal string, n time.Duration) store.Token {
		return store.Token{ID: id, Hash: sha256.Sum256([]byte("secret-" + id)), Principal: principal,
			CreatedBy: "services/audittrail-admin", CreateTime: at.Add(n), LoginName: "login-" + id}
	}
	a, b, c := mk("a1", "services/a", 0), mk("b1", "services/b", time.Second), mk("a2", "services/a", 2*time.Second)
	a.ExpireTime = at.Add(time.Hour)
	for _, tok := range []store.Token{a, b, c} {
		if err := s.CreateToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	dupID := mk("a1", "services/x", 0)
	dupID.Hash = sha256.Sum256([]byte("other"))
	dupHash := mk("zz", "services/x", 0)
	dupHash.Hash = b.Hash
	for _, tok := range []store.Token{dupID, dupHash} {
		if err := s.CreateToken(ctx, tok); !errors.Is(err, store.ErrAlreadyExists) {
			t.Fatalf("CreateToken(%s) = %v, want ErrAlreadyExists", tok.ID, err)
		}
	}
	got, err := s.TokenByHash(ctx, a.Hash)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(a, got, cmp.Comparer(time.Time.Equal)); d != "" {
		t.Fatalf("TokenByHash (-want +got):\n%s", d)
	}
	if _, err := s.TokenByHash(ctx, sha256.Sum256([]byte("nope"))); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown hash: %v", err)
	}
	names, err := s.LoginNames(ctx, []string{"services/a", "services/b", "services/nobody"})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(map[string]string{"services/a": "login-a2", "services/b": "login-b1"}, names); d != "" {
		t.Fatalf("login names from tokens (-want +got):\n%s", d)
	}

	revokeAt := at.Add(time.Minute)
	revoked, err := s.RevokeTokens(ctx, "", "services/a", revokeAt)
	if err != nil || len(revoked) != 2 {
		t.Fatalf("revoke by principal: %d, %v; want 2", len(revoked), err)
	}
	if again, err := s.RevokeTokens(ctx, "", "services/a", revokeAt.Add(time.Hour)); err != nil || len(again) != 0 {
		t.Fatalf("revoking again: %d, %v; want 0", len(again), err)
	}
	if none, err := s.RevokeTokens(ctx, "nope", "", revokeAt); err != nil || len(none) != 0 {
		t.Fatalf("revoke unknown id: %d, %v", len(none), err)
	}
	s = h.Reopen(t, s)
	all, err := s.Tokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 || all[0].ID != "a1" || all[1].ID != "b1" || all[2].ID != "a2" {
		t.Fatalf("Tokens order: %+v", all)
	}
	for _, tok := range all {
		wantRevoked := tok.Principal == "services/a"
		if !tok.RevokeTime.IsZero() != wantRevoked || (wantRevoked && !tok.RevokeTime.Equal(revokeAt)) {
			t.Fatalf("token %s revoke time %v after reopen", tok.ID, tok.RevokeTime)
		}
		if tok.Active(revokeAt) == wantRevoked {
			t.Fatalf("token %s Active = %v", tok.ID, !wantRevoked)
		}
	}
	if one, err := s.RevokeTokens(ctx, "b1", "", revokeAt); err != nil || len(one) != 1 || one[0].ID != "b1" {
		t.Fatalf("revoke by id: %+v, %v", one, err)
	}
	if got, _ := s.TokenByHash(ctx, b.Hash); got.RevokeTime.IsZero() {
		t.Fatal("revoked by id but still active")
	}
}

func testLoginNames(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.New(t)
	for _, kv := range [][2]string{{"users/1", "alice"}, {"users/2", "bob"}, {"users/1", "alice.new"}} {
		if err := s.SetLoginName(ctx, kv[0], kv[1]); err != nil {
			t.Fatal(err)
		}
	}
	s = h.Reopen(t, s)
	got, err := s.LoginNames(ctx, []string{"users/1", "users/2", "users/3"})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(map[string]string{"users/1": "alice.new", "users/2": "bob"}, got); d != "" {
		t.Fatalf("LoginNames (-want +got):\n%s", d)
	}
}

// testAwkwardText stores values that some databases cannot hold as text
// (NUL, backslashes, LIKE wildcards) and finds them by exact value, regex
// prefix and metadata.
func testAwkwardText(t *testing.T, h Harness) {
	s := h.New(t)
	e := NewEvent(t, base)
	e.Resource = "//svc/a\x00b\\c%_d"
	e.Metadata = map[string]string{"k": "v\x00\\%", "plain": "x"}
	other := NewEvent(t, base)
	other.Resource = "//svc/a\\0b" // the escaped form of the first one's prefix
	other.Metadata = map[string]string{"k": "v\\0\\\\%"}
	mustAppend(t, s, e, other)
	specs := map[string]event.FilterSpec{}
	var exact, prefix event.FilterSpec
	exact.Exact[event.FieldResource] = ptr(e.Resource)
	prefix.Regex[event.FieldResource] = ptr("^//svc/a\x00b\\\\c%_")
	specs["exact"], specs["prefix"] = exact, prefix
	specs["metadata"] = event.FilterSpec{MetadataExact: map[string]string{"k": "v\x00\\%"}}
	for name, spec := range specs {
		f, err := spec.Compile(base.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		got := searchAll(t, s, store.Query{Filter: f, Limit: 10})
		if len(got) != 1 || got[0] != e.ID {
			t.Fatalf("%s: got %v, want only %s", name, got, e.ID)
		}
	}
	r, err := s.Get(context.Background(), e.ID)
	if err != nil || r.Event.Resource != e.Resource || r.Event.Metadata["k"] != e.Metadata["k"] {
		t.Fatalf("Get: %+v %v", r.Event, err)
	}
}

func testSinkCursors(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.New(t)
	if _, err := s.SinkCursor(ctx, "archive"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("SinkCursor of a new sink: %v, want ErrNotFound", err)
	}
	steps := []struct{ name, cursor string }{
		{"archive", `{"next":0}`},
		{"parquet", `{"next":7}`},
		{"archive", `{"next":10000}`},
		{"archive/ü", "\x00binary\xff"},
	}
	want := map[string]string{}
	for _, st := range steps {
		if err := s.PutSinkCursor(ctx, st.name, []byte(st.cursor)); err != nil {
			t.Fatalf("PutSinkCursor(%q): %v", st.name, err)
		}
		want[st.name] = st.cursor
		for name, c := range want {
			got, err := s.SinkCursor(ctx, name)
			if err != nil || string(got) != c {
				t.Fatalf("after putting %q: SinkCursor(%q) = %q, %v; want %q", st.name, name, got, err, c)
			}
		}
	}
}
