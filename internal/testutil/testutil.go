// Package testutil holds the helpers Herald's tests share: a real in-process
// NATS server with JetStream (or a cluster of them whose nodes can be killed
// and restarted), polling with a deadline instead of sleeping,
// building the real binaries for end-to-end tests, a cuttable TCP proxy, a
// private ZooKeeper server or ensemble, a goroutine-safe output buffer, a test CA with server
// and client certificates, timeout tests that wait for their script to be
// ready (UntilReady), publishing and reading back events on Herald's
// streams, collecting outcomes, announcing agents, running the interest
// tracker and issuing a real auth directory (AuthDir). Only tests import it.
package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/gotool"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// RunNATS starts a real nats-server in-process on a free loopback port with
// JetStream storing under t.TempDir(), and shuts it down when the test ends.
func RunNATS(tb testing.TB) *server.Server {
	tb.Helper()
	return RunNATSWithOptions(tb, &server.Options{})
}

// RunNATSWithOptions is RunNATS with extra options (auth, TLS, a fixed port
// or store dir for restarts). Host, Port and JetStream defaults are filled in.
func RunNATSWithOptions(tb testing.TB, opts *server.Options) *server.Server {
	tb.Helper()
	if opts.Host == "" {
		opts.Host = "127.0.0.1"
	}
	if opts.Port == 0 {
		opts.Port = -1
	}
	opts.JetStream = true
	if opts.StoreDir == "" {
		opts.StoreDir = tb.TempDir()
	}
	opts.NoLog = true
	opts.NoSigs = true
	s, err := server.NewServer(opts)
	if err != nil {
		tb.Fatalf("nats server: %v", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		tb.Fatalf("nats server not ready")
	}
	tb.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

// Connect opens a client connection to s, closed when the test ends.
func Connect(tb testing.TB, s *server.Server, opts ...nats.Option) *nats.Conn {
	tb.Helper()
	nc, err := nats.Connect(s.ClientURL(), opts...)
	if err != nil {
		tb.Fatalf("nats connect: %v", err)
	}
	tb.Cleanup(nc.Close)
	return nc
}

// Eventually polls cond every few milliseconds until it returns nil or the
// deadline passes, then fails the test with the last error.
func Eventually(tb testing.TB, within time.Duration, cond func() error) {
	tb.Helper()
	deadline := time.Now().Add(within)
	wait := time.Millisecond
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("condition not met within %v: %v", within, err)
		}
		time.Sleep(wait)
		if wait < 50*time.Millisecond {
			wait *= 2
		}
	}
}

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// Binaries builds cmd/dispatcher, cmd/agent and cmd/herald once per test
// process (with -race when the tests run with it) and returns the directory
// holding them.
func Binaries(tb testing.TB) string {
	tb.Helper()
	buildOnce.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			buildErr = err
			return
		}
		buildDir, err = os.MkdirTemp("", "herald-bin-")
		if err != nil {
			buildErr = err
			return
		}
		args := []string{"build", "-o", buildDir}
		if raceEnabled {
			args = append(args, "-race")
		}
		args = append(args, "./cmd/dispatcher", "./cmd/agent", "./cmd/herald")
		cmd := exec.Command(gotool.Path(), args...)
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return buildDir
}

// RemoveBinaries deletes what Binaries built (about 70 MB with -race). A
// package that calls Binaries calls it from TestMain after m.Run, or every
// test run leaves a directory behind in $TMPDIR.
func RemoveBinaries() {
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
}

func moduleRoot() (string, error) {
	out, err := exec.Command(gotool.Path(), "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("not inside the herald module")
	}
	return filepath.Dir(mod), nil
}
