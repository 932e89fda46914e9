package e2e_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/testutil"
)

// TestTypes_ExactZKWatchIgnoresChildren: an exact zk:/git/head watch does
// not run when a child (a lock) is created under /git/head; a watch on
// the same path with types: [zk.children] runs for exactly that.
func TestTypes_ExactZKWatchIgnoresChildren(t *testing.T) {
	t.Parallel()
	z := testutil.RunZooKeeper(t)
	zc := z.Connect(t)
	if _, err := zc.Create("/git", nil, 0, zkOpenACL); err != nil {
		t.Fatal(err)
	}
	if _, err := zc.Create("/git/head", []byte("A"), 0, zkOpenACL); err != nil {
		t.Fatal(err)
	}
	c := startDispatcher(t, t.TempDir(), "127.0.0.1:0", "--zk", z.Addr())
	f := newFixture(t)
	f.script("rec.sh", `data=$(cat); echo "$HERALD_EVENT_TYPE $data" >> "$DIR/$1.log"`)
	f.watchFile("git.yaml", `
watches:
  - name: git-pull
    on: zk:/git/head
    exec: ["%DIR%/rec.sh", "pull"]
    env: {DIR: "%DIR%"}
    run_on_load: false
  - name: locks
    on: zk:/git/head
    types: [zk.children]
    exec: ["%DIR%/rec.sh", "locks"]
    env: {DIR: "%DIR%"}
    run_on_load: false
`)
	out := c.watchOutcomes()
	c.startAgent(agentOpts{name: "web-1", watches: f.watches})
	waitPlainLog(t, c.disp, "zk: watching key=/git/head")
	testutil.Eventually(t, wait, func() error {
		// The dispatcher has read /git/head (its first event is stored).
		if len(testutil.StoredEvents(t, c.js, wait, events.EventSubject("zk.changed", "/git/head"))) == 0 {
			return fmt.Errorf("the first event of /git/head is not stored yet")
		}
		return nil
	})
	if _, err := zc.Create("/git/head/lock", nil, 0, zkOpenACL); err != nil {
		t.Fatal(err)
	}
	out.waitCount(t, "locks", events.StatusOK, 1)
	if _, err := zc.Set("/git/head", []byte("B"), -1); err != nil {
		t.Fatal(err)
	}
	// A: the dispatcher's first read of /git/head once the agent asked.
	out.waitCount(t, "git-pull", events.StatusOK, 2)
	// Events reach the watch in stream order: had the children event
	// reached git-pull, it would have run or been decided before B.
	if got := strings.Join(readLines(t, f.path("pull.log")), "|"); got != "zk.changed A|zk.changed B" {
		t.Errorf("git-pull ran %q, want zk.changed A|zk.changed B", got)
	}
	if got := strings.Join(readLines(t, f.path("locks.log")), "|"); got != "zk.children lock" {
		t.Errorf("locks ran %q, want zk.children lock", got)
	}
	for _, o := range out.Snapshot() {
		if o.Watch == "git-pull" && o.EventType == "zk.children" {
			t.Errorf("git-pull decided a zk.children event: %+v", o)
		}
	}
}
