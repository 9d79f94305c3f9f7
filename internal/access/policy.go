// Package access decides what an authenticated caller may do: the policy
// file of SPEC §4 (bindings of principals and token claims to permissions),
// its reloading, and the OIDC token verifier that turns a JWT into a
// principal. It knows nothing of transports or storage.
package access

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/audittrail/audittrail/internal/event"
)

// Permissions of SPEC §4.
const (
	PermCreate = "events.create"
	PermRead   = "events.read"
)

// AdminPrincipal is the bootstrap administrator: it always holds create,
// global read and token administration, whatever the policy says.
const AdminPrincipal = "services/audittrail-admin"

// ErrInvalidPolicy wraps every policy file error.
var ErrInvalidPolicy = errors.New("access: invalid policy")

// Subject is an authenticated caller before authorization.
type Subject struct {
	// Principal is `users/<id>` or `services/<name>`.
	Principal string
	// Claims are the token's claims (nil for credentials without claims,
	// such as server-issued tokens and client certificates).
	Claims map[string]any
}

// Grants is what a subject may do.
type Grants struct {
	// Create is events.create.
	Create bool
	// ReadAll is events.read on every event.
	ReadAll bool
	// Workspaces are the workspaces of a scoped events.read, sorted and
	// without duplicates; ignored when ReadAll.
	Workspaces []string
	// Admin is token administration (the bootstrap admin only).
	Admin bool
}

// CanRead reports whether the grants allow reading some events.
func (g Grants) CanRead() bool { return g.ReadAll || len(g.Workspaces) > 0 }

// Policy is a parsed policy file. The zero value grants nothing (only the
// bootstrap admin has access).
type Policy struct {
	bindings []binding
}

type binding struct {
	principals []string
	claims     map[string]string
	create     bool
	read       bool
	workspaces []string
	line       int
}

// Grants evaluates the policy for s. The bootstrap admin holds everything.
func (p *Policy) Grants(s Subject) Grants {
	if s.Principal == AdminPrincipal {
		return Grants{Create: true, ReadAll: true, Admin: true}
	}
	var g Grants
	if p == nil {
		return g
	}
	for _, b := range p.bindings {
		if !b.matches(s) {
			continue
		}
		// Defence in depth: the parser already refuses such bindings.
		if b.create && strings.HasPrefix(s.Principal, "services/") {
			g.Create = true
		}
		if b.read {
			if b.workspaces == nil {
				g.ReadAll = true
			}
			g.Workspaces = append(g.Workspaces, b.workspaces...)
		}
	}
	if g.ReadAll {
		g.Workspaces = nil
	} else {
		slices.Sort(g.Workspaces)
		g.Workspaces = slices.Compact(g.Workspaces)
	}
	return g
}

func (b *binding) matches(s Subject) bool {
	if len(b.principals) > 0 && !slices.ContainsFunc(b.principals, func(p string) bool {
		ok, _ := path.Match(p, s.Principal)
		return ok
	}) {
		return false
	}
	for name, want := range b.claims {
		if !claimHas(s.Claims, name, want) {
			return false
		}
	}
	return true
}

// claimHas reports whether the claim name holds want: equal as text, or, for
// a list, containing it. A name not present as such is looked up as a dotted
// path into nested objects (Keycloak's `realm_access.roles`).
func claimHas(claims map[string]any, name, want string) bool {
	v, ok := claims[name]
	if !ok {
		var cur any = claims
		for part := range strings.SplitSeq(name, ".") {
			m, isMap := cur.(map[string]any)
			if !isMap {
				return false
			}
			if cur, ok = m[part]; !ok {
				return false
			}
		}
		v = cur
	}
	switch v := v.(type) {
	case []any:
		return slices.ContainsFunc(v, func(x any) bool { return scalarText(x) == want })
	default:
		return scalarText(v) == want
	}
}

func scalarText(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case bool, float64, int, int64:
		return fmt.Sprint(v)
	}
	return "\x00not a scalar"
}

// ParsePolicy parses a policy file. Errors wrap ErrInvalidPolicy and name
// the line, e.g. `policy line 4: permissions: "events.delete" is not a
// permission (events.create, events.read)`.
func ParsePolicy(data []byte) (*Policy, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidPolicy, err)
	}
	p := &Policy{}
	if len(doc.Content) == 0 {
		return p, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, lineErr(root, "the policy must be a mapping with a bindings list")
	}
	for i := 0; i < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Value != "bindings" {
			return nil, lineErr(k, "unknown key %q (expected bindings)", k.Value)
		}
		if v.Kind != yaml.SequenceNode {
			if v.Tag == "!!null" {
				continue
			}
			return nil, lineErr(v, "bindings: must be a list")
		}
		for _, bn := range v.Content {
			b, err := parseBinding(bn)
			if err != nil {
				return nil, err
			}
			p.bindings = append(p.bindings, b)
		}
	}
	return p, nil
}

