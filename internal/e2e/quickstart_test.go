package e2e_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/gotool"
)

// processesUnder lists the live processes whose command line mentions dir.
func processesUnder(dir string) []string {
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !strings.Contains(string(b), dir) {
			continue
		}
		if pid, err := strconv.Atoi(e.Name()); err == nil && alive(pid) {
			out = append(out, e.Name()+": "+strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	return out
}

// TestQuickstart runs deploy/quickstart.sh as a reader would: it builds the
// binaries, shows the outcome line with status ok and the web console's
// URL, and leaves neither its temp dir nor a process behind.
func TestQuickstart(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "../../deploy/quickstart.sh")
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp, "PATH="+filepath.Dir(gotool.Path())+":"+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("quickstart.sh: %v\n%s", err, out)
	}
	s := string(out)
	if !regexp.MustCompile(`(?m)^    \S+ outcome host=quickstart-agent watch=hello status=ok exit=0 `).MatchString(s) {
		t.Errorf("quickstart.sh printed no outcome line with status=ok:\n%s", s)
	}
	if !strings.Contains(s, "[quickstart-agent] demo.hello /demo/greeting: hello, fleet") {
		t.Errorf("quickstart.sh did not show the action's stdout:\n%s", s)
	}
	if !regexp.MustCompile(`(?m)^==> the web console: http://127\.0\.0\.1:[0-9]+/ui/ \(the fleet; this event at http://127\.0\.0\.1:[0-9]+/ui/events/[0-9a-f-]{36}\)$`).MatchString(s) {
		t.Errorf("quickstart.sh did not print the web console's URL:\n%s", s)
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Errorf("quickstart.sh left %v in its temp dir", ents)
	}
	if left := processesUnder(tmp); len(left) != 0 {
		t.Errorf("quickstart.sh left processes running:\n%s", strings.Join(left, "\n"))
	}
}
