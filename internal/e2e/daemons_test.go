package e2e_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// startDispatcherWith starts the dispatcher binary with args (which must
// include --ready-file ready) and env, and connects the test's client with
// opts.
func startDispatcherWith(t *testing.T, ready string, env []string, opts []nats.Option, args ...string) *cluster {
	t.Helper()
	d := startEnv(t, "dispatcher", env, args...)
	var info struct {
		NATSURL  string `json:"nats_url"`
		HTTPAddr string `json:"http_addr"`
	}
	testutil.Eventually(t, wait, func() error {
		select {
		case <-d.done:
			return fmt.Errorf("dispatcher exited: %v", d.err)
		default:
		}
		b, err := os.ReadFile(ready)
		if err != nil {
			return err
		}
		return json.Unmarshal(b, &info)
	})
	nc, err := nats.Connect(info.NATSURL, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return &cluster{t: t, disp: d, url: info.NATSURL, http: info.HTTPAddr, nc: nc, js: js}
}

// runHerald runs the herald binary with env and args and returns stdout.
func runHerald(t *testing.T, env []string, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(testutil.Binaries(t), "herald"), args...)
	cmd.Env = append(append(os.Environ(), "GORACE=atexit_sleep_ms=0"), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("herald %v: %v: %s", args, err, errb.String())
	}
	return out.String()
}

// cmdline is the command line of a running process.
func cmdline(t *testing.T, p *proc) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(string(b), "\x00", " ")
}

const echoWatch = `
watches:
  - name: echo
    on: event:test.daemon
    exec: ["%DIR%/rec.sh"]
    env: {DIR: "%DIR%"}
    run_on_load: false
`

func TestAgent_StateDirLock(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	f := newFixture(t)
	f.script("rec.sh", countScript)
	f.watchFile("w.yaml", echoWatch)
	state := t.TempDir()
	c.startAgent(agentOpts{name: "a1", watches: f.watches, state: state})
	second := start(t, "agent", "--nats", c.url, "--name", "a2", "--watches", f.watches, "--state", state, "--log-format", "json")
	select {
	case <-second.done:
	case <-time.After(wait):
		t.Fatal("a second agent on the same --state did not exit")
	}
	if code := second.cmd.ProcessState.ExitCode(); code != 1 {
		t.Errorf("second agent exit code %d, want 1", code)
	}
	want := "state dir " + state + " is locked by another agent"
	if !strings.Contains(second.out.String(), want) {
		t.Errorf("second agent output lacks %q:\n%s", want, second.out.String())
	}
	// The first agent still works.
	out := c.watchOutcomes()
	c.publish("test.daemon", "k", "x")
	out.waitCount(t, "echo", events.StatusOK, 1)
}

func TestAgent_SIGHUPReloads(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	f := newFixture(t)
	f.script("rec.sh", `echo "$1 $(cat)" >> "$DIR/runs.log"`)
	version := func(v string) string {
		return `
watches:
  - name: r
    on: event:test.hup
    exec: ["%DIR%/rec.sh", "` + v + `"]
    env: {DIR: "%DIR%"}
    run_on_load: false
`
	}
	f.watchFile("r.yaml", version("v1"))
	out := c.watchOutcomes()
	// A debounce of an hour: only SIGHUP can reload within the test.
	a := c.startAgent(agentOpts{name: "a1", watches: f.watches, extra: []string{"--reload-delay", "1h"}})
	c.publish("test.hup", "k", "e1")
	out.waitCount(t, "r", events.StatusOK, 1)
	f.watchFile("r.yaml", version("v2"))
	if err := a.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	a.waitLog("watch changed")
	c.publish("test.hup", "k", "e2")
	out.waitCount(t, "r", events.StatusOK, 2)
	if got := strings.Join(readLines(t, f.path("runs.log")), ","); got != "v1 e1,v2 e2" {
		t.Fatalf("runs %q, want v1 e1,v2 e2", got)
	}
	select {
	case <-a.done:
		t.Fatalf("agent exited on SIGHUP: %v", a.err)
	default:
	}
}

