// Package otlplogs converts OpenTelemetry log records that follow the
// audit.* attribute contract (docs/ADAPTERS.md) into audit-trail events,
// for an OTLP/HTTP logs receiver.
package otlplogs

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/audittrail/audittrail/internal/adapters"
	"github.com/audittrail/audittrail/internal/event"
)

// The attribute contract: on the log record (or, for the first two, on
// its resource).
const (
	AttrEventSource   = "audit.event_source" // default: the resource's service.name
	AttrAction        = "audit.action"       // required
	AttrPrincipal     = "audit.principal"    // required
	AttrSourceIP      = "audit.source_ip"    // required
	AttrResource      = "audit.resource"
	AttrWorkspace     = "audit.workspace" // workspace_override
	AttrStatusCode    = "audit.status_code"
	AttrStatusMessage = "audit.status_message"
	AttrReadOnly      = "audit.read_only"
	AttrUserAgent     = "audit.user_agent"
	AttrType          = "audit.type"      // "api" or "system"
	AttrMetadata      = "audit.metadata." // prefix: audit.metadata.<key>
	AttrParam         = "audit.param."    // prefix: audit.param.<key>
	AttrRecordUID     = "log.record.uid"  // the id key: a record sent twice is stored once
	serviceName       = "service.name"
)

// Record is one converted log record, or why it is refused.
type Record struct {
	Event *event.Event
	Err   error
}

// Convert maps every log record of logs.
func Convert(logs plog.Logs) []Record {
	var out []Record
	rls := logs.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		res := rl.Resource().Attributes()
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				e, err := convert(lrs.At(k), res)
				out = append(out, Record{Event: e, Err: err})
			}
		}
	}
	return out
}

func convert(lr plog.LogRecord, res pcommon.Map) (*event.Event, error) {
	attrs := lr.Attributes()
	get := func(name string) string {
		if v, ok := attrs.Get(name); ok {
			return v.AsString()
		}
		if v, ok := res.Get(name); ok {
			return v.AsString()
		}
		return ""
	}
	if get(AttrAction) == "" {
		return nil, fmt.Errorf("not an audit record: no %s attribute", AttrAction)
	}
	e := &event.Event{
		EventSource:       get(AttrEventSource),
		Action:            get(AttrAction),
		Principal:         get(AttrPrincipal),
		SourceIPAddress:   get(AttrSourceIP),
		Resource:          get(AttrResource),
		UserAgent:         get(AttrUserAgent),
		HasStatus:         true,
		Type:              event.TypeAPI,
		Metadata:          map[string]string{},
		RequestParameters: map[string]string{},
	}
	if e.EventSource == "" {
		e.EventSource = get(serviceName)
	}
	if v, ok := attrs.Get(AttrWorkspace); ok {
		ws := v.AsString()
		e.WorkspaceOverride = &ws
	}
	if v, ok := attrs.Get(AttrStatusCode); ok {
		if v.Type() != pcommon.ValueTypeInt {
			return nil, fmt.Errorf("%s: must be an integer", AttrStatusCode)
		}
		e.Status.Code = int32(v.Int())
	}
	e.Status.Message = get(AttrStatusMessage)
	if v, ok := attrs.Get(AttrReadOnly); ok {
		e.ReadOnly = v.Type() == pcommon.ValueTypeBool && v.Bool()
	}
	switch strings.ToLower(get(AttrType)) {
	case "", "api":
	case "system":
		e.Type = event.TypeSystem
	default:
		return nil, fmt.Errorf("%s: must be api or system", AttrType)
	}
	attrs.Range(func(k string, v pcommon.Value) bool {
		if key, ok := strings.CutPrefix(k, AttrMetadata); ok {
			e.Metadata[key] = v.AsString()
		} else if key, ok := strings.CutPrefix(k, AttrParam); ok {
			e.RequestParameters[key] = v.AsString()
		}
		return true
	})
	ts := lr.Timestamp()
	if ts == 0 {
		ts = lr.ObservedTimestamp()
	}
	e.EventTime = time.Unix(0, int64(ts)).UTC()
	if ts == 0 {
		e.EventTime = time.Time{}
	}
	uid := get(AttrRecordUID)
	switch {
	case event.ValidateID(uid) == nil:
		e.ID = uid
	case uid != "":
		e.ID = adapters.DeriveID("otlp", uid)
	default:
		// No uid: the record's content is its identity, so a resent export
		// is still stored once.
		sum := sha256.Sum256([]byte(fmt.Sprint(ts, lr.Body().AsString(), attrs.AsRaw(), res.AsRaw())))
		e.ID = adapters.DeriveID("otlp-content", hex.EncodeToString(sum[:]))
	}
	return e, nil
}
