package console

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/heraldhq/herald/events/call"
	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/httpauth"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

//go:embed assets
var assets embed.FS

// DefaultPoll is how often the events' live rows and an event's report
// are re-read; the fleet and the calls, which read more, every 2 Poll.
const DefaultPoll = 500 * time.Millisecond

// readTimeout bounds the reads of one page.
const readTimeout = 10 * time.Second

// VerdictSource is the call-hook engine, as far as the console needs it:
// it tells a recorder every pre verdict (callhooks.Engine).
type VerdictSource interface {
	SetVerdictRecorder(record func(c call.Call, method string, v call.Verdict))
}

// Config says what the console reads and who may see it.
type Config struct {
	// JS returns the bus, nil while there is none.
	JS func() jetstream.JetStream
	// Registry, when set, makes every page need the token of an identity
	// with the read right (a viewer, dispatcher or admin); nil: open.
	Registry httpauth.Registry
	// Calls, when set, is told to record its pre verdicts in Verdicts.
	Calls VerdictSource
	// Verdicts is the record of this dispatcher's pre verdicts shown on
	// /ui/calls (a new one when nil).
	Verdicts *Verdicts
	// Poll is how often live regions are re-read (DefaultPoll when 0).
	Poll time.Duration
	Log  zerolog.Logger
}

// Validate names the first bad field.
func (c Config) Validate() error {
	switch {
	case c.JS == nil:
		return errors.New("console: js: required")
	case c.Poll < 0:
		return errors.New("console: poll: must not be negative")
	}
	return nil
}

// Console serves /ui/. Build it with New, Mount it, and Stop it when the
// HTTP server shuts down (which ends the open live streams).
type Console struct {
	cfg   Config
	pages map[string]*template.Template

	// servers are the HTTP servers Stop is registered with.
	servers sync.Map
	ctx     context.Context
	cancel  context.CancelFunc
}

// Mount builds a console from cfg and mounts it on mux; it logs why
// when it cannot (and mounts nothing).
func Mount(mux *http.ServeMux, cfg Config) *Console {
	cfg.Log = cfg.Log.With().Str("component", "console").Logger()
	c, err := New(cfg)
	if err != nil {
		cfg.Log.Error().Err(err).Msg("web console off")
		return nil
	}
	c.Mount(mux)
	return c
}

// New checks cfg and parses the embedded templates.
func New(cfg Config) (*Console, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Poll == 0 {
		cfg.Poll = DefaultPoll
	}
	if fr, ok := cfg.Registry.(*httpauth.FileRegistry); ok && fr == nil {
		cfg.Registry = nil // no --auth
	}
	if cfg.Verdicts == nil {
		cfg.Verdicts = NewVerdicts(0)
	}
	if cfg.Calls != nil {
		cfg.Calls.SetVerdictRecorder(cfg.Verdicts.RecordVerdict)
	}
	c := &Console{cfg: cfg, pages: map[string]*template.Template{}}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	base, err := template.New("layout.html").Funcs(funcs).ParseFS(assets, "assets/layout.html")
	if err != nil {
		return nil, fmt.Errorf("console: templates: %w", err)
	}
	for _, p := range []string{"fleet", "events", "event", "calls", "login"} {
		t, err := template.Must(base.Clone()).ParseFS(assets, "assets/"+p+".html")
		if err != nil {
			return nil, fmt.Errorf("console: template %s: %w", p, err)
		}
		c.pages[p] = t
	}
	return c, nil
}

// Stop ends every open live stream. A stream registers Stop with the
// HTTP server serving it (Shutdown waits for no stream).
func (c *Console) Stop() { c.cancel() }

// stopWith registers Stop with r's server, once per server.
func (c *Console) stopWith(r *http.Request) {
	if srv, ok := r.Context().Value(http.ServerContextKey).(*http.Server); ok {
		if _, seen := c.servers.LoadOrStore(srv, true); !seen {
			srv.RegisterOnShutdown(c.Stop)
		}
	}
}

