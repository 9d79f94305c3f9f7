package event

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Field limits from the product contract (SPEC §2).
const (
	MaxEventSourceLen    = 256  // characters
	MaxActionLen         = 512  // characters
	MaxPrincipalLen      = 512  // characters
	MaxResourceLen       = 2048 // characters
	MaxUserAgentLen      = 1024 // characters
	MaxWorkspaceLen      = 256  // characters, of a workspace
	MaxMetadataKeyLen    = 63   // characters
	MaxMapEntries        = 64
	MaxMapValueBytes     = 4096
	MaxParamKeyBytes     = 256
	MaxEncodedEventBytes = 64 << 10
	MaxStatusCode        = 16
)

// DefaultMaxClockSkew is how far in the future an event_time may lie.
const DefaultMaxClockSkew = 10 * time.Minute

// Rules are the configurable parts of validation.
type Rules struct {
	// MaxClockSkew is how far past the server's clock event_time may be.
	MaxClockSkew time.Duration
}

// DefaultRules returns the contract's defaults.
func DefaultRules() Rules { return Rules{MaxClockSkew: DefaultMaxClockSkew} }

// Validate checks the rules themselves.
func (r Rules) Validate() error {
	if r.MaxClockSkew < 0 {
		return fmt.Errorf("event rules: max clock skew %v must not be negative", r.MaxClockSkew)
	}
	return nil
}

// ValidateID checks that id is a canonical lowercase UUID version 4
// (xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx).
func ValidateID(id string) error {
	if id == "" {
		return fieldErr("event_id", "required")
	}
	if !isUUIDv4(id) {
		// H2O's service words this error so, and its client's own tests
		// compare the message (docs/COMPATIBILITY.md).
		return &FieldError{Field: "event_id", Rule: "must be in UUIDv4 format", Text: "event_id must be in UUIDv4 format"}
	}
	return nil
}

func isUUIDv4(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		case 14:
			if c != '4' {
				return false
			}
		case 19:
			if c != '8' && c != '9' && c != 'a' && c != 'b' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return false
			}
		}
	}
	return true
}

// Normalize validates e against every rule of the contract, then puts it in
// its stored form: a non-public source address becomes "private", an unset
// workspace is derived from the resource, and an unspecified type becomes
// TypeAPI. now is the server's clock, for the future-skew rule. It returns
// the first violation as a *FieldError wrapping ErrInvalid and leaves e
// unchanged in that case.
func (r Rules) Normalize(e *Event, now time.Time) error {
	if err := ValidateID(e.ID); err != nil {
		return err
	}
	if e.EventTime.IsZero() {
		return fieldErr("event_time", "required")
	}
	if e.EventTime.Before(time.Unix(0, 0)) {
		return fieldErr("event_time", "must not be before 1970-01-01T00:00:00Z")
	}
	if limit := now.Add(r.MaxClockSkew); e.EventTime.After(limit) {
		return fieldErr("event_time", "must not be more than %v in the future (server time %s)", r.MaxClockSkew, now.UTC().Format(time.RFC3339))
	}
	if err := checkToken("event_source", e.EventSource, MaxEventSourceLen); err != nil {
		return err
	}
	if err := checkToken("action", e.Action, MaxActionLen); err != nil {
		return err
	}
	if !e.HasStatus {
		return fieldErr("status", "required")
	}
	if e.Status.Code < 0 || e.Status.Code > MaxStatusCode {
		return fieldErr("status.code", "must be a google.rpc.Code value 0-16, got %d", e.Status.Code)
	}
	if err := checkText("status.message", e.Status.Message, -1); err != nil {
		return err
	}
	if err := CheckPrincipal(e.Principal); err != nil {
		return err
	}
	ip, err := normalizeIP("source_ip_address", e.SourceIPAddress)
	if err != nil {
		return err
	}
	if err := checkText("resource", e.Resource, MaxResourceLen); err != nil {
		return err
	}
	ws, err := resolveWorkspace(e.WorkspaceOverride, e.Resource)
	if err != nil {
		return err
	}
	if err := checkText("user_agent", e.UserAgent, MaxUserAgentLen); err != nil {
		return err
	}
	if err := checkMetadata(e.Metadata); err != nil {
		return err
	}
	if err := checkParams(e.RequestParameters); err != nil {
		return err
	}
	if !e.Type.Valid() {
		return fieldErr("type", "must be TYPE_UNSPECIFIED, TYPE_API or TYPE_SYSTEM, got %d", e.Type)
	}
	n := *e
	n.SourceIPAddress = ip
	n.Workspace = ws
	n.WorkspaceOverride = nil
	if n.Type == TypeUnspecified {
		n.Type = TypeAPI
	}
	if size := EncodedLen(&n); size > MaxEncodedEventBytes {
		return fieldErr("event", "must be at most 64 KiB serialized, is %d bytes", size)
	}
	*e = n
	return nil
}

