package runjournal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/rs/zerolog"
)

// groupsFile is the journal, under --state, of the process groups of the
// agent's runs: one line "+ PGID STARTTIME" when a run starts and one line
// "- PGID STARTTIME" when its group is gone (STARTTIME: the leader's start
// time in clock ticks since boot, /proc/PID/stat field 22), after a first
// line "boot BOOT_ID" (/proc/sys/kernel/random/boot_id): a journal of an
// earlier boot is ignored. A group with a "+" and no "-" is in flight, or
// was left by an agent that died.
//
// One append per start and per end to a file opened once: creating and
// removing a file per run costs a journaled metadata operation each, which
// measurably delayed action starts when 20 agents started runs at once
// (BENCHMARKS.md). Appends reach the kernel's page cache and survive the
// agent's SIGKILL; a machine crash takes the runs with it.
const groupsFile = "runs.log"

// groupsCompactAt is the journal size above which it is emptied the next
// time no run is in flight.
const groupsCompactAt = 1 << 20

// Journal records the process groups of the agent's runs (it is the
// actions.GroupRecorder of every run) and, at start, kills what an agent
// that died before (SIGKILL, OOM) left of its runs: Pdeathsig kills only a
// run's leader, not "sleep 300 &" in its group.
type Journal struct {
	path string
	log  zerolog.Logger

	mu   sync.Mutex
	f    *os.File // the journal, append-only; nil until KillLeftovers
	live int      // groups recorded and not ended
	size int64
}

// New makes the state dir if need be and returns the journal kept in it,
// not yet open: KillLeftovers opens it.
func New(state string, log zerolog.Logger) (*Journal, error) {
	if err := os.MkdirAll(state, 0o700); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	return &Journal{path: filepath.Join(state, groupsFile), log: log}, nil
}

// GroupStarted records pgid until the returned func is called.
func (g *Journal) GroupStarted(pgid int) func() {
	start, err := procStart(pgid)
	if err != nil {
		g.log.Warn().Err(err).Int("pgid", pgid).Msg("cannot record the run's process group")
		return nil
	}
	rec := fmt.Sprintf("%d %d\n", pgid, start)
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.append("+ " + rec) {
		return nil
	}
	g.live++
	return func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		g.live--
		if g.f == nil {
			return // closed: the agent stopped while the run was ending
		}
		g.append("- " + rec)
		if g.live == 0 && g.size > groupsCompactAt && g.f != nil {
			if err := g.f.Truncate(0); err == nil {
				g.size = 0
				g.append("boot " + bootID() + "\n")
			}
		}
	}
}

// append writes one journal line; g.mu is held.
func (g *Journal) append(line string) bool {
	if g.f == nil {
		g.log.Warn().Msg("cannot record the run's process group: the journal is not open")
		return false
	}
	n, err := g.f.WriteString(line)
	g.size += int64(n)
	if err != nil {
		g.log.Warn().Err(err).Str("file", g.path).Msg("cannot record the run's process group")
		return false
	}
	return true
}

// Close closes the journal; runs still in flight stay recorded.
func (g *Journal) Close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.f != nil {
		_ = g.f.Close()
		g.f = nil
	}
}

// leftovers reads the journal: the groups started and not ended, in the
// order they started, and the number of lines it could not read.
func leftovers(path string) (recs [][2]uint64, bad int, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	type rec struct{ pgid, start uint64 }
	var order []rec
	open := map[rec]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" {
			continue
		}
		if id, ok := strings.CutPrefix(line, "boot "); ok {
			if id != bootID() {
				// Written in an earlier boot: none of its processes runs.
				return nil, bad, nil
			}
			continue
		}
		var op string
		var r rec
		if _, err := fmt.Sscanf(line, "%s %d %d", &op, &r.pgid, &r.start); err != nil || r.pgid <= 1 || (op != "+" && op != "-") {
			bad++
			continue
		}
		if op == "+" {
			if !open[r] {
				order = append(order, r)
			}
			open[r] = true
		} else {
			delete(open, r)
		}
	}
	for _, r := range order {
		if open[r] {
			recs = append(recs, [2]uint64{r.pgid, r.start})
		}
	}
	return recs, bad, nil
}

