package cli_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/heraldhq/herald/internal/cli"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/nats-io/nats.go/jetstream"
)

// tailRun is a herald tail running in the background.
type tailRun struct {
	out, errOut testutil.SyncBuffer
	cancel      context.CancelFunc
	done        chan struct{}
	err         error
}

// startTail runs herald tail and returns once its consumer is listening.
func startTail(t *testing.T, args ...string) *tailRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	tr := &tailRun{cancel: cancel, done: make(chan struct{})}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(tr.done)
		tr.err = (&cli.Main{}).Run(ctx, append([]string{"tail"}, args...), nil, &tr.out, &tr.errOut)
	}()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	testutil.Eventually(t, 10*time.Second, func() error {
		select {
		case <-tr.done:
			return fmt.Errorf("tail exited: %v\nstderr: %s", tr.err, tr.errOut.String())
		default:
		}
		if !strings.Contains(tr.errOut.String(), "listening") {
			return fmt.Errorf("tail not listening yet; stderr %q", tr.errOut.String())
		}
		return nil
	})
	return tr
}

// wait waits for tail to exit by itself and returns its stdout lines.
func (tr *tailRun) wait(t *testing.T) []string {
	t.Helper()
	select {
	case <-tr.done:
	case <-time.After(15 * time.Second):
		t.Fatalf("tail did not exit; stdout %q stderr %q", tr.out.String(), tr.errOut.String())
	}
	if tr.err != nil {
		t.Fatalf("tail: %v\nstderr: %s", tr.err, tr.errOut.String())
	}
	return lines(tr.out.String())
}

func publish(t *testing.T, js jetstream.JetStream, e events.Event) events.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := bus.PublishEvent(ctx, js, e); err != nil {
		t.Fatal(err)
	}
	return e
}

func publishOutcome(t *testing.T, js jetstream.JetStream, o events.Outcome) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := o.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, o.Subject(), b); err != nil {
		t.Fatal(err)
	}
}

func intp(i int) *int { return &i }

