package e2e_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/testutil"
)

// TestRunOnLoad_ZKNewestOfKey: after create /git/head A; set B; delete;
// create C in ZooKeeper (one key per run mode), a new agent's run_on_load runs C once: not the
// zk.changed B from before the delete, not the zk.deleted.
func TestRunOnLoad_ZKNewestOfKey(t *testing.T) {
	t.Parallel()
	z := testutil.RunZooKeeper(t)
	zc := z.Connect(t)
	if _, err := zc.Create("/git", nil, 0, zkOpenACL); err != nil {
		t.Fatal(err)
	}
	modes := []string{"queue", "discard", "parallel"}
	args := []string{"--zk", z.Addr()}
	for _, m := range modes {
		args = append(args, "--zk-watch", "/git/"+m)
	}
	c := startDispatcher(t, t.TempDir(), "127.0.0.1:0", args...)
	for _, m := range modes {
		waitPlainLog(t, c.disp, "zk: watching key=/git/"+m)
	}
	filter := events.EventPrefix + ".zk.>"
	stored := 0
	for _, m := range modes {
		p := "/git/" + m
		steps := []func() error{
			func() error { _, err := zc.Create(p, []byte("A"), 0, zkOpenACL); return err },
			func() error { _, err := zc.Set(p, []byte("B"), -1); return err },
			func() error { return zc.Delete(p, -1) },
			func() error { _, err := zc.Create(p, []byte("C"), 0, zkOpenACL); return err },
		}
		for _, step := range steps {
			if err := step(); err != nil {
				t.Fatal(err)
			}
			stored++
			// Each step stored before the next, so the history is all there.
			testutil.Eventually(t, wait, func() error {
				if n := len(testutil.StoredEvents(t, c.js, wait, filter)); n < stored {
					return fmt.Errorf("%d events stored, want %d", n, stored)
				}
				return nil
			})
		}
	}
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			p := "/git/" + mode
			f := newFixture(t)
			f.script("pull.sh", recordScript)
			f.watchFile("git.yaml", `
watches:
  - name: git-pull
    on: zk:`+p+`
    run_mode: `+mode+`
    exec: ["%DIR%/pull.sh"]
    env: {DIR: "%DIR%"}
`)
			out := c.watchOutcomes()
			host := "load-" + mode
			c.startAgent(agentOpts{name: host, watches: f.watches})
			out.waitCount(t, "git-pull", events.StatusOK, 1)
			if _, err := zc.Set(p, []byte("D"), -1); err != nil {
				t.Fatal(err)
			}
			out.waitCount(t, "git-pull", events.StatusOK, 2)
			want := "zk.created C|zk.changed D"
			if got := strings.Join(readLines(t, f.path("runs-"+host+".log")), "|"); got != want {
				t.Fatalf("runs %s, want %s", got, want)
			}
			for _, o := range out.Snapshot() {
				if o.Watch == "git-pull" && o.Status != events.StatusOK {
					t.Errorf("outcome %s for %s, want only ok", o.Status, o.EventType)
				}
			}
		})
	}
}
