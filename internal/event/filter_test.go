package event

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestFilterCompileRejects(t *testing.T) {
	later := now.Add(time.Hour)
	tests := []struct {
		name    string
		spec    FilterSpec
		wantMsg string
	}{
		{"start after end", FilterSpec{Start: &later, End: &now}, "filter.start_event_time: must not be after end_event_time"},
		{"start after default end", FilterSpec{Start: &later}, "filter.start_event_time: must not be after"},
		{"bad regex", func() FilterSpec { var s FilterSpec; s.Regex[FieldAction] = new("(a"); return s }(), "filter.action_regex: invalid RE2 pattern"},
		{"perl lookahead", func() FilterSpec { var s FilterSpec; s.Regex[FieldPrincipal] = new("(?=a)"); return s }(), "filter.principal_regex: invalid RE2 pattern"},
		{"pattern too long", func() FilterSpec { var s FilterSpec; s.Regex[FieldResource] = new(strings.Repeat("a", 1025)); return s }(), "filter.resource_regex: pattern must be at most 1024 bytes"},
		{"bad status regex", FilterSpec{StatusCodeRegex: new("[")}, "filter.status_code_regex: invalid RE2 pattern"},
		{"pattern too complex", func() FilterSpec {
			var s FilterSpec
			s.Regex[FieldAction] = new(strings.Repeat(".{1000}", 11))
			return s
		}(), "filter.action_regex: pattern too complex"},
		{"alternation of repetitions too complex", FilterSpec{StatusCodeRegex: new("(a{1000}|b{1000}|c{1000}|d{1000}|e{1000}|f{1000}|g{1000}|h{1000}|i{1000}|j{1000}|k{1000})")}, "filter.status_code_regex: pattern too complex"},
		{"too many metadata_exact", FilterSpec{MetadataExact: manyKeys(65)}, "filter.metadata_exact: must have at most 64 entries"},
		{"too many metadata_regex", FilterSpec{MetadataRegex: manyKeys(65)}, "filter.metadata_regex: must have at most 64 entries"},
		{"bad metadata regex", FilterSpec{MetadataRegex: map[string]string{"env": "*"}}, `filter.metadata_regex["env"]: invalid RE2 pattern`},
		{"unknown type", FilterSpec{IncludeTypes: []Type{7}}, "filter.include_types: unknown event type 7"},
		{"unknown excluded type", FilterSpec{ExcludeTypes: []Type{-1}}, "filter.exclude_types: unknown event type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.spec.Compile(now)
			if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("Compile error %v, want ErrInvalid containing %q", err, tc.wantMsg)
			}
		})
	}
}

func TestFilterDefaults(t *testing.T) {
	f, err := (&FilterSpec{}).Compile(now)
	if err != nil {
		t.Fatal(err)
	}
	if !f.Start.Equal(time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC)) || !f.End.Equal(now) {
		t.Errorf("defaults start %v end %v", f.Start, f.End)
	}
	same := now
	if f, err = (&FilterSpec{Start: &same, End: &same}).Compile(now); err != nil {
		t.Fatalf("start == end must be valid: %v", err)
	}
	e := valid()
	e.EventTime = now
	if f.Match(e) {
		t.Error("start == end matched an event")
	}
}

func TestRegexPrefix(t *testing.T) {
	tests := []struct {
		pattern, prefix string
		ok              bool
	}{
		{"^users/00", "users/00", true},
		{`^users/00\d+$`, "users/00", true},
		{"^users/(a|b)", "users/", true},
		{"users/00", "", false},
		{"(?m)^users", "", false},
		{"(?i)^users", "", false},
		{"^.*x", "", false},
		{"^a|b", "", false},
		{"^", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.pattern, func(t *testing.T) {
			var s FilterSpec
			s.Regex[FieldPrincipal] = new(tc.pattern)
			f, err := s.Compile(now)
			if err != nil {
				t.Fatal(err)
			}
			p, ok := f.RegexPrefix(FieldPrincipal)
			if p != tc.prefix || ok != tc.ok {
				t.Errorf("RegexPrefix = %q, %v; want %q, %v", p, ok, tc.prefix, tc.ok)
			}
		})
	}
}

