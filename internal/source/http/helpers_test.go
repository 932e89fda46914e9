package httpsource_test

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

// The endpoint is tested where it runs: on a real embedded dispatcher's
// HTTP server, publishing through the dispatcher's own publisher (its
// duplicate answers and metrics are part of what POST /v1/events returns).

// testConfig is an embedded dispatcher on free ports under a temp dir.
func testConfig(t *testing.T) dispatcher.Config {
	t.Helper()
	cfg := dispatcher.DefaultConfig()
	cfg.NATSListen = "127.0.0.1:0"
	cfg.HTTP = "127.0.0.1:0"
	cfg.Data = t.TempDir()
	cfg.ConnectTimeout = 10 * time.Second
	cfg.LogLevel = "debug"
	return cfg
}

// startDispatcher builds and starts a dispatcher whose log is shown if the
// test fails and which is closed when the test ends.
func startDispatcher(t *testing.T, cfg dispatcher.Config) *dispatcher.Dispatcher {
	t.Helper()
	logs := &testutil.SyncBuffer{}
	log := zerolog.New(logs).Level(zerolog.DebugLevel).With().Timestamp().Logger()
	d, err := dispatcher.New(cfg, dispatcher.WithLogger(log))
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
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := d.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	return d
}

// publishReply is the answer to one event.
type publishReply struct {
	ID        string `json:"id"`
	StreamSeq uint64 `json:"stream_seq"`
	Duplicate bool   `json:"duplicate"`
	Error     string `json:"error"`
	Field     string `json:"field"`
}

// post sends body to POST /v1/events and decodes the JSON answer.
func post(t *testing.T, d *dispatcher.Dispatcher, body string) (int, publishReply) {
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
	var r publishReply
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("decode %q: %v", raw, err)
	}
	return resp.StatusCode, r
}

// get fetches path from the dispatcher's HTTP server.
func get(t *testing.T, d *dispatcher.Dispatcher, path string) (int, string) {
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

// readEvents reads the first want messages of the events stream, in
// order, as raw NATS messages.
func readEvents(t *testing.T, nc *nats.Conn, want int) []*nats.Msg {
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

// streamMsgs is the number of messages stored in stream.
func streamMsgs(nc *nats.Conn, stream string) (uint64, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return testutil.CountStored(ctx, js, stream, ">")
}

// metricValue finds one sample line "name{labels} value" in a scrape.
func metricValue(scrape, series string) (string, error) {
	for _, line := range strings.Split(scrape, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return strings.TrimSpace(v), nil
		}
	}
	return "", fmt.Errorf("series %s not in scrape", series)
}
