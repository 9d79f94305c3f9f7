package viewer

import "testing"

func TestCSVCell(t *testing.T) {
	for in, want := range map[string]string{
		"=SUM(A1)": "'=SUM(A1)", "+1": "'+1", "-1": "'-1", "@cmd": "'@cmd", "\tx": "'\tx", "\rx": "'\rx",
		"users/a": "users/a", "": "", "a=b": "a=b",
	} {
		if got := csvCell(in); got != want {
			t.Errorf("csvCell(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/?range=1h": "/?range=1h", "//evil.example/": "/", "https://evil.example/": "/", `/\evil`: "/", "": "/", "relative": "/",
		"/\t/evil.example": "/", "/\n/evil.example": "/", "/\r//evil.example": "/", "/ /evil": "/", "/\x00//evil": "/",
		"/%09/evil.example":     "/%09/evil.example", // escaped: stays a path of this site
		"/ui/events/x?back=%2F": "/ui/events/x?back=%2F", "/\x7f/x": "/", "///evil": "/",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFieldOf(t *testing.T) {
	for msg, want := range map[string]string{
		"filter.action_regex: invalid RE2 pattern":     "action_regex",
		`filter.metadata_regex["k"]: pattern required`: "metadata_regex",
		"filter.start_event_time: must not be after":   "start",
		"page_token: invalid: tampered":                "page_token",
		"something else":                               "",
	} {
		if got := fieldOf(msg); got != want {
			t.Errorf("fieldOf(%q) = %q, want %q", msg, got, want)
		}
	}
}
