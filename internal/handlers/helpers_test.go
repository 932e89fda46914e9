package handlers_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/fleet"
	"github.com/heraldhq/herald/internal/handlers"
	"github.com/heraldhq/herald/internal/source"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/heraldhq/herald/internal/watch"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

const wait = 20 * time.Second

// bus starts a NATS server with Herald's streams.
func newBus(t *testing.T) jetstream.JetStream {
	t.Helper()
	_, js := testutil.ConnectStreams(t, testutil.RunNATS(t))
	return js
}

// dispatcher is one running engine with its own interest tracker, as a
// dispatcher runs it.
type dispatcher struct {
	eng     *handlers.Engine
	tracker *fleet.Tracker
	// stop cancels the engine and waits for Run to return; safe to call
	// twice.
	stop func()
}

// startEngine runs an engine named host until the test ends and returns
// once its shared consumer exists.
func startEngine(t *testing.T, js jetstream.JetStream, host string, hs ...handlers.Handler) dispatcher {
	t.Helper()
	eng := handlers.New(handlers.Config{Host: host, CheckInterval: 100 * time.Millisecond})
	if err := eng.SetHandlers(hs); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tr := fleet.New(js, zerolog.Nop())
	trDone := make(chan struct{})
	go func() { defer close(trDone); _ = tr.Run(ctx) }()
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx, source.Env{JS: js, Interest: tr, Log: zerolog.Nop()}) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(wait):
				t.Error("Run did not return after cancel")
			}
			<-trDone
		})
	}
	t.Cleanup(stop)
	testutil.Eventually(t, wait, func() error {
		_, err := js.Consumer(context.Background(), events.OutcomesStream, handlers.DefaultDurable)
		return err
	})
	return dispatcher{eng: eng, tracker: tr, stop: stop}
}

// waitAgents waits until the tracker sees exactly the named live agents.
func (d dispatcher) waitAgents(t *testing.T, names ...string) {
	t.Helper()
	want := strings.Join(names, ",")
	testutil.Eventually(t, wait, func() error {
		var got []string
		for _, a := range d.tracker.LiveAgents() {
			got = append(got, a.Name)
		}
		if g := strings.Join(got, ","); g != want {
			return fmt.Errorf("live agents %q, want %q", g, want)
		}
		return nil
	})
}

// publish stores an outcome as an agent does and returns its JSON.
func publish(t *testing.T, js jetstream.JetStream, o events.Outcome) []byte {
	t.Helper()
	if o.Key == "" {
		o.Key = "/git/head"
	}
	if o.EventType == "" {
		o.EventType = "git.push"
	}
	if o.Attempts == 0 {
		o.Attempts = 1
	}
	data, err := o.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(context.Background(), o.Subject(), data); err != nil {
		t.Fatal(err)
	}
	return data
}

func exitCode(n int) *int { return &n }

// announce stores an agent announcement holding the named watches.
func announce(t *testing.T, js jetstream.JetStream, a events.Announcement, watches ...string) {
	t.Helper()
	if a.Heartbeat.IsZero() {
		a.Heartbeat = time.Now().UTC()
	}
	if a.Interval == 0 {
		a.Interval = 60
	}
	for _, w := range watches {
		a.Watches = append(a.Watches, events.WatchSummary{Name: w, On: "event:git.push", RunMode: "queue"})
	}
	testutil.Announce(t, js, a)
}

// drained waits until the shared consumer has delivered and had
// acknowledged every outcome stored so far: every decision the engines
// make about them (runs, all_reported records) is then made.
func drained(t *testing.T, js jetstream.JetStream) {
	t.Helper()
	testutil.Eventually(t, wait, func() error {
		c, err := js.Consumer(context.Background(), events.OutcomesStream, handlers.DefaultDurable)
		if err != nil {
			return err
		}
		ci, err := c.Info(context.Background())
		if err != nil {
			return err
		}
		if ci.NumPending != 0 || ci.NumAckPending != 0 {
			return fmt.Errorf("consumer: %d pending, %d unacknowledged", ci.NumPending, ci.NumAckPending)
		}
		return nil
	})
}

// appender is a handler command that appends one line made of the given
// variables, separated by "|", to the file named by $OUT.
func appender(vars ...string) watch.Command {
	var parts []string
	for _, v := range vars {
		parts = append(parts, "${"+v+"}")
	}
	return watch.Command{Argv: []string{"/bin/sh", "-c", `printf '%s\n' "` + strings.Join(parts, "|") + `" >> "$OUT"`}}
}

func envOut(file string) map[string]string { return map[string]string{"OUT": file} }

// lines returns the sorted lines of file (none if it does not exist).
func lines(t *testing.T, file string) []string {
	t.Helper()
	b, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	out := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(b) == 0 {
		out = nil
	}
	sort.Strings(out)
	return out
}

// waitLines waits until file holds exactly want (sorted).
func waitLines(t *testing.T, file string, want ...string) {
	t.Helper()
	sort.Strings(want)
	testutil.Eventually(t, wait, func() error {
		if got := lines(t, file); !slices.Equal(got, want) {
			return fmt.Errorf("%s: got %q, want %q", filepath.Base(file), got, want)
		}
		return nil
	})
}

// handlerOutcomes reads every outcome recorded for handler name.
func handlerOutcomes(t *testing.T, js jetstream.JetStream, host, name string) []events.Outcome {
	t.Helper()
	ctx := context.Background()
	c, err := js.OrderedConsumer(ctx, events.OutcomesStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{events.OutcomeSubject(host, handlers.HandlerWatchPrefix+name)},
	})
	if err != nil {
		t.Fatal(err)
	}
	n := c.CachedInfo().NumPending
	var out []events.Outcome
	for range n {
		m, err := c.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatal(err)
		}
		var o events.Outcome
		if err := json.Unmarshal(m.Data(), &o); err != nil {
			t.Fatal(err)
		}
		out = append(out, o)
	}
	return out
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
