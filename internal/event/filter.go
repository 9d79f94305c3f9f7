package event

import (
	"fmt"
	"math"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"time"
)

// Field names a string field of Event that has exact and regex filters and,
// in the stores, a secondary index.
type Field int

// The filterable string fields.
const (
	FieldEventSource Field = iota
	FieldAction
	FieldPrincipal
	FieldResource
	FieldWorkspace
	FieldSourceIP
	NumFields
)

var fieldNames = [NumFields]string{"event_source", "action", "principal", "resource", "workspace", "source_ip_address"}

// Name returns the field's API name, e.g. "source_ip_address".
func (f Field) Name() string { return fieldNames[f] }

// Value returns e's value of field f.
func (e *Event) Value(f Field) string {
	switch f {
	case FieldEventSource:
		return e.EventSource
	case FieldAction:
		return e.Action
	case FieldPrincipal:
		return e.Principal
	case FieldResource:
		return e.Resource
	case FieldWorkspace:
		return e.Workspace
	case FieldSourceIP:
		return e.SourceIPAddress
	}
	panic(fmt.Sprintf("event: unknown field %d", f))
}

// DefaultSearchStart is the start_event_time of a search that sets none.
var DefaultSearchStart = time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC)

// Limits that keep one search from costing the server unbounded CPU.
const (
	// MaxPatternBytes bounds every regex pattern of a filter.
	MaxPatternBytes = 1024
	// MaxPatternSize bounds a pattern's size with its counted repetitions
	// expanded (`.{1000}` counts 1000): compiling costs time in proportion
	// to it, and 700 bytes of `.{1000}.{1000}…` would otherwise take 0.2 s.
	MaxPatternSize = 10000
	// MaxFilterMapEntries bounds metadata_exact and metadata_regex, as an
	// event's own metadata is bounded.
	MaxFilterMapEntries = MaxMapEntries
)

// FilterSpec is a search filter as the client wrote it. A nil pointer means
// "not set"; a set "" is a value (SPEC §3): an exact "" matches events whose
// field is empty and a regex "" matches every event.
type FilterSpec struct {
	Start, End      *time.Time
	Exact           [NumFields]*string
	Regex           [NumFields]*string
	StatusCodeRegex *string
	ReadOnly        *bool
	MetadataExact   map[string]string
	MetadataRegex   map[string]string
	IncludeTypes    []Type
	ExcludeTypes    []Type
}

// Filter is a validated, compiled filter with its time range resolved. The
// zero value of each condition means "not set".
type Filter struct {
	Start, End time.Time // event_time in [Start, End)
	// Exact holds the exact conditions; nil is unset, and a set "" selects
	// the events whose field is empty (stores do not index empty values).
	Exact [NumFields]*string
	// Regex holds the regex conditions; nil is unset or "", which both
	// match every value.
	Regex         [NumFields]*regexp.Regexp
	StatusCode    *regexp.Regexp
	ReadOnly      *bool
	MetadataExact map[string]string
	MetadataRegex map[string]*regexp.Regexp
	Include       []Type
	Exclude       []Type
	// Workspaces, when not nil, is the set of workspaces a scoped reader
	// may see: events of other workspaces, and events without one, do not
	// match. The server sets it from the caller's grants; it is not part
	// of the client's filter.
	Workspaces []string
}

// The instants that event times can take: validation keeps them at or after
// the Unix epoch, and Unix nanoseconds in an int64 end in 2262.
var (
	minStoredTime = time.Unix(0, 0)
	maxStoredTime = time.Unix(0, math.MaxInt64)
)

// NanoRange returns [Start, End) in Unix nanoseconds, clamped to the instants
// an event time can take, so that a range reaching before 1970 or after 2262
// (any valid timestamp may be searched) selects exactly the events it
// contains instead of overflowing. end <= start means the range is empty.
func (f *Filter) NanoRange() (start, end int64) {
	return clampNano(f.Start), clampNano(f.End)
}

