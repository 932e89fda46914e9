package e2e_test

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/testutil"
)

// fixture is a directory with scripts and a watches.d for one agent.
type fixture struct {
	t       *testing.T
	dir     string // scripts and their output files
	watches string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	// Not t.TempDir: its parent is 0700 and some actions run as nobody.
	dir, err := os.MkdirTemp("", "herald-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, dir: dir, watches: filepath.Join(dir, "watches.d")}
	if err := os.Mkdir(f.watches, 0o755); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) path(name string) string { return filepath.Join(f.dir, name) }

// script writes an executable /bin/sh script and returns its path.
func (f *fixture) script(name, body string) string {
	f.t.Helper()
	p := f.path(name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		f.t.Fatal(err)
	}
	return p
}

// hookFile writes a dispatcher hooks directory, DIR/hooks, holding one
// hook file, hooks.yaml, with content (%DIR% replaced by the fixture dir),
// and returns the directory.
func (f *fixture) hookFile(content string) string {
	f.t.Helper()
	dir := f.path("hooks")
	if err := os.Mkdir(dir, 0o755); err != nil {
		f.t.Fatal(err)
	}
	writeFile(f.t, filepath.Join(dir, "hooks.yaml"), strings.ReplaceAll(content, "%DIR%", f.dir))
	return dir
}

// watchFile writes a watch file; %DIR% is replaced by the fixture dir.
func (f *fixture) watchFile(name, body string) string {
	f.t.Helper()
	p := filepath.Join(f.watches, name)
	writeFile(f.t, p, strings.ReplaceAll(body, "%DIR%", f.dir))
	return p
}

// gateScript records the data of each run; a run whose data is "first"
// waits until the gate file exists.
const gateScript = `data=$(cat)
echo "$data" >> "$DIR/runs.log"
if [ "$data" = first ]; then
  touch "$DIR/started"
  while [ ! -f "$DIR/gate" ]; do sleep 0.01; done
fi`

func TestAgent_QueueCollapsesBurstToNewest(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	f := newFixture(t)
	f.script("gate.sh", gateScript)
	f.watchFile("q.yaml", `
watches:
  - name: q
    on: event:test.queue
    key: /app
    exec: ["%DIR%/gate.sh"]
    env: {DIR: "%DIR%"}
    run_on_load: false
`)
	out := c.watchOutcomes()
	state := t.TempDir()
	a := c.startAgent(agentOpts{name: "a1", watches: f.watches, state: state, extra: []string{"--metrics", "127.0.0.1:0"}})

	_, first := c.publishSeq("test.queue", "/app", "first")
	waitFile(t, f.path("started"))
	var last uint64
	for i := range 100 {
		_, last = c.publishSeq("test.queue", "/app", fmt.Sprintf("e%d", i))
	}
	// The burst is delivered while the first run is held in flight; the
	// events superseded meanwhile get no outcome of their own.
	waitSeen(t, a, 101)
	c.waitHeld(state, first, 99)
	if err := os.WriteFile(f.path("gate"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// All 101 events decided, each exactly once: by its own run or in the
	// superseded list of the run that replaced it.
	testutil.Eventually(t, wait, func() error {
		n, seen := 0, map[string]bool{}
		for _, o := range out.Snapshot() {
			if o.Watch != "q" {
				continue
			}
			if o.Status == events.StatusSuperseded {
				return fmt.Errorf("an outcome of its own for superseded event %s", o.EventID)
			}
			n += 1 + o.SupersededCount
			for _, id := range append([]string{o.EventID}, o.Superseded...) {
				if seen[id] {
					return fmt.Errorf("event %s decided twice", id)
				}
				seen[id] = true
			}
		}
		if n != 101 || len(seen) != 101 {
			return fmt.Errorf("%d events decided (%d distinct ids), want 101", n, len(seen))
		}
		return nil
	})
	runs := readLines(t, f.path("runs.log"))
	if len(runs) < 2 || len(runs) > 3 {
		t.Fatalf("runs = %q: want the first run plus at most 2 further runs", runs)
	}
	if last := runs[len(runs)-1]; last != "e99" {
		t.Fatalf("last run saw %q, want the final data e99", last)
	}
	if ok := out.count("q", events.StatusOK); ok != len(runs) {
		t.Fatalf("%d ok outcomes for %d runs", ok, len(runs))
	}
	c.assertSettled(state, last, runsAre(t, f.path("runs.log"), strings.Join(runs, ",")))
}

func TestAgent_DiscardDropsWhileBusy(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	f := newFixture(t)
	f.script("gate.sh", gateScript)
	f.watchFile("d.yaml", `
watches:
  - name: d
    on: event:test.discard
    exec: ["%DIR%/gate.sh"]
    env: {DIR: "%DIR%"}
    run_mode: discard
    run_on_load: false
`)
	out := c.watchOutcomes()
	c.startAgent(agentOpts{name: "a1", watches: f.watches})
	c.publish("test.discard", "k", "first")
	waitFile(t, f.path("started"))
	for i := range 5 {
		c.publish("test.discard", "k", fmt.Sprintf("e%d", i))
	}
	out.waitCount(t, "d", events.StatusDiscarded, 5)
	if err := os.WriteFile(f.path("gate"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	out.waitCount(t, "d", events.StatusOK, 1)
	c.publish("test.discard", "k", "after")
	out.waitCount(t, "d", events.StatusOK, 2)
	runs := readLines(t, f.path("runs.log"))
	if strings.Join(runs, ",") != "first,after" {
		t.Fatalf("runs = %q, want first,after", runs)
	}
}

func TestAgent_ParallelCap(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	f := newFixture(t)
	if err := os.Mkdir(f.path("running"), 0o777); err != nil {
		t.Fatal(err)
	}
	f.script("par.sh", `touch "$DIR/running/$HERALD_EVENT_ID"
ls "$DIR/running" | wc -l >> "$DIR/conc.log"
while [ ! -f "$DIR/gate" ]; do sleep 0.01; done
rm "$DIR/running/$HERALD_EVENT_ID"`)
	f.watchFile("p.yaml", `
watches:
  - name: p
    on: event:test.par
    exec: ["%DIR%/par.sh"]
    env: {DIR: "%DIR%"}
    run_mode: parallel
    max_parallel: 3
    run_on_load: false
`)
	out := c.watchOutcomes()
	c.startAgent(agentOpts{name: "a1", watches: f.watches})
	for i := range 8 {
		c.publish("test.par", "k", fmt.Sprintf("e%d", i))
	}
	waitLines(t, f.path("conc.log"), 3)
	if err := os.WriteFile(f.path("gate"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	out.waitCount(t, "p", events.StatusOK, 8)
	maxSeen := 0
	for _, l := range readLines(t, f.path("conc.log")) {
		n, _ := strconv.Atoi(strings.TrimSpace(l))
		maxSeen = max(maxSeen, n)
	}
	if maxSeen != 3 {
		t.Fatalf("max concurrent runs seen = %d, want exactly the cap 3", maxSeen)
	}
}

func TestAgent_TimeoutKillsIgnoringProcessGroup(t *testing.T) {
	t.Parallel()
	var f *fixture
	o, _ := testutil.UntilReady(t, func(timeout time.Duration) (events.Outcome, string, time.Time) {
		c := newCluster(t)
		f = newFixture(t)
		f.script("stubborn.sh", `trap '' TERM
sleep 1000 &
echo $! > "$DIR/child.pid"
echo $$ > "$DIR/leader.pid"
`+testutil.ReadyLine(`"$DIR/ready"`)+`
while :; do sleep 0.05; done`)
		f.watchFile("t.yaml", `
watches:
  - name: t
    on: event:test.timeout
    exec: ["%DIR%/stubborn.sh"]
    env: {DIR: "%DIR%"}
    timeout: `+timeout.String()+`
    kill_grace: 300ms
    run_on_load: false
`)
		out := c.watchOutcomes()
		c.startAgent(agentOpts{name: "a1", watches: f.watches})
		c.publish("test.timeout", "k", "x")
		out.waitCount(t, "t", events.StatusTimeout, 1)
		o := out.Snapshot()[0]
		// The outcome's start is when the process was running, before the
		// timeout's clock started.
		return o, f.path("ready"), o.Start
	})
	if o.Signal != "SIGKILL" {
		t.Errorf("signal = %q, want SIGKILL (SIGTERM was ignored)", o.Signal)
	}
	for _, name := range []string{"leader.pid", "child.pid"} {
		b, err := os.ReadFile(f.path(name))
		if err != nil {
			t.Fatal(err)
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		testutil.Eventually(t, wait, func() error {
			if alive(pid) {
				return fmt.Errorf("%s %d still alive", name, pid)
			}
			return nil
		})
	}
}

// alive reports a process that exists and is not a zombie.
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func TestAgent_NotifySignal(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	f := newFixture(t)
	f.script("notify.sh", `data=$(cat)
if [ "$data" = first ]; then
  trap 'echo hup >> "$DIR/hup.log"' HUP
  touch "$DIR/started"
  while [ ! -f "$DIR/gate" ]; do sleep 0.01; done
fi
echo "$data" >> "$DIR/runs.log"`)
	f.watchFile("n.yaml", `
watches:
  - name: n
    on: event:test.notify
    exec: ["%DIR%/notify.sh"]
    env: {DIR: "%DIR%"}
    notify_signal: HUP
    run_on_load: false
`)
	out := c.watchOutcomes()
	c.startAgent(agentOpts{name: "a1", watches: f.watches})
	c.publish("test.notify", "k", "first")
	waitFile(t, f.path("started"))
	c.publish("test.notify", "k", "second")
	waitFile(t, f.path("hup.log"))
	if err := os.WriteFile(f.path("gate"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	out.waitCount(t, "n", events.StatusOK, 2)
	if got := strings.Join(readLines(t, f.path("runs.log")), ","); got != "first,second" {
		t.Fatalf("runs = %s", got)
	}
}

func TestAgent_RunsAsNobody(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root to switch users")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no nobody user")
	}
	c := newCluster(t)
	f := newFixture(t)
	f.script("id.sh", `id -u > "$DIR/uid"; id -g > "$DIR/gid"; id -G > "$DIR/groups"`)
	f.watchFile("u.yaml", `
watches:
  - name: u
    on: event:test.user
    exec: ["%DIR%/id.sh"]
    env: {DIR: "%DIR%"}
    user: nobody
    run_on_load: false
`)
	out := c.watchOutcomes()
	c.startAgent(agentOpts{name: "a1", watches: f.watches})
	c.publish("test.user", "k", "x")
	out.waitCount(t, "u", events.StatusOK, 1)
	read := func(n string) string {
		b, err := os.ReadFile(f.path(n))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	if got := read("uid"); got != nobody.Uid {
		t.Errorf("uid = %s, want nobody's %s", got, nobody.Uid)
	}
	if got := read("gid"); got != nobody.Gid {
		t.Errorf("gid = %s, want nobody's %s", got, nobody.Gid)
	}
	for _, g := range strings.Fields(read("groups")) {
		if g == "0" {
			t.Errorf("supplementary groups %q still hold root's group: setgroups was skipped", read("groups"))
		}
	}
}

func TestAgent_PipeStdinOnAndOffRunOnce(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	f := newFixture(t)
	f.script("rec.sh", `data=$(cat)
echo "$HERALD_EVENT_ID|$data" >> "$DIR/$1.log"`)
	f.watchFile("s.yaml", `
watches:
  - name: "on"
    on: event:test.stdin
    key: "*"
    exec: ["%DIR%/rec.sh", "on"]
    env: {DIR: "%DIR%"}
    run_on_load: false
  - name: "off"
    on: event:test.stdin
    key: "*"
    exec: ["%DIR%/rec.sh", "off"]
    env: {DIR: "%DIR%"}
    pipe_stdin: false
    run_on_load: false
`)
	out := c.watchOutcomes()
	c.startAgent(agentOpts{name: "a1", watches: f.watches})
	var ids []string
	for i := range 3 {
		ids = append(ids, c.publish("test.stdin", fmt.Sprintf("k%d", i), fmt.Sprintf("d%d", i)).ID)
	}
	out.waitCount(t, "on", events.StatusOK, 3)
	out.waitCount(t, "off", events.StatusOK, 3)
	for _, w := range []string{"on", "off"} {
		lines := readLines(t, f.path(w+".log"))
		if len(lines) != 3 {
			t.Fatalf("%s: %d runs for 3 events: %q", w, len(lines), lines)
		}
		seen := map[string]string{}
		for _, l := range lines {
			id, data, _ := strings.Cut(l, "|")
			seen[id] = data
		}
		for i, id := range ids {
			want := fmt.Sprintf("d%d", i)
			if w == "off" {
				want = ""
			}
			if got, ok := seen[id]; !ok || got != want {
				t.Errorf("%s: event %s: data %q (ran=%v), want %q", w, id, got, ok, want)
			}
		}
	}
}

func TestAgent_RunOnLoad(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	f := newFixture(t)
	f.script("rec.sh", `cat >> "$DIR/$1.log"; echo >> "$DIR/$1.log"`)
	c.publish("test.load", "/cfg", "old")
	c.publish("test.load", "/cfg", "boot")
	f.watchFile("l.yaml", `
watches:
  - name: onload
    on: event:test.load
    key: /cfg
    exec: ["%DIR%/rec.sh", "onload"]
    env: {DIR: "%DIR%"}
  - name: noload
    on: event:test.load
    key: /cfg
    exec: ["%DIR%/rec.sh", "noload"]
    env: {DIR: "%DIR%"}
    run_on_load: false
`)
	out := c.watchOutcomes()
	c.startAgent(agentOpts{name: "a1", watches: f.watches})
	out.waitCount(t, "onload", events.StatusOK, 1)
	c.publish("test.load", "/cfg", "next")
	out.waitCount(t, "onload", events.StatusOK, 2)
	out.waitCount(t, "noload", events.StatusOK, 1)
	if got := strings.Join(readLines(t, f.path("onload.log")), ","); got != "boot,next" {
		t.Errorf("run_on_load watch ran with %s, want boot,next", got)
	}
	if got := strings.Join(readLines(t, f.path("noload.log")), ","); got != "next" {
		t.Errorf("run_on_load: false watch ran with %s, want next", got)
	}
}

func TestAgent_ReloadKeepsOldVersionOfBrokenFile(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	f := newFixture(t)
	f.script("rec.sh", `data=$(cat); echo "$1 $data" >> "$DIR/$2.log"`)
	version := func(v string) string {
		return `
watches:
  - name: r
    on: event:test.reload
    exec: ["%DIR%/rec.sh", "` + v + `", "r"]
    env: {DIR: "%DIR%"}
    run_on_load: false
`
	}
	wf := f.watchFile("r.yaml", version("v1"))
	f.watchFile("sentinel.yaml", `
watches:
  - name: sentinel
    on: event:test.reload
    exec: ["%DIR%/rec.sh", "s", "sentinel"]
    env: {DIR: "%DIR%"}
    run_on_load: false
`)
	out := c.watchOutcomes()
	a := c.startAgent(agentOpts{name: "a1", watches: f.watches})
	c.publish("test.reload", "k", "e1")
	out.waitCount(t, "r", events.StatusOK, 1)

	f.watchFile("r.yaml", "watches:\n  - name: r\n    on: event:test.reload\n    exec: [oops\n")
	a.waitLog("its previous version stays active")
	c.publish("test.reload", "k", "e2")
	out.waitCount(t, "r", events.StatusOK, 2)

	f.watchFile("r.yaml", version("v2"))
	a.waitLog("watch changed")
	c.publish("test.reload", "k", "e3")
	out.waitCount(t, "r", events.StatusOK, 3)

	if err := os.Remove(wf); err != nil {
		t.Fatal(err)
	}
	a.waitLog("watch file removed")
	c.publish("test.reload", "k", "e4")
	out.waitCount(t, "sentinel", events.StatusOK, 4)
	if got := strings.Join(readLines(t, f.path("r.log")), ","); got != "v1 e1,v1 e2,v2 e3" {
		t.Fatalf("r ran %s, want v1 e1,v1 e2,v2 e3", got)
	}
	if n := out.count("r", ""); n != 3 {
		t.Fatalf("removed watch r decided %d events, want 3", n)
	}
}

func TestAgent_CatchesUpAfterRestart(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	f := newFixture(t)
	f.script("rec.sh", `data=$(cat); echo "$HERALD_KEY $data" >> "$DIR/runs.log"`)
	f.watchFile("c.yaml", `
watches:
  - name: c
    on: event:test.restart
    key: /svc/*
    exec: ["%DIR%/rec.sh"]
    env: {DIR: "%DIR%"}
    run_on_load: false
`)
	state := t.TempDir()
	out := c.watchOutcomes()
	a := c.startAgent(agentOpts{name: "a1", watches: f.watches, state: state})
	c.publish("test.restart", "/svc/a", "a0")
	out.waitCount(t, "c", events.StatusOK, 1)
	if code := a.stop(); code != 0 {
		t.Fatalf("agent exit code %d on SIGTERM, want 0", code)
	}
	for _, e := range [][2]string{{"/svc/a", "a1"}, {"/svc/b", "b1"}, {"/svc/a", "a2"}, {"/svc/b", "b2"}, {"/svc/a", "a3"}} {
		c.publish("test.restart", e[0], e[1])
	}
	c.startAgent(agentOpts{name: "a1", watches: f.watches, state: state})
	testutil.Eventually(t, wait, func() error {
		if n := out.decided("c"); n != 6 {
			return fmt.Errorf("%d events decided, want 6 (every event decided once)", n)
		}
		return nil
	})
	last := map[string]string{}
	runs := map[string]int{}
	for _, l := range readLines(t, f.path("runs.log"))[1:] {
		k, d, _ := strings.Cut(l, " ")
		last[k] = d
		runs[k]++
	}
	if last["/svc/a"] != "a3" || last["/svc/b"] != "b2" {
		t.Fatalf("last runs per key = %v, want a3 and b2", last)
	}
	for k, n := range runs {
		if n > 2 {
			t.Errorf("key %s ran %d times after restart, want at most 2 (queue collapses)", k, n)
		}
	}
}

func TestAgent_CrashMidRunRedelivers(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	f := newFixture(t)
	f.script("once.sh", `echo "$HERALD_EVENT_ID" >> "$DIR/runs.log"
echo $$ > "$DIR/first.pid"
if [ ! -f "$DIR/crashed" ]; then
  touch "$DIR/started"
  while [ -d "$DIR" ]; do sleep 0.01; done
fi`)
	f.watchFile("x.yaml", `
watches:
  - name: x
    on: event:test.crash
    exec: ["%DIR%/once.sh"]
    env: {DIR: "%DIR%"}
    run_on_load: false
`)
	state := t.TempDir()
	out := c.watchOutcomes()
	a := c.startAgent(agentOpts{name: "a1", watches: f.watches, state: state})
	e, seq := c.publishSeq("test.crash", "k", "x")
	waitFile(t, f.path("started"))
	b, err := os.ReadFile(f.path("first.pid"))
	if err != nil {
		t.Fatal(err)
	}
	first, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	a.kill()
	// The action does not outlive the agent that ran it.
	testutil.Eventually(t, wait, func() error {
		if alive(first) {
			return fmt.Errorf("action %d outlived its SIGKILLed agent", first)
		}
		return nil
	})
	if err := os.WriteFile(f.path("crashed"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	c.startAgent(agentOpts{name: "a1", watches: f.watches, state: state})
	out.waitCount(t, "x", events.StatusOK, 1)
	runs := readLines(t, f.path("runs.log"))
	if len(runs) != 2 || runs[0] != e.ID || runs[1] != e.ID {
		t.Fatalf("runs = %q, want the event run again after the crash", runs)
	}
	// Run again exactly once: decided now, it is not read back again.
	c.assertSettled(state, seq, runsAre(t, f.path("runs.log"), e.ID+","+e.ID))
	if n := out.count("x", ""); n != 1 {
		t.Fatalf("%d outcomes, want 1", n)
	}
}

func TestAgent_ShellMetacharactersAreHarmless(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	f := newFixture(t)
	f.watchFile("m.yaml", `
watches:
  - name: m
    on: event:test.meta
    key: "**"
    exec: 'cat > "$DIR/data"; printf %s "$HERALD_KEY" > "$DIR/key"'
    env: {DIR: "%DIR%"}
    run_on_load: false
`)
	out := c.watchOutcomes()
	c.startAgent(agentOpts{name: "a1", watches: f.watches})
	m := f.path("pwned")
	key := "/x/$(touch " + m + "1)/`touch " + m + "2`; touch " + m + "3"
	data := "'; touch " + m + "4; echo \"$(touch " + m + "5)\" `touch " + m + "6` && rm -rf /nonexistent"
	c.publish("test.meta", key, data)
	out.waitCount(t, "m", events.StatusOK, 1)
	for i := 1; i <= 6; i++ {
		if _, err := os.Stat(fmt.Sprintf("%s%d", m, i)); err == nil {
			t.Errorf("marker %d exists: event text reached a shell", i)
		}
	}
	gotData, _ := os.ReadFile(f.path("data"))
	gotKey, _ := os.ReadFile(f.path("key"))
	if string(gotData) != data || string(gotKey) != key {
		t.Fatalf("data %q key %q: want them verbatim", gotData, gotKey)
	}
}
