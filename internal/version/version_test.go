package version

import (
	"runtime/debug"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	stamped := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Version: "v0.0.0-20261201190500-2cf3024abcde"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "2cf3024abcde"},
			{Key: "vcs.time", Value: "2026-12-01T19:05:00Z"},
			{Key: "vcs.modified", Value: "false"},
		},
	}
	dirty := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Version: "(devel)"},
		Settings:  []debug.BuildSetting{{Key: "vcs.revision", Value: "abc"}, {Key: "vcs.modified", Value: "true"}},
	}
	tests := []struct {
		name string
		bi   *debug.BuildInfo
		o    Overrides
		want Info
	}{
		{"no build info", nil, Overrides{}, Info{Version: "devel"}},
		{"vcs stamp", stamped, Overrides{}, Info{"v0.0.0-20261201190500-2cf3024abcde", "2cf3024abcde", "2026-12-01T19:05:00Z", "go1.26.8"}},
		{"devel and dirty", dirty, Overrides{}, Info{"devel", "abc-dirty", "", "go1.26.8"}},
		{"release overrides", stamped, Overrides{Version: "v1.0.0", BuildTime: "2026-12-02T00:00:00Z"},
			Info{"v1.0.0", "2cf3024abcde", "2026-12-02T00:00:00Z", "go1.26.8"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := fromBuildInfo(tc.bi, tc.o); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestString(t *testing.T) {
	got := Info{"v1.0.0", "abc", "2026-12-01T00:00:00Z", "go1.26.8"}.String()
	if want := "audittrail v1.0.0 commit abc built 2026-12-01T00:00:00Z go1.26.8"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
