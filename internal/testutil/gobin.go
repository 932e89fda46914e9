package testutil

import (
	"go/build"
	"os"
	"os/exec"
	"path/filepath"
)

// GoBin returns the go command the tests build and query with: `go` on
// PATH first (go test puts its own GOROOT/bin at the front of the tests'
// PATH, so this is the toolchain running them), else GOROOT/bin/go as
// go/build knows it ($GOROOT, or where the toolchain was installed), else
// plain "go", whose exec then fails saying it was not found. bench's main
// package, which must not import testutil, has a goBin with the same rule.
func GoBin() string {
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
