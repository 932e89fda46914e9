package runjournal

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
	g := mustGroups(t, state)
	g.KillLeftovers() // opens the journal, as the agent's Start does
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
	if recs := recorded(t, state); len(recs) != 1 || recs[0] != [2]uint64{uint64(leader.Process.Pid), start} {
		t.Fatalf("recorded groups %v, want the run's [%d %d]", recs, leader.Process.Pid, start)
	}
	// Pdeathsig kills the leader; its background child lives on.
	_ = leader.Process.Kill()
	_ = leader.Wait()
	if !procAlive(child) {
		t.Fatalf("background child %d died with its leader; the test proves nothing", child)
	}

	next := mustGroups(t, state)
	if n := next.KillLeftovers(); n != 1 {
		t.Errorf("KillLeftovers signalled %d groups, want 1", n)
	}
	testutil.Eventually(t, 20*time.Second, func() error {
		if procAlive(child) {
			return fmt.Errorf("background child %d of the dead agent's run is still alive", child)
		}
		return nil
	})
	if recs := recorded(t, state); len(recs) != 0 {
		t.Errorf("records left after KillLeftovers: %v", recs)
	}
}

func TestGroups_RecycledPidIsNotKilled(t *testing.T) {
	state := t.TempDir()
	g := mustGroups(t, state)
	other, _ := startGroup(t, `echo up; exec sleep 300`)
	pid := other.Process.Pid
	start, err := procStart(pid)
	if err != nil {
		t.Fatal(err)
	}
	// A record of an earlier run whose leader had this pid: another start time.
	if err := os.WriteFile(g.path, []byte(fmt.Sprintf("+ %d %d\n", pid, start-1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if n := g.KillLeftovers(); n != 0 {
		t.Errorf("KillLeftovers signalled %d groups, want 0", n)
	}
	if !procAlive(pid) {
		t.Fatalf("process %d, which reused a recorded pid, was killed", pid)
	}
	if recs := recorded(t, state); len(recs) != 0 {
		t.Errorf("stale record not removed: %v", recs)
	}
}

func TestGroups_EndedRunLeavesNoRecord(t *testing.T) {
	state := t.TempDir()
	g := mustGroups(t, state)
	g.KillLeftovers() // opens the journal
	leader, _ := startGroup(t, `echo up; exec sleep 300`)
	ended := g.GroupStarted(leader.Process.Pid)
	if recs := recorded(t, state); len(recs) != 1 {
		t.Fatalf("recorded groups %v while the run is in flight, want 1", recs)
	}
	ended()
	if recs := recorded(t, state); len(recs) != 0 {
		t.Errorf("records left after the run ended: %v", recs)
	}
	f, err := os.OpenFile(g.path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("junk\n+ 1 2\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if n := g.KillLeftovers(); n != 0 {
		t.Errorf("KillLeftovers signalled %d groups for bad records", n)
	}
	if b, _ := os.ReadFile(g.path); string(b) != "boot "+bootID()+"\n" {
		t.Errorf("journal not emptied after KillLeftovers: %q", b)
	}
}

// TestGroups_JournalCompactsWhenIdle: the journal is emptied once it is
// large and no run is in flight, and a run in flight stays recorded.
func TestGroups_JournalCompactsWhenIdle(t *testing.T) {
	state := t.TempDir()
	g := mustGroups(t, state)
	g.KillLeftovers()
	held, _ := startGroup(t, `echo up; exec sleep 300`)
	hold := g.GroupStarted(held.Process.Pid) // in flight throughout
	leader, _ := startGroup(t, `echo up; exec sleep 300`)
	pid := leader.Process.Pid
	for g.size <= groupsCompactAt {
		g.GroupStarted(pid)()
	}
	if recs := recorded(t, state); len(recs) != 1 {
		t.Fatalf("recorded %v, want only the run in flight", recs)
	}
	hold()
	if b, err := os.ReadFile(g.path); err != nil || string(b) != "boot "+bootID()+"\n" {
		t.Fatalf("journal not compacted once idle: %d bytes, %v", len(b), err)
	}
}

// mustGroups is New for state, failing the test on error.
func mustGroups(t *testing.T, state string) *Journal {
	t.Helper()
	g, err := New(state, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// recorded is what the journal in state holds as not ended.
func recorded(t *testing.T, state string) [][2]uint64 {
	t.Helper()
	recs, _, err := leftovers(filepath.Join(state, groupsFile))
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// TestGroups_EarlierBootIsIgnored: a journal written in another boot names
// pids that mean nothing now; its records kill nothing, even a live
// process whose pid and start time match one.
func TestGroups_EarlierBootIsIgnored(t *testing.T) {
	if bootID() == "" {
		t.Skip("no /proc/sys/kernel/random/boot_id")
	}
	state := t.TempDir()
	g := mustGroups(t, state)
	other, _ := startGroup(t, `echo up; exec sleep 300`)
	pid := other.Process.Pid
	start, err := procStart(pid)
	if err != nil {
		t.Fatal(err)
	}
	rec := fmt.Sprintf("boot another-boot\n+ %d %d\n", pid, start)
	if err := os.WriteFile(g.path, []byte(rec), 0o600); err != nil {
		t.Fatal(err)
	}
	if recs := recorded(t, state); len(recs) != 0 {
		t.Errorf("records of another boot read as in flight: %v", recs)
	}
	if n := g.KillLeftovers(); n != 0 {
		t.Errorf("KillLeftovers signalled %d groups from another boot's journal", n)
	}
	if !procAlive(pid) {
		t.Fatalf("process %d was killed on a record of another boot", pid)
	}
}

// TestGroups_LeaderGoneSparesOlderMembers: with the leader gone, only the
// group's members that started after it are killed.
func TestGroups_LeaderGoneSparesOlderMembers(t *testing.T) {
	state := t.TempDir()
	g := mustGroups(t, state)
	leader, line := startGroup(t, `sleep 300 & echo $!; wait`)
	child, err := strconv.Atoi(line)
	if err != nil {
		t.Fatal(err)
	}
	childStart, err := procStart(child)
	if err != nil {
		t.Fatal(err)
	}
	// A record claiming the group started after its child did: the child
	// is older than the recorded run and must be spared.
	if err := os.WriteFile(g.path, []byte(fmt.Sprintf("boot %s\n+ %d %d\n", bootID(), leader.Process.Pid, childStart+1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = leader.Process.Kill()
	_ = leader.Wait()
	if n := g.KillLeftovers(); n != 0 {
		t.Errorf("KillLeftovers signalled %d groups, want 0", n)
	}
	if !procAlive(child) {
		t.Fatalf("member %d, older than the recorded run, was killed", child)
	}
}
