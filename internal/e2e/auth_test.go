package e2e_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/testutil"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

const (
	natsUser      = "herald"
	natsPassword  = "right-horse-battery"
	wrongPassword = "wrong-staple-1234"
)

// runNATSAuth starts a real NATS server requiring user and password.
func runNATSAuth(t *testing.T) (*server.Server, *server.Options) {
	t.Helper()
	opts := &server.Options{Username: natsUser, Password: natsPassword}
	return testutil.RunNATSWithOptions(t, opts), opts
}

// runToExit runs a binary with HERALD_NATS_PASSWORD set to password (never
// on the command line) and returns its exit code and output once it has
// exited; it fails the test if it is still running after the deadline.
func runToExit(t *testing.T, password, name string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(testutil.Binaries(t), name), args...)
	cmd.Env = append(os.Environ(), "HERALD_NATS_PASSWORD="+password, "GORACE=atexit_sleep_ms=0")
	out := &testutil.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(wait):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("%s %v still running after %v with a wrong password:\n%s", name, args, wait, out.String())
	}
	return cmd.ProcessState.ExitCode(), out.String()
}

// A wrong password ends the agent, the dispatcher (external NATS) and
// herald commands at start with exit 1 and the server's own message,
// instead of retrying forever; the password is not printed.
func TestNATSAuth_WrongPasswordExits1(t *testing.T) {
	t.Parallel()
	srv, _ := runNATSAuth(t)
	url := srv.ClientURL()
	f := newFixture(t)
	cases := []struct {
		name string
		args []string
	}{
		{"agent", []string{"--nats", url, "--nats-user", natsUser, "--name", "a1", "--watches", f.watches, "--state", t.TempDir()}},
		{"dispatcher", []string{"--nats", url, "--nats-user", natsUser, "--http", "", "--log-format", "console"}},
		{"herald", []string{"status", "--nats", url, "--nats-user", natsUser}},
		{"herald", []string{"publish", "--nats", url, "--nats-user", natsUser, "--type", "t.x", "--key", "/k", "--data", "x"}},
	}
	for _, c := range cases {
		t.Run(c.name+" "+c.args[0], func(t *testing.T) {
			t.Parallel()
			code, out := runToExit(t, wrongPassword, c.name, c.args...)
			if code != 1 || !strings.Contains(out, "nats: Authorization Violation") {
				t.Fatalf("exit %d, want 1 with the server's message:\n%s", code, out)
			}
			if strings.Contains(out, wrongPassword) {
				t.Fatalf("the password was printed:\n%s", out)
			}
		})
	}
}

// An agent that started with good credentials and then loses them (the
// server's password changes) logs the refusal at error level with the
// server's message, keeps trying, and reconnects once they are good again.
func TestNATSAuth_LostAfterStart(t *testing.T) {
	t.Parallel()
	srv, opts := runNATSAuth(t)
	url := srv.ClientURL()
	// This connection loses its authorization too; keep its refusals quiet.
	testutil.ConnectStreams(t, srv, nats.UserInfo(natsUser, natsPassword),
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	f := newFixture(t)
	c := &cluster{t: t, url: url}
	// The password comes from the config file, not the command line.
	conf := f.path("agent.yaml")
	writeFile(t, conf, "nats:\n  user: "+natsUser+"\n  password: "+natsPassword+"\n")
	a := c.startAgent(agentOpts{name: "a1", watches: f.watches, extra: []string{"--config", conf}})

	reload := func(password string) {
		t.Helper()
		o := opts.Clone()
		o.Password = password
		o.Port = srv.Addr().(*net.TCPAddr).Port
		if err := srv.ReloadOptions(o); err != nil {
			t.Fatalf("reload the server: %v", err)
		}
	}
	reload("rotated-elsewhere")
	testutil.Eventually(t, wait, func() error {
		for _, l := range strings.Split(a.out.String(), "\n") {
			if strings.Contains(l, `"level":"error"`) && strings.Contains(l, `"error":"nats: authorization violation"`) {
				return nil
			}
		}
		return fmt.Errorf("the agent has not logged the refusal at error level")
	})
	select {
	case <-a.done:
		t.Fatalf("the agent exited after losing its authorization: %v", a.err)
	default:
	}
	reload(natsPassword)
	a.waitLog("nats reconnected")
}

// An agent started while NATS is down, which then comes up refusing the
// credentials, logs the server's refusal at error level while it retries.
func TestNATSAuth_RefusedAfterServerComesUp(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	f := newFixture(t)
	conf := f.path("agent.yaml")
	writeFile(t, conf, "nats:\n  user: "+natsUser+"\n  password: "+wrongPassword+"\n")
	a := start(t, "agent", "--nats", fmt.Sprintf("nats://127.0.0.1:%d", port), "--config", conf,
		"--name", "a1", "--watches", f.watches, "--state", t.TempDir(), "--log-format", "json")
	testutil.RunNATSWithOptions(t, &server.Options{Port: port, Username: natsUser, Password: natsPassword})
	testutil.Eventually(t, wait, func() error {
		for _, l := range strings.Split(a.out.String(), "\n") {
			if strings.Contains(l, `"level":"error"`) && strings.Contains(l, "nats: Authorization Violation") {
				return nil
			}
		}
		return fmt.Errorf("the agent has not logged the refusal at error level")
	})
	if strings.Contains(a.out.String(), wrongPassword) {
		t.Fatal("the password was logged")
	}
}