func parseBinding(n *yaml.Node) (binding, error) {
	b := binding{line: n.Line}
	if n.Kind != yaml.MappingNode {
		return b, lineErr(n, "a binding must be a mapping with principals, claims, permissions and workspaces")
	}
	var perms *yaml.Node
	var wsNode *yaml.Node
	seen := map[string]bool{}
	for i := 0; i < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			return b, lineErr(k, "duplicate key %q", k.Value)
		}
		seen[k.Value] = true
		switch k.Value {
		case "principals":
			list, err := stringList(v, "principals")
			if err != nil {
				return b, err
			}
			for j, pat := range list {
				if err := checkPrincipalPattern(pat); err != nil {
					return b, lineErr(v.Content[j], "principals: %q %v", pat, err)
				}
			}
			b.principals = list
		case "claims":
			if v.Kind != yaml.MappingNode {
				return b, lineErr(v, "claims: must be a mapping of claim name to value")
			}
			b.claims = map[string]string{}
			for j := 0; j < len(v.Content); j += 2 {
				ck, cv := v.Content[j], v.Content[j+1]
				if ck.Value == "" {
					return b, lineErr(ck, "claims: claim name must not be empty")
				}
				if cv.Kind != yaml.ScalarNode || cv.Tag == "!!null" {
					return b, lineErr(cv, "claims: %q: value must be a single string", ck.Value)
				}
				b.claims[ck.Value] = cv.Value
			}
		case "permissions":
			perms = v
		case "workspaces":
			wsNode = v
		default:
			return b, lineErr(k, "unknown key %q (expected principals, claims, permissions or workspaces)", k.Value)
		}
	}
	if len(b.principals) == 0 && len(b.claims) == 0 {
		return b, lineErr(n, "a binding needs principals or claims")
	}
	if perms == nil {
		return b, lineErr(n, "a binding needs permissions")
	}
	list, err := stringList(perms, "permissions")
	if err != nil {
		return b, err
	}
	if len(list) == 0 {
		return b, lineErr(perms, "permissions: must not be empty")
	}
	for j, perm := range list {
		switch perm {
		case PermCreate:
			b.create = true
		case PermRead:
			b.read = true
		default:
			return b, lineErr(perms.Content[j], "permissions: %q is not a permission (%s, %s)", perm, PermCreate, PermRead)
		}
	}
	if b.create {
		if len(b.principals) == 0 {
			return b, lineErr(perms, "permissions: %s needs principals, all of the form services/…; claims alone could match people", PermCreate)
		}
		for j, pat := range b.principals {
			if !strings.HasPrefix(pat, "services/") {
				return b, lineErr(principalNode(n, j), "permissions: %s can only be granted to services/… principals, not %q", PermCreate, pat)
			}
		}
	}
	if wsNode != nil {
		if !b.read {
			return b, lineErr(wsNode, "workspaces: only limits %s, which this binding does not grant", PermRead)
		}
		ws, err := stringList(wsNode, "workspaces")
		if err != nil {
			return b, err
		}
		if len(ws) == 0 {
			return b, lineErr(wsNode, "workspaces: must not be empty (omit it for a global read)")
		}
		for j, w := range ws {
			if !event.ValidWorkspace(w) {
				return b, lineErr(wsNode.Content[j], "workspaces: %q must be of the form workspaces/<id>", w)
			}
		}
		b.workspaces = ws
	}
	return b, nil
}

// principalNode finds the node of the j-th principal pattern for an error.
func principalNode(n *yaml.Node, j int) *yaml.Node {
	for i := 0; i < len(n.Content); i += 2 {
		if n.Content[i].Value == "principals" && j < len(n.Content[i+1].Content) {
			return n.Content[i+1].Content[j]
		}
	}
	return n
}

// checkPrincipalPattern accepts `users/…` and `services/…` patterns whose
// glob syntax is valid. `*` stays within one segment (path.Match).
func checkPrincipalPattern(p string) error {
	if !strings.HasPrefix(p, "users/") && !strings.HasPrefix(p, "services/") {
		return errors.New("must start with users/ or services/")
	}
	if strings.ContainsAny(p, " \t\r\n") {
		return errors.New("must not contain whitespace")
	}
	if _, err := path.Match(p, ""); err != nil {
		return fmt.Errorf("is not a valid glob: %w", err)
	}
	return nil
}

func stringList(n *yaml.Node, field string) ([]string, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, lineErr(n, "%s: must be a list of strings", field)
	}
	out := make([]string, 0, len(n.Content))
	for _, c := range n.Content {
		if c.Kind != yaml.ScalarNode || c.Tag == "!!null" {
			return nil, lineErr(c, "%s: every entry must be a string", field)
		}
		out = append(out, c.Value)
	}
	return out, nil
}

func lineErr(n *yaml.Node, format string, args ...any) error {
	return fmt.Errorf("%w: line %d: %s", ErrInvalidPolicy, n.Line, fmt.Sprintf(format, args...))
}
