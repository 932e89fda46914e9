package tracing

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/heraldhq/herald/internal/version"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// ShutdownTimeout bounds the flush of the spans still queued when a
// process exits.
const ShutdownTimeout = 5 * time.Second

// Provider makes Herald's spans and, when an endpoint is set, exports
// them. A nil *Provider is off: Start still gives each span fresh ids
// (so that TRACEPARENT and the events carry a child of their parent) but
// nothing is recorded, no SDK is set up and no goroutine runs.
type Provider struct {
	tp     *sdktrace.TracerProvider
	tracer trace.Tracer
}

// New returns the provider of cfg for the process named service
// ("herald-dispatcher", "herald-agent", "herald"): nil (off) without an
// endpoint. It reads the headers file now; the exporter connects only
// when it first exports. onError gets what the SDK reports (a failed
// export; the daemons pass LogErrors); nil drops it. The SDK's error
// handler is the process's: the last New's wins.
func New(cfg Config, service string, onError func(error)) (*Provider, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Endpoint == "" {
		return nil, nil
	}
	opts := []otlptracehttp.Option{otlptracehttp.WithEndpointURL(cfg.exportURL())}
	if cfg.HeadersFile != "" {
		h, err := readHeaders(cfg.HeadersFile)
		if err != nil {
			return nil, err
		}
		opts = append(opts, otlptracehttp.WithHeaders(h))
	}
	exp, err := otlptracehttp.New(context.Background(), opts...)
	if err != nil {
		return nil, fmt.Errorf("otlp exporter: %w", err)
	}
	if onError == nil {
		onError = func(error) {}
	}
	otel.SetErrorHandler(otel.ErrorHandlerFunc(onError))
	res := resource.NewSchemaless(
		attribute.String("service.name", service),
		attribute.String("service.version", version.Version),
	)
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(time.Second)),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())),
	)
	return &Provider{tp: tp, tracer: tp.Tracer("github.com/heraldhq/herald")}, nil
}

// Enabled reports whether spans are exported.
func (p *Provider) Enabled() bool { return p != nil }

// Shutdown exports what is queued and stops the exporter, within ctx
// (callers bound it, ShutdownTimeout); the error says why spans were not
// exported. Off, it does nothing.
func (p *Provider) Shutdown(ctx context.Context) error {
	if p == nil {
		return nil
	}
	if err := errors.Join(p.tp.ForceFlush(ctx), p.tp.Shutdown(ctx)); err != nil {
		return fmt.Errorf("tracing shutdown: %w", err)
	}
	return nil
}

// Close is Shutdown bounded by ShutdownTimeout, for a main's defer.
func (p *Provider) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	return p.Shutdown(ctx)
}
