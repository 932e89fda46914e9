package agent_test

import (
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/testutil"
)

// TestLog_EachFieldOnce: every line the agent logs about a run (and every
// other line) carries each key once; a run's duration is duration_ms.
func TestLog_EachFieldOnce(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ra := r.startAgent("log-host", map[string]string{"w.yaml": `
watches:
  - name: w
    on: event:test.log
    exec: ["/bin/true"]
    run_on_load: false
`})
	r.publish("test.log", "/k", "x")
	r.waitOutcomes("w", 1)
	ra.waitLog(t, `"run finished"`)
	runLines := 0
	for _, line := range strings.Split(strings.TrimSpace(ra.log.String()), "\n") {
		keys, err := testutil.JSONKeys(line)
		if err != nil {
			t.Fatalf("%v in %s", err, line)
		}
		seen := map[string]bool{}
		for _, k := range keys {
			if seen[k] {
				t.Errorf("key %q twice in %s", k, line)
			}
			seen[k] = true
		}
		if strings.Contains(line, `"message":"run finished"`) {
			runLines++
			for _, want := range []string{"host", "watch", "event_id", "key", "status", "duration_ms"} {
				if !seen[want] {
					t.Errorf("run finished line lacks %q: %s", want, line)
				}
			}
		}
	}
	if runLines != 1 {
		t.Errorf("%d run finished lines, want 1", runLines)
	}
}