func TestMain_RunTail(t *testing.T) {
	s, js := natsWithStreams(t)
	url := s.ClientURL()

	t.Run("json shows the events published after it started", func(t *testing.T) {
		before := publish(t, js, events.New("test://t", "tail.json", "/before", []byte("old")))
		tr := startTail(t, "--nats", url, "--json", "--count", "2", "--type", "tail.json")
		text := events.New("test://t", "tail.json", "/a/b", []byte(`{"x":"<é>"}`))
		text.Version = "v1"
		publish(t, js, text)
		bin := events.New("test://t", "tail.json", "/bin", []byte{0, 1, 0xff})
		publish(t, js, bin)
		got := tr.wait(t)
		if len(got) != 2 {
			t.Fatalf("stdout lines %q, want 2", got)
		}
		var first, second map[string]any
		if err := json.Unmarshal([]byte(got[0]), &first); err != nil {
			t.Fatalf("line %q: %v", got[0], err)
		}
		if err := json.Unmarshal([]byte(got[1]), &second); err != nil {
			t.Fatalf("line %q: %v", got[1], err)
		}
		if first["id"] == before.ID {
			t.Errorf("tail showed the event published before it started")
		}
		want := map[string]any{"id": text.ID, "type": "tail.json", "subject": "/a/b", "source": "test://t",
			"specversion": "1.0", "datacontenttype": events.DefaultContentType, "heraldversion": "v1", "data": `{"x":"<é>"}`}
		for k, v := range want {
			if first[k] != v {
				t.Errorf("first[%q] = %v, want %v", k, first[k], v)
			}
		}
		if _, ok := first["data_base64"]; ok {
			t.Errorf("text event has data_base64: %q", got[0])
		}
		if second["id"] != bin.ID || second["data_base64"] != base64.StdEncoding.EncodeToString(bin.Data) {
			t.Errorf("second line %q: want id %s and data_base64 of %v", got[1], bin.ID, bin.Data)
		}
		if _, ok := second["data"]; ok {
			t.Errorf("binary event has data: %q", got[1])
		}
	})

	t.Run("type filter is exact, with * and > wildcards", func(t *testing.T) {
		for _, tc := range []struct {
			filter string
			misses []string
			want   string
		}{
			{"zk.changed", []string{"zk", "zk.changed.sub", "zk.deleted", "git.changed"}, "zk.changed"},
			{"zk.*", []string{"zk", "zk.changed.deep", "git.changed"}, "zk.deleted"},
			{"zk.>", []string{"zk", "git.changed", "zkx.changed"}, "zk.changed.deep"},
			{"*.changed", []string{"zk", "zk.changed.sub", "zk.deleted"}, "git.changed"},
		} {
			t.Run(tc.filter, func(t *testing.T) {
				tr := startTail(t, "--nats", url, "--json", "--count", "1", "--type", tc.filter)
				// Near misses go first; some pass the server-side subject
				// filter and must be dropped by the type match.
				for _, typ := range tc.misses {
					publish(t, js, events.New("test://t", typ, "/app", nil))
				}
				e := publish(t, js, events.New("test://t", tc.want, "/app", nil))
				got := tr.wait(t)
				if len(got) != 1 || !strings.Contains(got[0], `"id":"`+e.ID+`"`) {
					t.Errorf("--type %s printed %q, want only the %s event %s", tc.filter, got, tc.want, e.ID)
				}
			})
		}
	})

	t.Run("human line", func(t *testing.T) {
		tr := startTail(t, "--nats", url, "--count", "1", "--type", "git.push")
		e := events.New("test://t", "git.push", "/repos/my app", []byte(strings.Repeat("ab\n", 40)))
		e.Version = "7"
		publish(t, js, e)
		got := tr.wait(t)
		want := fmt.Sprintf(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ event git\.push "/repos/my app" id=%s version=7 data="(ab\\n){26}ab" bytes=120$`, e.ID)
		if len(got) != 1 || !regexp.MustCompile(want).MatchString(got[0]) {
			t.Errorf("line %q, want match for %s", got, want)
		}
	})

	t.Run("outcomes instead of events", func(t *testing.T) {
		tr := startTail(t, "--nats", url, "--outcomes", "--count", "2")
		publish(t, js, events.New("test://t", "git.push", "/not-an-outcome", nil))
		o := events.Outcome{EventID: "ev-1", EventType: "git.push", Key: "/repos/app", Watch: "git-pull", Host: "web1",
			Status: events.StatusOK, ExitCode: intp(0), Attempts: 1, Start: time.Now(), DurationMS: 12.4}
		publishOutcome(t, js, o)
		o2 := o
		o2.Status, o2.ExitCode, o2.Signal, o2.Error, o2.Attempts = events.StatusFailed, nil, "KILL", "killed", 3
		publishOutcome(t, js, o2)
		got := tr.wait(t)
		if len(got) != 2 {
			t.Fatalf("lines %q, want 2", got)
		}
		want := regexp.MustCompile(`^\S+Z outcome host=web1 watch=git-pull status=ok exit=0 dur=12ms event=ev-1 type=git\.push key=/repos/app$`)
		if !want.MatchString(got[0]) {
			t.Errorf("line %q, want match for %s", got[0], want)
		}
		if !strings.Contains(got[1], "status=failed signal=KILL dur=12ms attempts=3 ") || !strings.HasSuffix(got[1], ` error="killed"`) {
			t.Errorf("line %q: want signal, attempts and error", got[1])
		}
	})

	t.Run("outcomes as json, filtered by event type", func(t *testing.T) {
		tr := startTail(t, "--nats", url, "--outcomes", "--json", "--count", "1", "--type", "zk.changed")
		o := events.Outcome{EventID: "ev-2", EventType: "git.push", Key: "/x", Watch: "w", Host: "h", Status: events.StatusOK, ExitCode: intp(0)}
		publishOutcome(t, js, o)
		o.EventID, o.EventType, o.Status, o.ExitCode = "ev-3", "zk.changed", events.StatusFailed, intp(2)
		publishOutcome(t, js, o)
		got := tr.wait(t)
		if len(got) != 1 {
			t.Fatalf("lines %q, want 1", got)
		}
		var back events.Outcome
		if err := json.Unmarshal([]byte(got[0]), &back); err != nil {
			t.Fatal(err)
		}
		if back.EventID != "ev-3" || back.Status != events.StatusFailed || back.ExitCode == nil || *back.ExitCode != 2 {
			t.Errorf("outcome %+v, want ev-3 failed exit 2", back)
		}
	})

	t.Run("runs until cancelled, then exits 0", func(t *testing.T) {
		tr := startTail(t, "--nats", url)
		e := publish(t, js, events.New("test://t", "cancel.test", "/c", []byte("x")))
		testutil.Eventually(t, 10*time.Second, func() error {
			if !strings.Contains(tr.out.String(), e.ID) {
				return errors.New("event not printed yet")
			}
			return nil
		})
		tr.cancel()
		if got := tr.wait(t); len(got) != 1 {
			t.Errorf("lines %q, want 1", got)
		}
	})

	t.Run("usage errors", func(t *testing.T) {
		for _, args := range [][]string{{"--type", "Bad"}, {"--type", "a.>.b"}, {"--count", "-1"}, {"extra"}} {
			r := run(t, nil, nil, append([]string{"tail", "--nats", deadURL(t)}, args...)...)
			if r.code() != cli.ExitUsage {
				t.Errorf("tail %q: exit %d (%v), want 2", args, r.code(), r.err)
			}
		}
	})

	t.Run("dead server exits 1", func(t *testing.T) {
		r := run(t, nil, nil, "tail", "--nats", deadURL(t))
		if r.code() != cli.ExitFailure || !strings.Contains(r.errOut, "connect") {
			t.Errorf("exit %d stderr %q, want 1 and a connection error", r.code(), r.errOut)
		}
	})
}

// TestTail_LeavesNoConsumer: herald tail deletes its consumer when it
// ends, by --count or by being stopped.
func TestTail_LeavesNoConsumer(t *testing.T) {
	s, js := natsWithStreams(t)
	tr := startTail(t, "--nats", s.ClientURL(), "--count", "1", "--type", "tail.cons")
	publish(t, js, events.New("test://t", "tail.cons", "/a", []byte("x")))
	tr.wait(t)
	if left := testutil.Consumers(t, js, events.EventsStream); len(left) != 0 {
		t.Fatalf("tail --count left consumers %v", left)
	}
	tr = startTail(t, "--nats", s.ClientURL(), "--outcomes")
	tr.cancel()
	tr.wait(t)
	if left := testutil.Consumers(t, js, events.OutcomesStream); len(left) != 0 {
		t.Fatalf("a stopped tail left consumers %v", left)
	}
}
