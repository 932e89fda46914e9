package e2e

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/gotool"
)

// engines are the dispatcher's engines: the call hooks, the handlers and
// the ZooKeeper, KV and HTTP sources.
var engines = regexp.MustCompile(`internal/(handlers|hooks|callhooks|source/zk|source/kv|source/http)(/|$)`)

// TestDeps_AgentAndCLILinkNoEngine checks that the per-host agent and the
// CLI link none of the dispatcher's engines: the agent needs only the wire
// packages to run a run: agents call hook, and herald validate only the
// hook-file parser.
func TestDeps_AgentAndCLILinkNoEngine(t *testing.T) {
	for _, pkg := range []string{"./cmd/agent", "./cmd/herald"} {
		cmd := exec.Command(gotool.Path(), "list", "-deps", pkg)
		cmd.Dir = "../.."
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			if strings.HasPrefix(dep, "github.com/heraldhq/herald/") && engines.MatchString(dep) {
				t.Errorf("%s links %s", pkg, dep)
			}
		}
	}
}
