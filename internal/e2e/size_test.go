package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/gotool"
)

// maxPackageLines is the most non-test lines a package may hold: past it,
// a package holds more than one idea and should be split by concept.
const maxPackageLines = 1500

// largeByDesign are the packages allowed past maxPackageLines: one file
// per subcommand, and the benchmark command.
var largeByDesign = map[string]bool{"internal/cli": true, "bench": true}

// TestSize_NoPackageOver1500Lines counts the lines of every package's
// non-test Go files, as `cat *.go` minus `*_test.go` | wc -l would.
func TestSize_NoPackageOver1500Lines(t *testing.T) {
	cmd := exec.Command(gotool.Path(), "list", "-f", "{{.Dir}}", "./...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list ./...: %v", err)
	}
	root, err := filepath.Abs(cmd.Dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range strings.Fields(string(out)) {
		rel, err := filepath.Rel(root, dir)
		if err != nil {
			t.Fatal(err)
		}
		rel = filepath.ToSlash(rel)
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		lines := 0
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			lines += bytes.Count(b, []byte("\n"))
		}
		if lines > maxPackageLines && !largeByDesign[rel] {
			t.Errorf("%s: %d non-test lines, want at most %d: move a whole concept into a package of its own", rel, lines, maxPackageLines)
		}
	}
}
