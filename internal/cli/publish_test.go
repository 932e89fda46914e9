package cli_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/cli"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// storedEvent reads back the last event stored for (typ, key) and checks its
// CloudEvents headers.
func storedEvent(t *testing.T, js jetstream.JetStream, typ, key string) (events.Event, nats.Header) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, events.EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := st.GetLastMsgForSubject(ctx, events.EventSubject(typ, key))
	if err != nil {
		t.Fatalf("event %s %q not stored: %v", typ, key, err)
	}
	e, err := events.FromMsg(&nats.Msg{Subject: raw.Subject, Header: raw.Header, Data: raw.Data})
	if err != nil {
		t.Fatalf("stored message is not an event: %v", err)
	}
	return e, raw.Header
}

// publishedID checks that stdout is exactly one UUID line and returns it.
func publishedID(t *testing.T, r result) string {
	t.Helper()
	if r.err != nil {
		t.Fatalf("publish: %v\nstderr: %s", r.err, r.errOut)
	}
	id, ok := strings.CutSuffix(r.out, "\n")
	if !ok || strings.Contains(id, "\n") {
		t.Fatalf("stdout %q: want one line", r.out)
	}
	if _, err := uuid.Parse(id); err != nil {
		t.Fatalf("stdout %q is not a UUID: %v", id, err)
	}
	return id
}

