// Package e2e_test runs the real dispatcher, agent and herald binaries as
// processes against each other and proves the README's guarantees end to
// end.
package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const wait = 20 * time.Second

// TestMain removes the binaries the tests built once they have run.
func TestMain(m *testing.M) {
	code := m.Run()
	testutil.RemoveBinaries()
	os.Exit(code)
}

// proc is a started binary.
type proc struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd
	out  *testutil.SyncBuffer
	done chan struct{}
	err  error
}

func start(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	return startEnv(t, name, nil, args...)
}

// startEnv is start with extra environment variables (secrets).
func startEnv(t *testing.T, name string, env []string, args ...string) *proc {
	t.Helper()
	bin := filepath.Join(testutil.Binaries(t), name)
	p := &proc{t: t, name: name, cmd: exec.Command(bin, args...), out: &testutil.SyncBuffer{}, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	// Race-enabled binaries otherwise sleep a second at exit.
	p.cmd.Env = append(append(os.Environ(), "GORACE=atexit_sleep_ms=0"), env...)
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("--- %s output:\n%s", name, p.out.String())
		}
	})
	return p
}

// stop sends SIGTERM and waits; it reports the exit code.
func (p *proc) stop() int {
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(wait):
			_ = p.cmd.Process.Kill()
			<-p.done
			p.t.Errorf("%s did not stop on SIGTERM within %v", p.name, wait)
		}
	}
	return p.cmd.ProcessState.ExitCode()
}

func (p *proc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// waitLog polls the process output for s.
func (p *proc) waitLog(s string) {
	p.t.Helper()
	testutil.Eventually(p.t, wait, func() error {
		if strings.Contains(p.out.String(), s) {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited: %v", p.name, p.err)
		default:
		}
		return fmt.Errorf("%s has not logged %q", p.name, s)
	})
}

// cluster is one dispatcher with embedded NATS plus a client.
type cluster struct {
	t    *testing.T
	disp *proc
	url  string
	http string
	data string
	nc   *nats.Conn
	js   jetstream.JetStream
}

// startDispatcher starts the dispatcher binary with embedded NATS; extra
// flags (--zk ..., --kv-watch ...) are appended.
func startDispatcher(t *testing.T, data string, listen string, extra ...string) *cluster {
	t.Helper()
	ready := filepath.Join(t.TempDir(), "ready.json")
	args := []string{"--data", data, "--nats-listen", listen, "--http", "127.0.0.1:0", "--ready-file", ready, "--log-format", "console"}
	d := start(t, "dispatcher", append(args, extra...)...)
	var info struct {
		NATSURL  string `json:"nats_url"`
		HTTPAddr string `json:"http_addr"`
	}
	testutil.Eventually(t, wait, func() error {
		b, err := os.ReadFile(ready)
		if err != nil {
			return err
		}
		return json.Unmarshal(b, &info)
	})
	c := &cluster{t: t, disp: d, url: info.NATSURL, http: info.HTTPAddr, data: data}
	var copts []nats.Option
	if i := slices.Index(extra, "--auth"); i >= 0 && i+1 < len(extra) {
		// The test's own client is the admin of the auth directory.
		copts = append(copts, nats.UserCredentials(filepath.Join(extra[i+1], "admin.creds")))
	}
	nc, err := nats.Connect(c.url, copts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	c.nc = nc
	c.js, _ = jetstream.New(nc)
	return c
}

func newCluster(t *testing.T) *cluster {
	return startDispatcher(t, t.TempDir(), "127.0.0.1:0")
}

// agentOpts configures a started agent.
type agentOpts struct {
	name    string
	watches string
	state   string
	extra   []string
	env     []string // extra environment (NATS secrets)
}

// verifyEvery is the agents' --verify-every unless a test passes its own:
// far below the default, so that an agent's position (its state dir's
// events.json, which moves with each verifying read of the events stream)
// reaches its decided events within a test's deadlines.
const verifyEvery = 200 * time.Millisecond

// startAgent starts the agent binary (debug JSON log, --verify-every
// verifyEvery unless o.extra has it) and waits until it consumes.
func (c *cluster) startAgent(o agentOpts) *proc {
	c.t.Helper()
	if o.state == "" {
		o.state = c.t.TempDir()
	}
	args := []string{"--nats", c.url, "--name", o.name, "--watches", o.watches, "--state", o.state, "--log-format", "json", "--log-level", "debug"}
	if !slices.Contains(o.extra, "--verify-every") {
		args = append(args, "--verify-every", verifyEvery.String())
	}
	a := startEnv(c.t, "agent", o.env, append(args, o.extra...)...)
	a.waitLog("agent consuming events")
	return a
}

func (c *cluster) publish(typ, key, data string) events.Event {
	c.t.Helper()
	e, _ := c.publishSeq(typ, key, data)
	return e
}

// publishSeq publishes an event and returns it with its sequence in the
// events stream.
func (c *cluster) publishSeq(typ, key, data string) (events.Event, uint64) {
	c.t.Helper()
	e := events.New("test", typ, key, []byte(data))
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	ack, err := bus.PublishEvent(ctx, c.js, e)
	if err != nil {
		c.t.Fatal(err)
	}
	return e, ack.Sequence
}

// outcomes collects every outcome published from now on.
type outcomes struct{ *testutil.Outcomes }

func (c *cluster) watchOutcomes() *outcomes {
	c.t.Helper()
	return &outcomes{testutil.CollectOutcomes(c.t, c.nc)}
}

func (o *outcomes) count(watch string, st events.Status) int {
	n := 0
	for _, x := range o.Snapshot() {
		if x.Watch == watch && (st == "" || x.Status == st) {
			n++
		}
	}
	return n
}

// decided is how many events the outcomes of watch decided: each its own
// event and the ones it lists as superseded.
func (o *outcomes) decided(watch string) int {
	n := 0
	for _, x := range o.Snapshot() {
		if x.Watch == watch {
			n += 1 + max(x.SupersededCount, len(x.Superseded))
		}
	}
	return n
}

func (o *outcomes) waitCount(t *testing.T, watch string, st events.Status, n int) {
	t.Helper()
	testutil.Eventually(t, wait, func() error {
		if got := o.count(watch, st); got < n {
			return fmt.Errorf("watch %s: %d outcomes with status %q, want %d", watch, got, st, n)
		}
		return nil
	})
}

// writeFile writes content atomically (rename), as config management does.
func writeFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	s := strings.TrimRight(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func waitFile(t *testing.T, path string) {
	t.Helper()
	testutil.Eventually(t, wait, func() error {
		_, err := os.Stat(path)
		return err
	})
}

func waitLines(t *testing.T, path string, n int) []string {
	t.Helper()
	var lines []string
	testutil.Eventually(t, wait, func() error {
		lines = readLines(t, path)
		if len(lines) < n {
			return fmt.Errorf("%s has %d lines, want %d", path, len(lines), n)
		}
		return nil
	})
	return lines
}
