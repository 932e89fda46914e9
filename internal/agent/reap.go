package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/rs/zerolog"
)

// groupsDir is where, under --state, the agent records the process group
// of every run in flight: one file per group, named PGID-STARTTIME and
// holding "PGID STARTTIME" (the leader's start time in clock ticks since
// boot, /proc/PID/stat field 22).
const groupsDir = "runs"

// groups records the process groups of the agent's runs (it is the
// actions.GroupRecorder of every run) and, at start, kills what an agent
// that died before (SIGKILL, OOM) left of its runs: Pdeathsig kills only a
// run's leader, not "sleep 300 &" in its group.
type groups struct {
	dir string
	log zerolog.Logger
}

func newGroups(state string, log zerolog.Logger) (*groups, error) {
	dir := filepath.Join(state, groupsDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	return &groups{dir: dir, log: log}, nil
}

// GroupStarted records pgid until the returned func is called.
func (g *groups) GroupStarted(pgid int) func() {
	start, err := procStart(pgid)
	if err != nil {
		g.log.Warn().Err(err).Int("pgid", pgid).Msg("cannot record the run's process group")
		return nil
	}
	// Named by start time too: a pid reused at once by the next run cannot
	// have its record removed by the end of this one.
	path := filepath.Join(g.dir, fmt.Sprintf("%d-%d", pgid, start))
	if err := os.WriteFile(path, []byte(fmt.Sprintf("%d %d\n", pgid, start)), 0o600); err != nil {
		g.log.Warn().Err(err).Int("pgid", pgid).Msg("cannot record the run's process group")
		return nil
	}
	return func() { _ = os.Remove(path) }
}

// killLeftovers sends SIGKILL to every recorded group and removes the
// records. It must run before the agent starts any run. A group is killed
// when its leader is the recorded process (same pid and start time) or is
// gone: the kernel does not reuse a pid while a process group of that id
// has members, so members of group PGID without a leader are what the run
// left. A live leader with another start time is a recycled pid: not
// killed. It returns how many groups it signalled.
func (g *groups) killLeftovers() int {
	ents, err := os.ReadDir(g.dir)
	if err != nil {
		g.log.Warn().Err(err).Msg("cannot read the recorded process groups")
		return 0
	}
	n := 0
	for _, e := range ents {
		path := filepath.Join(g.dir, e.Name())
		pgid, start, err := readGroup(path)
		if err != nil {
			g.log.Warn().Err(err).Str("file", path).Msg("bad process group record; removing it")
			_ = os.Remove(path)
			continue
		}
		now, err := procStart(pgid)
		switch {
		case err == nil && now != start:
			g.log.Debug().Int("pgid", pgid).Msg("recorded leader pid now belongs to another process; not killed")
		case err == nil || errors.Is(err, os.ErrNotExist):
			kerr := syscall.Kill(-pgid, syscall.SIGKILL)
			if kerr == nil {
				n++
				g.log.Warn().Int("pgid", pgid).Msg("killed what a run of the previous agent left running")
			} else if !errors.Is(kerr, syscall.ESRCH) {
				g.log.Warn().Err(kerr).Int("pgid", pgid).Msg("cannot kill a leftover process group")
			}
		default:
			g.log.Warn().Err(err).Int("pgid", pgid).Msg("cannot check a leftover process group")
		}
		_ = os.Remove(path)
	}
	return n
}

func readGroup(path string) (pgid int, start uint64, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, err
	}
	if _, err := fmt.Sscanf(string(b), "%d %d", &pgid, &start); err != nil || pgid <= 1 {
		return 0, 0, fmt.Errorf("want \"PGID STARTTIME\", got %q", strings.TrimSpace(string(b)))
	}
	return pgid, start, nil
}

// procStart is the start time of process pid (clock ticks since boot), an
// error wrapping os.ErrNotExist when there is no such process.
func procStart(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold anything.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(s[i+1:])
	const startField = 22 - 3 // fields after ")" begin with field 3
	if len(f) <= startField {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	v, err := strconv.ParseUint(f[startField], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: start time: %w", pid, err)
	}
	return v, nil
}
