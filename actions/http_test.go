package actions_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/actions"
	"github.com/heraldhq/herald/events"
)

// received is what a test server saw of one request.
type received struct {
	method string
	header http.Header
	body   string
}

// recorder is a real HTTP server that records requests and answers with
// the given status and body.
type recorder struct {
	mu   sync.Mutex
	reqs []received
	srv  *httptest.Server
}

func newRecorder(t *testing.T, status int, body string) *recorder {
	t.Helper()
	rec := &recorder{}
	rec.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, received{r.Method, r.Header.Clone(), string(b)})
		rec.mu.Unlock()
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(rec.srv.Close)
	return rec
}

func (r *recorder) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.reqs...)
}

func newHTTP(t *testing.T, cfg actions.HTTPConfig) *actions.HTTP {
	t.Helper()
	a, err := actions.NewHTTP(cfg)
	if err != nil {
		t.Fatalf("NewHTTP: %v", err)
	}
	return a
}

func TestHTTPConfig_Validate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   actions.HTTPConfig
		field string
	}{
		{"empty url", actions.HTTPConfig{}, "url"},
		{"no scheme", actions.HTTPConfig{URL: "example.com/hook"}, "url"},
		{"ftp", actions.HTTPConfig{URL: "ftp://example.com/"}, "url"},
		{"no host", actions.HTTPConfig{URL: "http:///x"}, "url"},
		{"negative timeout", actions.HTTPConfig{URL: "http://h/", Timeout: -time.Second}, "timeout"},
		{"bad header name", actions.HTTPConfig{URL: "http://h/", Header: map[string]string{"a b": "x"}}, "header"},
		{"header line break", actions.HTTPConfig{URL: "http://h/", Header: map[string]string{"X-A": "a\r\nb: c"}}, "header"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if !errors.Is(err, actions.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.field+":") {
				t.Fatalf("Validate = %v, want an ErrInvalidConfig naming %s", err, tc.field)
			}
		})
	}
	if err := (actions.HTTPConfig{URL: "https://ci.example.com/check?x=1"}).Validate(); err != nil {
		t.Fatalf("valid config rejected: %v", err)
	}
}

func TestHTTP_Kind(t *testing.T) {
	if k := newHTTP(t, actions.HTTPConfig{URL: "http://127.0.0.1:1/"}).Kind(); k != actions.KindHTTP {
		t.Fatalf("Kind = %q", k)
	}
}

