package testutil_test

import (
	"go/build"
	"os"
	"path/filepath"
	"testing"

	"github.com/heraldhq/herald/internal/testutil"
)

// GoBin takes `go` from PATH before the toolchain's own GOROOT.
func TestGoBin_PrefersPATH(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "go")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	if got := testutil.GoBin(); got != fake {
		t.Fatalf("GoBin() = %q, want %q from PATH", got, fake)
	}
}

// Without `go` on PATH, GoBin falls back to GOROOT/bin/go.
func TestGoBin_FallsBackToGOROOT(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	want := filepath.Join(build.Default.GOROOT, "bin", "go")
	if _, err := os.Stat(want); err != nil {
		t.Skipf("no %s here: %v", want, err)
	}
	if got := testutil.GoBin(); got != want {
		t.Fatalf("GoBin() = %q, want %q", got, want)
	}
}