// KillLeftovers sends SIGKILL to every group the journal holds as not
// ended, empties the journal and opens it for this agent's runs. It must
// run before the agent starts any run. When the recorded leader is still
// that process (same pid and start time), its whole group is the run's and
// is killed. When the leader is gone, only the members of group PGID that
// started after it are killed: those are what the run left, and a process
// that started before the run cannot be part of it. A live leader with
// another start time is a recycled pid: nothing is killed. Records of an
// earlier boot are ignored. It returns how many groups it signalled.
func (g *Journal) KillLeftovers() int {
	recs, bad, err := leftovers(g.path)
	if err != nil {
		g.log.Warn().Err(err).Str("file", g.path).Msg("cannot read the recorded process groups")
	}
	if bad > 0 {
		g.log.Warn().Int("lines", bad).Str("file", g.path).Msg("bad process group records; ignored")
	}
	n := 0
	for _, r := range recs {
		pgid, start := int(r[0]), r[1]
		now, err := procStart(pgid)
		switch {
		case err == nil && now != start:
			g.log.Debug().Int("pgid", pgid).Msg("recorded leader pid now belongs to another process; not killed")
		case err == nil:
			// The leader is the run's own: the whole group is the run's.
			kerr := syscall.Kill(-pgid, syscall.SIGKILL)
			if kerr == nil {
				n++
				g.log.Warn().Int("pgid", pgid).Msg("killed what a run of the previous agent left running")
			} else if !errors.Is(kerr, syscall.ESRCH) {
				g.log.Warn().Err(kerr).Int("pgid", pgid).Msg("cannot kill a leftover process group")
			}
		case errors.Is(err, os.ErrNotExist):
			// The leader is gone: kill only the members of its group that
			// started after it, never a group that reused the id since.
			if k := killMembers(pgid, start); k > 0 {
				n++
				g.log.Warn().Int("pgid", pgid).Int("processes", k).Msg("killed what a run of the previous agent left running")
			}
		default:
			g.log.Warn().Err(err).Int("pgid", pgid).Msg("cannot check a leftover process group")
		}
	}
	f, err := os.OpenFile(g.path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		g.log.Error().Err(err).Str("file", g.path).Msg("cannot open the process group journal; runs are not recorded")
	}
	g.mu.Lock()
	g.f, g.size = f, 0
	if f != nil {
		g.append("boot " + bootID() + "\n")
	}
	g.mu.Unlock()
	return n
}

// procStart is the start time of process pid (clock ticks since boot), an
// error wrapping os.ErrNotExist when there is no such process.
func procStart(pid int) (uint64, error) {
	_, start, err := procStat(pid)
	return start, err
}

// procStat is the process group and start time (clock ticks since boot)
// of process pid, an error wrapping os.ErrNotExist when there is none.
func procStat(pid int) (pgrp int, start uint64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// The command name (field 2) is in parentheses and may hold anything.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(s[i+1:])
	const pgrpField, startField = 5 - 3, 22 - 3 // fields after ")" begin with field 3
	if len(f) <= startField {
		return 0, 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	if pgrp, err = strconv.Atoi(f[pgrpField]); err != nil {
		return 0, 0, fmt.Errorf("/proc/%d/stat: process group: %w", pid, err)
	}
	if start, err = strconv.ParseUint(f[startField], 10, 64); err != nil {
		return 0, 0, fmt.Errorf("/proc/%d/stat: start time: %w", pid, err)
	}
	return pgrp, start, nil
}

// killMembers sends SIGKILL to every process of group pgid that started no
// earlier than since (clock ticks since boot): what a run whose leader is
// gone left. A process of that group that is older cannot be the run's.
// It returns how many it signalled.
func killMembers(pgid int, since uint64) int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		pg, start, err := procStat(pid)
		if err != nil || pg != pgid || start < since {
			continue
		}
		if syscall.Kill(pid, syscall.SIGKILL) == nil {
			n++
		}
	}
	return n
}

// bootID identifies this boot of the machine: a journal written in an
// earlier boot names processes that are gone, whose pids mean nothing now.
func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
