// Package version holds the build version of the Herald binaries, set at
// link time with -ldflags "-X github.com/heraldhq/herald/internal/version.Version=v1.2.3".
package version

// Version is the release of this build.
var Version = "dev"
