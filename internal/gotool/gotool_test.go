package gotool_test

import (
	"go/build"
	"os"
	"path/filepath"
	"testing"

	"github.com/heraldhq/herald/internal/gotool"
)

// Path takes `go` from PATH before the toolchain's own GOROOT.
func TestPath_PrefersPATH(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "go")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	if got := gotool.Path(); got != fake {
		t.Fatalf("Path() = %q, want %q from PATH", got, fake)
	}
}

// Without `go` on PATH, Path falls back to GOROOT/bin/go.
func TestPath_FallsBackToGOROOT(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	want := filepath.Join(build.Default.GOROOT, "bin", "go")
	if _, err := os.Stat(want); err != nil {
		t.Skipf("no %s here: %v", want, err)
	}
	if got := gotool.Path(); got != want {
		t.Fatalf("Path() = %q, want %q", got, want)
	}
}