func TestHTTP_Run(t *testing.T) {
	t.Run("2xx is ok, body and headers carry the event, body tail is stdout", func(t *testing.T) {
		rec := newRecorder(t, http.StatusAccepted, "looks good\n")
		a := newHTTP(t, actions.HTTPConfig{URL: rec.srv.URL + "/hook", Header: map[string]string{"Authorization": "Bearer t"}})
		req := request("ci/web/prod/api", []byte(`{"method":"create_job"}`))
		req.Event.DataContentType = "application/json"
		req.Env = map[string]string{"HERALD_JOB_NAME": "api", "HERALD_ARG_NOTE": "a\nb é%", "NOT_HERALD": "x"}
		res := a.Run(context.Background(), req)
		if res.Status != events.StatusOK || res.Err != nil {
			t.Fatalf("status %q err %v", res.Status, res.Err)
		}
		if res.Stdout != "looks good\n" || res.ExitCode != nil || res.Started.IsZero() || res.Duration <= 0 {
			t.Fatalf("result %+v", res)
		}
		got := rec.requests()
		if len(got) != 1 {
			t.Fatalf("%d requests, want 1", len(got))
		}
		r := got[0]
		if r.method != http.MethodPost || r.body != `{"method":"create_job"}` {
			t.Fatalf("request %s %q", r.method, r.body)
		}
		for h, want := range map[string]string{
			"Content-Type":     "application/json",
			"Ce-Specversion":   "1.0",
			"Ce-Id":            req.Event.ID,
			"Ce-Type":          "config.changed",
			"Ce-Subject":       "ci/web/prod/api",
			"Ce-Heraldversion": "42",
			"Herald-Watch":     "w1",
			"Herald-Host":      "host-a",
			"Herald-Attempt":   "1",
			"Herald-Job-Name":  "api",
			"Herald-Arg-Note":  "a%0Ab %C3%A9%25",
			"Authorization":    "Bearer t",
		} {
			if v := r.header.Get(h); v != want {
				t.Errorf("header %s = %q, want %q", h, v, want)
			}
		}
		if v := r.header.Get("Not-Herald"); v != "" {
			t.Errorf("a non-HERALD_ extra became header Not-Herald: %q", v)
		}
	})
	t.Run("non-2xx is failed with the status and the body", func(t *testing.T) {
		rec := newRecorder(t, http.StatusForbidden, "CI has not passed build 41")
		res := newHTTP(t, actions.HTTPConfig{URL: rec.srv.URL}).Run(context.Background(), request("k", nil))
		if res.Status != events.StatusFailed || res.Err == nil || !strings.Contains(res.Err.Error(), "403") {
			t.Fatalf("status %q err %v", res.Status, res.Err)
		}
		if res.Stdout != "CI has not passed build 41" {
			t.Fatalf("stdout %q", res.Stdout)
		}
	})
	t.Run("a redirect is not followed and fails", func(t *testing.T) {
		target := newRecorder(t, http.StatusOK, "")
		srv := httptest.NewServer(http.RedirectHandler(target.srv.URL, http.StatusFound))
		t.Cleanup(srv.Close)
		res := newHTTP(t, actions.HTTPConfig{URL: srv.URL}).Run(context.Background(), request("k", nil))
		if res.Status != events.StatusFailed {
			t.Fatalf("status %q err %v", res.Status, res.Err)
		}
		if n := len(target.requests()); n != 0 {
			t.Fatalf("redirect followed: %d requests", n)
		}
	})
	t.Run("the body tail is bounded", func(t *testing.T) {
		big := strings.Repeat("x", 3*events.TailBytes) + "END"
		rec := newRecorder(t, http.StatusOK, big)
		res := newHTTP(t, actions.HTTPConfig{URL: rec.srv.URL}).Run(context.Background(), request("k", nil))
		if len(res.Stdout) != events.TailBytes || !strings.HasSuffix(res.Stdout, "END") {
			t.Fatalf("stdout of %d bytes, suffix %q", len(res.Stdout), res.Stdout[len(res.Stdout)-3:])
		}
	})
	t.Run("timeout", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}))
		t.Cleanup(func() { close(release); srv.Close() })
		res := newHTTP(t, actions.HTTPConfig{URL: srv.URL, Timeout: 200 * time.Millisecond}).Run(context.Background(), request("k", nil))
		if res.Status != events.StatusTimeout || !errors.Is(res.Err, actions.ErrTimeout) {
			t.Fatalf("status %q err %v", res.Status, res.Err)
		}
		if res.Duration < 200*time.Millisecond {
			t.Fatalf("gave up after %v", res.Duration)
		}
	})
	t.Run("connection refused is error", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		res := newHTTP(t, actions.HTTPConfig{URL: "http://" + addr + "/"}).Run(context.Background(), request("k", nil))
		if res.Status != events.StatusError || !errors.Is(res.Err, actions.ErrStart) {
			t.Fatalf("status %q err %v", res.Status, res.Err)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		arrived := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			close(arrived)
			<-r.Context().Done()
		}))
		t.Cleanup(srv.Close)
		ctx, cancel := context.WithCancel(context.Background())
		go func() { <-arrived; cancel() }()
		res := newHTTP(t, actions.HTTPConfig{URL: srv.URL}).Run(ctx, request("k", nil))
		if res.Status != events.StatusFailed || !errors.Is(res.Err, actions.ErrCanceled) {
			t.Fatalf("status %q err %v", res.Status, res.Err)
		}
	})
}
