package actions_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/heraldhq/herald/actions"
	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/testutil"
)

// groupLog is a GroupRecorder that remembers which groups are live.
type groupLog struct {
	mu      sync.Mutex
	live    map[int]bool
	started []int
}

func (g *groupLog) GroupStarted(pgid int) func() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.live[pgid] = true
	g.started = append(g.started, pgid)
	return func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		delete(g.live, pgid)
	}
}

func (g *groupLog) isLive(pgid int) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.live[pgid]
}

func TestExec_Run_ReportsProcessGroup(t *testing.T) {
	dir := t.TempDir()
	sh := script(t, dir, `echo $$ > "$1/leader.pid"
while [ ! -f "$1/gate" ]; do sleep 0.01; done`)
	rec := &groupLog{live: map[int]bool{}}
	ctx := actions.WithGroupRecorder(context.Background(), rec)
	x := newExec(t, actions.ExecConfig{Argv: []string{sh, dir}})
	gate := filepath.Join(dir, "gate")
	ch := runAsync(ctx, x, request("/k", nil))
	// However this test ends, the script is let go, so no run outlives it.
	t.Cleanup(func() { _ = os.WriteFile(gate, nil, 0o644) })
	leader := readPID(t, filepath.Join(dir, "leader.pid"))
	// The leader can write its pid before Run has reported the group: poll.
	testutil.Eventually(t, poll, func() error {
		if !rec.isLive(leader) {
			rec.mu.Lock()
			defer rec.mu.Unlock()
			return fmt.Errorf("running group %d not reported live (started: %v)", leader, rec.started)
		}
		return nil
	})
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r := await(t, ch)
	if r.res.Status != events.StatusOK {
		t.Fatalf("status %s: %v", r.res.Status, r.res.Err)
	}
	if rec.isLive(leader) {
		t.Errorf("group %d still reported live after Run returned", leader)
	}
	if len(rec.started) != 1 {
		t.Errorf("groups reported: %v, want exactly the one run", rec.started)
	}
}
