package e2e_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/heraldhq/herald/internal/testutil/natscluster"
)

// TestCluster_DispatcherStoresHaveReplicas starts the dispatcher binary
// with streams.replicas: 3 on a 3-node cluster: every stream and bucket it
// owns has three replicas, so herald status still works once the node
// leading the call hooks' status bucket is gone.
func TestCluster_DispatcherStoresHaveReplicas(t *testing.T) {
	t.Parallel()
	ns := natscluster.Run(t, 3)
	conf := testutil.WriteFile(t, t.TempDir(), "dispatcher.yaml", "streams:\n  replicas: 3\n")
	c := startDispatcher(t, t.TempDir(), "127.0.0.1:0", "--nats", ns.URLs(), "--config", conf)
	c.url = ns.URLs()
	stores := []string{events.EventsStream, events.OutcomesStream, events.AgentsStream, "KV_herald_handlers", "KV_herald_hooks"}
	testutil.Eventually(t, wait, func() error {
		for _, name := range stores {
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			st, err := c.js.Stream(ctx, name)
			cancel()
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			if r := st.CachedInfo().Config.Replicas; r != 3 {
				return fmt.Errorf("%s has %d replicas, want 3", name, r)
			}
		}
		return nil
	})
	testutil.Eventually(t, wait, func() error {
		out, err := c.herald(t, "", "status")
		if err == nil && !strings.Contains(out, "call hooks of dispatcher") {
			err = fmt.Errorf("herald status shows no call hooks state:\n%s", out)
		}
		return err
	})

	leader := ns.StreamLeader("KV_herald_hooks")
	if leader < 0 {
		t.Fatal("KV_herald_hooks has no leader")
	}
	ns.Kill(leader)
	testutil.Eventually(t, wait, func() error {
		out, err := c.herald(t, "", "status")
		if err == nil && !strings.Contains(out, "call hooks of dispatcher") {
			err = fmt.Errorf("herald status shows no call hooks state:\n%s", out)
		}
		return err
	})
}
