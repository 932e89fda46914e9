package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/gotool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Deadlines. Every wait in the bench has one; they are generous because
// the machine may be shared.
const (
	buildTimeout = 5 * time.Minute
	readyTimeout = 30 * time.Second
	stopTimeout  = 20 * time.Second
	pollInterval = 10 * time.Millisecond
)

// readyLine is what the agent logs once it consumes events.
const readyLine = "agent consuming events"

// harness owns the temp dir and the built binaries for the whole bench.
type harness struct {
	tmp    string
	bin    string
	keep   bool
	stderr io.Writer
	// stdout gets the lines a scenario prints as it runs (fleet, storm,
	// procs); nil: none.
	stdout io.Writer
	seq    int
	// auth: the dispatcher runs with --auth, the agents and the bench
	// with their own credentials (-auth).
	auth bool
}

// newHarness builds cmd/dispatcher and cmd/agent (without -race) into a
// fresh temp dir, or uses the ones in bin when it is not empty.
func newHarness(ctx context.Context, keep bool, bin string, stderr io.Writer) (*harness, error) {
	root, err := moduleRoot(ctx)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "herald-bench-")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	h := &harness{tmp: tmp, bin: filepath.Join(tmp, "bin"), keep: keep, stderr: stderr}
	if bin != "" {
		if bin, err = filepath.Abs(bin); err != nil {
			h.close()
			return nil, fmt.Errorf("-bin: %w", err)
		}
		for _, name := range []string{"dispatcher", "agent"} {
			if _, err := os.Stat(filepath.Join(bin, name)); err != nil {
				h.close()
				return nil, fmt.Errorf("%w: -bin: %w", ErrInvalidConfig, err)
			}
		}
		h.bin = bin
		fmt.Fprintf(stderr, "bench: using the dispatcher and agent in %s\n", h.bin)
		return h, nil
	}
	bctx, cancel := context.WithTimeout(ctx, buildTimeout)
	defer cancel()
	fmt.Fprintf(stderr, "bench: building dispatcher and agent into %s\n", h.bin)
	cmd := exec.CommandContext(bctx, gotool.Path(), "build", "-o", h.bin+string(filepath.Separator), "./cmd/dispatcher", "./cmd/agent")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		h.close()
		return nil, fmt.Errorf("go build: %w\n%s", err, out)
	}
	return h, nil
}

func (h *harness) close() {
	if !h.keep {
		_ = os.RemoveAll(h.tmp)
	}
}

func moduleRoot(ctx context.Context) (string, error) {
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	out, err := exec.CommandContext(cctx, gotool.Path(), "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("no go.mod here: run the bench inside the herald module (go run ./bench)")
	}
	return filepath.Dir(gomod), nil
}

// benchRun is one scenario run: its own dir, dispatcher and agents.
type benchRun struct {
	h      *harness
	dir    string
	mu     sync.Mutex
	agents []*proc
	disp   *proc
	url    string
	// httpAddr is the dispatcher's --http address.
	httpAddr string
	nc       *nats.Conn
	js       jetstream.JetStream
	// dispStarted is when the last dispatcher was started (just before
	// exec).
	dispStarted time.Time
	// zk and zc are the run's ZooKeeper server and the bench's session
	// to it, for the zk scenarios.
	zk *zkServer
	zc *zk.Conn
	// authDir is the run's auth directory with -auth ("" until made).
	authDir string
}

// auth returns the run's auth directory, made by herald auth init's code
// the first time.
func (r *benchRun) auth() (auth.Dir, error) {
	if r.authDir == "" {
		dir := filepath.Join(r.dir, "auth")
		if _, err := auth.Dir(dir).Init(time.Now()); err != nil {
			return "", fmt.Errorf("auth init: %w", err)
		}
		r.authDir = dir
	}
	return auth.Dir(r.authDir), nil
}

func (h *harness) newRun(name string) (*benchRun, error) {
	h.seq++
	dir := filepath.Join(h.tmp, fmt.Sprintf("%02d-%s", h.seq, name))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("run dir: %w", err)
	}
	return &benchRun{h: h, dir: dir}, nil
}

// stop closes the client connections and stops every process: the agents
// at once, then the dispatcher, then ZooKeeper. Problems are reported, not
// returned: the figures were already taken.
func (r *benchRun) stop() {
	if r.nc != nil {
		r.nc.Close()
	}
	if r.zc != nil {
		r.zc.Close()
	}
	r.mu.Lock()
	agents := r.agents
	r.agents = nil
	r.mu.Unlock()
	stopAll(agents, r.h.stderr)
	if r.disp != nil {
		stopAll([]*proc{r.disp}, r.h.stderr)
		r.disp = nil
	}
	if r.zk != nil {
		r.zk.stop()
	}
}

