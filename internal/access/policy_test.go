package access

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const specExample = `bindings:
  - principals: ["services/*"]
    permissions: ["events.create"]
  - principals: ["users/*"]
    claims: {groups: "audit-admins"}
    permissions: ["events.read"]
  - principals: ["users/alice"]
    permissions: ["events.read"]
    workspaces: ["workspaces/w1", "workspaces/w2"]
`

func TestPolicyGrants(t *testing.T) {
	p, err := ParsePolicy([]byte(specExample + `  - claims: {realm_access.roles: "auditor"}
    permissions: ["events.read"]
    workspaces: ["workspaces/w3"]
  - principals: ["users/bob"]
    permissions: ["events.read"]
    workspaces: ["workspaces/w2"]
  - principals: ["users/bob"]
    permissions: ["events.read"]
    workspaces: ["workspaces/w1", "workspaces/w2"]
`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		s    Subject
		want Grants
	}{
		{"service creates", Subject{Principal: "services/billing"}, Grants{Create: true}},
		{"glob stays in one segment", Subject{Principal: "services/a/b"}, Grants{}},
		{"user without group", Subject{Principal: "users/carol"}, Grants{}},
		{"user with group in list", Subject{Principal: "users/carol", Claims: map[string]any{"groups": []any{"x", "audit-admins"}}}, Grants{ReadAll: true}},
		{"user with group as string", Subject{Principal: "users/carol", Claims: map[string]any{"groups": "audit-admins"}}, Grants{ReadAll: true}},
		{"user with other group", Subject{Principal: "users/carol", Claims: map[string]any{"groups": []any{"audit-admins-not"}}}, Grants{}},
		{"scoped reader", Subject{Principal: "users/alice"}, Grants{Workspaces: []string{"workspaces/w1", "workspaces/w2"}}},
		{"scoped plus global is global", Subject{Principal: "users/alice", Claims: map[string]any{"groups": []any{"audit-admins"}}}, Grants{ReadAll: true}},
		{"nested claim", Subject{Principal: "users/dan", Claims: map[string]any{"realm_access": map[string]any{"roles": []any{"auditor"}}}}, Grants{Workspaces: []string{"workspaces/w3"}}},
		{"dotted claim name taken literally first", Subject{Principal: "users/dan", Claims: map[string]any{"realm_access.roles": "auditor"}}, Grants{Workspaces: []string{"workspaces/w3"}}},
		{"union without duplicates", Subject{Principal: "users/bob"}, Grants{Workspaces: []string{"workspaces/w1", "workspaces/w2"}}},
		{"admin holds everything", Subject{Principal: AdminPrincipal}, Grants{Create: true, ReadAll: true, Admin: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := p.Grants(tt.s)
			if got.Create != tt.want.Create || got.ReadAll != tt.want.ReadAll || got.Admin != tt.want.Admin || !slices.Equal(got.Workspaces, tt.want.Workspaces) {
				t.Fatalf("Grants(%+v) = %+v, want %+v", tt.s, got, tt.want)
			}
		})
	}
	var none *Policy
	if g := none.Grants(Subject{Principal: "services/x"}); g.Create || g.CanRead() {
		t.Fatalf("nil policy granted %+v", g)
	}
	if g := none.Grants(Subject{Principal: AdminPrincipal}); !g.Admin {
		t.Fatal("nil policy must still grant the admin")
	}
}

func TestParsePolicyRejects(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"create for users", "bindings:\n  - principals: [\"users/*\"]\n    permissions: [\"events.create\"]\n", `line 2: permissions: events.create can only be granted to services/… principals, not "users/*"`},
		{"create for mixed list", "bindings:\n  - principals:\n      - services/a\n      - users/b\n    permissions: [events.create, events.read]\n", `line 4: permissions: events.create can only be granted`},
		{"create for a claim", "bindings:\n  - claims: {groups: x}\n    permissions: [events.create]\n", "line 3: permissions: events.create needs principals"},
		{"create for wildcard kind", "bindings:\n  - principals: [\"*/x\"]\n    permissions: [events.read]\n", `line 2: principals: "*/x" must start with users/ or services/`},
		{"unknown permission", "bindings:\n  - principals: [users/a]\n    permissions: [events.read, events.delete]\n", `line 3: permissions: "events.delete" is not a permission`},
		{"unknown binding key", "bindings:\n  - principals: [users/a]\n    permission: [events.read]\n", `line 3: unknown key "permission"`},
		{"unknown top key", "bindings: []\nroles: []\n", `line 2: unknown key "roles"`},
		{"bad workspace", "bindings:\n  - principals: [users/a]\n    permissions: [events.read]\n    workspaces: [w1]\n", `line 4: workspaces: "w1" must be of the form workspaces/<id>`},
		{"workspaces without read", "bindings:\n  - principals: [services/a]\n    permissions: [events.create]\n    workspaces: [workspaces/w1]\n", "line 4: workspaces: only limits events.read"},
		{"empty workspaces", "bindings:\n  - principals: [users/a]\n    permissions: [events.read]\n    workspaces: []\n", "line 4: workspaces: must not be empty"},
		{"no permissions", "bindings:\n  - principals: [users/a]\n", "line 2: a binding needs permissions"},
		{"no subjects", "bindings:\n  - permissions: [events.read]\n", "line 2: a binding needs principals or claims"},
		{"bad glob", "bindings:\n  - principals: [\"users/[\"]\n    permissions: [events.read]\n", `line 2: principals: "users/[" is not a valid glob`},
		{"list claim value", "bindings:\n  - claims: {groups: [a, b]}\n    permissions: [events.read]\n", `line 2: claims: "groups": value must be a single string`},
		{"not yaml", "bindings: [\n", "line 1"},
		{"duplicate key", "bindings:\n  - principals: [users/a]\n    principals: [users/b]\n    permissions: [events.read]\n", `line 3: duplicate key "principals"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePolicy([]byte(tt.doc))
			if err == nil || !errors.Is(err, ErrInvalidPolicy) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ParsePolicy error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestPolicyFileReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(specExample)
	pf, err := LoadPolicyFile(path, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	alice := Subject{Principal: "users/alice"}
	if g := pf.Current().Grants(alice); len(g.Workspaces) != 2 {
		t.Fatalf("alice: %+v", g)
	}
	write("bindings:\n  - principals: [users/alice]\n    permissions: [events.create]\n")
	if _, err := pf.Reload(); err == nil {
		t.Fatal("invalid policy accepted on reload")
	}
	if g := pf.Current().Grants(alice); len(g.Workspaces) != 2 {
		t.Fatalf("previous policy not kept: %+v", g)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go pf.Watch(ctx, 10*time.Millisecond)
	write("bindings:\n  - principals: [users/alice]\n    permissions: [events.read]\n")
	deadline := time.Now().Add(5 * time.Second)
	for !pf.Current().Grants(alice).ReadAll {
		if time.Now().After(deadline) {
			t.Fatal("change not picked up by Watch")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func FuzzParsePolicy(f *testing.F) {
	f.Add([]byte(specExample))
	f.Add([]byte("bindings:\n  - principals: [users/a]\n    permissions: [events.create]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePolicy(data)
		if err != nil {
			return
		}
		// Whatever parses, no user ever gets create.
		for _, name := range []string{"users/a", "users/*", "users/alice"} {
			if p.Grants(Subject{Principal: name, Claims: map[string]any{"groups": "audit-admins"}}).Create {
				t.Fatalf("%s granted create by %q", name, data)
			}
		}
	})
}
