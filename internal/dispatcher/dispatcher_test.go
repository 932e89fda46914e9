package dispatcher_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/dispatcher"
	"github.com/heraldhq/herald/internal/source"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

func TestDispatcher_Start(t *testing.T) {
	t.Run("embedded server creates the streams as configured", func(t *testing.T) {
		cfg := testConfig(t)
		cfg.Streams.DedupWindow = 90 * time.Second
		cfg.Streams.EventsPerKey = 7
		cfg.Streams.OutcomesPerSubject = 11
		d := startDispatcher(t, cfg)

		if d.Addr() == "" || strings.HasSuffix(d.Addr(), ":0") {
			t.Fatalf("Addr() = %q, want the bound address", d.Addr())
		}
		if !strings.HasPrefix(d.ClientURL(), "nats://127.0.0.1:") || strings.HasSuffix(d.ClientURL(), ":0") {
			t.Fatalf("ClientURL() = %q", d.ClientURL())
		}
		nc, err := nats.Connect(d.ClientURL())
		if err != nil {
			t.Fatalf("connect to embedded server: %v", err)
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		want := map[string]struct {
			subject string
			perSubj int64
			dedup   time.Duration
		}{
			events.EventsStream:   {"herald.event.>", 7, 90 * time.Second},
			events.OutcomesStream: {"herald.outcome.>", 11, 90 * time.Second},
			events.AgentsStream:   {"herald.agent.>", 1, 0},
		}
		for name, w := range want {
			s, err := js.Stream(ctx, name)
			if err != nil {
				t.Fatalf("stream %s: %v", name, err)
			}
			c := s.CachedInfo().Config
			if c.Storage != jetstream.FileStorage {
				t.Errorf("%s storage = %v, want file", name, c.Storage)
			}
			if len(c.Subjects) != 1 || c.Subjects[0] != w.subject {
				t.Errorf("%s subjects = %v, want %s", name, c.Subjects, w.subject)
			}
			if c.MaxMsgsPerSubject != w.perSubj {
				t.Errorf("%s max msgs per subject = %d, want %d", name, c.MaxMsgsPerSubject, w.perSubj)
			}
			if w.dedup != 0 && c.Duplicates != w.dedup {
				t.Errorf("%s dedup window = %v, want %v", name, c.Duplicates, w.dedup)
			}
		}
		if _, err := os.Stat(filepath.Join(cfg.Data, "jetstream")); err != nil {
			t.Errorf("no JetStream store under the data dir: %v", err)
		}
	})

	t.Run("two dispatchers ensuring the same streams at once", func(t *testing.T) {
		s := testutil.RunNATS(t)
		errs := make(chan error, 2)
		for range 2 {
			cfg := testConfig(t)
			cfg.NATS.URL = s.ClientURL()
			d, _ := newDispatcher(t, cfg)
			go func() { errs <- d.Start(context.Background()) }()
		}
		for range 2 {
			if err := <-errs; err != nil {
				t.Fatalf("Start: %v", err)
			}
		}
	})

	t.Run("listening on all interfaces reports a dialable URL", func(t *testing.T) {
		cfg := testConfig(t)
		cfg.NATSListen = "0.0.0.0:0"
		d := startDispatcher(t, cfg)
		if !strings.HasPrefix(d.ClientURL(), "nats://127.0.0.1:") {
			t.Fatalf("ClientURL() = %q, want nats://127.0.0.1:<port>", d.ClientURL())
		}
		nc, err := nats.Connect(d.ClientURL())
		if err != nil {
			t.Fatal(err)
		}
		nc.Close()
	})

	t.Run("twice fails, after Close fails", func(t *testing.T) {
		d := startDispatcher(t, testConfig(t))
		if err := d.Start(context.Background()); !errors.Is(err, dispatcher.ErrStarted) {
			t.Fatalf("second Start = %v, want ErrStarted", err)
		}
		if err := d.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := d.Start(context.Background()); !errors.Is(err, dispatcher.ErrClosed) {
			t.Fatalf("Start after Close = %v, want ErrClosed", err)
		}
	})

	t.Run("port in use fails and cleans up", func(t *testing.T) {
		first := startDispatcher(t, testConfig(t))
		cfg := testConfig(t)
		cfg.NATSListen = first.Addr()
		cfg.ConnectTimeout = 3 * time.Second
		d, _ := newDispatcher(t, cfg)
		err := d.Start(context.Background())
		if err == nil {
			t.Fatal("Start on a port in use succeeded")
		}
		if !strings.Contains(err.Error(), "embedded nats server") {
			t.Errorf("error %q does not say what failed", err)
		}
		if d.Addr() != "" || d.HTTPAddr() != "" {
			t.Errorf("failed Start left listeners: nats %q http %q", d.Addr(), d.HTTPAddr())
		}
	})
}

func TestDispatcher_Close(t *testing.T) {
	t.Run("twice is safe and stops everything", func(t *testing.T) {
		cfg := testConfig(t)
		cfg.ReadyFile = filepath.Join(t.TempDir(), "ready.json")
		d := startDispatcher(t, cfg)
		httpAddr := d.HTTPAddr()
		if _, err := os.Stat(cfg.ReadyFile); err != nil {
			t.Fatalf("ready file: %v", err)
		}
		// A client of the embedded server loses it for good on Close.
		closed := make(chan struct{})
		nc, err := nats.Connect(d.ClientURL(), nats.NoReconnect(), nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		for i := range 2 {
			if err := d.Close(context.Background()); err != nil {
				t.Fatalf("Close #%d: %v", i+1, err)
			}
		}
		if _, err := http.Get("http://" + httpAddr + "/healthz"); err == nil {
			t.Error("HTTP still answers after Close")
		}
		select {
		case <-closed:
		case <-time.After(10 * time.Second):
			t.Error("embedded NATS server still serving after Close")
		}
		if _, err := os.Stat(cfg.ReadyFile); !os.IsNotExist(err) {
			t.Errorf("ready file left behind: %v", err)
		}
	})

	t.Run("before Start", func(t *testing.T) {
		d, _ := newDispatcher(t, testConfig(t))
		if err := d.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := d.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("concurrently", func(t *testing.T) {
		d := startDispatcher(t, testConfig(t))
		errs := make(chan error, 3)
		for range 3 {
			go func() { errs <- d.Close(context.Background()) }()
		}
		for range 3 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	})
}

func TestDispatcher_ReadyFile(t *testing.T) {
	cfg := testConfig(t)
	cfg.ReadyFile = filepath.Join(t.TempDir(), "ready.json")
	d := startDispatcher(t, cfg)
	raw, err := os.ReadFile(cfg.ReadyFile)
	if err != nil {
		t.Fatal(err)
	}
	var got dispatcher.ReadyInfo
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("ready file %q: %v", raw, err)
	}
	if got.NATSURL != d.ClientURL() || got.HTTPAddr != d.HTTPAddr() {
		t.Fatalf("ready file = %+v, want nats_url %s http_addr %s", got, d.ClientURL(), d.HTTPAddr())
	}
	entries, _ := os.ReadDir(filepath.Dir(cfg.ReadyFile))
	if len(entries) != 1 {
		t.Errorf("temporary files left next to the ready file: %v", entries)
	}
}

func TestDispatcher_Auth(t *testing.T) {
	t.Run("embedded server requires user and password", func(t *testing.T) {
		cfg := testConfig(t)
		cfg.NATS.User, cfg.NATS.Password = "herald", "s3cret"
		d := startDispatcher(t, cfg)

		if nc, err := nats.Connect(d.ClientURL()); err == nil {
			nc.Close()
			t.Fatal("unauthenticated client accepted")
		} else if !errors.Is(err, nats.ErrAuthorization) {
			t.Fatalf("unauthenticated connect: %v, want authorization violation", err)
		}
		if nc, err := nats.Connect(d.ClientURL(), nats.UserInfo("herald", "wrong")); err == nil {
			nc.Close()
			t.Fatal("client with a wrong password accepted")
		}
		nc, err := nats.Connect(d.ClientURL(), nats.UserInfo("herald", "s3cret"))
		if err != nil {
			t.Fatalf("authenticated connect: %v", err)
		}
		defer nc.Close()
		// The dispatcher's own connection authenticated too: it publishes.
		code, r := post(t, d, `{"type":"auth.test","key":"k","data":"x"}`)
		if code != http.StatusCreated {
			t.Fatalf("POST = %d %+v", code, r)
		}
		if got := readEvents(t, nc, 1); string(got[0].Data) != "x" {
			t.Fatalf("stored data %q", got[0].Data)
		}
	})

	t.Run("embedded server requires the token", func(t *testing.T) {
		cfg := testConfig(t)
		cfg.NATS.Token = "t0ken"
		d := startDispatcher(t, cfg)
		if nc, err := nats.Connect(d.ClientURL()); err == nil {
			nc.Close()
			t.Fatal("client without token accepted")
		}
		nc, err := nats.Connect(d.ClientURL(), nats.Token("t0ken"))
		if err != nil {
			t.Fatalf("connect with token: %v", err)
		}
		nc.Close()
		if code, r := post(t, d, `{"type":"auth.test","key":"k"}`); code != http.StatusCreated {
			t.Fatalf("POST = %d %+v", code, r)
		}
	})
}

func TestDispatcher_External(t *testing.T) {
	t.Run("no auth", func(t *testing.T) {
		s := testutil.RunNATS(t)
		cfg := testConfig(t)
		cfg.NATS.URL = s.ClientURL()
		cfg.Data = "" // unused with an external server
		d := startDispatcher(t, cfg)
		if d.Addr() != "" {
			t.Errorf("Addr() = %q with an external server, want empty", d.Addr())
		}
		if d.ClientURL() != s.ClientURL() {
			t.Errorf("ClientURL() = %q, want %q", d.ClientURL(), s.ClientURL())
		}
		code, r := post(t, d, `{"type":"ext.test","key":"/a/b","data":"payload"}`)
		if code != http.StatusCreated {
			t.Fatalf("POST = %d %+v", code, r)
		}
		msgs := readEvents(t, testutil.Connect(t, s), 1)
		if msgs[0].Header.Get(events.HeaderID) != r.ID {
			t.Fatalf("stored ce-id %q, answered id %q", msgs[0].Header.Get(events.HeaderID), r.ID)
		}
		code, body := get(t, d, "/healthz")
		if code != http.StatusOK || !strings.Contains(body, `"mode":"external"`) {
			t.Fatalf("healthz = %d %s", code, body)
		}
	})

	t.Run("token auth", func(t *testing.T) {
		s := testutil.RunNATSWithOptions(t, &server.Options{Authorization: "ext-token"})
		cfg := testConfig(t)
		cfg.NATS.URL = s.ClientURL()
		cfg.NATS.Token = "ext-token"
		d := startDispatcher(t, cfg)
		if code, r := post(t, d, `{"type":"ext.test","key":"k"}`); code != http.StatusCreated {
			t.Fatalf("POST = %d %+v", code, r)
		}
		n, err := streamMsgs(testutil.Connect(t, s, nats.Token("ext-token")), events.EventsStream)
		if err != nil || n != 1 {
			t.Fatalf("events stored = %d, %v; want 1", n, err)
		}
	})

	t.Run("wrong token fails to start", func(t *testing.T) {
		s := testutil.RunNATSWithOptions(t, &server.Options{Authorization: "ext-token"})
		cfg := testConfig(t)
		cfg.NATS.URL = s.ClientURL()
		cfg.NATS.Token = "wrong"
		cfg.ConnectTimeout = time.Second
		d, _ := newDispatcher(t, cfg)
		if err := d.Start(context.Background()); err == nil {
			t.Fatal("Start with a wrong token succeeded")
		}
		if d.HTTPAddr() != "" {
			t.Error("failed Start left the HTTP server up")
		}
	})

	t.Run("connection loss: healthz follows the connection, reconnects are counted", func(t *testing.T) {
		s := testutil.RunNATS(t)
		proxy := testutil.StartProxy(t, s.Addr().String())
		cfg := testConfig(t)
		cfg.NATS.URL = "nats://" + proxy.Addr()
		d := startDispatcher(t, cfg)

		proxy.SetDown(true)
		testutil.Eventually(t, 10*time.Second, func() error {
			if code, body := get(t, d, "/healthz"); code != http.StatusServiceUnavailable || !strings.Contains(body, `"nats":"disconnected"`) {
				return fmt.Errorf("healthz = %d %s", code, body)
			}
			return nil
		})
		if code, r := post(t, d, `{"type":"ext.test","key":"k"}`); code != http.StatusServiceUnavailable {
			t.Errorf("POST while disconnected = %d %+v, want 503", code, r)
		}
		_, scrape := get(t, d, "/metrics")
		if v, err := metricValue(scrape, `herald_dispatcher_publish_errors_total{source="http"}`); err != nil || v != "1" {
			t.Errorf("publish errors = %q, %v; want 1", v, err)
		}

		proxy.SetDown(false)
		testutil.Eventually(t, 10*time.Second, func() error {
			if code, body := get(t, d, "/healthz"); code != http.StatusOK {
				return fmt.Errorf("healthz = %d %s", code, body)
			}
			return nil
		})
		// The reconnect handler runs asynchronously.
		testutil.Eventually(t, 10*time.Second, func() error {
			_, scrape := get(t, d, "/metrics")
			if v, err := metricValue(scrape, "herald_nats_reconnects_total"); err != nil || v != "1" {
				return fmt.Errorf("herald_nats_reconnects_total = %q, %v; want 1", v, err)
			}
			return nil
		})
		if code, r := post(t, d, `{"type":"ext.test","key":"k"}`); code != http.StatusCreated {
			t.Errorf("POST after reconnect = %d %+v", code, r)
		}
	})
}

func TestDispatcher_Health(t *testing.T) {
	s := testutil.RunNATS(t)
	cfg := testConfig(t)
	cfg.NATS.URL = s.ClientURL()
	// Checked for missing streams only after the test: the 503 below
	// cannot race a repair.
	d := startDispatcher(t, cfg, dispatcher.WithStoreCheck(time.Hour))

	code, body := get(t, d, "/healthz")
	var h map[string]any
	if err := json.Unmarshal([]byte(body), &h); err != nil {
		t.Fatalf("healthz body %q: %v", body, err)
	}
	if code != http.StatusOK || h["status"] != "ok" || h["nats"] != "connected" {
		t.Fatalf("healthz = %d %s", code, body)
	}

	// A stream deleted behind the dispatcher's back makes it unhealthy.
	js, err := jetstream.New(testutil.Connect(t, s))
	if err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteStream(context.Background(), events.OutcomesStream); err != nil {
		t.Fatal(err)
	}
	code, body = get(t, d, "/healthz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, events.OutcomesStream) {
		t.Fatalf("healthz without %s = %d %s, want 503 naming it", events.OutcomesStream, code, body)
	}
}

func TestDispatcher_Metrics(t *testing.T) {
	d := startDispatcher(t, testConfig(t))
	_, scrape := get(t, d, "/metrics")
	for _, series := range []string{
		`herald_dispatcher_events_published_total{source="http"}`,
		`herald_dispatcher_publish_errors_total{source="http"}`,
		`herald_nats_reconnects_total`,
	} {
		if v, err := metricValue(scrape, series); err != nil || v != "0" {
			t.Errorf("%s = %q, %v; want 0 before any event", series, v, err)
		}
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if !strings.Contains(scrape, "\n"+name+" ") {
			t.Errorf("scrape has no %s", name)
		}
	}

	post(t, d, `{"type":"m.test","key":"k","version":"1"}`)
	post(t, d, `{"type":"m.test","key":"k","version":"1"}`)
	post(t, d, `{"type":"m.test","key":"k2"}`)
	_, scrape = get(t, d, "/metrics")
	for series, want := range map[string]string{
		`herald_dispatcher_events_published_total{source="http"}`: "2",
		`herald_dispatcher_events_duplicate_total{source="http"}`: "1",
		`herald_nats_connected`:                                   "1",
	} {
		if v, err := metricValue(scrape, series); err != nil || v != want {
			t.Errorf("%s = %q, %v; want %s", series, v, err, want)
		}
	}

	// Metrics are per instance: a second dispatcher starts from zero.
	d2 := startDispatcher(t, testConfig(t))
	_, scrape = get(t, d2, "/metrics")
	if v, _ := metricValue(scrape, `herald_dispatcher_events_published_total{source="http"}`); v != "0" {
		t.Errorf("second dispatcher counts %s events it never published", v)
	}
}

// fileSource is a test Source: it publishes the events it is given, then
// fails if told to.
type fileSource struct {
	name   string
	events []events.Event
	fail   error
	done   chan dispatcher.PublishResult
}

func (s *fileSource) Name() string { return s.name }

func (s *fileSource) Run(ctx context.Context, env source.Env) error {
	pub := env.Pub
	for _, e := range s.events {
		res, err := pub.Publish(ctx, e)
		if err != nil {
			return err
		}
		s.done <- res
	}
	if s.fail != nil {
		return s.fail
	}
	<-ctx.Done()
	return nil
}

func TestDispatcher_Source(t *testing.T) {
	t.Run("a plugged-in source publishes through the dispatcher", func(t *testing.T) {
		src := &fileSource{
			name:   "zk",
			events: []events.Event{events.New("zk://test", "zk.node", "/app/config", []byte("v1"))},
			done:   make(chan dispatcher.PublishResult, 1),
		}
		d := startDispatcher(t, testConfig(t), dispatcher.WithSource(src))
		var res dispatcher.PublishResult
		select {
		case res = <-src.done:
		case <-time.After(10 * time.Second):
			t.Fatal("source did not publish")
		}
		if res.Seq != 1 || res.Stream != events.EventsStream || res.Duplicate {
			t.Fatalf("result = %+v", res)
		}
		_, scrape := get(t, d, "/metrics")
		if v, err := metricValue(scrape, `herald_dispatcher_events_published_total{source="zk"}`); err != nil || v != "1" {
			t.Errorf(`published{source="zk"} = %q, %v; want 1`, v, err)
		}
		select {
		case <-d.Done():
			t.Fatalf("dispatcher failed: %v", d.Err())
		default:
		}
	})

	t.Run("a failing source fails the dispatcher", func(t *testing.T) {
		boom := errors.New("session expired")
		src := &fileSource{name: "zk", fail: boom, done: make(chan dispatcher.PublishResult)}
		d := startDispatcher(t, testConfig(t), dispatcher.WithSource(src))
		select {
		case <-d.Done():
		case <-time.After(10 * time.Second):
			t.Fatal("Done not closed after the source failed")
		}
		if !errors.Is(d.Err(), boom) || !strings.Contains(d.Err().Error(), "zk") {
			t.Fatalf("Err() = %v, want the source's error naming it", d.Err())
		}
	})

	t.Run("duplicate source names are refused", func(t *testing.T) {
		// With a logger given: logging.New sets a zerolog global, which
		// races with the loggers of servers still stopping in this process.
		_, err := dispatcher.New(testConfig(t), dispatcher.WithLogger(zerolog.Nop()), dispatcher.WithSource(&fileSource{name: "http"}))
		if !errors.Is(err, dispatcher.ErrInvalidConfig) {
			t.Fatalf("New = %v, want ErrInvalidConfig", err)
		}
	})
}

func TestDispatcher_HTTPDisabled(t *testing.T) {
	cfg := testConfig(t)
	cfg.HTTP = ""
	d := startDispatcher(t, cfg)
	if d.HTTPAddr() != "" {
		t.Fatalf("HTTPAddr() = %q with http off", d.HTTPAddr())
	}
}

func TestDispatcher_EmbeddedBinaryPayload(t *testing.T) {
	// Covered in http_test.go for the HTTP path; here the in-process
	// publisher path keeps raw bytes too.
	payload := []byte{0, 1, 2, 0xff, '\n'}
	src := &fileSource{
		name:   "bin",
		events: []events.Event{events.New("test://bin", "bin.test", "k", payload)},
		done:   make(chan dispatcher.PublishResult, 1),
	}
	d := startDispatcher(t, testConfig(t), dispatcher.WithSource(src))
	<-src.done
	nc, err := nats.Connect(d.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	got := readEvents(t, nc, 1)[0]
	if string(got.Data) != string(payload) {
		t.Fatalf("payload = %q, want %q (base64 would be %q)", got.Data, payload, base64.StdEncoding.EncodeToString(payload))
	}
}
