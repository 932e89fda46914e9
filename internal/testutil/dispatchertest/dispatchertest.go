// Package dispatchertest starts real embedded dispatchers for the tests of
// the code that runs in one (package dispatcher, the HTTP publish source
// in source/http) and talks to them as a client does: POST /v1/events,
// GET, the events stream, a /metrics scrape. Only tests import it; it is
// apart from package testutil because it links the whole dispatcher, which
// the tests of the dispatcher's own engines must not (an import cycle).
package dispatchertest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/dispatcher"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// Config is an embedded dispatcher on free ports under a temp dir.
func Config(t *testing.T) dispatcher.Config {
	t.Helper()
	cfg := dispatcher.DefaultConfig()
	cfg.NATSListen = "127.0.0.1:0"
	cfg.HTTP = "127.0.0.1:0"
	cfg.Data = t.TempDir()
	cfg.ConnectTimeout = 10 * time.Second
	cfg.LogLevel = "debug"
	return cfg
}

// New builds a dispatcher whose log is shown if the test fails and which
// is closed when the test ends.
func New(t *testing.T, cfg dispatcher.Config, opts ...dispatcher.Option) (*dispatcher.Dispatcher, *testutil.SyncBuffer) {
	t.Helper()
	logs := &testutil.SyncBuffer{}
	log := zerolog.New(logs).Level(zerolog.DebugLevel).With().Timestamp().Logger()
	d, err := dispatcher.New(cfg, append([]dispatcher.Option{dispatcher.WithLogger(log)}, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := d.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
		if t.Failed() {
			t.Logf("dispatcher log:\n%s", logs.String())
		}
	})
	return d, logs
}

// Start builds and starts a dispatcher.
func Start(t *testing.T, cfg dispatcher.Config, opts ...dispatcher.Option) *dispatcher.Dispatcher {
	t.Helper()
	d, _ := New(t, cfg, opts...)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := d.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	return d
}

// PublishReply is the answer to one event of POST /v1/events, or its
// error.
type PublishReply struct {
	ID        string `json:"id"`
	StreamSeq uint64 `json:"stream_seq"`
	Duplicate bool   `json:"duplicate"`
	Error     string `json:"error"`
	Field     string `json:"field"`
}

// Post sends body to POST /v1/events and decodes the JSON answer.
func Post(t *testing.T, d *dispatcher.Dispatcher, body string) (int, PublishReply) {
	t.Helper()
	resp, err := http.Post("http://"+d.HTTPAddr()+"/v1/events", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST /v1/events: %v", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json (body %s)", ct, raw)
	}
	var r PublishReply
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("decode %q: %v", raw, err)
	}
	return resp.StatusCode, r
}

// Get fetches path from the dispatcher's HTTP server.
func Get(t *testing.T, d *dispatcher.Dispatcher, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + d.HTTPAddr() + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return resp.StatusCode, string(raw)
}

// ReadEvents reads the first want messages of the events stream, in
// order, as raw NATS messages.
func ReadEvents(t *testing.T, nc *nats.Conn, want int) []*nats.Msg {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := js.OrderedConsumer(ctx, events.EventsStream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatalf("ordered consumer: %v", err)
	}
	var out []*nats.Msg
	for len(out) < want {
		m, err := c.Next(jetstream.FetchMaxWait(10 * time.Second))
		if err != nil {
			t.Fatalf("next event (have %d of %d): %v", len(out), want, err)
		}
		out = append(out, &nats.Msg{Subject: m.Subject(), Header: m.Headers(), Data: m.Data()})
	}
	return out
}

// StreamMsgs is the number of messages stored in stream.
func StreamMsgs(nc *nats.Conn, stream string) (uint64, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return 0, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.State.Msgs, nil
}

// MetricValue finds one sample line "name{labels} value" in a scrape.
func MetricValue(scrape, series string) (string, error) {
	for _, line := range strings.Split(scrape, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return strings.TrimSpace(v), nil
		}
	}
	return "", fmt.Errorf("series %s not in scrape", series)
}
