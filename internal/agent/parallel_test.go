package agent_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/heraldhq/herald/internal/testutil"
)

// TestParallel_MaxZeroRunsEveryEventAtOnce: max_parallel: 0 is no cap:
// six runs are in flight together, more than the default 4.
func TestParallel_MaxZeroRunsEveryEventAtOnce(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.script("hold.sh", `touch "$DIR/started-$HERALD_EVENT_ID"
while [ ! -f "$DIR/gate" ]; do sleep 0.01; done`)
	r.startAgent("par", map[string]string{"w.yaml": `
watches:
  - name: p
    on: event:test.par
    run_mode: parallel
    max_parallel: 0
    exec: ["%DIR%/hold.sh"]
    env: {DIR: "%DIR%"}
    run_on_load: false
`})
	const n = 6
	var ids []string
	for i := range n {
		ids = append(ids, r.publish("test.par", fmt.Sprintf("/k%d", i), "x").ID)
	}
	testutil.Eventually(t, wait, func() error {
		for _, id := range ids {
			if _, err := os.Stat(r.path("started-" + id)); err != nil {
				return fmt.Errorf("run of %s not started while the others hold: %w", id, err)
			}
		}
		return nil
	})
	if err := os.WriteFile(r.path("gate"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r.waitOutcomes("p", n)
}
