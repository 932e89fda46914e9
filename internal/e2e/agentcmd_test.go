package e2e_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/testutil"
)

// runAgentCmd runs the agent binary to its end and returns its exit code,
// stdout and stderr.
func runAgentCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(testutil.Binaries(t), "agent"), args...)
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("agent %v: %v", args, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("agent %v did not exit within %v", args, wait)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errb.String()
}

// TestAgent_CommandLine pins what the agent binary prints and the exit
// status it returns before and after it runs: -h, --version, usage and
// config errors (2, one "agent: " line), a failed start (1, logged, no
// "agent: " line), SIGTERM (0, logged).
func TestAgent_CommandLine(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	watches := filepath.Join(dir, "watches.d")
	if err := os.Mkdir(watches, 0o755); err != nil {
		t.Fatal(err)
	}
	notDir := filepath.Join(dir, "file")
	writeFile(t, notDir, "x")
	base := []string{"--name", "a1", "--watches", watches, "--nats", "nats://127.0.0.1:1", "--log-format", "json"}
	badConfig := filepath.Join(dir, "bad.yaml")
	writeFile(t, badConfig, "name: a1\nwatches: "+watches+"\nbogus: 1\n")

	t.Run("help", func(t *testing.T) {
		code, out, errs := runAgentCmd(t, "-h")
		if code != 0 || out != "" || !strings.HasPrefix(errs, "Usage of agent:\n") || !strings.Contains(errs, "-watches dir") {
			t.Errorf("-h: exit %d, stdout %q, stderr %q; want 0, nothing, the usage", code, out, errs)
		}
	})
	t.Run("version", func(t *testing.T) {
		code, out, errs := runAgentCmd(t, "--version")
		if code != 0 || !strings.HasPrefix(out, "agent ") || strings.Count(out, "\n") != 1 || errs != "" {
			t.Errorf("--version: exit %d, stdout %q, stderr %q; want 0, one version line, nothing", code, out, errs)
		}
	})
	for _, tc := range []struct {
		name string
		args []string
		want string // the last line of stderr
	}{
		{"unknown flag", []string{"--nope"}, "agent: flag provided but not defined: -nope"},
		{"stray argument", append(base, "extra"), `agent: unexpected argument "extra"`},
		{"invalid config", append(base, "--heartbeat", "1ms"), "agent: invalid agent config: heartbeat: 1ms is too short (at least 100ms)"},
		{"missing config file", []string{"--config", filepath.Join(dir, "none.yaml")}, "agent: invalid agent config: "},
		{"bad config file", []string{"--config", badConfig}, "agent: invalid agent config: " + badConfig + ":3: field bogus not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := runAgentCmd(t, tc.args...)
			lines := strings.Split(strings.TrimSuffix(errs, "\n"), "\n")
			last := lines[len(lines)-1]
			if code != 2 || out != "" || !strings.HasPrefix(last, tc.want) || strings.Count(errs, "agent: ") != 1 {
				t.Errorf("exit %d, stdout %q, stderr %q; want 2 and one line %q", code, out, errs, tc.want)
			}
		})
	}
	t.Run("start fails", func(t *testing.T) {
		code, out, errs := runAgentCmd(t, append(base, "--state", filepath.Join(notDir, "state"))...)
		if code != 1 || out != "" || !strings.Contains(errs, `"message":"agent failed to start"`) ||
			!strings.Contains(errs, `"error":"state dir: mkdir `) || strings.Contains(errs, "agent: ") {
			t.Errorf("exit %d, stdout %q, stderr %q; want 1 and the start failure logged (only)", code, out, errs)
		}
	})
	t.Run("SIGTERM", func(t *testing.T) {
		srv := testutil.RunNATS(t)
		testutil.ConnectStreams(t, srv)
		a := start(t, "agent", "--name", "a1", "--watches", watches, "--state", filepath.Join(dir, "state"),
			"--nats", srv.ClientURL(), "--log-format", "json")
		a.waitLog("agent consuming events")
		if code := a.stop(); code != 0 {
			t.Errorf("exit %d after SIGTERM, want 0", code)
		}
		for _, s := range []string{`"message":"agent stopping"`, `"message":"agent stopped"`} {
			if !strings.Contains(a.out.String(), s) {
				t.Errorf("output lacks %s:\n%s", s, a.out.String())
			}
		}
	})
}
