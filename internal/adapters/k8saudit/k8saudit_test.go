package k8saudit

import (
	"testing"
	"time"

	"github.com/audittrail/audittrail/internal/event"
)

func TestMapping(t *testing.T) {
	c := DefaultConfig()
	c.Cluster, c.UserPrefix = "prod", "oidc:"
	at := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	base := func(verb, uri string, ref *ObjectRef, user string) *Event {
		return &Event{AuditID: "a", Stage: "ResponseComplete", Verb: verb, RequestURI: uri, ObjectRef: ref, User: UserInfo{Username: user},
			SourceIPs: []string{"8.8.8.8"}, RequestReceivedTimestamp: at, StageTimestamp: at, ResponseStatus: &ResponseStatus{Code: 200}}
	}
	pods := &ObjectRef{Resource: "pods", Namespace: "ns", Name: "p"}
	exec := &ObjectRef{Resource: "pods", Namespace: "ns", Name: "p", Subresource: "exec"}
	for _, tc := range []struct {
		name      string
		e         *Event
		action    string
		readOnly  bool
		principal string
		typ       event.Type
	}{
		{"get is read-only", base("get", "/api/v1/namespaces/ns/pods/p", pods, "oidc:ann"), "actions/kubernetes/core/pods/GET", true, "users/ann", event.TypeAPI},
		{"exec is not, whatever the verb", base("get", "/api/v1/namespaces/ns/pods/p/exec", exec, "oidc:ann"), "actions/kubernetes/core/pods/exec/GET", false, "users/ann", event.TypeAPI},
		{"a dry run is read-only", base("create", "/api/v1/namespaces/ns/pods?dryRun=All", pods, "oidc:ann"), "actions/kubernetes/core/pods/CREATE", true, "users/ann", event.TypeAPI},
		{"a service account", base("list", "/api/v1/pods", pods, "system:serviceaccount:ci:bot"), "actions/kubernetes/core/pods/LIST", true, "services/ci.bot", event.TypeAPI},
		{"a control-plane component", base("watch", "/api/v1/pods", pods, "system:kube-scheduler"), "actions/kubernetes/core/pods/WATCH", true, "services/kube-scheduler", event.TypeSystem},
		{"a non-resource URL", base("get", "/healthz?verbose", nil, "system:anonymous"), "actions/kubernetes/nonresource/healthz/GET", true, "services/anonymous", event.TypeAPI},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := c.Convert(tc.e)
			if e.Action != tc.action || e.ReadOnly != tc.readOnly || e.Principal != tc.principal || e.Type != tc.typ {
				t.Errorf("got %s read-only %v %s type %v; want %s %v %s %v", e.Action, e.ReadOnly, e.Principal, e.Type, tc.action, tc.readOnly, tc.principal, tc.typ)
			}
			if err := event.DefaultRules().Normalize(e, at.Add(time.Minute)); err != nil {
				t.Errorf("converted event invalid: %v", err)
			}
		})
	}
}

func TestEventID(t *testing.T) {
	e := &Event{AuditID: "a", Stage: "ResponseComplete", Verb: "get", RequestURI: "/x", User: UserInfo{Username: "u"}}
	id := EventID("c", e)
	if event.ValidateID(id) != nil {
		t.Fatalf("%q is not a canonical UUIDv4", id)
	}
	if EventID("c", e) != id {
		t.Error("not stable")
	}
	other := *e
	other.User.Username = "v" // the same client-chosen auditID, another request
	if EventID("c", &other) == id || EventID("d", e) == id {
		t.Error("ids collide across users or clusters")
	}
}

func TestRPCCode(t *testing.T) {
	for http, want := range map[int32]int32{200: 0, 201: 0, 101: 0, 302: 0, 0: 2, 400: 3, 401: 16, 403: 7, 404: 5, 409: 6, 422: 3, 429: 8, 500: 13, 503: 14, 504: 4} {
		if got := RPCCode(http); got != want {
			t.Errorf("RPCCode(%d) = %d, want %d", http, got, want)
		}
	}
}
