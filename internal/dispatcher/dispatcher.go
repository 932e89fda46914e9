package dispatcher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/auth/authserver"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/heraldhq/herald/internal/callhooks"
	"github.com/heraldhq/herald/internal/eventreport/reporthttp"
	"github.com/heraldhq/herald/internal/fleet"
	"github.com/heraldhq/herald/internal/handlers"
	"github.com/heraldhq/herald/internal/httpauth"
	"github.com/heraldhq/herald/internal/logging"
	"github.com/heraldhq/herald/internal/natsconn"
	"github.com/heraldhq/herald/internal/natsembed"
	"github.com/heraldhq/herald/internal/source"
	httpsource "github.com/heraldhq/herald/internal/source/http"
	"github.com/heraldhq/herald/internal/tracing"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Lifecycle errors.
var (
	// ErrStarted is returned by Start on a dispatcher already started.
	ErrStarted = errors.New("dispatcher already started")
	// ErrClosed is returned by Start after Close.
	ErrClosed = errors.New("dispatcher closed")
	// ErrNotReady is returned by Publish before Start or after Close.
	ErrNotReady = errors.New("dispatcher not ready")
	// ErrNotConnected is returned by Publish while the NATS connection is
	// down, rather than waiting for it to come back.
	ErrNotConnected = errors.New("not connected to nats")
)

// connName is how the dispatcher's connection shows on the server.
const connName = "herald-dispatcher"

// Option changes how New builds a dispatcher.
type Option func(*Dispatcher)

// WithLogger sets the logger; by default one is built from the config's
// log_format and log_level, writing to stderr.
func WithLogger(l zerolog.Logger) Option {
	return func(d *Dispatcher) { d.log = l; d.logSet = true }
}

// activeAgents is the fleet's agent check with --auth: an announcement
// counts only in the name of an active agent identity of the registry.
func (d *Dispatcher) activeAgents() func(name string) bool {
	reg, _ := d.registry.Current()
	return func(name string) bool {
		if reg == nil {
			return false
		}
		id, ok := reg.Lookup(name)
		return ok && id.Active() && id.Role == auth.RoleAgent
	}
}

// WithSource adds a source, run after the built-in HTTP source.
func WithSource(s Source) Option {
	return func(d *Dispatcher) { d.sources = append(d.sources, s) }
}

// Dispatcher owns the NATS server or connection, the HTTP server and the
// sources. Build it with New, then Start it; Close stops it.
type Dispatcher struct {
	cfg     Config
	log     zerolog.Logger
	logSet  bool
	m       *metrics
	sources []Source
	httpSrc *httpsource.Source
	// interest follows the agents' announcements for the sources, the
	// handlers and the call hooks (source.Env.Interest): the dispatcher's
	// one consumer on HERALD_AGENTS.
	interest *fleet.Tracker
	// calls is the call hooks engine, run as a source; handlers runs the
	// central outcome handlers that the hook files define (a source too).
	calls    *callhooks.Engine
	handlers *handlers.Engine
	// registry and guard authenticate the HTTP API (cfg.Auth; nil
	// without).
	registry *httpauth.FileRegistry
	guard    *httpauth.Guard
	// authW follows cfg.Auth's registry and account JWT (nil without
	// cfg.Auth); trust is its trust root, for the embedded server.
	authW *auth.Watcher
	trust *auth.Trust
	// storeCheck overrides stores.DefaultEvery (WithStoreCheck).
	storeCheck time.Duration
	// reports serves GET /v1/events/{id}/rollout (set by handler).
	reports *reporthttp.Handler
	tracer  *tracing.Provider // the stored spans of what it publishes; nil: not exported

	mu       sync.Mutex
	started  bool
	closed   bool
	srv      *server.Server
	nc       *nats.Conn
	js       jetstream.JetStream
	evStream jetstream.Stream
	httpSrv  *http.Server
	httpLn   net.Listener

	// runCtx lives from Start to Close; sources and the HTTP server run
	// under it, and wg owns every goroutine.
	runCtx context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	done     chan struct{}
	failOnce sync.Once
	failErr  error

	closeOnce sync.Once
	closeErr  error
}

