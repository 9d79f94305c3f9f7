// Package k8saudit converts Kubernetes API server audit events
// (audit.k8s.io/v1 EventList, as the apiserver's audit webhook sends them)
// into audit-trail events. It knows nothing of transports or stores: the
// server's webhook endpoint decodes the list, converts it here and stores
// the result like any batch.
package k8saudit

import (
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/audittrail/audittrail/internal/adapters"
	"github.com/audittrail/audittrail/internal/event"
)

// EventList is the part of audit.k8s.io/v1 EventList that is converted.
type EventList struct {
	APIVersion string  `json:"apiVersion"`
	Kind       string  `json:"kind"`
	Items      []Event `json:"items"`
}

// Event is one audit.k8s.io/v1 Event.
type Event struct {
	Level                    string          `json:"level"`
	AuditID                  string          `json:"auditID"`
	Stage                    string          `json:"stage"`
	RequestURI               string          `json:"requestURI"`
	Verb                     string          `json:"verb"`
	User                     UserInfo        `json:"user"`
	ImpersonatedUser         *UserInfo       `json:"impersonatedUser,omitempty"`
	SourceIPs                []string        `json:"sourceIPs"`
	UserAgent                string          `json:"userAgent"`
	ObjectRef                *ObjectRef      `json:"objectRef,omitempty"`
	ResponseStatus           *ResponseStatus `json:"responseStatus,omitempty"`
	RequestReceivedTimestamp time.Time       `json:"requestReceivedTimestamp"`
	StageTimestamp           time.Time       `json:"stageTimestamp"`
}

// UserInfo names the caller.
type UserInfo struct {
	Username string   `json:"username"`
	UID      string   `json:"uid"`
	Groups   []string `json:"groups"`
}

// ObjectRef names the object acted on.
type ObjectRef struct {
	Resource    string `json:"resource"`
	Namespace   string `json:"namespace"`
	Name        string `json:"name"`
	APIGroup    string `json:"apiGroup"`
	APIVersion  string `json:"apiVersion"`
	Subresource string `json:"subresource"`
}

// ResponseStatus is the outcome (a metav1.Status).
type ResponseStatus struct {
	Code    int32  `json:"code"`
	Message string `json:"message"`
	Reason  string `json:"reason"`
}

// Config is the mapping's settings. Start from DefaultConfig.
type Config struct {
	// Cluster names the cluster in resources and ids; required.
	Cluster string
	// EventSource is the events' event_source.
	EventSource string
	// UserPrefix is stripped from people's usernames (the apiserver's
	// --oidc-username-prefix), e.g. "oidc:".
	UserPrefix string
	// Workspaces maps namespaces to workspaces (workspaces/<id>).
	Workspaces map[string]string
}

// DefaultConfig returns the defaults; Cluster must still be set.
func DefaultConfig() Config {
	return Config{EventSource: "kubernetes-apiserver", Workspaces: map[string]string{}}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.Cluster == "" || strings.ContainsAny(c.Cluster, "/ \t") {
		return errors.New("k8saudit: cluster name required, without slashes or spaces")
	}
	for ns, ws := range c.Workspaces {
		if !event.ValidWorkspace(ws) {
			return fmt.Errorf("k8saudit: namespace %q: workspace %q must be workspaces/<id>", ns, ws)
		}
	}
	return nil
}

// Converts reports whether the stage is one that is stored: the response
// was sent, or the handler panicked. (RequestReceived and
// ResponseStarted would record the same request again.)
func Converts(stage string) bool { return stage == "ResponseComplete" || stage == "Panic" }

// controlPlane are the identities of the cluster's own components.
var controlPlane = []string{"system:kube-controller-manager", "system:kube-scheduler", "system:apiserver", "system:kube-proxy", "system:volume-scheduler"}

