// Package events is the only place that knows Herald's wire format: the
// CloudEvents 1.0 envelope carried in NATS binary content mode (and read in
// structured mode, the CloudEvents JSON format, too), the subject
// layout (herald.event.<type tokens>.<encoded key>), the reversible key
// encoding, key globs and the subject filters they map to, the outcome record
// and the JetStream stream names; its sub-packages hold the wire formats of
// the call hooks (events/call) and of the operation hooks' op.* events
// (events/operation). It knows nothing about processes, watches files or
// run modes.
package events
