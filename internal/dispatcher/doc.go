// Package dispatcher is Herald's dispatcher: it runs an embedded NATS server
// with JetStream (or connects to an external server or cluster), makes sure
// the Herald streams exist, and publishes the events its sources produce.
// The first source is the HTTP endpoint POST /v1/events; ZooKeeper, KV and
// scheduler sources plug in later through the Source interface. The call
// hooks engine (package hooks: herald call's pre verdicts, post and err
// hooks, /v1/calls) and the central outcome handlers (package handlers)
// run as sources too. It also serves /healthz and Prometheus /metrics.
//
// It does not know the wire format beyond what package events exposes, how
// streams are laid out beyond package bus, or anything about watches,
// agents and the actions they run.
package dispatcher
