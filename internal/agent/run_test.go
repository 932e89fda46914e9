package agent_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/heraldhq/herald/internal/agent"
	"github.com/heraldhq/herald/internal/logging"
	"github.com/heraldhq/herald/internal/natsconn"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/heraldhq/herald/internal/version"
)

// TestAgent_StartEndedCtx: a Start whose ctx has ended starts nothing (the
// state dir is not even locked) and says why.
func TestAgent_StartEndedCtx(t *testing.T) {
	t.Parallel()
	srv := testutil.RunNATS(t)
	testutil.ConnectStreams(t, srv)
	cfg := agent.DefaultConfig()
	cfg.Name, cfg.Watches, cfg.State = "a1", t.TempDir(), filepath.Join(t.TempDir(), "state")
	cfg.NATS = natsconn.Config{URL: srv.ClientURL()}
	log, err := logging.New(&testutil.SyncBuffer{}, "json", "debug")
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := a.Start(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Start with an ended ctx: %v, want context.Canceled", err)
	}
	if _, err := os.Stat(filepath.Join(cfg.State, "agent.lock")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state lock after a cancelled Start: %v, want none", err)
	}
	if err := a.Close(context.Background()); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// runCmd is one agent.Run in a goroutine.
type runCmd struct {
	log  *testutil.SyncBuffer
	done chan struct{}
	err  error
}

func startRun(ctx context.Context, args ...string) *runCmd {
	r := &runCmd{log: &testutil.SyncBuffer{}, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.err = agent.Run(ctx, args, r.log)
	}()
	return r
}

// wait waits for Run to return and returns its error.
func (r *runCmd) wait(t *testing.T) error {
	t.Helper()
	testutil.Eventually(t, wait, func() error {
		select {
		case <-r.done:
			return nil
		default:
			return errors.New("agent.Run has not returned")
		}
	})
	return r.err
}

func (r *runCmd) waitLog(t *testing.T, s string) {
	t.Helper()
	testutil.Eventually(t, wait, func() error {
		if strings.Contains(r.log.String(), s) {
			return nil
		}
		select {
		case <-r.done:
			return fmt.Errorf("agent.Run returned %v:\n%s", r.err, r.log.String())
		default:
		}
		return fmt.Errorf("agent has not logged %q", s)
	})
}

// TestRun_Errors: what Run returns for each way the command line can end
// it before the agent runs; main maps these to exit statuses.
func TestRun_Errors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notDir := filepath.Join(dir, "file")
	if err := os.WriteFile(notDir, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := []string{"--name", "a1", "--watches", dir, "--nats", "nats://127.0.0.1:1", "--log-format", "json"}
	run := func(args ...string) (string, error) {
		r := startRun(context.Background(), args...)
		err := r.wait(t)
		return r.log.String(), err
	}

	if out, err := run("-h"); err != nil || !strings.HasPrefix(out, "Usage of agent:\n") {
		t.Errorf("-h: %v, output %q; want nil and the usage", err, out)
	}
	if out, err := run("--version"); !errors.Is(err, version.ErrRequested) || out != "" {
		t.Errorf("--version: %v, output %q; want version.ErrRequested and nothing", err, out)
	}
	for _, tc := range []struct {
		args []string
		msg  string
		cfg  bool // wraps ErrInvalidConfig too
	}{
		{[]string{"--nope"}, "flag provided but not defined: -nope", false},
		{append(base, "extra"), `unexpected argument "extra"`, false},
		{append(base, "--heartbeat", "1ms"), "invalid agent config: heartbeat: 1ms is too short (at least 100ms)", true},
		{append(base, "--nats-user", "u", "--nats-password", "pw"), "invalid agent config: invalid nats config: --nats-password is no longer accepted (a password on a command line is visible in /proc): set $HERALD_NATS_PASSWORD or use --nats-password-file FILE", true},
		{append(base, "--nats-password-file", notDir+".missing"), "invalid agent config: invalid nats config: --nats-password-file (nats.password_file): open " + notDir + ".missing: no such file or directory", true},
	} {
		_, err := run(tc.args...)
		if !errors.Is(err, agent.ErrUsage) || err.Error() != tc.msg || errors.Is(err, agent.ErrInvalidConfig) != tc.cfg {
			t.Errorf("%v: %v; want ErrUsage reading %q (ErrInvalidConfig %v)", tc.args, err, tc.msg, tc.cfg)
		}
	}
	out, err := run(append(base, "--state", filepath.Join(notDir, "state"))...)
	if err == nil || errors.Is(err, agent.ErrUsage) || !strings.HasPrefix(err.Error(), "state dir: ") ||
		!strings.Contains(out, `"message":"agent failed to start"`) {
		t.Errorf("failed start: %v, log %q; want the state dir error, logged", err, out)
	}
}

// TestRun_Lifecycle runs the agent command on a real NATS server: SIGHUP
// reloads, the end of ctx stops the agent and Run returns nil; a ctx that
// ends before the agent started stops it too, without taking the state dir.
func TestRun_Lifecycle(t *testing.T) {
	// Not parallel: it sends SIGHUP to the test process. The test's own
	// Notify keeps a SIGHUP that arrives before Run's from ending it.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	srv := testutil.RunNATS(t)
	testutil.ConnectStreams(t, srv)
	args := func(state string) []string {
		return []string{"--name", "a1", "--watches", t.TempDir(), "--state", state,
			"--nats", srv.ClientURL(), "--log-format", "json", "--reload-delay", "1h"}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := startRun(ctx, args(t.TempDir())...)
	r.waitLog(t, "agent consuming events")
	testutil.Eventually(t, wait, func() error {
		if strings.Contains(r.log.String(), "SIGHUP: reloading watches") {
			return nil
		}
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		return errors.New("the agent has not logged the SIGHUP reload")
	})
	cancel()
	if err := r.wait(t); err != nil {
		t.Errorf("Run after ctx ended: %v, want nil", err)
	}
	for _, s := range []string{`"message":"agent stopping"`, `"message":"agent stopped"`} {
		if !strings.Contains(r.log.String(), s) {
			t.Errorf("log lacks %s:\n%s", s, r.log.String())
		}
	}

	state := filepath.Join(t.TempDir(), "state")
	ended, cancelEnded := context.WithCancel(context.Background())
	cancelEnded()
	r = startRun(ended, args(state)...)
	if err := r.wait(t); err != nil {
		t.Errorf("Run with an ended ctx: %v, want nil", err)
	}
	if out := r.log.String(); strings.Contains(out, "agent failed to start") || !strings.Contains(out, `"message":"agent stopped"`) {
		t.Errorf("Run with an ended ctx logged:\n%s\nwant a clean stop", out)
	}
	if _, err := os.Stat(filepath.Join(state, "agent.lock")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state lock after Run with an ended ctx: %v, want none", err)
	}
}