// TestDaemons_ConfigFiles starts both daemons with nothing but --config.
func TestDaemons_ConfigFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ready := filepath.Join(dir, "ready.json")
	dcfg := filepath.Join(dir, "dispatcher.yaml")
	writeFile(t, dcfg, fmt.Sprintf(`nats_listen: 127.0.0.1:0
data: %s
http: 127.0.0.1:0
ready_file: %s
log_format: console
log_level: debug
streams:
  dedup_window: 1m
`, filepath.Join(dir, "data"), ready))
	c := startDispatcherWith(t, ready, nil, nil, "--config", dcfg)

	f := newFixture(t)
	f.script("rec.sh", countScript)
	f.watchFile("w.yaml", echoWatch)
	acfg := filepath.Join(dir, "agent.yaml")
	writeFile(t, acfg, fmt.Sprintf(`name: from-config
watches: %s
state: %s
nats:
  url: %s
log_format: json
log_level: debug
ack_wait: 7s
verify_every: 200ms
`, f.watches, filepath.Join(dir, "state"), c.url))
	out := c.watchOutcomes()
	a := start(t, "agent", "--config", acfg)
	a.waitLog("agent consuming events")
	_, seq := c.publishSeq("test.daemon", "k", "x")
	out.waitCount(t, "echo", events.StatusOK, 1)
	if h := out.Snapshot()[0].Host; h != "from-config" {
		t.Errorf("outcome host %q, want the config file's name from-config", h)
	}
	if got := readLines(t, f.path("runs.log")); len(got) != 1 || got[0] != "from-config x" {
		t.Errorf("runs %q", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "state", "agent.lock")); err != nil {
		t.Errorf("agent did not use the config file's state dir: %v", err)
	}
	// ack_wait, from configs of agents that held a consumer, is accepted
	// and unused: the agent keeps its position in the config file's state
	// dir and holds no consumer on the server.
	c.waitDecided(filepath.Join(dir, "state"), seq)
	c.assertNoEventsConsumer()
	if _, err := os.Stat(filepath.Join(dir, "data", "jetstream")); err != nil {
		t.Errorf("dispatcher did not use the config file's data dir: %v", err)
	}
}

func TestDaemons_NATSAuth(t *testing.T) {
	t.Parallel()
	const secret = "s3cret-Pa55"
	secretFile := filepath.Join(t.TempDir(), "secret")
	writeFile(t, secretFile, secret+"\n")
	for _, tc := range []struct {
		name  string
		flags []string // besides the secret
		env   string   // the secret, from the environment
		opt   nats.Option
	}{
		{"user and password", []string{"--nats-user", "herald"}, "HERALD_NATS_PASSWORD=" + secret, nats.UserInfo("herald", secret)},
		{"token", nil, "HERALD_NATS_TOKEN=" + secret, nats.Token(secret)},
		{"user and password file", []string{"--nats-user", "herald", "--nats-password-file", secretFile}, "", nats.UserInfo("herald", secret)},
		{"token file", []string{"--nats-token-file", secretFile}, "", nats.Token(secret)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			ready := filepath.Join(dir, "ready.json")
			var env []string
			if tc.env != "" {
				env = []string{tc.env}
			}
			args := append([]string{"--data", filepath.Join(dir, "data"), "--nats-listen", "127.0.0.1:0", "--http", "", "--ready-file", ready, "--log-format", "console"}, tc.flags...)
			c := startDispatcherWith(t, ready, env, []nats.Option{tc.opt}, args...)
			if nc, err := nats.Connect(c.url); err == nil {
				nc.Close()
				t.Fatal("a client without credentials was accepted")
			}
			f := newFixture(t)
			// The action also writes its environment: the agent's secret
			// (HERALD_NATS_PASSWORD, HERALD_NATS_TOKEN) must not reach it.
			f.script("rec.sh", countScript+"\nenv > \"$DIR/env.txt\"")
			f.watchFile("w.yaml", echoWatch)
			out := c.watchOutcomes()
			a := c.startAgent(agentOpts{name: "a1", watches: f.watches, extra: tc.flags, env: env})
			runHerald(t, env, "hello", append([]string{"publish", "--nats", c.url, "--type", "test.daemon", "--key", "k"}, tc.flags...)...)
			out.waitCount(t, "echo", events.StatusOK, 1)
			if actionEnv := strings.Join(readLines(t, f.path("env.txt")), "\n"); !strings.Contains(actionEnv, "HERALD_HOST=a1") {
				t.Errorf("the action's environment lacks HERALD_HOST:\n%s", actionEnv)
			} else if strings.Contains(actionEnv, secret) {
				t.Errorf("the action's environment holds the agent's NATS secret:\n%s", actionEnv)
			}
			for _, p := range []*proc{c.disp, a} {
				if strings.Contains(cmdline(t, p), secret) {
					t.Errorf("%s command line holds the secret", p.name)
				}
				if strings.Contains(p.out.String(), secret) {
					t.Errorf("%s logged the secret", p.name)
				}
			}
		})
	}
}

