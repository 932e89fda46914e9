package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/nats-io/nats.go"
)

// runMainEnv makes the test binary act as herald, so the tests below run
// main in a real process.
const runMainEnv = "HERALD_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

func herald(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	return cmd
}

func exitCode(t *testing.T, err error) int {
	t.Helper()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	t.Fatalf("run herald: %v", err)
	return -1
}

func TestMain_process(t *testing.T) {
	s := testutil.RunNATS(t)
	_, js := testutil.ConnectStreams(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	stored := func(t *testing.T, typ, key string) events.Event {
		t.Helper()
		st, err := js.Stream(ctx, events.EventsStream)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := st.GetLastMsgForSubject(ctx, events.EventSubject(typ, key))
		if err != nil {
			t.Fatal(err)
		}
		e, err := events.FromMsg(&nats.Msg{Subject: raw.Subject, Header: raw.Header, Data: raw.Data})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}

	t.Run("exit codes", func(t *testing.T) {
		for _, tc := range []struct {
			args []string
			want int
		}{
			{[]string{"help"}, 0},
			{nil, 2},
			{[]string{"publish", "--key", "/k"}, 2},
			{[]string{"publish", "--nats", "nats://127.0.0.1:1", "--type", "a.b", "--key", "/k", "--data", "x"}, 1},
		} {
			err := herald(ctx, tc.args...).Run()
			if got := exitCode(t, err); got != tc.want {
				t.Errorf("herald %q exited %d, want %d", tc.args, got, tc.want)
			}
		}
	})

	t.Run("publish reads a piped stdin", func(t *testing.T) {
		data := []byte("piped\x00data")
		cmd := herald(ctx, "publish", "--type", "proc.test", "--key", "/piped")
		cmd.Env = append(cmd.Env, "HERALD_NATS="+s.ClientURL())
		cmd.Stdin = bytes.NewReader(data) // a pipe in the child
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("publish: %v", err)
		}
		e := stored(t, "proc.test", "/piped")
		if strings.TrimSpace(string(out)) != e.ID || !bytes.Equal(e.Data, data) {
			t.Errorf("stdout %q, stored id %q data %q", out, e.ID, e.Data)
		}
	})

	t.Run("publish does not read a character-device stdin", func(t *testing.T) {
		// /dev/zero is a character device, as a terminal is, and endless:
		// publish would never return if it read it.
		zero, err := os.Open("/dev/zero")
		if err != nil {
			t.Skipf("no /dev/zero: %v", err)
		}
		defer zero.Close()
		cmd := herald(ctx, "publish", "--nats", s.ClientURL(), "--type", "proc.test", "--key", "/chardev")
		cmd.Stdin = zero
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("publish: %v", err)
		}
		e := stored(t, "proc.test", "/chardev")
		if strings.TrimSpace(string(out)) != e.ID || len(e.Data) != 0 {
			t.Errorf("stdout %q, stored id %q data %q", out, e.ID, e.Data)
		}
	})

	t.Run("tail exits 0 on SIGINT", func(t *testing.T) {
		var stdout, stderr testutil.SyncBuffer
		cmd := herald(ctx, "tail", "--nats", s.ClientURL())
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			done <- cmd.Wait()
		}()
		defer wg.Wait()
		testutil.Eventually(t, 10*time.Second, func() error {
			if !strings.Contains(stderr.String(), "listening") {
				return fmt.Errorf("not listening yet: %q", stderr.String())
			}
			return nil
		})
		e := events.New("test://proc", "proc.tail", "/t", []byte("hi"))
		if _, err := bus.PublishEvent(ctx, js, e); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, 10*time.Second, func() error {
			if !strings.Contains(stdout.String(), e.ID) {
				return fmt.Errorf("event not printed yet: %q", stdout.String())
			}
			return nil
		})
		if err := cmd.Process.Signal(os.Interrupt); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if got := exitCode(t, err); got != 0 {
				t.Errorf("tail exited %d after SIGINT, want 0; stderr %q", got, stderr.String())
			}
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			t.Fatal("tail did not exit after SIGINT")
		}
	})
}
