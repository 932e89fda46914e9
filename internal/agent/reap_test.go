package agent

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/testutil"
	"github.com/rs/zerolog"
)

// startGroup starts script under /bin/sh as the leader of its own process
// group and returns it with the first line it prints.
func startGroup(t *testing.T, script string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	return cmd, strings.TrimSpace(line)
}

// procAlive reports a process that exists and is not a zombie.
func procAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func TestGroups_KillLeftoversOfADeadAgent(t *testing.T) {
	state := t.TempDir()
	g, err := newGroups(state, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	leader, line := startGroup(t, `sleep 300 & echo $!; wait`)
	child, err := strconv.Atoi(line)
	if err != nil {
		t.Fatal(err)
	}
	// The run is recorded and never ended: the agent dies here.
	_ = g.GroupStarted(leader.Process.Pid)
	start, err := procStart(leader.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(state, groupsDir, fmt.Sprintf("%d-%d", leader.Process.Pid, start))); err != nil {
		t.Fatalf("no record of the run's group: %v", err)
	}
	// Pdeathsig kills the leader; its background child lives on.
	_ = leader.Process.Kill()
	_ = leader.Wait()
	if !procAlive(child) {
		t.Fatalf("background child %d died with its leader; the test proves nothing", child)
	}

	next, err := newGroups(state, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if n := next.killLeftovers(); n != 1 {
		t.Errorf("killLeftovers signalled %d groups, want 1", n)
	}
	testutil.Eventually(t, 20*time.Second, func() error {
		if procAlive(child) {
			return fmt.Errorf("background child %d of the dead agent's run is still alive", child)
		}
		return nil
	})
	if ents, _ := os.ReadDir(filepath.Join(state, groupsDir)); len(ents) != 0 {
		t.Errorf("records left after killLeftovers: %v", ents)
	}
}

func TestGroups_RecycledPidIsNotKilled(t *testing.T) {
	state := t.TempDir()
	g, err := newGroups(state, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	other, _ := startGroup(t, `echo up; exec sleep 300`)
	pid := other.Process.Pid
	start, err := procStart(pid)
	if err != nil {
		t.Fatal(err)
	}
	// A record of an earlier run whose leader had this pid: another start time.
	rec := filepath.Join(g.dir, strconv.Itoa(pid))
	if err := os.WriteFile(rec, []byte(fmt.Sprintf("%d %d\n", pid, start-1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if n := g.killLeftovers(); n != 0 {
		t.Errorf("killLeftovers signalled %d groups, want 0", n)
	}
	if !procAlive(pid) {
		t.Fatalf("process %d, which reused a recorded pid, was killed", pid)
	}
	if _, err := os.Stat(rec); !os.IsNotExist(err) {
		t.Errorf("stale record not removed: %v", err)
	}
}

func TestGroups_EndedRunLeavesNoRecord(t *testing.T) {
	state := t.TempDir()
	g, err := newGroups(state, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	leader, _ := startGroup(t, `echo up; exec sleep 300`)
	ended := g.GroupStarted(leader.Process.Pid)
	ended()
	if ents, _ := os.ReadDir(g.dir); len(ents) != 0 {
		t.Errorf("records left after the run ended: %v", ents)
	}
	if err := os.WriteFile(filepath.Join(g.dir, "junk"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if n := g.killLeftovers(); n != 0 {
		t.Errorf("killLeftovers signalled %d groups for a bad record", n)
	}
	if ents, _ := os.ReadDir(g.dir); len(ents) != 0 {
		t.Errorf("bad record not removed: %v", ents)
	}
}