// New validates cfg and builds a dispatcher. It does no I/O.
func New(cfg Config, opts ...Option) (*Dispatcher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Auth != "" && !cfg.Embedded() && cfg.NATS.Creds == "" {
		// An external server: the dispatcher's own identity unless told.
		cfg.NATS.Creds = filepath.Join(cfg.Auth, auth.DispatcherCredsFile)
	}
	d := &Dispatcher{cfg: cfg, done: make(chan struct{})}
	for _, o := range opts {
		o(d)
	}
	if !d.logSet {
		l, err := logging.New(os.Stderr, cfg.LogFormat, cfg.LogLevel)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
		}
		d.log = l
	}
	builtin, err := builtinSources(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if cfg.HTTP != "" {
		d.httpSrc = httpsource.New(d.log)
		builtin = append([]Source{d.httpSrc}, builtin...)
	}
	if d.tracer, err = tracing.New(cfg.OTLP, "herald-dispatcher", tracing.LogErrors(d.log)); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if d.calls, err = callhooks.New(callhooks.Config{Dir: cfg.Hooks, Disabled: cfg.HooksDisabled, Methods: cfg.CallMethods, Replicas: cfg.Streams.Replicas, RequireCaller: cfg.Auth != "", Tracer: d.tracer}); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	d.handlers = handlers.New(handlers.Config{})
	d.calls.SetHandlerSink(d.handlers)
	builtin = append(builtin, d.calls, d.handlers)
	d.sources = append(builtin, d.sources...)
	if cfg.Auth != "" {
		d.registry = httpauth.NewFileRegistry(cfg.Auth)
		d.guard = &httpauth.Guard{Registry: d.registry, Log: d.log.With().Str("component", "http-auth").Logger()}
	}
	d.m = newMetrics(d.Connected)
	d.m.setHooksDisabled(cfg.HooksDisabled != "")
	seen := map[string]bool{}
	for _, s := range d.sources {
		if seen[s.Name()] {
			return nil, fmt.Errorf("%w: two sources named %q", ErrInvalidConfig, s.Name())
		}
		seen[s.Name()] = true
		d.m.addSource(s.Name())
		// A source that keeps its own series (the ZooKeeper source's
		// reconnects, expiries, catch-ups) exposes them on /metrics.
		if c, ok := s.(prometheus.Collector); ok {
			if err := d.m.reg.Register(c); err != nil {
				return nil, fmt.Errorf("%w: metrics of source %s: %w", ErrInvalidConfig, s.Name(), err)
			}
		}
	}
	return d, nil
}

// Start starts the embedded server (or connects to the external one),
// ensures the streams, starts the HTTP server and the sources, and writes
// the ready file. ctx bounds the start only; the dispatcher runs until
// Close. On error everything started so far is stopped again.
func (d *Dispatcher) Start(ctx context.Context) error {
	d.mu.Lock()
	switch {
	case d.closed:
		d.mu.Unlock()
		return ErrClosed
	case d.started:
		d.mu.Unlock()
		return ErrStarted
	}
	d.started = true
	d.runCtx, d.cancel = context.WithCancel(context.Background())
	d.mu.Unlock()

	if err := d.start(ctx); err != nil {
		cctx, cancel := context.WithTimeout(context.Background(), d.cfg.ShutdownTimeout)
		defer cancel()
		_ = d.Close(cctx)
		return err
	}
	return nil
}

