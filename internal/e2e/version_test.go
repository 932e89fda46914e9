package e2e_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/testutil"
)

// TestVersion_fromBuildInfo builds the three binaries the way a user does,
// with go build in a git checkout (here a fresh repository holding the
// module's files: a worktree's .git file is not stamped by go build), and
// checks that --version prints the checkout's revision and time from the
// build info, not "dev"; then that -ldflags still sets the release.
func TestVersion_fromBuildInfo(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	files := must(t, root, "git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	for _, f := range strings.Split(strings.TrimRight(files, "\x00"), "\x00") {
		b, err := os.ReadFile(filepath.Join(root, f))
		if os.IsNotExist(err) {
			continue // deleted in the work tree
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(src, filepath.Dir(f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(src, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	must(t, src, "git", "init", "-q")
	must(t, src, "git", "add", "-A")
	must(t, src, "git", "-c", "user.name=test", "-c", "user.email=test@example.com", "commit", "-q", "-m", "test build")
	rev := strings.TrimSpace(must(t, src, "git", "rev-parse", "HEAD"))

	bin := t.TempDir()
	must(t, src, goTool(), "build", "-buildvcs=true", "-o", bin, "./cmd/dispatcher", "./cmd/agent", "./cmd/herald")
	// Go stamps the main module with a pseudo-version naming the revision.
	line := regexp.MustCompile(`^(dispatcher|agent|herald) v0\.0\.0-\d{14}-` + rev[:12] + ` \(revision ` + rev +
		`, \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\) go\S+ \S+/\S+\n$`)
	for _, args := range [][]string{{"dispatcher", "--version"}, {"agent", "--version"}, {"herald", "--version"}, {"herald", "version"}} {
		out := must(t, src, filepath.Join(bin, args[0]), args[1:]...)
		if !line.MatchString(out) || !strings.HasPrefix(out, args[0]+" ") {
			t.Errorf("%s: got %q, want %s", strings.Join(args, " "), out, line)
		}
	}

	// A local change shows as modified; a release set with -ldflags wins.
	if err := os.WriteFile(filepath.Join(src, "CHANGED"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	must(t, src, goTool(), "build", "-buildvcs=true", "-o", bin,
		"-ldflags", "-X github.com/heraldhq/herald/internal/version.Version=v9.8.7", "./cmd/herald")
	out := must(t, src, filepath.Join(bin, "herald"), "--version")
	if want := "herald v9.8.7 (revision " + rev + ", "; !strings.HasPrefix(out, want) || !strings.Contains(out, ", modified) go") {
		t.Errorf("herald --version with ldflags and a change: got %q, want %q... modified", out, want)
	}

	// The binaries the other tests use print the same format.
	out = must(t, src, filepath.Join(testutil.Binaries(t), "agent"), "--version")
	if !strings.HasPrefix(out, "agent ") || strings.HasPrefix(out, "agent dev ") {
		t.Errorf("test agent --version: got %q", out)
	}
}

func must(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

func goTool() string {
	if p := filepath.Join(os.Getenv("GOROOT"), "bin", "go"); os.Getenv("GOROOT") != "" {
		return p
	}
	return "go"
}
