// Package format renders events for the streaming sinks: native (the REST
// JSON of the API) and OCSF 1.3 API Activity (class 6003), the schema SIEMs
// and data lakes ingest natively. docs/EXPORT.md maps every field.
package format

import (
	"encoding/json"
	"fmt"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/audittrail/audittrail/internal/event"
	"github.com/audittrail/audittrail/internal/server"
	"github.com/audittrail/audittrail/internal/store"
)

// Native is the event as the REST API returns it.
func Native(r store.Record) ([]byte, error) {
	b, err := protojson.Marshal(server.EventProto(r))
	if err != nil {
		return nil, fmt.Errorf("format: native: %w", err)
	}
	return b, nil
}

// OCSFVersion is the OCSF schema version the mapping follows.
const OCSFVersion = "1.3.0"

// OCSF activity ids of API Activity.
const (
	ActivityCreate = 1
	ActivityRead   = 2
	ActivityUpdate = 3
	ActivityDelete = 4
	ActivityOther  = 99
)

// Product names the producer in metadata.product.
type Product struct {
	Name, Vendor, Version string
}

// ocsfEvent is an OCSF API Activity record, the fields this mapping sets.
type ocsfEvent struct {
	ClassUID     int               `json:"class_uid"`
	ClassName    string            `json:"class_name"`
	CategoryUID  int               `json:"category_uid"`
	CategoryName string            `json:"category_name"`
	ActivityID   int               `json:"activity_id"`
	ActivityName string            `json:"activity_name"`
	TypeUID      int               `json:"type_uid"`
	SeverityID   int               `json:"severity_id"`
	Time         int64             `json:"time"`
	StatusID     int               `json:"status_id"`
	Status       string            `json:"status"`
	StatusCode   string            `json:"status_code"`
	StatusDetail string            `json:"status_detail,omitempty"`
	Metadata     ocsfMetadata      `json:"metadata"`
	API          ocsfAPI           `json:"api"`
	Actor        ocsfActor         `json:"actor"`
	SrcEndpoint  *ocsfEndpoint     `json:"src_endpoint,omitempty"`
	HTTPRequest  *ocsfHTTP         `json:"http_request,omitempty"`
	Resources    []ocsfResource    `json:"resources,omitempty"`
	Unmapped     map[string]string `json:"unmapped,omitempty"`
}

type ocsfMetadata struct {
	UID        string      `json:"uid"`
	Version    string      `json:"version"`
	Product    ocsfProduct `json:"product"`
	TenantUID  string      `json:"tenant_uid,omitempty"`
	LoggedTime int64       `json:"logged_time"`
}

type ocsfProduct struct {
	Name       string `json:"name"`
	VendorName string `json:"vendor_name"`
	Version    string `json:"version,omitempty"`
}

type ocsfAPI struct {
	Operation string       `json:"operation"`
	Service   ocsfService  `json:"service"`
	Request   *ocsfRequest `json:"request,omitempty"`
}

type ocsfService struct {
	Name string `json:"name"`
}

type ocsfRequest struct {
	UID  string            `json:"uid"`
	Data map[string]string `json:"data,omitempty"`
}

type ocsfActor struct {
	User ocsfUser `json:"user"`
}

type ocsfUser struct {
	UID  string `json:"uid"`
	Name string `json:"name,omitempty"`
}

type ocsfEndpoint struct {
	IP string `json:"ip"`
}

type ocsfHTTP struct {
	UserAgent string `json:"user_agent"`
}

type ocsfResource struct {
	UID string `json:"uid"`
}

var activityNames = map[int]string{ActivityCreate: "Create", ActivityRead: "Read", ActivityUpdate: "Update", ActivityDelete: "Delete", ActivityOther: "Other"}

// Activity maps an event to an API Activity activity_id: read_only events
// read; otherwise the action's last segment (actions/…/VERB) decides.
func Activity(e *event.Event) int {
	if e.ReadOnly {
		return ActivityRead
	}
	verb := strings.ToUpper(e.Action[strings.LastIndexByte(e.Action, '/')+1:])
	switch verb {
	case "CREATE", "ADD", "INSERT", "POST", "REGISTER":
		return ActivityCreate
	case "GET", "READ", "LIST", "SEARCH", "DESCRIBE", "VIEW", "QUERY":
		return ActivityRead
	case "UPDATE", "PATCH", "PUT", "MODIFY", "SET", "EDIT":
		return ActivityUpdate
	case "DELETE", "REMOVE", "DESTROY", "PURGE":
		return ActivityDelete
	}
	return ActivityOther
}

// OCSF renders the event as OCSF API Activity (class_uid 6003). loginName,
// when known, is actor.user.name.
func OCSF(r store.Record, p Product, loginName string) ([]byte, error) {
	e := r.Event
	act := Activity(e)
	o := ocsfEvent{
		ClassUID: 6003, ClassName: "API Activity", CategoryUID: 6, CategoryName: "Application Activity",
		ActivityID: act, ActivityName: activityNames[act], TypeUID: 600300 + act, SeverityID: 1,
		Time:     e.EventTime.UnixMilli(),
		StatusID: 1, Status: "Success", StatusCode: fmt.Sprint(e.Status.Code), StatusDetail: e.Status.Message,
		Metadata: ocsfMetadata{UID: e.ID, Version: OCSFVersion, Product: ocsfProduct{Name: p.Name, VendorName: p.Vendor, Version: p.Version},
			TenantUID: e.Workspace, LoggedTime: e.ReceiveTime.UnixMilli()},
		API:   ocsfAPI{Operation: e.Action, Service: ocsfService{Name: e.EventSource}},
		Actor: ocsfActor{User: ocsfUser{UID: e.Principal, Name: loginName}},
	}
	if e.Status.Code != 0 {
		o.StatusID, o.Status = 2, "Failure"
	}
	if len(e.RequestParameters) > 0 {
		o.API.Request = &ocsfRequest{UID: e.ID, Data: e.RequestParameters}
	}
	if ip := e.SourceIPAddress; ip != "" && ip != event.PrivateAddress {
		o.SrcEndpoint = &ocsfEndpoint{IP: ip}
	}
	if e.UserAgent != "" {
		o.HTTPRequest = &ocsfHTTP{UserAgent: e.UserAgent}
	}
	if e.Resource != "" {
		o.Resources = []ocsfResource{{UID: e.Resource}}
	}
	o.Unmapped = e.Metadata
	b, err := json.Marshal(o)
	if err != nil {
		return nil, fmt.Errorf("format: ocsf: %w", err)
	}
	return b, nil
}