func (d *Dispatcher) start(ctx context.Context) error {
	authLog := natsconn.NewThrottle(natsconn.AuthLogEvery)
	handlers := []nats.Option{
		nats.ReconnectHandler(func(nc *nats.Conn) {
			d.m.reconnects.Inc()
			d.log.Info().Str("nats_url", natsconn.ConnectedURL(nc)).Msg("nats reconnected")
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				d.log.Warn().Err(natsconn.RedactError(err)).Msg("nats disconnected")
			}
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if natsconn.IsAuthError(err) {
				// A revoked identity is refused at every reconnect, several
				// times a second: log it once a minute, with the count.
				if ok, held := authLog.Allow(time.Now()); ok {
					d.log.Error().Err(natsconn.RedactError(err)).Int("refusals_not_logged", held).Msg("nats refused the dispatcher's credentials; still trying to reconnect")
				}
				return
			}
			d.log.Warn().Err(natsconn.RedactError(err)).Msg("nats async error")
		}),
	}
	if d.cfg.Auth != "" {
		if err := d.startAuth(); err != nil {
			return err
		}
	}
	var nc *nats.Conn
	if d.cfg.Embedded() {
		srv, err := natsembed.Start(natsembed.Config{
			Listen: d.cfg.NATSListen, Data: d.cfg.Data, NATS: d.cfg.NATS, Trust: d.trust, Ready: d.cfg.ConnectTimeout,
		}, d.log)
		if errors.Is(err, natsembed.ErrConfig) {
			return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
		}
		if err != nil {
			return err
		}
		d.mu.Lock()
		d.srv = srv
		d.mu.Unlock()
		// The in-process connection needs no network and no TLS, but it
		// authenticates like every other client.
		opts := append([]nats.Option{
			nats.Name(connName),
			nats.InProcessServer(srv),
			nats.MaxReconnects(-1),
			nats.ReconnectWait(100 * time.Millisecond),
		}, handlers...)
		switch {
		case d.cfg.NATS.User != "":
			opts = append(opts, nats.UserInfo(d.cfg.NATS.User, d.cfg.NATS.Password))
		case d.cfg.NATS.Token != "":
			opts = append(opts, nats.Token(d.cfg.NATS.Token))
		case d.cfg.Auth != "":
			ao, err := authserver.ClientOptions(d.cfg.Auth)
			if err != nil {
				return fmt.Errorf("%w: auth: %w", ErrInvalidConfig, err)
			}
			opts = append(opts, ao...)
		}
		nc, err = nats.Connect("", opts...)
		if err != nil {
			return fmt.Errorf("connect to embedded nats server: %w", err)
		}
	} else {
		var err error
		nc, err = natsconn.Connect(d.cfg.NATS, connName, d.cfg.ConnectTimeout, handlers...)
		if err != nil {
			return err
		}
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return fmt.Errorf("jetstream: %w", err)
	}
	d.mu.Lock()
	d.nc, d.js = nc, js
	d.mu.Unlock()

	if err := d.ensureStreams(ctx); err != nil {
		return err
	}
	// The buckets are created here so that /healthz is green from the
	// start; a failure is left to the store check, which retries.
	d.keeper(js).EnsureBuckets(ctx)
	ev, err := js.Stream(ctx, events.EventsStream)
	if err != nil {
		return fmt.Errorf("stream %s: %w", events.EventsStream, err)
	}
	d.mu.Lock()
	d.evStream = ev
	d.mu.Unlock()

	if d.registry != nil {
		if _, err := d.registry.Current(); err != nil {
			return fmt.Errorf("auth: %w", err)
		}
	}
	if d.cfg.HTTP != "" {
		// POST /v1/events works as soon as Start returns, not only once
		// the source's goroutine has run.
		d.httpSrc.SetPublisher(&sourcePublisher{d: d, name: d.httpSrc.Name()})
		if err := d.startHTTP(); err != nil {
			return err
		}
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		d.keeper(js).Run(d.runCtx, d.storeCheck)
	}()
	d.interest = fleet.New(js, d.log.With().Str("component", "interest").Logger())
	if d.registry != nil {
		d.interest.SetAgentCheck(d.activeAgents)
	}
	// The agents live, stale and stopped, on /metrics.
	if err := d.m.reg.Register(d.interest); err != nil {
		return fmt.Errorf("fleet metrics: %w", err)
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		_ = d.interest.Run(d.runCtx)
	}()
	for _, s := range d.sources {
		d.runSource(s)
	}
	// herald call is answered once the dispatcher says it is ready.
	select {
	case <-d.calls.Ready():
	case <-d.calls.Stopped():
		return errors.New("call hooks engine stopped before it was ready (see the log)")
	case <-ctx.Done():
		return ctx.Err()
	}
	mode := "external"
	if d.cfg.Embedded() {
		mode = "embedded"
	}
	// The log line comes first, so that whoever sees the ready file can
	// also find it.
	d.log.Info().
		Str("mode", mode).
		Str("nats_url", d.ClientURL()).
		Str("http_addr", d.HTTPAddr()).
		Msg("dispatcher ready")
	if d.cfg.ReadyFile != "" {
		if err := writeReadyFile(d.cfg.ReadyFile, d.ClientURL(), d.HTTPAddr()); err != nil {
			return err
		}
	}
	return nil
}

// ensureStreams creates or updates the streams, retrying while JetStream is
// not answering yet (a cluster still electing, a server still starting)
// until the connect timeout.
func (d *Dispatcher) ensureStreams(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.ConnectTimeout)
	defer cancel()
	for {
		actx, acancel := context.WithTimeout(ctx, 5*time.Second)
		err := bus.EnsureStreams(actx, d.js, d.cfg.Streams)
		acancel()
		if err == nil {
			return nil
		}
		if !jetStreamNotReady(err) || ctx.Err() != nil {
			return fmt.Errorf("ensure streams: %w", err)
		}
		d.log.Warn().Err(err).Msg("jetstream not ready, retrying")
		select {
		case <-ctx.Done():
			return fmt.Errorf("ensure streams: %w", err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// jetStreamNotReady reports whether err is JetStream not answering yet: no
// responders, a timeout, JetStream not enabled, or not enabled for the
// account (a cluster node that has not got the account's JWT, or whose
// JetStream is still starting, answers 10039).
func jetStreamNotReady(err error) bool {
	return errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, jetstream.ErrJetStreamNotEnabled) ||
		errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) ||
		errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, context.DeadlineExceeded)
}

