// Package version describes the running binary: its version, the commit it
// was built from, when, and with which Go toolchain. The server answers it
// at GET /version and `audittrail --version` prints it.
package version

import (
	"fmt"
	"runtime/debug"
)

// Info is the build description, in the JSON shape of GET /version.
type Info struct {
	// Version is the release version (e.g. v1.2.0), the module's
	// pseudo-version for a build from a checkout, or "devel".
	Version string `json:"version"`
	// Commit is the VCS revision, "" when the build was not stamped.
	Commit string `json:"commit"`
	// BuildTime is the commit time (RFC 3339) of a stamped build, or the
	// release build's time when set by the linker.
	BuildTime string `json:"buildTime"`
	// GoVersion is the toolchain that built the binary.
	GoVersion string `json:"goVersion"`
}

// Overrides are values set at link time for releases (`-ldflags -X`);
// empty ones leave the build stamp's value.
type Overrides struct {
	Version, Commit, BuildTime string
}

// FromBuild reads the binary's build stamp (runtime/debug.ReadBuildInfo)
// and applies the overrides.
func FromBuild(o Overrides) Info {
	bi, _ := debug.ReadBuildInfo()
	return fromBuildInfo(bi, o)
}

func fromBuildInfo(bi *debug.BuildInfo, o Overrides) Info {
	info := Info{Version: "devel"}
	if bi != nil {
		info.GoVersion = bi.GoVersion
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			info.Version = v
		}
		modified := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				info.Commit = s.Value
			case "vcs.time":
				info.BuildTime = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if modified && info.Commit != "" {
			info.Commit += "-dirty"
		}
	}
	for _, kv := range []struct {
		dst *string
		v   string
	}{
		{&info.Version, o.Version}, {&info.Commit, o.Commit}, {&info.BuildTime, o.BuildTime},
	} {
		if kv.v != "" {
			*kv.dst = kv.v
		}
	}
	return info
}

// String is the one-line form `audittrail --version` prints.
func (i Info) String() string {
	s := "audittrail " + i.Version
	if i.Commit != "" {
		s += " commit " + i.Commit
	}
	if i.BuildTime != "" {
		s += " built " + i.BuildTime
	}
	return s + fmt.Sprintf(" %s", i.GoVersion)
}
