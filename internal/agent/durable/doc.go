// Package durable holds the agent's durable consumer on the events stream:
// it is created or updated with the subject filters the loaded watches
// select (reduced so that no two overlap), retried with backoff while NATS
// or the stream are not there, and consumed until the agent stops. A
// consumer deleted on the server is set up again from the sequence after
// the last one delivered, so nothing stored meanwhile is missed; when the
// events stream itself was recreated, it starts at the new stream's first
// event and tells the agent, whose run-mode memory belongs to the old one.
//
// It hands every message to the agent's handler; it does not know what an
// event means to a watch, how runs or outcomes work, or how the streams
// are laid out beyond package events.
package durable