func clampNano(t time.Time) int64 {
	switch {
	case t.Before(minStoredTime):
		return 0
	case t.After(maxStoredTime):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// Compile validates spec and resolves its defaults: start defaults to
// DefaultSearchStart and end to now. Errors wrap ErrInvalid and name the
// filter field, e.g. `filter.action_regex: invalid RE2 pattern: …`.
func (spec *FilterSpec) Compile(now time.Time) (*Filter, error) {
	f := &Filter{Start: DefaultSearchStart, End: now, ReadOnly: spec.ReadOnly}
	if spec.Start != nil {
		f.Start = *spec.Start
	}
	if spec.End != nil {
		f.End = *spec.End
	}
	if f.Start.After(f.End) {
		return nil, fieldErr("filter.start_event_time", "must not be after end_event_time (%s > %s)",
			f.Start.UTC().Format(time.RFC3339Nano), f.End.UTC().Format(time.RFC3339Nano))
	}
	for fld := range NumFields {
		if v := spec.Exact[fld]; v != nil {
			if err := checkText("filter."+fld.Name()+"_exact", *v, -1); err != nil {
				return nil, err
			}
			if fld == FieldSourceIP {
				n := NormalizeIPFilter(*v)
				v = &n
			}
			f.Exact[fld] = v
		}
		re, err := compilePattern("filter."+fld.Name()+"_regex", deref(spec.Regex[fld]))
		if err != nil {
			return nil, err
		}
		f.Regex[fld] = re
	}
	var err error
	if f.StatusCode, err = compilePattern("filter.status_code_regex", deref(spec.StatusCodeRegex)); err != nil {
		return nil, err
	}
	if n := len(spec.MetadataExact); n > MaxFilterMapEntries {
		return nil, fieldErr("filter.metadata_exact", "must have at most %d entries, got %d", MaxFilterMapEntries, n)
	}
	if n := len(spec.MetadataRegex); n > MaxFilterMapEntries {
		return nil, fieldErr("filter.metadata_regex", "must have at most %d entries, got %d", MaxFilterMapEntries, n)
	}
	for k, v := range spec.MetadataExact {
		if !validUTF8(k, v) {
			return nil, fieldErr(fmt.Sprintf("filter.metadata_exact[%q]", k), "must be valid UTF-8")
		}
	}
	f.MetadataExact = spec.MetadataExact
	if len(spec.MetadataRegex) > 0 {
		f.MetadataRegex = make(map[string]*regexp.Regexp, len(spec.MetadataRegex))
		for k, p := range spec.MetadataRegex {
			field := fmt.Sprintf("filter.metadata_regex[%q]", k)
			if !validUTF8(k) {
				return nil, fieldErr(field, "key must be valid UTF-8")
			}
			if p == "" {
				return nil, fieldErr(field, "pattern required")
			}
			if f.MetadataRegex[k], err = compilePattern(field, p); err != nil {
				return nil, err
			}
		}
	}
	if f.Include, err = typeSet("filter.include_types", spec.IncludeTypes); err != nil {
		return nil, err
	}
	if f.Exclude, err = typeSet("filter.exclude_types", spec.ExcludeTypes); err != nil {
		return nil, err
	}
	return f, nil
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func validUTF8(ss ...string) bool {
	for _, s := range ss {
		if checkText("", s, -1) != nil {
			return false
		}
	}
	return true
}

func compilePattern(field, p string) (*regexp.Regexp, error) {
	if p == "" {
		return nil, nil
	}
	if len(p) > MaxPatternBytes {
		return nil, fieldErr(field, "pattern must be at most %d bytes, got %d", MaxPatternBytes, len(p))
	}
	parsed, err := syntax.Parse(p, syntax.Perl)
	if err != nil {
		return nil, fieldErr(field, "invalid RE2 pattern: %v", err)
	}
	if size := expandedSize(parsed); size > MaxPatternSize {
		return nil, fieldErr(field, "pattern too complex: %d elements once repetitions are expanded, at most %d", size, MaxPatternSize)
	}
	re, err := regexp.Compile(p)
	if err != nil {
		return nil, fieldErr(field, "invalid RE2 pattern: %v", err)
	}
	return re, nil
}

// expandedSize estimates the compiled size of a parsed pattern: counted
// repetitions multiply the size of what they repeat. It saturates rather
// than overflow.
func expandedSize(re *syntax.Regexp) int {
	n := 1
	for _, sub := range re.Sub {
		n += expandedSize(sub)
	}
	if re.Op == syntax.OpLiteral {
		n += len(re.Rune)
	}
	if re.Op == syntax.OpRepeat {
		times := max(re.Min, re.Max)
		if times < 1 {
			times = 1
		}
		n = min(n*times, MaxPatternSize*10)
	}
	return min(n, MaxPatternSize*10)
}

// typeSet validates types and maps TYPE_UNSPECIFIED to TYPE_API, the type
// such events are stored as.
func typeSet(field string, ts []Type) ([]Type, error) {
	var out []Type
	for _, t := range ts {
		if !t.Valid() {
			return nil, fieldErr(field, "unknown event type %d", t)
		}
		if t == TypeUnspecified {
			t = TypeAPI
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

// Match reports whether e meets every condition of f, the time range
// included.
func (f *Filter) Match(e *Event) bool {
	if e.EventTime.Before(f.Start) || !e.EventTime.Before(f.End) {
		return false
	}
	for fld := range NumFields {
		v := e.Value(fld)
		if want := f.Exact[fld]; want != nil && v != *want {
			return false
		}
		if f.Regex[fld] != nil && !f.Regex[fld].MatchString(v) {
			return false
		}
	}
	if f.ReadOnly != nil && e.ReadOnly != *f.ReadOnly {
		return false
	}
	if f.StatusCode != nil && !f.StatusCode.MatchString(strconv.Itoa(int(e.Status.Code))) {
		return false
	}
	for k, want := range f.MetadataExact {
		if got, ok := e.Metadata[k]; !ok || got != want {
			return false
		}
	}
	for k, re := range f.MetadataRegex {
		if got, ok := e.Metadata[k]; !ok || !re.MatchString(got) {
			return false
		}
	}
	if f.Workspaces != nil && (e.Workspace == "" || !slices.Contains(f.Workspaces, e.Workspace)) {
		return false
	}
	if len(f.Include) > 0 && !slices.Contains(f.Include, e.Type) {
		return false
	}
	return !slices.Contains(f.Exclude, e.Type)
}

// RegexPrefix returns the literal prefix that every value matching the
// field's regex must start with, when the regex is anchored at the start of
// the text (`^users/00…`); ok is false otherwise. Stores turn such regexes
// into index range scans.
func (f *Filter) RegexPrefix(fld Field) (prefix string, ok bool) {
	re := f.Regex[fld]
	if re == nil {
		return "", false
	}
	prefix, _ = re.LiteralPrefix()
	if prefix == "" {
		return "", false
	}
	parsed, err := syntax.Parse(re.String(), syntax.Perl)
	if err != nil {
		return "", false
	}
	prog, err := syntax.Compile(parsed.Simplify())
	if err != nil || prog.StartCond()&syntax.EmptyBeginText == 0 {
		return "", false
	}
	return prefix, true
}
