// Package dispatcher is Herald's dispatcher: it runs an embedded NATS server
// with JetStream (or connects to an external server or cluster), makes sure
// the Herald streams exist, and runs its sources, each through the Source
// interface: the HTTP endpoint POST /v1/events (package source/http, on
// the dispatcher's HTTP server unless http is empty), the
// ZooKeeper source (package source/zk, when an ensemble is configured), the
// NATS KV source (package source/kv, always), the call hooks engine
// (package callhooks: herald call's pre verdicts, post and err hooks,
// /v1/calls) and the central outcome handlers (package handlers). It
// follows the agents' announcements through one fleet tracker (package
// fleet) that feeds the sources the selectors the agents declare and tells
// the handlers which agents are live, and serves /healthz and Prometheus
// /metrics.
//
// It wires the sources; it does not know their insides, the wire format
// beyond what package events exposes, how streams are laid out beyond
// package bus, or how agents run their watches' actions.
package dispatcher
