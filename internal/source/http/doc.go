// Package httpsource is the HTTP publish source, POST /v1/events: Herald's
// own JSON body and the CloudEvents HTTP binding (binary, structured and
// batched modes), each event checked with the field at fault named in a
// 400 or 413 answer, then published through the source.Publisher it is
// lent, which answers 201 (stored), 202 (a duplicate) or 503.
//
// It must not know the dispatcher: it is a source.Source like the others
// under internal/source, mounted on whatever HTTP server its owner runs
// (Mount), and knows nothing of NATS, streams or metrics beyond what the
// Publisher reports and package events exposes.
package httpsource
