package main

import (
	"go/build"
	"os"
	"path/filepath"
	"testing"

	"github.com/heraldhq/herald/internal/testutil"
)

// bench's goBin follows testutil.GoBin's rule: PATH first, then
// GOROOT/bin/go.
func TestGoBin_SameRuleAsTestutil(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "go")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	if got, want := goBin(), testutil.GoBin(); got != fake || want != fake {
		t.Fatalf("with go on PATH: goBin() = %q, testutil.GoBin() = %q, want %q", got, want, fake)
	}
	t.Setenv("PATH", t.TempDir())
	root := filepath.Join(build.Default.GOROOT, "bin", "go")
	if got, want := goBin(), testutil.GoBin(); got != want || (fileExists(root) && got != root) {
		t.Fatalf("without go on PATH: goBin() = %q, testutil.GoBin() = %q, want %q", got, want, root)
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
