package e2e_test

import (
	"strings"
	"testing"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/testutil"
)

// TestLogs_EachKeyOnce: every JSON log line of the real dispatcher (with
// its ZooKeeper source) and agent carries each key once.
func TestLogs_EachKeyOnce(t *testing.T) {
	t.Parallel()
	z := testutil.RunZooKeeper(t)
	zc := z.Connect(t)
	if _, err := zc.Create("/logs", []byte("a"), 0, zkOpenACL); err != nil {
		t.Fatal(err)
	}
	c := startDispatcher(t, t.TempDir(), "127.0.0.1:0", "--zk", z.Addr(), "--log-format", "json")
	f := newFixture(t)
	f.watchFile("w.yaml", `
watches:
  - description: logs test
    on: zk:/logs
    exec: ["/bin/sh", "-c", "exit 3"]
    retry: {attempts: 2, backoff: 100ms}
`)
	out := c.watchOutcomes()
	a := c.startAgent(agentOpts{name: "logs-1", watches: f.watches})
	out.waitCount(t, "w", events.StatusFailed, 1)
	if _, err := c.herald(t, "", "status"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*proc{c.disp, a} {
		n := 0
		for _, line := range strings.Split(p.out.String(), "\n") {
			if !strings.HasPrefix(line, "{") {
				continue
			}
			n++
			keys, err := testutil.JSONKeys(line)
			if err != nil {
				t.Fatalf("%s: %v", p.name, err)
			}
			seen := map[string]bool{}
			for _, k := range keys {
				if seen[k] {
					t.Errorf("%s: key %q twice in %s", p.name, k, line)
				}
				seen[k] = true
			}
		}
		if n == 0 {
			t.Errorf("%s logged no JSON line", p.name)
		}
	}
}
