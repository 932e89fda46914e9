package e2e_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// runCI runs .ci/run with stub id, dpkg and go commands first on PATH: id
// reports uid, dpkg reports zookeeper installed, go records its arguments.
// It returns stderr and the recorded go command line.
func runCI(t *testing.T, uid string) (stderr, goArgs string) {
	t.Helper()
	stubs := t.TempDir()
	rec := filepath.Join(stubs, "go.args")
	for name, body := range map[string]string{
		"id":   "echo " + uid,
		"dpkg": "exit 0",
		"go":   `echo "go $*" > "` + rec + `"`,
	} {
		if err := os.WriteFile(filepath.Join(stubs, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(root, ".ci", "run"))
	cmd.Env = append(os.Environ(), "PATH="+stubs+":"+os.Getenv("PATH"))
	var errb strings.Builder
	cmd.Stderr = &errb
	if out, err := cmd.Output(); err != nil {
		t.Fatalf(".ci/run: %v\nstdout: %s\nstderr: %s", err, out, errb.String())
	}
	b, err := os.ReadFile(rec)
	if err != nil {
		t.Fatalf(".ci/run did not run go: %v", err)
	}
	return errb.String(), strings.TrimSpace(string(b))
}

// readmeTestCommand is the command of the README's Testing section.
func readmeTestCommand(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)## Testing\n\n```sh\n([^\n]+)\n```").FindSubmatch(b)
	if m == nil {
		t.Fatal("README.md has no Testing section with a sh block")
	}
	return string(m[1])
}

func TestCI_WarnsWhenNotRoot(t *testing.T) {
	t.Parallel()
	want := readmeTestCommand(t)
	stderr, args := runCI(t, "1000")
	if !strings.Contains(stderr, "WARNING: .ci/run is not running as root") || !strings.Contains(stderr, "SKIP") {
		t.Errorf("stderr = %q: want the not-root WARNING block naming the skipped tests", stderr)
	}
	if args != want {
		t.Errorf(".ci/run ran %q, the README says %q", args, want)
	}

	stderr, args = runCI(t, "0")
	if strings.Contains(stderr, "WARNING") {
		t.Errorf("as root stderr = %q: want no warning", stderr)
	}
	if args != want {
		t.Errorf(".ci/run as root ran %q, the README says %q", args, want)
	}
}
