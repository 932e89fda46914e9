package actions

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/fielderr"
)

// KindHTTP is the Kind of an HTTP action.
const KindHTTP = "http"

// DefaultHTTPTimeout bounds a request when HTTPConfig.Timeout is 0.
const DefaultHTTPTimeout = 30 * time.Second

// HTTP request headers an HTTP action sets besides the CloudEvents ones.
const (
	HeaderWatch   = "Herald-Watch"
	HeaderHost    = "Herald-Host"
	HeaderAttempt = "Herald-Attempt"
)

// HTTPConfig configures an HTTP action.
type HTTPConfig struct {
	// URL receives a POST per run; http or https.
	URL string
	// Timeout bounds one request, from connecting to the end of the
	// response body; 0 means DefaultHTTPTimeout.
	Timeout time.Duration
	// Header adds request headers (e.g. Authorization).
	Header map[string]string
	// Client sends the requests; nil means a client of its own with no
	// redirects followed (a redirect is a failed run).
	Client *http.Client
}

// Validate checks the config; each error wraps ErrInvalidConfig and names
// the field.
func (c HTTPConfig) Validate() error {
	errs := fielderr.List{Sentinel: ErrInvalidConfig}
	u, err := url.Parse(c.URL)
	switch {
	case c.URL == "":
		errs.Add("url", "is empty")
	case err != nil:
		errs.Add("url", "%v", err)
	case u.Scheme != "http" && u.Scheme != "https":
		errs.Add("url", "%q: want an http:// or https:// URL", c.URL)
	case u.Host == "":
		errs.Add("url", "%q has no host", c.URL)
	}
	if c.Timeout < 0 {
		errs.Add("timeout", "must not be negative, got %v", c.Timeout)
	}
	for k, v := range c.Header {
		if k == "" || strings.ContainsAny(k, " \t\r\n:") {
			errs.Add("header", "invalid header name %q", k)
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			errs.Add("header", "value of %q contains a line break or NUL", k)
		}
	}
	return errs.Err()
}

// HTTP posts the event to a URL. The body is the event data as it is (for
// call hooks, the call's JSON), with the event's content type; the event's
// attributes travel in the ce-* headers of the CloudEvents HTTP binding
// (binary mode), and the run's watch, host, attempt and Request.Env in
// Herald-* headers (HERALD_JOB_NAME becomes Herald-Job-Name). Header values
// are percent-encoded where they hold control characters, '%' or
// non-ASCII bytes (events.HTTPHeaderValue).
//
// A 2xx answer is status ok; any other answer is failed, with the HTTP
// status in Err; no answer within the timeout is timeout; a request that
// could not be sent (bad URL, connection refused, DNS) is error. Stdout
// holds the last events.TailBytes of the response body. ExitCode is never
// set.
type HTTP struct {
	cfg HTTPConfig
}

var _ Action = (*HTTP)(nil)

// NewHTTP validates cfg and returns the action.
func NewHTTP(cfg HTTPConfig) (*HTTP, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Header = maps.Clone(cfg.Header)
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultHTTPTimeout
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return &HTTP{cfg: cfg}, nil
}

// Kind returns "http".
func (h *HTTP) Kind() string { return KindHTTP }

// Run posts once. Cancelling ctx aborts the request (status failed,
// ErrCanceled).
func (h *HTTP) Run(ctx context.Context, req Request) Result {
	res := Result{Start: time.Now()}
	finish := func(st events.Status, err error) Result {
		res.Status, res.Err = st, err
		res.Duration = time.Since(res.Start)
		return res
	}
	if ctx.Err() != nil {
		return finish(events.StatusError, fmt.Errorf("%w: %w", ErrStart, context.Cause(ctx)))
	}
	rctx, cancel := context.WithTimeoutCause(ctx, h.cfg.Timeout, ErrTimeout)
	defer cancel()
	hr, err := http.NewRequestWithContext(rctx, http.MethodPost, h.cfg.URL, bytes.NewReader(req.Event.Data))
	if err != nil {
		return finish(events.StatusError, fmt.Errorf("%w: %w", ErrStart, err))
	}
	h.setHeaders(hr, req)
	res.Started = time.Now()
	resp, err := h.cfg.Client.Do(hr)
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return finish(events.StatusFailed, fmt.Errorf("%w: %w", ErrCanceled, context.Cause(ctx)))
		case errors.Is(context.Cause(rctx), ErrTimeout):
			return finish(events.StatusTimeout, fmt.Errorf("%w after %v: %w", ErrTimeout, h.cfg.Timeout, err))
		}
		// Nothing was answered: the request could not be delivered.
		return finish(events.StatusError, fmt.Errorf("%w: %w", ErrStart, err))
	}
	defer resp.Body.Close()
	body := NewTailBuffer(events.TailBytes)
	_, rerr := io.Copy(body, resp.Body)
	res.Stdout = body.String()
	switch {
	case rerr != nil && ctx.Err() != nil:
		return finish(events.StatusFailed, fmt.Errorf("%w: %w", ErrCanceled, context.Cause(ctx)))
	case rerr != nil && errors.Is(context.Cause(rctx), ErrTimeout):
		return finish(events.StatusTimeout, fmt.Errorf("%w after %v reading the response: %w", ErrTimeout, h.cfg.Timeout, rerr))
	case resp.StatusCode/100 != 2:
		return finish(events.StatusFailed, fmt.Errorf("HTTP %s", resp.Status))
	case rerr != nil:
		return finish(events.StatusFailed, fmt.Errorf("reading the response: %w", rerr))
	}
	return finish(events.StatusOK, nil)
}

func (h *HTTP) setHeaders(hr *http.Request, req Request) {
	ev := req.Event
	ct := ev.DataContentType
	if ct == "" {
		ct = events.DefaultContentType
	}
	hdr := hr.Header
	hdr.Set("Content-Type", ct)
	set := func(name, v string) { hdr.Set(name, events.HTTPHeaderValue(v)) }
	set(events.HeaderSpecVersion, events.SpecVersion)
	set(events.HeaderID, ev.ID)
	set(events.HeaderSource, ev.Source)
	set(events.HeaderType, ev.Type)
	set(events.HeaderSubject, ev.Key)
	if !ev.Time.IsZero() {
		set(events.HeaderTime, ev.Time.UTC().Format(time.RFC3339Nano))
	}
	if ev.Version != "" {
		set(events.HeaderVersion, ev.Version)
	}
	for _, name := range slices.Sorted(maps.Keys(req.Env)) {
		if validExtraEnv(name) {
			set(envHeader(name), req.Env[name])
		}
	}
	set(HeaderWatch, req.Watch)
	set(HeaderHost, req.Host)
	set(HeaderAttempt, strconv.Itoa(req.Attempt))
	if req.TraceParent != "" {
		set("traceparent", req.TraceParent)
		set("tracestate", req.TraceState)
	}
	for k, v := range h.cfg.Header {
		hdr.Set(k, v)
	}
}

// envHeader maps HERALD_JOB_NAME to Herald-Job-Name.
func envHeader(name string) string {
	parts := strings.Split(strings.ToLower(name), "_")
	for i, p := range parts {
		if p != "" {
			parts[i] = strings.ToUpper(p[:1]) + p[1:]
		}
	}
	return strings.Join(parts, "-")
}
