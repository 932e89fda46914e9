// Package tracing is Herald's trace context and its export: the W3C
// traceparent parsed and formatted (TRACEPARENT, TRACESTATE, an event's
// traceparent attribute), the span of a stored event, of a run and of a
// call, and the OpenTelemetry provider that exports them over OTLP/HTTP
// when --otlp-endpoint is set. Off (a nil *Provider), no SDK is set up:
// spans only get ids, so that the context still travels.
//
// It must not know NATS connections, how events are published or
// consumed, how actions start processes, or the daemons' config files
// beyond its own two keys.
package tracing
