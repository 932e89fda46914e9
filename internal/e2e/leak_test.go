package e2e_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/heraldhq/herald/internal/testutil"
)

// TestAgent_KilledAgentLeavesNoProcess: an action that started a
// background child, and its agent killed with SIGKILL. Pdeathsig takes the
// action's leader; the restarted agent kills the rest of its process group.
func TestAgent_KilledAgentLeavesNoProcess(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	f := newFixture(t)
	f.script("bg.sh", `sleep 300 &
echo $! >> "$DIR/children"
wait`)
	f.watchFile("bg.yaml", `
watches:
  - name: bg
    on: event:test.bg
    exec: ["%DIR%/bg.sh"]
    env: {DIR: "%DIR%"}
    run_on_load: false
`)
	state := t.TempDir()
	a := c.startAgent(agentOpts{name: "a1", watches: f.watches, state: state})
	c.publish("test.bg", "k", "x")
	child, err := strconv.Atoi(waitLines(t, f.path("children"), 1)[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(child, syscall.SIGKILL) })
	// The agent records the run's group right after starting it; a kill
	// before that instant is the window the README names.
	testutil.Eventually(t, wait, func() error {
		b, _ := os.ReadFile(filepath.Join(state, "runs.log"))
		if n := strings.Count(string(b), "+ "); n != 1 {
			return fmt.Errorf("%d process groups recorded in %s/runs.log, want 1", n, state)
		}
		return nil
	})
	a.kill()
	if !alive(child) {
		t.Fatalf("background child %d died with the agent; the test proves nothing", child)
	}
	b := c.startAgent(agentOpts{name: "a1", watches: f.watches, state: state})
	b.waitLog("killed what a run of the previous agent left running")
	testutil.Eventually(t, wait, func() error {
		if alive(child) {
			return fmt.Errorf("background child %d of the killed agent's run survived the restart", child)
		}
		return nil
	})
}
