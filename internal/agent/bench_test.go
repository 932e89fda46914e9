package agent

import (
	"fmt"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/testutil"
)

// BenchmarkAgent_QueueAbsorb measures one agent deciding a burst of b.N
// events for one key in queue mode (in-process server and agent; for a
// profile of the agent's per-event path, not for the recorded figures,
// which come from go run ./bench with separate processes).
func BenchmarkAgent_QueueAbsorb(b *testing.B) {
	_, nc, js := startQueueAgent(b, b.N)
	var d decisions
	d.subscribe(b, nc)
	b.ResetTimer()
	publishBurst(b, js, b.N)
	testutil.Eventually(b, 2*time.Minute, func() error {
		if got := d.decided(); got < b.N {
			return fmt.Errorf("%d of %d decided", got, b.N)
		}
		return nil
	})
	b.StopTimer()
}
