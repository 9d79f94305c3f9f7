// Package event is the audit-trail domain: the Event, its validation and
// normalisation, its canonical binary encoding, and the search Filter.
//
// It imports nothing of the project and knows nothing of transports or
// storage engines, so the same rules hold for every API and every store.
package event

import "time"

// Type is the kind of an event.
type Type int32

// The event types. TypeUnspecified is never stored: Normalize turns it into
// TypeAPI.
const (
	TypeUnspecified Type = 0
	TypeAPI         Type = 1
	TypeSystem      Type = 2
)

// Valid reports whether t is one of the defined types.
func (t Type) Valid() bool { return t >= TypeUnspecified && t <= TypeSystem }

// Status is the outcome of the audited action.
type Status struct {
	// Code is a google.rpc.Code value, 0 to 16.
	Code int32
	// Message is free text.
	Message string
}

// Event is one audit record. ID and the client-supplied fields are set by the
// caller; ReceiveTime is assigned by the store when it accepts the event.
type Event struct {
	ID              string // canonical lowercase UUIDv4
	EventTime       time.Time
	ReceiveTime     time.Time
	EventSource     string
	Action          string
	ReadOnly        bool
	Status          Status
	HasStatus       bool // false when the client sent no status at all
	Principal       string
	SourceIPAddress string
	Resource        string
	// Workspace is output only: Normalize sets it from WorkspaceOverride or
	// Resource, whatever it held before.
	Workspace string
	// WorkspaceOverride is input only (never stored or returned): when not
	// nil it is the workspace, "" meaning none, instead of the one derived
	// from Resource.
	WorkspaceOverride *string
	UserAgent         string
	Metadata          map[string]string
	RequestParameters map[string]string
	Type              Type
}

// Name returns the event's resource name, `events/{id}`.
func (e *Event) Name() string { return NamePrefix + e.ID }

// NamePrefix starts every event resource name.
const NamePrefix = "events/"

// PrivateAddress is what every non-public source address is stored as.
const PrivateAddress = "private"