func TestFilterMatch(t *testing.T) {
	e := valid()
	e.Metadata = map[string]string{"env": "prod", "empty": ""}
	e.Status.Code = 3
	e.Type = TypeAPI
	ro := true
	tests := []struct {
		name string
		spec func(s *FilterSpec)
		want bool
	}{
		{"unanchored regex matches anywhere", func(s *FilterSpec) { s.Regex[FieldAction] = new("(daiEngines|x)") }, true},
		{"exact is whole value", func(s *FilterSpec) { s.Exact[FieldAction] = new("actions/enginemanager") }, false},
		{"status regex", func(s *FilterSpec) { s.StatusCodeRegex = new("^(0|3)$") }, true},
		{"status regex decimal", func(s *FilterSpec) { s.StatusCodeRegex = new("^1") }, false},
		{"read_only set", func(s *FilterSpec) { s.ReadOnly = &ro }, false},
		{"metadata exact", func(s *FilterSpec) { s.MetadataExact = map[string]string{"env": "prod"} }, true},
		{"metadata exact empty value present", func(s *FilterSpec) { s.MetadataExact = map[string]string{"empty": ""} }, true},
		{"metadata exact missing key", func(s *FilterSpec) { s.MetadataExact = map[string]string{"nope": ""} }, false},
		{"metadata regex", func(s *FilterSpec) { s.MetadataRegex = map[string]string{"env": "^pr"} }, true},
		{"metadata regex missing key", func(s *FilterSpec) { s.MetadataRegex = map[string]string{"x": ".*"} }, false},
		{"include api", func(s *FilterSpec) { s.IncludeTypes = []Type{TypeSystem, TypeAPI} }, true},
		{"include unspecified means api", func(s *FilterSpec) { s.IncludeTypes = []Type{TypeUnspecified} }, true},
		{"exclude api", func(s *FilterSpec) { s.ExcludeTypes = []Type{TypeAPI} }, false},
		{"ip exact normalised", func(s *FilterSpec) { s.Exact[FieldSourceIP] = new("8.8.8.8") }, true},
		// Presence (SPEC §3): a set "" is a value, unset is no condition.
		{"exact empty matches empty field", func(s *FilterSpec) { s.Exact[FieldResource] = new("") }, true},
		{"exact empty misses set field", func(s *FilterSpec) { s.Exact[FieldPrincipal] = new("") }, false},
		{"workspace exact empty matches no workspace", func(s *FilterSpec) { s.Exact[FieldWorkspace] = new("") }, true},
		{"regex empty matches every value", func(s *FilterSpec) { s.Regex[FieldPrincipal] = new("") }, true},
		{"status regex empty matches", func(s *FilterSpec) { s.StatusCodeRegex = new("") }, true},
	}
	if err := DefaultRules().Normalize(e, now); err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var s FilterSpec
			tc.spec(&s)
			f, err := s.Compile(now)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Match(e); got != tc.want {
				t.Errorf("Match = %v, want %v", got, tc.want)
			}
		})
	}
}

func manyKeys(n int) map[string]string {
	m := map[string]string{}
	for i := range n {
		m[strings.Repeat("k", i+1)] = "v"
	}
	return m
}

func TestFilterComplexityBoundsCompileTime(t *testing.T) {
	// Large but legitimate patterns stay accepted.
	for _, p := range []string{".{1000}", "^users/[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}", strings.Repeat("(a|b)", 200)} {
		var s FilterSpec
		s.Regex[FieldPrincipal] = new(p)
		if _, err := s.Compile(now); err != nil {
			t.Errorf("%q rejected: %v", p, err)
		}
	}
}