// Mount adds the console's routes to mux.
func (c *Console) Mount(mux *http.ServeMux) {
	static, _ := fs.Sub(assets, "assets/static")
	mux.Handle("GET /ui/static/", http.StripPrefix("/ui/static/", http.FileServerFS(static)))
	mux.Handle("GET /ui", http.RedirectHandler("/ui/", http.StatusMovedPermanently))
	mux.HandleFunc("GET /ui/login", c.serveLoginForm)
	mux.HandleFunc("POST /ui/login", c.serveLogin)
	mux.HandleFunc("POST /ui/logout", c.serveLogout)
	mux.HandleFunc("GET /ui/{$}", c.page(c.serveFleet))
	mux.HandleFunc("GET /ui/events", c.page(c.serveEvents))
	mux.HandleFunc("GET /ui/events/{id}", c.page(c.serveEvent))
	mux.HandleFunc("GET /ui/calls", c.page(c.serveCalls))
	mux.HandleFunc("GET /ui/live/fleet", c.live(c.liveFleet))
	mux.HandleFunc("GET /ui/live/events", c.live(c.liveEvents))
	mux.HandleFunc("GET /ui/live/events/{id}", c.live(c.liveEvent))
	mux.HandleFunc("GET /ui/live/calls", c.live(c.liveCalls))
}

// js is the bus, or an error page's reason.
func (c *Console) js() (jetstream.JetStream, error) {
	if js := c.cfg.JS(); js != nil {
		return js, nil
	}
	return nil, errors.New("the dispatcher is not connected to NATS")
}

// layout is what every page's frame shows.
type layout struct {
	Title    string
	Nav      string
	Identity string
	Auth     bool
	Error    string
	Page     any
}

// render writes page p with data.
func (c *Console) render(w http.ResponseWriter, r *http.Request, code int, p, title string, data any, errMsg string) {
	l := layout{Title: title, Nav: p, Auth: c.cfg.Registry != nil, Error: errMsg, Page: data}
	if id, ok := auth.FromContext(r.Context()); ok {
		l.Identity = id.Name
	}
	var buf bytes.Buffer
	if err := c.pages[p].ExecuteTemplate(&buf, "layout.html", l); err != nil {
		c.cfg.Log.Error().Err(err).Str("page", p).Msg("console: cannot render a page")
		http.Error(w, "cannot render the page (see the dispatcher's log)", http.StatusInternalServerError)
		return
	}
	securityHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

// fragment renders template name of page p (a live region or a row).
func (c *Console) fragment(p, name string, data any) (string, error) {
	var buf bytes.Buffer
	if err := c.pages[p].ExecuteTemplate(&buf, name, data); err != nil {
		return "", err
	}
	return buf.String(), nil
}

// securityHeaders: nothing but the console's own assets, never framed.
func securityHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin") // no-referrer would make a form POST's Origin "null"
	h.Set("Cache-Control", "no-store")
}

// sse is an open Server-Sent Events stream.
type sse struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func (c *Console) openSSE(w http.ResponseWriter) *sse {
	rc := http.NewResponseController(w)
	// The server's write timeout is for answers, not for a stream.
	_ = rc.SetWriteDeadline(time.Time{})
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_ = rc.Flush()
	return &sse{w: w, rc: rc}
}

// send writes one event (name empty: a message) of data, each line its
// own data: field, with id when not empty.
func (s *sse) send(name, id, data string) error {
	var b strings.Builder
	if id != "" {
		fmt.Fprintf(&b, "id: %s\n", id)
	}
	if name != "" {
		fmt.Fprintf(&b, "event: %s\n", name)
	}
	for _, line := range strings.Split(data, "\n") {
		fmt.Fprintf(&b, "data: %s\n", line)
	}
	b.WriteString("\n")
	if _, err := s.w.Write([]byte(b.String())); err != nil {
		return err
	}
	return s.rc.Flush()
}

// streamCtx lives as long as the request and the console.
func (c *Console) streamCtx(r *http.Request) (context.Context, context.CancelFunc) {
	c.stopWith(r)
	ctx, cancel := context.WithCancel(r.Context())
	stop := context.AfterFunc(c.ctx, cancel)
	return ctx, func() { stop(); cancel() }
}

// pushChanges sends what render returns every interval, when it
// changed, until ctx ends.
func (c *Console) pushChanges(ctx context.Context, s *sse, every time.Duration, render func(context.Context) (string, error)) {
	t := time.NewTicker(every)
	defer t.Stop()
	last := ""
	for {
		rctx, cancel := context.WithTimeout(ctx, readTimeout)
		html, err := render(rctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err == nil && html != last {
			if s.send("", "", html) != nil {
				return
			}
			last = html
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
