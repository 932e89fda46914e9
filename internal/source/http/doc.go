// Package httpsource is the HTTP publish source, POST /v1/events: Herald's
// own JSON body and the CloudEvents HTTP binding (binary, structured and
// batched modes), each event checked with the field at fault named in a
// 400 or 413 answer, then published through the source.Publisher it is
// lent, which answers 201 (stored), 202 (a duplicate) or 503. When the
// request carries an authenticated identity (auth.FromContext: the
// owner's bearer-token guard put it there), every event must be within
// its rights (granted types and keys; reserved types and sources only
// with the reserved right), else 403 naming the field, and the identity
// becomes part of the events' dedup ids (authorize.go).
//
// It must not know the dispatcher: it is a source.Source like the others
// under internal/source, mounted on whatever HTTP server its owner runs
// (Mount), and knows nothing of NATS, streams or metrics beyond what the
// Publisher reports and package events exposes.
package httpsource