// Convert maps one audit event to an event (with its id). Events of
// stages that Converts refuses must not be passed.
func (c *Config) Convert(e *Event) *event.Event {
	out := &event.Event{
		ID:                EventID(c.Cluster, e),
		EventTime:         e.RequestReceivedTimestamp,
		EventSource:       c.EventSource,
		HasStatus:         true,
		UserAgent:         e.UserAgent,
		Type:              event.TypeAPI,
		Metadata:          map[string]string{"audit_id": e.AuditID, "stage": strings.ToLower(e.Stage), "level": strings.ToLower(e.Level)},
		RequestParameters: map[string]string{"verb": e.Verb, "request_uri": e.RequestURI},
	}
	verb := strings.ToUpper(e.Verb)
	path, query := e.RequestURI, ""
	if u, err := url.Parse(e.RequestURI); err == nil {
		path, query = u.Path, u.RawQuery
	}
	if r := e.ObjectRef; r != nil && r.Resource != "" {
		group := r.APIGroup
		if group == "" {
			group = "core"
		}
		action := "actions/kubernetes/" + group + "/" + r.Resource
		if r.Subresource != "" {
			action += "/" + r.Subresource
		}
		out.Action = action + "/" + verb
		if ws, ok := c.Workspaces[r.Namespace]; ok && r.Namespace != "" {
			out.WorkspaceOverride = &ws
		}
		if r.Namespace != "" {
			out.Metadata["namespace"] = r.Namespace
		}
	} else {
		out.Action = "actions/kubernetes/nonresource" + strings.TrimRight(path, "/") + "/" + verb
	}
	out.ReadOnly = readOnly(e, query)
	out.Resource = "//kubernetes/" + c.Cluster + path
	out.Principal, out.Type = c.principal(e.User.Username)
	if iu := e.ImpersonatedUser; iu != nil {
		out.Metadata["impersonated_user"] = iu.Username
	}
	if len(e.SourceIPs) > 0 {
		out.SourceIPAddress = e.SourceIPs[0]
		out.Metadata["source_ips"] = strings.Join(e.SourceIPs, ",")
	}
	if len(e.User.Groups) > 0 {
		groups := append([]string(nil), e.User.Groups...)
		sort.Strings(groups)
		out.Metadata["user_groups"] = event.TruncateUTF8(strings.Join(groups, ","), event.MaxMapValueBytes)
	}
	switch {
	case e.Stage == "Panic":
		out.Status = event.Status{Code: 13, Message: "the apiserver's handler panicked"}
	case e.ResponseStatus != nil:
		out.Status = event.Status{Code: RPCCode(e.ResponseStatus.Code), Message: event.TruncateUTF8(e.ResponseStatus.Message, 1024)}
	}
	return out
}

// readOnly: get, list and watch only read; exec, attach, port-forward and
// proxy act whatever their HTTP verb; a dry run (dryRun=All) changes
// nothing.
func readOnly(e *Event, query string) bool {
	if r := e.ObjectRef; r != nil {
		switch r.Subresource {
		case "exec", "attach", "portforward", "proxy":
			return false
		}
	}
	if q, err := url.ParseQuery(query); err == nil && q.Get("dryRun") == "All" {
		return true
	}
	switch e.Verb {
	case "get", "list", "watch":
		return true
	}
	return false
}

// principal maps a Kubernetes username: service accounts and the other
// system: identities are services, people are users (the OIDC prefix
// stripped). Control-plane components get TYPE_SYSTEM.
func (c *Config) principal(username string) (string, event.Type) {
	if rest, ok := strings.CutPrefix(username, "system:serviceaccount:"); ok {
		return "services/" + strings.ReplaceAll(rest, ":", "."), event.TypeAPI
	}
	if rest, ok := strings.CutPrefix(username, "system:"); ok {
		typ := event.TypeAPI
		for _, cp := range controlPlane {
			if username == cp {
				typ = event.TypeSystem
			}
		}
		if strings.HasPrefix(username, "system:node:") {
			typ = event.TypeSystem
		}
		return "services/" + strings.ReplaceAll(rest, ":", "."), typ
	}
	name := strings.TrimPrefix(username, c.UserPrefix)
	if name == "" {
		name = "anonymous"
	}
	return "users/" + strings.ReplaceAll(name, "/", "_"), event.TypeAPI
}

// RPCCode maps an HTTP status to a google.rpc code.
func RPCCode(httpStatus int32) int32 {
	switch {
	case httpStatus >= 100 && httpStatus < 400: // 101: an exec or attach upgraded
		return 0
	}
	switch httpStatus {
	case 400:
		return 3 // INVALID_ARGUMENT
	case 401:
		return 16 // UNAUTHENTICATED
	case 403:
		return 7 // PERMISSION_DENIED
	case 404:
		return 5 // NOT_FOUND
	case 409:
		return 6 // ALREADY_EXISTS (and conflicts)
	case 412:
		return 9 // FAILED_PRECONDITION
	case 422:
		return 3
	case 429:
		return 8 // RESOURCE_EXHAUSTED
	case 499:
		return 1 // CANCELLED
	case 501:
		return 12 // UNIMPLEMENTED
	case 503:
		return 14 // UNAVAILABLE
	case 504:
		return 4 // DEADLINE_EXCEEDED
	}
	if httpStatus >= 500 {
		return 13 // INTERNAL
	}
	return 2 // UNKNOWN
}

// EventID derives a UUIDv4-shaped id from what identifies one stage of one
// request: never the auditID alone, which a client may set (Audit-ID
// header) to collide with another request. A batch the apiserver sends
// again maps to the same ids, so it is stored once.
func EventID(cluster string, e *Event) string {
	return adapters.DeriveID(cluster, e.AuditID, e.Stage, e.RequestReceivedTimestamp.UTC().Format(time.RFC3339Nano),
		e.StageTimestamp.UTC().Format(time.RFC3339Nano), e.Verb, e.RequestURI, e.User.Username)
}
