// Package version holds the build version of the Herald binaries: the
// release set at link time with
// -ldflags "-X github.com/heraldhq/herald/internal/version.Version=v1.2.3",
// or else what the Go toolchain recorded in the binary's build info (the
// main module's version, and the VCS revision, time and modified flag of
// the checkout it was built from). It knows nothing about the binaries'
// flags: they print String when asked with --version.
package version

import (
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
)

// Version is the release of this build, set with -ldflags; "dev" when not.
var Version = "dev"

// ErrRequested is returned by a command-line parser when --version was
// given; main then prints String and exits 0.
var ErrRequested = errors.New("version requested")

// Info is what a binary knows about its own build.
type Info struct {
	Version  string // the release (ldflags), the module version (go build in a checkout stamps a pseudo-version), or "devel"
	Revision string // vcs.revision, empty when unknown
	Time     string // vcs.time (RFC 3339), empty when unknown
	Modified bool   // vcs.modified: built from a checkout with local changes
	Go       string // the Go toolchain, e.g. go1.26.8
	Platform string // GOOS/GOARCH
}

// Get returns the running binary's build information.
func Get() Info {
	bi, _ := buildInfo()
	return FromBuildInfo(Version, bi)
}

// buildInfo is read and parsed once: the agent announces its version on
// every heartbeat.
var buildInfo = sync.OnceValues(debug.ReadBuildInfo)

// FromBuildInfo derives Info from the ldflags release (ignored when "dev" or
// empty) and the build info (nil when the binary has none).
func FromBuildInfo(release string, bi *debug.BuildInfo) Info {
	in := Info{Version: release, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi == nil {
		if in.Version == "" || in.Version == "dev" {
			in.Version = "devel"
		}
		return in
	}
	if bi.GoVersion != "" {
		in.Go = bi.GoVersion
	}
	if in.Version == "" || in.Version == "dev" {
		in.Version = bi.Main.Version
		if in.Version == "" || in.Version == "(devel)" {
			in.Version = "devel"
		}
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			in.Revision = s.Value
		case "vcs.time":
			in.Time = s.Value
		case "vcs.modified":
			in.Modified = s.Value == "true"
		}
	}
	return in
}

// Short is the version in one token, as agents announce it: the release,
// or "devel+" and the first 12 digits of the revision ("-modified" when the
// checkout had local changes), or "devel" without VCS information.
func (in Info) Short() string {
	if in.Version != "devel" || in.Revision == "" {
		return in.Version
	}
	rev := in.Revision
	if len(rev) > 12 {
		rev = rev[:12]
	}
	s := "devel+" + rev
	if in.Modified {
		s += "-modified"
	}
	return s
}

// String is the --version line of the binary called name:
//
//	herald v1.2.3 (revision 90ab41ff00469e413af6e7d5b22eb01c8065bb27, 2026-12-01T08:35:00Z) go1.26.8 linux/amd64
//	agent v0.0.0-20261201083500-90ab41ff0046+dirty (revision 90ab41ff…, 2026-12-01T08:35:00Z, modified) go1.26.8 linux/amd64
//	dispatcher devel (no vcs information) go1.26.8 linux/amd64
func (in Info) String(name string) string {
	var vcs []string
	if in.Revision != "" {
		vcs = append(vcs, "revision "+in.Revision)
	}
	if in.Time != "" {
		vcs = append(vcs, in.Time)
	}
	if in.Modified {
		vcs = append(vcs, "modified")
	}
	paren := "no vcs information"
	if len(vcs) > 0 {
		paren = strings.Join(vcs, ", ")
	}
	return fmt.Sprintf("%s %s (%s) %s %s", name, in.Version, paren, in.Go, in.Platform)
}