// stopDispatcher stops the dispatcher and closes the bench's connection to
// its NATS server.
func (r *benchRun) stopDispatcher() {
	if r.nc != nil {
		r.nc.Close()
		r.nc = nil
	}
	if r.disp != nil {
		stopAll([]*proc{r.disp}, r.h.stderr)
		r.disp = nil
	}
}

// startDispatcher starts a dispatcher with embedded NATS on free ports and
// connects to it. eventsPerKey > 0 sets streams.events_per_key; marker is
// a log line to signal on its proc's log.hit ("" for none); extra are more
// flags. A second start in the same run reuses the data dir.
func (r *benchRun) startDispatcher(ctx context.Context, eventsPerKey int, marker string, extra ...string) error {
	ready := filepath.Join(r.dir, "ready.json")
	if err := os.Remove(ready); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("ready file: %w", err)
	}
	args := []string{"--data", filepath.Join(r.dir, "data"), "--nats-listen", "127.0.0.1:0", "--http", "127.0.0.1:0",
		"--ready-file", ready, "--log-format", "json", "--log-level", "info"}
	if eventsPerKey > 0 {
		conf := filepath.Join(r.dir, "dispatcher.yaml")
		if err := os.WriteFile(conf, fmt.Appendf(nil, "streams:\n  events_per_key: %d\n", eventsPerKey), 0o644); err != nil {
			return fmt.Errorf("dispatcher config: %w", err)
		}
		args = append([]string{"--config", conf}, args...)
	}
	var connOpts []nats.Option
	if r.h.auth {
		d, err := r.auth()
		if err != nil {
			return err
		}
		args = append(args, "--auth", string(d))
		connOpts = append(connOpts, nats.UserCredentials(d.Path("admin.creds")))
	}
	args = append(args, extra...)
	r.dispStarted = time.Now()
	p, err := r.h.start("dispatcher", filepath.Join(r.dir, fmt.Sprintf("dispatcher-%d.log", r.dispStarted.UnixNano())), marker, args...)
	if err != nil {
		return err
	}
	r.disp = p
	var info struct {
		NATSURL  string `json:"nats_url"`
		HTTPAddr string `json:"http_addr"`
	}
	err = poll(ctx, readyTimeout, func() (bool, error) {
		if p.exited() {
			return false, fmt.Errorf("dispatcher exited: %v (log %s)", p.err, p.logPath)
		}
		b, err := os.ReadFile(ready)
		if err != nil || json.Unmarshal(b, &info) != nil || info.NATSURL == "" {
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("dispatcher not ready: %w", err)
	}
	nc, err := nats.Connect(info.NATSURL, append(connOpts, nats.Name("herald-bench"), nats.MaxReconnects(-1))...)
	if err != nil {
		return fmt.Errorf("connect %s: %w", info.NATSURL, err)
	}
	r.nc, r.url, r.httpAddr = nc, info.NATSURL, info.HTTPAddr
	if r.js, err = jetstream.New(nc); err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	return nil
}

// agentSpec is one agent's identity: restarting the same spec resumes its
// durable consumer.
type agentSpec struct {
	name    string
	watches string
	state   string
	creds   string // its credentials with -auth
}

// newAgentSpec creates the agent's watches dir holding watchesYAML.
func (r *benchRun) newAgentSpec(name, watchesYAML string) (agentSpec, error) {
	s := agentSpec{name: name, watches: filepath.Join(r.dir, name, "watches.d"), state: filepath.Join(r.dir, name, "state")}
	if err := os.MkdirAll(s.watches, 0o755); err != nil {
		return s, fmt.Errorf("watches dir: %w", err)
	}
	if err := os.WriteFile(filepath.Join(s.watches, "bench.yaml"), []byte(watchesYAML), 0o644); err != nil {
		return s, fmt.Errorf("watch file: %w", err)
	}
	if r.h.auth {
		d, err := r.auth()
		if err != nil {
			return s, err
		}
		is, err := d.Add(auth.Spec{Name: name, Role: auth.RoleAgent}, time.Now())
		if err != nil {
			return s, fmt.Errorf("auth add-agent %s: %w", name, err)
		}
		s.creds = is.Creds
	}
	return s, nil
}

// startAgents starts one process per spec at once and waits until each has
// logged that it consumes events.
func (r *benchRun) startAgents(ctx context.Context, specs ...agentSpec) ([]*proc, error) {
	var ps []*proc
	for _, s := range specs {
		logPath := filepath.Join(r.dir, s.name, fmt.Sprintf("agent-%d.log", time.Now().UnixNano()))
		args := []string{"--nats", r.url, "--name", s.name,
			"--watches", s.watches, "--state", s.state, "--log-format", "json", "--log-level", "info"}
		if s.creds != "" {
			args = append(args, "--nats-creds", s.creds)
		}
		p, err := r.h.start("agent", logPath, readyLine, args...)
		if err != nil {
			return nil, err
		}
		r.mu.Lock()
		r.agents = append(r.agents, p)
		r.mu.Unlock()
		ps = append(ps, p)
	}
	deadline := time.NewTimer(readyTimeout)
	defer deadline.Stop()
	for _, p := range ps {
		select {
		case <-p.log.hit:
		case <-p.done:
			return nil, fmt.Errorf("agent exited before it was ready: %v (log %s)", p.err, p.logPath)
		case <-deadline.C:
			return nil, fmt.Errorf("agent did not log %q within %v (log %s)", readyLine, readyTimeout, p.logPath)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return ps, nil
}

// stopAgent stops one agent started by this run.
func (r *benchRun) stopAgent(p *proc) {
	stopAll([]*proc{p}, r.h.stderr)
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, a := range r.agents {
		if a == p {
			r.agents = append(r.agents[:i], r.agents[i+1:]...)
			break
		}
	}
}

// proc is one started binary; its output goes to a log file.
type proc struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	log     *logSink
	done    chan struct{}
	err     error
}

func (h *harness) start(name, logPath, marker string, args ...string) (*proc, error) {
	return startProc(name, filepath.Join(h.bin, name), logPath, marker, args...)
}

// startProc starts the program at path as name, its output to logPath;
// marker is a log line to signal on the proc's log.hit ("" for none).
func startProc(name, path, logPath, marker string, args ...string) (*proc, error) {
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return nil, fmt.Errorf("log dir: %w", err)
	}
	f, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("log file: %w", err)
	}
	sink := newLogSink(f, marker)
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = sink, sink
	// Its own process group keeps a terminal's ^C from reaching it before
	// the bench stops it in order; Pdeathsig kills it if the bench dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, logPath: logPath, cmd: cmd, log: sink, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		sink.close()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stopAll sends SIGTERM to every process, then waits for each; one still
// running after stopTimeout is killed.
func stopAll(ps []*proc, stderr io.Writer) {
	for _, p := range ps {
		if !p.exited() {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	deadline := time.NewTimer(stopTimeout)
	defer deadline.Stop()
	for _, p := range ps {
		select {
		case <-p.done:
		case <-deadline.C:
			fmt.Fprintf(stderr, "bench: %s (pid %d) did not stop on SIGTERM within %v; killing it\n", p.name, p.cmd.Process.Pid, stopTimeout)
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		var ee *exec.ExitError
		if p.err != nil && !(errors.As(p.err, &ee) && ee.ExitCode() == 0) {
			fmt.Fprintf(stderr, "bench: %s (pid %d) exited: %v (log %s)\n", p.name, p.cmd.Process.Pid, p.err, p.logPath)
		}
	}
}

// logSink writes a process's output to its log file and signals the first
// complete line containing marker.
type logSink struct {
	mu      sync.Mutex
	f       *os.File
	marker  []byte
	partial []byte
	line    string
	hit     chan struct{}
}

func newLogSink(f *os.File, marker string) *logSink {
	s := &logSink{f: f, hit: make(chan struct{})}
	if marker != "" {
		s.marker = []byte(marker)
	}
	return s
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, _ = s.f.Write(p)
	if s.marker == nil {
		return len(p), nil
	}
	buf := append(s.partial, p...)
	for {
		i := bytes.IndexByte(buf, '\n')
		if i < 0 {
			break
		}
		if bytes.Contains(buf[:i], s.marker) {
			s.line = string(buf[:i])
			s.marker, s.partial = nil, nil
			close(s.hit)
			return len(p), nil
		}
		buf = buf[i+1:]
	}
	if len(buf) > 1<<16 {
		buf = buf[len(buf)-1<<16:]
	}
	s.partial = append([]byte(nil), buf...)
	return len(p), nil
}

// hitLine is the line that contained the marker ("" before the hit).
func (s *logSink) hitLine() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.line
}

func (s *logSink) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.f.Close()
}

// poll calls cond every pollInterval until it reports done, fails, the
// deadline passes or ctx ends.
func poll(ctx context.Context, within time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(within)
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not done within %v", within)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
