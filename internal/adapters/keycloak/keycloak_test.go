package keycloak

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/audittrail/audittrail/internal/event"
)

func TestVerifySignature(t *testing.T) {
	secret, body := []byte("0123456789abcdef"), []byte(`{"id":"x"}`)
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	good := hex.EncodeToString(m.Sum(nil))
	for _, tc := range []struct {
		header string
		ok     bool
	}{{good, true}, {"sha256=" + good, true}, {"", false}, {"zz", false}, {good[:62] + "00", false}} {
		if err := VerifySignature(secret, body, tc.header); (err == nil) != tc.ok {
			t.Errorf("header %q: %v, want ok %v", tc.header, err, tc.ok)
		}
	}
	if VerifySignature(nil, body, good) == nil {
		t.Error("an empty secret verified")
	}
}

func TestConvert(t *testing.T) {
	for _, tc := range []struct {
		name      string
		e         Event
		action    string
		code      int32
		principal string
	}{
		{"login", Event{ID: "1", Time: 1764493200000, Type: "LOGIN", RealmID: "r", UserID: "u1", IPAddress: "8.8.8.8"}, "actions/keycloak/events/LOGIN", 0, "users/u1"},
		{"disabled user", Event{ID: "2", Time: 1764493200000, Type: "LOGIN_ERROR", RealmID: "r", UserID: "u1", Error: "user_disabled"}, "actions/keycloak/events/LOGIN", 7, "users/u1"},
		{"unknown error", Event{ID: "3", Time: 1764493200000, Type: "CODE_TO_TOKEN_ERROR", RealmID: "r", ClientID: "app", Error: "something_new"}, "actions/keycloak/events/CODE_TO_TOKEN", 2, "services/app"},
		{"admin", Event{ID: "4", Time: 1764493200000, RealmID: "r", ResourceType: "CLIENT", OperationType: "update", ResourcePath: "clients/c1",
			AuthDetails: &AuthDetails{UserID: "admin1", IPAddress: "10.0.0.1"}, Representation: `{"secret":"x"}`}, "actions/keycloak/client/UPDATE", 0, "users/admin1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := Convert(&tc.e)
			if e.Action != tc.action || e.Status.Code != tc.code || e.Principal != tc.principal {
				t.Errorf("got %s code %d %s; want %s %d %s", e.Action, e.Status.Code, e.Principal, tc.action, tc.code, tc.principal)
			}
			if err := event.DefaultRules().Normalize(e, e.EventTime); err != nil {
				t.Errorf("converted event invalid: %v", err)
			}
			for k, v := range e.Metadata {
				if v == `{"secret":"x"}` {
					t.Errorf("metadata %s holds the representation", k)
				}
			}
		})
	}
}
