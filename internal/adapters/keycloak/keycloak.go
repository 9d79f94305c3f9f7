// Package keycloak converts Keycloak's events (user events and admin
// events, as its admin REST API and the common event-listener webhook
// extensions deliver them) into audit-trail events.
package keycloak

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/audittrail/audittrail/internal/adapters"
	"github.com/audittrail/audittrail/internal/event"
)

// Event is a Keycloak event: a user event (Type set) or an admin event
// (OperationType set).
type Event struct {
	ID        string            `json:"id"`
	Time      int64             `json:"time"` // Unix milliseconds
	Type      string            `json:"type"`
	RealmID   string            `json:"realmId"`
	ClientID  string            `json:"clientId"`
	UserID    string            `json:"userId"`
	SessionID string            `json:"sessionId"`
	IPAddress string            `json:"ipAddress"`
	Error     string            `json:"error"`
	Details   map[string]string `json:"details"`

	// Admin events.
	AuthDetails    *AuthDetails `json:"authDetails,omitempty"`
	ResourceType   string       `json:"resourceType"`
	OperationType  string       `json:"operationType"`
	ResourcePath   string       `json:"resourcePath"`
	Representation string       `json:"representation"`
}

// AuthDetails say who made an admin change.
type AuthDetails struct {
	RealmID   string `json:"realmId"`
	ClientID  string `json:"clientId"`
	UserID    string `json:"userId"`
	IPAddress string `json:"ipAddress"`
}

// Source is the events' event_source: the name H2O's audit trail uses for
// its Keycloak.
const Source = "thirdparty-chainguard-bitnamikeycloak"

// errorCodes maps Keycloak's error strings to google.rpc codes; other
// errors are UNKNOWN.
var errorCodes = map[string]int32{
	"invalid_user_credentials": 16, "invalid_client_credentials": 16, "invalid_token": 16, "not_allowed": 7,
	"user_disabled": 7, "user_temporarily_disabled": 7, "client_disabled": 7, "access_denied": 7, "consent_denied": 7,
	"user_not_found": 5, "client_not_found": 5, "expired_code": 4, "invalid_code": 3, "invalid_redirect_uri": 3,
	"invalid_request": 3, "username_in_use": 6, "email_in_use": 6,
}

// Convert maps one event; realm names the realm when the event carries
// only its id.
func Convert(e *Event) *event.Event {
	realm := e.RealmID
	out := &event.Event{
		ID:          adapters.DeriveID("keycloak", realm, e.ID, e.Type+e.OperationType),
		EventTime:   time.UnixMilli(e.Time).UTC(),
		EventSource: Source,
		HasStatus:   true,
		Type:        event.TypeAPI,
		Metadata:    map[string]string{"realm": realm, "keycloak_event_id": e.ID},
	}
	user, client, ip := e.UserID, e.ClientID, e.IPAddress
	if e.OperationType != "" { // an admin event
		if a := e.AuthDetails; a != nil {
			user, client, ip = a.UserID, a.ClientID, a.IPAddress
		}
		out.Action = "actions/keycloak/" + strings.ToLower(e.ResourceType) + "/" + strings.ToUpper(e.OperationType)
		out.Resource = "//keycloak/realms/" + realm + "/" + e.ResourcePath
		if e.Representation != "" {
			// It can hold secrets (credentials, client secrets): only its
			// hash is kept, enough to tell two changes apart.
			sum := sha256.Sum256([]byte(e.Representation))
			out.Metadata["representation_sha256"] = hex.EncodeToString(sum[:])
		}
	} else {
		typ, failed := strings.CutSuffix(strings.ToUpper(e.Type), "_ERROR")
		out.Action = "actions/keycloak/events/" + typ
		out.Resource = "//keycloak/realms/" + realm
		if user != "" {
			out.Resource += "/users/" + user
		}
		out.ReadOnly = typ == "USER_INFO_REQUEST" || typ == "INTROSPECT_TOKEN"
		if failed || e.Error != "" {
			code, ok := errorCodes[e.Error]
			if !ok {
				code = 2
			}
			out.Status = event.Status{Code: code, Message: e.Error}
		}
		for k, v := range e.Details {
			if key := metadataKey(k); key != "" && len(out.Metadata) < event.MaxMapEntries {
				out.Metadata[key] = event.TruncateUTF8(v, event.MaxMapValueBytes)
			}
		}
	}
	if e.Error != "" && out.Status.Code == 0 {
		out.Status = event.Status{Code: 2, Message: e.Error}
	}
	switch {
	case user != "":
		out.Principal = "users/" + user
	case client != "":
		out.Principal = "services/" + client
	default:
		out.Principal = "users/unknown"
	}
	if client != "" {
		out.Metadata["client_id"] = client
	}
	out.SourceIPAddress = ip
	if ip == "" {
		out.SourceIPAddress = event.PrivateAddress
	}
	return out
}

// metadataKey maps a detail's name (camelCase, e.g. redirect_uri or
// auth_method) to a metadata key, or "" when it cannot be one.
func metadataKey(k string) string {
	var b strings.Builder
	for i, r := range k {
		switch {
		case r >= 'A' && r <= 'Z':
			if i > 0 {
				b.WriteByte('_')
			}
			b.WriteRune(r + 'a' - 'A')
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	key := "detail_" + strings.Trim(b.String(), "_")
	if len(key) > event.MaxMetadataKeyLen {
		return ""
	}
	return key
}

// Decode reads a webhook body: one event or a list of them.
func Decode(body []byte) ([]Event, error) {
	trimmed := strings.TrimSpace(string(body))
	if strings.HasPrefix(trimmed, "[") {
		var list []Event
		err := json.Unmarshal(body, &list)
		return list, err
	}
	var one Event
	if err := json.Unmarshal(body, &one); err != nil {
		return nil, err
	}
	return []Event{one}, nil
}

// ErrSignature is a webhook body whose signature does not verify.
var ErrSignature = errors.New("keycloak: signature does not match the body")

// VerifySignature checks an HMAC-SHA256 of body under secret, given as hex
// (optionally "sha256=…"), in constant time.
func VerifySignature(secret, body []byte, header string) error {
	want, err := hex.DecodeString(strings.TrimPrefix(strings.TrimSpace(header), "sha256="))
	if err != nil || len(secret) == 0 {
		return ErrSignature
	}
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	if !hmac.Equal(m.Sum(nil), want) {
		return ErrSignature
	}
	return nil
}
