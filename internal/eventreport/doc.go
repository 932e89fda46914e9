// Package eventreport says what the fleet did with one event: which hosts
// were expected to decide it, what each one's outcome was, who is still
// missing, and whether it is done. herald publish --wait, the dispatcher's
// GET /v1/events/{id}/rollout and herald rollout status read it.
//
// The expected hosts are decided when the event was stored, from the
// agents' announcements (HERALD_AGENTS, read by multi-last direct gets):
// every agent whose announcement says it was live then
// (events.Announcement.Live at the stored time, or announced since having
// started before it) and that holds a watch whose announced selector
// (watch.SummarySelector: on:, key:, types:) matches the event, as the
// agent's own Selector.Match does. An agent first announced after the
// event was stored is not waited for; neither is one restarted since (its
// announcement's start is after the event: the stream keeps one
// announcement per agent), which is also what keeps a report read late,
// after the fleet changed, from waiting for hosts that never had the
// event.
//
// Each expected (host, watch) is decided by its first outcome on
// herald.outcome.<host>.<watch> for the event, or by an outcome of a newer
// event that lists the event in its superseded (it reports superseded, as
// the handlers' all_reported counts it); a later run status is never
// replaced by superseded or discarded (events.MergeStatus).
//
// Outcomes are read by polling, with batched direct gets
// (jetstreamext.GetBatch, as the agents' feed reads events) on
// HERALD_OUTCOMES from the stream's sequence before the event was
// published (or from a minute before its stored time), each poll from
// where the last stopped: every outcome is read once, whatever the fleet's
// size, with no consumer and no subscription. A core subscription on
// herald.outcome.> opened before the publish would save the poll interval
// (at most Poll, 500 ms by default, against runs of seconds to minutes),
// but it is not enough alone: on a cluster an outcome stored through
// another server before the subscription's interest reached it is lost,
// as is anything dropped by a slow consumer, so it needs the same direct
// gets behind it; it also needs a subscribe right on every outcome
// subject, which a publisher identity would hold for good. Polling needs
// only the read rights of direct gets and stream info.
//
// It must not know how a NATS connection is set up, the command line or
// HTTP: callers give it a JetStream context and present its Summary.
package eventreport