func (d *Dispatcher) startHTTP() error {
	ln, err := net.Listen("tcp", d.cfg.HTTP)
	if err != nil {
		return fmt.Errorf("http: %w", err)
	}
	srv := &http.Server{
		Handler:           d.handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return d.runCtx },
	}
	if d.reports != nil {
		srv.RegisterOnShutdown(d.reports.Stop) // ends the open event streams
	}
	d.mu.Lock()
	d.httpSrv, d.httpLn = srv, ln
	d.mu.Unlock()
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.fail(fmt.Errorf("http: %w", err))
		}
	}()
	return nil
}

func (d *Dispatcher) runSource(s Source) {
	log := d.log.With().Str("source", s.Name()).Logger()
	env := source.Env{Pub: &sourcePublisher{d: d, name: s.Name()}, JS: d.js, Interest: d.interest, Log: log}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		log.Debug().Msg("source started")
		err := s.Run(d.runCtx, env)
		if err != nil && d.runCtx.Err() == nil {
			log.Error().Err(err).Msg("source failed")
			d.fail(fmt.Errorf("source %s: %w", s.Name(), err))
			return
		}
		log.Debug().Msg("source stopped")
	}()
}

// fail records the first fatal error and closes Done.
func (d *Dispatcher) fail(err error) {
	d.failOnce.Do(func() {
		d.failErr = err
		close(d.done)
	})
}

// Reload rescans the hook files now (SIGHUP), whether or not the hooks
// directory's change notifications work.
func (d *Dispatcher) Reload() {
	if d.calls != nil {
		d.calls.Reload()
	}
}

// Done is closed when the dispatcher fails on its own (a source or the
// HTTP server returned an error); Err tells why. Close does not close it.
func (d *Dispatcher) Done() <-chan struct{} { return d.done }

// Err is the error that closed Done, or nil.
func (d *Dispatcher) Err() error {
	select {
	case <-d.done:
		return d.failErr
	default:
		return nil
	}
}

// Close stops the HTTP server (waiting up to ctx's deadline, or the
// configured shutdown timeout, for requests in flight), stops the sources,
// flushes and closes the NATS connection, shuts the embedded server down
// and removes the ready file. It is safe to call more than once, from
// several goroutines and before Start (but not while Start runs); later
// calls return the first call's result.
func (d *Dispatcher) Close(ctx context.Context) error {
	d.closeOnce.Do(func() { d.closeErr = d.close(ctx) })
	return d.closeErr
}

func (d *Dispatcher) close(ctx context.Context) error {
	defer func() { _ = d.tracer.Close() }() // flushes within tracing.ShutdownTimeout
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.cfg.ShutdownTimeout)
		defer cancel()
	}
	d.mu.Lock()
	d.closed = true
	started := d.started
	httpSrv, nc, srv := d.httpSrv, d.nc, d.srv
	d.mu.Unlock()
	if !started {
		return nil
	}
	var errs []error
	if httpSrv != nil {
		if err := httpSrv.Shutdown(ctx); err != nil {
			_ = httpSrv.Close()
			errs = append(errs, fmt.Errorf("http shutdown: %w", err))
		}
	}
	d.cancel()
	d.wg.Wait()
	if nc != nil {
		// Every publish waited for its ack, so a failed flush loses
		// nothing; it is worth a warning, not an error.
		if nc.IsConnected() {
			if err := nc.FlushWithContext(ctx); err != nil {
				d.log.Warn().Err(err).Msg("nats flush at close")
			}
		}
		nc.Close()
	}
	if srv != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
	}
	if d.cfg.ReadyFile != "" {
		if err := os.Remove(d.cfg.ReadyFile); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("ready file: %w", err))
		}
	}
	d.log.Info().Msg("dispatcher stopped")
	return errors.Join(errs...)
}

// Connected reports whether the NATS connection is up.
func (d *Dispatcher) Connected() bool {
	d.mu.Lock()
	nc := d.nc
	d.mu.Unlock()
	return bus.IsConnected(nc)
}