func TestMain_RunPublish(t *testing.T) {
	s, js := natsWithStreams(t)
	url := s.ClientURL()
	host, _ := os.Hostname()
	binary := []byte{0, 'a', 0, 0xff, 0xfe, '\n', 0, 'z'}

	t.Run("data flag is stored with ce headers, key and raw data", func(t *testing.T) {
		r := run(t, nil, nil, "publish", "--nats", url, "--type", "git.push", "--key", "/repos/app", "--data", "hello world")
		id := publishedID(t, r)
		if r.errOut != "" {
			t.Errorf("stderr %q, want nothing", r.errOut)
		}
		e, h := storedEvent(t, js, "git.push", "/repos/app")
		for hdr, want := range map[string]string{
			events.HeaderSpecVersion:     "1.0",
			events.HeaderID:              id,
			events.HeaderType:            "git.push",
			events.HeaderSubject:         "/repos/app",
			events.HeaderSource:          "herald://cli/" + host,
			events.HeaderDataContentType: events.DefaultContentType,
		} {
			if got := h.Get(hdr); got != want {
				t.Errorf("header %s = %q, want %q", hdr, got, want)
			}
		}
		if h.Get(events.HeaderTime) == "" {
			t.Errorf("header %s missing", events.HeaderTime)
		}
		if string(e.Data) != "hello world" || e.Key != "/repos/app" {
			t.Errorf("stored key %q data %q", e.Key, e.Data)
		}
	})

	t.Run("data file with NUL bytes, odd key and flags", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "blob")
		if err := os.WriteFile(f, binary, 0o600); err != nil {
			t.Fatal(err)
		}
		key := "conf/a b/ünï.%2E"
		r := run(t, nil, nil, "publish", "--nats", url, "--type", "blob.changed", "--key", key, "--data-file", f,
			"--content-type", "application/x-thing", "--version", "42", "--source", "test://here")
		id := publishedID(t, r)
		e, _ := storedEvent(t, js, "blob.changed", key)
		if e.ID != id || e.Key != key || !bytes.Equal(e.Data, binary) {
			t.Errorf("stored id %q key %q data %v, want %q %q %v", e.ID, e.Key, e.Data, id, key, binary)
		}
		if e.DataContentType != "application/x-thing" || e.Version != "42" || e.Source != "test://here" {
			t.Errorf("stored content type %q version %q source %q", e.DataContentType, e.Version, e.Source)
		}
	})

	t.Run("stdin is the data when no data flag is given", func(t *testing.T) {
		r := run(t, nil, bytes.NewReader(binary), "publish", "--nats", url, "--type", "stdin.test", "--key", "/k1")
		id := publishedID(t, r)
		e, _ := storedEvent(t, js, "stdin.test", "/k1")
		if e.ID != id || !bytes.Equal(e.Data, binary) {
			t.Errorf("stored id %q data %v, want %q %v", e.ID, e.Data, id, binary)
		}
	})

	t.Run("data-file - reads stdin", func(t *testing.T) {
		r := run(t, nil, strings.NewReader("from stdin"), "publish", "--nats", url, "--type", "stdin.test", "--key", "/k2", "--data-file", "-")
		publishedID(t, r)
		if e, _ := storedEvent(t, js, "stdin.test", "/k2"); string(e.Data) != "from stdin" {
			t.Errorf("stored data %q", e.Data)
		}
	})

	t.Run("data flag wins over stdin", func(t *testing.T) {
		r := run(t, nil, strings.NewReader("ignored"), "publish", "--nats", url, "--type", "stdin.test", "--key", "/k3", "--data", "")
		publishedID(t, r)
		if e, _ := storedEvent(t, js, "stdin.test", "/k3"); len(e.Data) != 0 {
			t.Errorf("stored data %q, want empty", e.Data)
		}
	})

	t.Run("HERALD_NATS is used when --nats is absent", func(t *testing.T) {
		t.Setenv(cli.EnvNATS, url)
		r := run(t, nil, nil, "publish", "--type", "env.test", "--key", "/env", "--data", "x")
		id := publishedID(t, r)
		if e, _ := storedEvent(t, js, "env.test", "/env"); e.ID != id {
			t.Errorf("stored id %q, want %q", e.ID, id)
		}
	})

	t.Run("--nats wins over HERALD_NATS", func(t *testing.T) {
		t.Setenv(cli.EnvNATS, deadURL(t))
		r := run(t, nil, nil, "publish", "--nats", url, "--type", "env.test", "--key", "/env2", "--data", "x")
		publishedID(t, r)
	})

	t.Run("a repeat of the same change is reported as duplicate", func(t *testing.T) {
		args := []string{"publish", "--nats", url, "--type", "dup.test", "--key", "/d", "--version", "7", "--source", "test://dup", "--data", "v7"}
		first := publishedID(t, run(t, nil, nil, args...))
		r := run(t, nil, nil, args...)
		second := publishedID(t, r)
		if second == first {
			t.Errorf("second publish printed the first id %s; want its own", first)
		}
		if !strings.Contains(r.errOut, "duplicate") || !strings.Contains(r.errOut, first) {
			t.Errorf("stderr %q: want a duplicate note naming the stored event %s", r.errOut, first)
		}
		if e, _ := storedEvent(t, js, "dup.test", "/d"); e.ID != first {
			t.Errorf("stored id %q, want the first %q", e.ID, first)
		}
		// A new version is a new change.
		args[8] = "8"
		r = run(t, nil, nil, args...)
		third := publishedID(t, r)
		if strings.Contains(r.errOut, "duplicate") {
			t.Errorf("new version reported as duplicate: %q", r.errOut)
		}
		if e, _ := storedEvent(t, js, "dup.test", "/d"); e.ID != third {
			t.Errorf("stored id %q, want %q", e.ID, third)
		}
	})

	t.Run("usage errors exit 2 without touching NATS", func(t *testing.T) {
		dead := deadURL(t)
		f := filepath.Join(t.TempDir(), "d")
		if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		for name, args := range map[string][]string{
			"no type":             {"--key", "/k"},
			"no key":              {"--type", "a.b"},
			"bad type":            {"--type", "Git.Push", "--key", "/k"},
			"data and data-file":  {"--type", "a.b", "--key", "/k", "--data", "x", "--data-file", f},
			"unknown flag":        {"--type", "a.b", "--key", "/k", "--bogus"},
			"positional argument": {"--type", "a.b", "--key", "/k", "extra"},
			"bad timeout":         {"--type", "a.b", "--key", "/k", "--timeout", "0s"},
		} {
			t.Run(name, func(t *testing.T) {
				r := run(t, nil, nil, append([]string{"publish", "--nats", dead}, args...)...)
				if r.code() != cli.ExitUsage || !errors.Is(r.err, cli.ErrUsage) {
					t.Errorf("exit %d (%v), want %d", r.code(), r.err, cli.ExitUsage)
				}
				if r.out != "" || r.errOut == "" {
					t.Errorf("stdout %q stderr %q: want only stderr", r.out, r.errOut)
				}
			})
		}
	})

	t.Run("refused connection fails at once with exit 1", func(t *testing.T) {
		start := time.Now()
		r := run(t, nil, nil, "publish", "--nats", deadURL(t), "--type", "a.b", "--key", "/k", "--data", "x")
		if r.code() != cli.ExitFailure {
			t.Fatalf("exit %d (%v), want 1", r.code(), r.err)
		}
		if !strings.Contains(r.errOut, "herald publish: nats: connect") || !strings.Contains(r.errOut, "refused") {
			t.Errorf("stderr %q: want a connection error", r.errOut)
		}
		if r.out != "" {
			t.Errorf("stdout %q, want nothing", r.out)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("took %v, want it to fail fast", d)
		}
	})

	t.Run("silent server fails within --timeout with exit 1", func(t *testing.T) {
		start := time.Now()
		r := run(t, nil, nil, "publish", "--nats", silentURL(t), "--timeout", "1s", "--type", "a.b", "--key", "/k", "--data", "x")
		if r.code() != cli.ExitFailure {
			t.Fatalf("exit %d (%v), want 1", r.code(), r.err)
		}
		if !strings.Contains(r.errOut, "nats: connect") || !strings.Contains(r.errOut, "within --timeout 1s") {
			t.Errorf("stderr %q: want a connection timeout error", r.errOut)
		}
		if d := time.Since(start); d > 6*time.Second {
			t.Errorf("took %v with --timeout 1s", d)
		}
	})

	t.Run("server without Herald's streams gives a hint", func(t *testing.T) {
		bare := testutil.RunNATS(t)
		r := run(t, nil, nil, "publish", "--nats", bare.ClientURL(), "--timeout", "5s", "--type", "a.b", "--key", "/k", "--data", "x")
		if r.code() != cli.ExitFailure || !strings.Contains(r.errOut, "dispatcher") {
			t.Errorf("exit %d stderr %q: want 1 and a hint about the dispatcher", r.code(), r.errOut)
		}
	})
}

// deadURL is a loopback address nobody listens on.
func deadURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "nats://" + addr
}

// silentURL is a listener that accepts connections and never speaks.
func silentURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
		for _, c := range conns {
			c.Close()
		}
	})
	return "nats://" + l.Addr().String()
}