// checkText checks UTF-8 validity and, when max >= 0, a length in characters.
func checkText(field, s string, max int) error {
	if !utf8.ValidString(s) {
		return fieldErr(field, "must be valid UTF-8")
	}
	if max >= 0 {
		if n := utf8.RuneCountInString(s); n > max {
			return fieldErr(field, "must be at most %d characters, got %d", max, n)
		}
	}
	return nil
}

// checkToken applies the rule shared by event_source and action: required,
// 1..max characters, no whitespace or control characters.
func checkToken(field, s string, max int) error {
	if s == "" {
		return fieldErr(field, "required")
	}
	if err := checkText(field, s, max); err != nil {
		return err
	}
	if i := strings.IndexFunc(s, isSpaceOrControl); i >= 0 {
		return fieldErr(field, "must not contain whitespace or control characters, format characters included (found %q at byte %d)", []rune(s[i:])[0], i)
	}
	return nil
}

// isSpaceOrControl also covers Unicode format characters (Cf: zero-width
// space U+200B, right-to-left override U+202E, BOM…): invisible, they let
// two names that look alike differ, or reorder what an auditor reads.
func isSpaceOrControl(r rune) bool {
	return unicode.IsSpace(r) || unicode.IsControl(r) || unicode.Is(unicode.Cf, r)
}

// PrincipalPrefixes are the only accepted principal kinds.
var principalPrefixes = [...]string{"users/", "services/"}

// CheckPrincipal validates a principal name (SPEC §2); the error names the
// field `principal` and wraps ErrInvalid.
func CheckPrincipal(p string) error {
	if p == "" {
		return fieldErr("principal", "required")
	}
	if err := checkText("principal", p, MaxPrincipalLen); err != nil {
		return err
	}
	if strings.IndexFunc(p, isSpaceOrControl) >= 0 {
		return fieldErr("principal", "must not contain whitespace or control characters, format characters included")
	}
	for _, prefix := range principalPrefixes {
		if rest, ok := strings.CutPrefix(p, prefix); ok && rest != "" && !strings.Contains(rest, "/") {
			return nil
		}
	}
	return fieldErr("principal", "must be of the form users/<id> or services/<name> with one non-empty segment, got %q", truncate(p, 64))
}

// normalizeIP accepts an IP literal or the word "private" and returns the
// stored form: "private" for every non-public address, else the canonical
// text form (IPv4-mapped IPv6 addresses are unmapped).
func normalizeIP(field, s string) (string, error) {
	if s == "" {
		return "", fieldErr(field, "required")
	}
	if s == PrivateAddress {
		return s, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return "", fieldErr(field, "must be an IPv4 or IPv6 literal (without zone) or %q, got %q", PrivateAddress, truncate(s, 64))
	}
	a = a.Unmap()
	if !IsPublic(a) {
		return PrivateAddress, nil
	}
	return a.String(), nil
}

// IPv4 ranges that are not public beyond what netip classifies, and the
// IPv6 forms that carry an IPv4 address inside them.
var (
	sharedAddressSpace = netip.MustParsePrefix("100.64.0.0/10")  // RFC 6598
	thisNetwork        = netip.MustParsePrefix("0.0.0.0/8")      // RFC 1122
	reservedV4         = netip.MustParsePrefix("240.0.0.0/4")    // RFC 1112, with 255.255.255.255
	ipv4Compatible     = netip.MustParsePrefix("::/96")          // RFC 4291, deprecated
	nat64WellKnown     = netip.MustParsePrefix("64:ff9b::/96")   // RFC 6052
	nat64Local         = netip.MustParsePrefix("64:ff9b:1::/48") // RFC 8215
	sixToFour          = netip.MustParsePrefix("2002::/16")      // RFC 3056
)

// IsPublic reports whether a is a public address: not RFC 1918, not RFC 4193
// unique-local, not loopback, not link-local, not in 100.64.0.0/10 (shared
// address space), 0.0.0.0/8 or 240.0.0.0/4 (broadcast included), and not
// unspecified. An IPv6 address that embeds an IPv4 address (IPv4-mapped or
// -compatible, NAT64, 6to4) is public only when the embedded one is, so
// that 64:ff9b::10.0.0.1 is not stored as if it named a public host.
func IsPublic(a netip.Addr) bool {
	a = a.Unmap()
	if v4, ok := embeddedIPv4(a); ok {
		return IsPublic(v4)
	}
	return !(a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsUnspecified() || sharedAddressSpace.Contains(a) || thisNetwork.Contains(a) || reservedV4.Contains(a))
}

// embeddedIPv4 returns the IPv4 address that an IPv6 address of a
// translation or transition form carries.
func embeddedIPv4(a netip.Addr) (netip.Addr, bool) {
	if !a.Is6() {
		return netip.Addr{}, false
	}
	b := a.As16()
	switch {
	case ipv4Compatible.Contains(a) && !a.IsUnspecified() && !a.IsLoopback(): // ::a.b.c.d, not :: or ::1
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case nat64WellKnown.Contains(a):
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case nat64Local.Contains(a): // RFC 6052 /48 layout: bits 48–63 and 72–87
		return netip.AddrFrom4([4]byte{b[6], b[7], b[9], b[10]}), true
	case sixToFour.Contains(a):
		return netip.AddrFrom4([4]byte(b[2:6])), true
	}
	return netip.Addr{}, false
}