func TestDaemons_NATSTLS(t *testing.T) {
	t.Parallel()
	p := testutil.NewPKI(t)
	dir := t.TempDir()
	ready := filepath.Join(dir, "ready.json")
	client := []string{"--nats-tls-ca", p.CA, "--nats-tls-cert", p.ClientCert, "--nats-tls-key", p.ClientKey}
	c := startDispatcherWith(t, ready, nil,
		[]nats.Option{nats.RootCAs(p.CA), nats.ClientCert(p.ClientCert, p.ClientKey)},
		"--data", filepath.Join(dir, "data"), "--nats-listen", "127.0.0.1:0", "--http", "", "--ready-file", ready, "--log-format", "console",
		"--nats-tls-cert", p.ServerCert, "--nats-tls-key", p.ServerKey, "--nats-tls-ca", p.CA)
	if !strings.HasPrefix(c.url, "tls://") {
		t.Fatalf("ready file nats_url %q, want tls://", c.url)
	}
	if nc, err := nats.Connect(c.url, nats.RootCAs(p.CA)); err == nil {
		nc.Close()
		t.Fatal("a client without a certificate was accepted")
	}
	f := newFixture(t)
	f.script("rec.sh", countScript)
	f.watchFile("w.yaml", echoWatch)
	out := c.watchOutcomes()
	c.startAgent(agentOpts{name: "a1", watches: f.watches, extra: client})
	runHerald(t, nil, "over tls", append([]string{"publish", "--nats", c.url, "--type", "test.daemon", "--key", "k"}, client...)...)
	out.waitCount(t, "echo", events.StatusOK, 1)
	if got := readLines(t, f.path("runs.log")); len(got) != 1 || got[0] != "a1 over tls" {
		t.Errorf("runs %q, want the event sent over TLS", got)
	}
}

// TestDispatcher_SIGHUPReloadsHookFiles: SIGHUP makes the dispatcher rescan
// its hook files (for `systemctl reload`), and does not stop it.
func TestDispatcher_SIGHUPReloadsHookFiles(t *testing.T) {
	t.Parallel()
	hooksDir := t.TempDir()
	writeFile(t, filepath.Join(hooksDir, "gate.yaml"), `hooks:
  - name: gate
    phase: pre
    methods: [kill_job]
    exec: ["/bin/true"]
`)
	c := startDispatcher(t, t.TempDir(), "127.0.0.1:0", "--hooks", hooksDir)
	c.disp.waitLog("hook loaded")
	if err := c.disp.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	c.disp.waitLog("SIGHUP: reloading hook files")
	if v := c.preVerdict(t, "kill_job", "c/r/prod/j"); !v.Allow {
		t.Fatalf("after SIGHUP the pre hook answered %+v, want allow", v)
	}
	select {
	case <-c.disp.done:
		t.Fatalf("dispatcher exited on SIGHUP: %v", c.disp.err)
	default:
	}
}