// Addr is the embedded server's client listen address (host:port), or ""
// with an external server or before Start.
func (d *Dispatcher) Addr() string {
	d.mu.Lock()
	srv := d.srv
	d.mu.Unlock()
	if srv == nil {
		return ""
	}
	if a := srv.Addr(); a != nil {
		return a.String()
	}
	return ""
}

// ClientURL is the URL other components connect to: the embedded server's
// (nats:// or tls://), or the external server currently connected (with
// any password redacted). It is "" before Start.
func (d *Dispatcher) ClientURL() string {
	d.mu.Lock()
	srv, nc := d.srv, d.nc
	d.mu.Unlock()
	switch {
	case srv != nil:
		return localURL(srv.ClientURL())
	case nc != nil:
		return natsconn.ConnectedURL(nc)
	}
	return ""
}

// localURL replaces an unspecified listen host (0.0.0.0, ::) with the
// loopback address, which a client can dial.
func localURL(u string) string {
	pu, err := url.Parse(u)
	if err != nil {
		return u
	}
	if ip := net.ParseIP(pu.Hostname()); ip != nil && ip.IsUnspecified() {
		lo := "127.0.0.1"
		if ip.To4() == nil {
			lo = "::1"
		}
		pu.Host = net.JoinHostPort(lo, pu.Port())
	}
	return pu.String()
}

// HTTPAddr is the HTTP server's bound address, or "" when HTTP is off or
// before Start.
func (d *Dispatcher) HTTPAddr() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.httpLn == nil {
		return ""
	}
	return d.httpLn.Addr().String()
}

// publish stores e for the named source and counts it.
func (d *Dispatcher) publish(ctx context.Context, source string, e events.Event) (PublishResult, error) {
	d.mu.Lock()
	js, ev, closed, nc := d.js, d.evStream, d.closed, d.nc
	d.mu.Unlock()
	if js == nil || closed {
		d.m.errors.WithLabelValues(source).Inc()
		return PublishResult{}, ErrNotReady
	}
	if !nc.IsConnected() {
		d.m.errors.WithLabelValues(source).Inc()
		return PublishResult{}, ErrNotConnected
	}
	ack, err := bus.PublishStored(ctx, js, d.tracer, &e) // in a new trace unless e carries one
	if err != nil {
		d.m.errors.WithLabelValues(source).Inc()
		d.log.Warn().Err(err).Str("source", source).
			Str(logging.FieldEventID, e.ID).Str(logging.FieldType, e.Type).Str(logging.FieldKey, e.Key).
			Msg("publish failed")
		return PublishResult{}, err
	}
	res := PublishResult{ID: e.ID, Stream: ack.Stream, Seq: ack.Sequence, Duplicate: ack.Duplicate}
	if ack.Duplicate {
		d.m.duplicates.WithLabelValues(source).Inc()
		if ev != nil && ack.Stream == events.EventsStream {
			if m, err := ev.GetMsg(ctx, ack.Sequence); err == nil && m.Header.Get(events.HeaderID) != "" {
				res.ID = m.Header.Get(events.HeaderID)
			}
		}
	} else {
		d.m.published.WithLabelValues(source).Inc()
	}
	d.log.Info().Str("source", source).
		Str(logging.FieldEventID, res.ID).Str(logging.FieldType, e.Type).Str(logging.FieldKey, e.Key).
		Str("version", e.Version).Uint64("stream_seq", res.Seq).Bool("duplicate", res.Duplicate).
		Msg("event published")
	return res, nil
}

// sourcePublisher is the Publisher handed to one source: it labels the
// metrics with the source's name.
type sourcePublisher struct {
	d    *Dispatcher
	name string
}

func (p *sourcePublisher) Publish(ctx context.Context, e events.Event) (PublishResult, error) {
	return p.d.publish(ctx, p.name, e)
}

// ReadyInfo is the content of the ready file.
type ReadyInfo struct {
	NATSURL  string `json:"nats_url"`
	HTTPAddr string `json:"http_addr"`
}

// writeReadyFile writes the ready file atomically: a temporary file in the
// same directory, renamed over path.
func writeReadyFile(path, natsURL, httpAddr string) error {
	data, err := json.Marshal(ReadyInfo{NATSURL: natsURL, HTTPAddr: httpAddr})
	if err != nil {
		return fmt.Errorf("ready file: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("ready file: %w", err)
	}
	tmp := f.Name()
	_, werr := f.Write(append(data, '\n'))
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("ready file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("ready file: %w", err)
	}
	return nil
}
