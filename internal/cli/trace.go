package cli

import (
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/heraldhq/herald/internal/fielderr"
	"github.com/heraldhq/herald/internal/tracing"
	"go.opentelemetry.io/otel/trace"
)

// traceFlags are --otlp-endpoint and --otlp-headers-file of the commands
// that start or continue a trace (publish, call, deploy), and the trace
// context of TRACEPARENT and TRACESTATE.
type traceFlags struct{ cfg tracing.Config }

func (t *traceFlags) add(fs *flag.FlagSet) { t.cfg.AddFlags(fs) }

// flushSpans exports the spans still queued, within
// tracing.ShutdownTimeout; one that could not be is a note on stderr, not
// a failure of the command.
func flushSpans(s stdio, cmd string, tp *tracing.Provider) {
	if err := tp.Close(); err != nil {
		fmt.Fprintf(s.errOut, "herald %s: note: spans not exported: %v\n", cmd, err)
	}
}

// start returns the provider of the flags (nil: off; the caller defers
// its Close, which flushes within tracing.ShutdownTimeout) and the parent
// context in TRACEPARENT (invalid when unset). A bad flag or variable is
// a usage error naming it.
func (t *traceFlags) start() (*tracing.Provider, trace.SpanContext, error) {
	parent, err := tracing.FromEnv()
	if err != nil {
		return nil, trace.SpanContext{}, &usageError{msg: err.Error()}
	}
	p, err := tracing.New(t.cfg, "herald", nil) // Close reports what was not exported
	if fe := (*fielderr.Error)(nil); errors.As(err, &fe) {
		// The config key names the flag: otlp.endpoint is --otlp-endpoint.
		return nil, trace.SpanContext{}, usageErrorf("--%s: %s", strings.NewReplacer(".", "-", "_", "-").Replace(fe.Field), fe.Msg)
	}
	if err != nil {
		return nil, trace.SpanContext{}, err
	}
	return p, parent, nil
}
