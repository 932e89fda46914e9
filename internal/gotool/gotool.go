// Package gotool finds the go command for the code that builds Herald's
// binaries: the tests (testutil.Binaries and the tests that build one
// binary) and the bench, one rule for all of them. It knows nothing else.
package gotool

import (
	"go/build"
	"os"
	"os/exec"
	"path/filepath"
)

// Path returns the go command to run: `go` on PATH first (go test puts its
// own GOROOT/bin at the front of the tests' PATH, so under go test this is
// the toolchain running them), else GOROOT/bin/go as go/build knows it
// ($GOROOT, or where the toolchain was installed), else plain "go", whose
// exec then fails saying it was not found. It does not use the deprecated
// runtime.GOROOT.
func Path() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	if root := build.Default.GOROOT; root != "" {
		p := filepath.Join(root, "bin", "go")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "go"
}