// NormalizeIPFilter maps an exact source-address filter value to the stored
// form, so that searching for 10.1.2.3 finds the events stored as "private".
// Values that are not addresses are returned unchanged.
func NormalizeIPFilter(s string) string {
	if ip, err := normalizeIP("", s); err == nil {
		return ip
	}
	return s
}

// resolveWorkspace returns the stored workspace (SPEC §2): the override
// when present, even "" (no workspace), else the one named in the resource.
func resolveWorkspace(override *string, resource string) (string, error) {
	if override == nil {
		ws := WorkspaceOf(resource)
		if n := utf8.RuneCountInString(ws); n > MaxWorkspaceLen {
			return "", fieldErr("resource", "names a workspace of more than %d characters (%d); set workspace_override", MaxWorkspaceLen, n)
		}
		return ws, nil
	}
	ws := *override
	if ws == "" {
		return "", nil
	}
	if err := checkText("workspace_override", ws, MaxWorkspaceLen); err != nil {
		return "", err
	}
	if !ValidWorkspace(ws) {
		return "", fieldErr("workspace_override", `must be "" or of the form workspaces/<id> with one non-empty segment, got %q`, truncate(ws, 64))
	}
	return ws, nil
}

// ValidWorkspace reports whether ws has the form `workspaces/<id>` with one
// non-empty segment free of whitespace and control characters.
func ValidWorkspace(ws string) bool {
	id, ok := strings.CutPrefix(ws, "workspaces/")
	return ok && id != "" && !strings.Contains(id, "/") && strings.IndexFunc(id, isSpaceOrControl) < 0
}

// WorkspaceOf returns the first `workspaces/<id>` segment pair of a resource
// name, or "" when it names none.
func WorkspaceOf(resource string) string {
	parts := strings.Split(resource, "/")
	for i := 0; i+1 < len(parts); i++ {
		if parts[i] == "workspaces" && parts[i+1] != "" && strings.IndexFunc(parts[i+1], isSpaceOrControl) < 0 {
			return "workspaces/" + parts[i+1]
		}
	}
	return ""
}

func checkMetadata(m map[string]string) error {
	if len(m) > MaxMapEntries {
		return fieldErr("metadata", "must have at most %d entries, got %d", MaxMapEntries, len(m))
	}
	for k, v := range m {
		if err := checkMetadataKey(k); err != nil {
			return err
		}
		if !utf8.ValidString(v) {
			return fieldErr(fmt.Sprintf("metadata[%q]", k), "value must be valid UTF-8")
		}
		if len(v) > MaxMapValueBytes {
			return fieldErr(fmt.Sprintf("metadata[%q]", k), "value must be at most %d bytes, got %d", MaxMapValueBytes, len(v))
		}
	}
	return nil
}

func checkMetadataKey(k string) error {
	field := fmt.Sprintf("metadata key %q", truncate(k, 80))
	if k == "" || len(k) > MaxMetadataKeyLen {
		return &FieldError{Field: field, Rule: "must be 1-63 characters"}
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return &FieldError{Field: field, Rule: "must be lowercase letters, digits or '_'"}
		}
	}
	if c := k[0]; !('a' <= c && c <= 'z') {
		return &FieldError{Field: field, Rule: "must start with a letter"}
	}
	if c := k[len(k)-1]; c == '_' {
		return &FieldError{Field: field, Rule: "must end with a letter or digit"}
	}
	return nil
}

func checkParams(m map[string]string) error {
	if len(m) > MaxMapEntries {
		return fieldErr("request_parameters", "must have at most %d entries, got %d", MaxMapEntries, len(m))
	}
	for k, v := range m {
		field := fmt.Sprintf("request_parameters key %q", truncate(k, 80))
		if !utf8.ValidString(k) {
			return fieldErr("request_parameters", "keys must be valid UTF-8")
		}
		if len(k) > MaxParamKeyBytes {
			return &FieldError{Field: field, Rule: fmt.Sprintf("must be at most %d bytes, got %d", MaxParamKeyBytes, len(k))}
		}
		if !utf8.ValidString(v) {
			return &FieldError{Field: field, Rule: "value must be valid UTF-8"}
		}
		if len(v) > MaxMapValueBytes {
			return &FieldError{Field: field, Rule: fmt.Sprintf("value must be at most %d bytes, got %d", MaxMapValueBytes, len(v))}
		}
	}
	return nil
}

// truncate shortens s for error messages, keeping them readable when the
// offending input is huge.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return TruncateUTF8(s, n) + "…"
}

// TruncateUTF8 returns the longest prefix of s of at most n bytes that does
// not split a UTF-8 sequence.
func TruncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
