package watchrun

import (
	"strconv"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/logging"
	"github.com/heraldhq/herald/internal/watch"
)

// decide publishes the outcome of an event for a watch, counts it, and lets
// go of the event once JetStream has stored the outcome. Until then the
// event stays unacknowledged: a crash or a stop in between redelivers it
// rather than losing the outcome, and the outcome's Nats-Msg-Id keeps a
// repeated publish from being stored twice. The outcome carries the events
// this run absorbed for the watch (queue mode, superseded before they
// ran). decide does not block on the store.
func (e *Env) decide(w *watch.Watch, d *Delivery, o events.Outcome) {
	o.EventID, o.EventType, o.Key, o.Version = d.Event.ID, d.Event.Type, d.Event.Key, d.Event.Version
	o.Watch, o.Host = w.Name, e.Host
	o.Description = w.Description
	if o.TraceID == "" {
		o.TraceID = d.Event.TraceID() // decided without a run
	}
	if s := d.takeSuperseded(w.Name); s != nil {
		o.Superseded, o.SupersededCount = s.list(), s.count
	}
	e.Metrics.runs.WithLabelValues(w.Name, string(o.Status)).Inc()
	if o.Status == events.StatusDiscarded {
		e.Metrics.discarded.WithLabelValues(w.Name).Inc()
		e.Log.Debug().Str(logging.FieldEventID, d.Event.ID).Str(logging.FieldWatch, w.Name).
			Str("status", string(o.Status)).Msg("event decided without a run")
	}
	id := events.OutcomeMsgID(d.Event, e.Host, w.Name)
	switch {
	case d.resumed:
		// The run of a resumed rollout's event follows its halted outcome.
		id += "/resume/" + e.LoadID + "." + strconv.FormatUint(d.Replay, 36)
	case d.Done == nil:
		// A run_on_load replay runs an event that may have run before: its
		// outcome is a new one, not a retry (unique per agent start and
		// replay).
		id += "/load/" + e.LoadID + "." + strconv.FormatUint(d.Replay, 36)
	}
	if err := e.Store(o, id, func() { e.Release(d) }); err != nil {
		// Closed: the agent is stopping and the event is redelivered.
		e.Log.Warn().Err(err).Str(logging.FieldEventID, d.Event.ID).Str(logging.FieldWatch, w.Name).Msg("cannot store outcome; the event will be redelivered")
	}
}

// supersede lets go at once of an event that a newer one, by, replaced
// before it ran: it gets no outcome of its own. The runtime has already
// folded it into by's record for the watch (absorb), so by's run lists it.
func (e *Env) supersede(w *watch.Watch, d, by *Delivery) {
	e.Metrics.collapsed.WithLabelValues(w.Name).Inc()
	e.Log.Debug().Str(logging.FieldEventID, d.Event.ID).Str(logging.FieldWatch, w.Name).
		Str("superseded_by", by.Event.ID).Msg("event superseded")
	e.Release(d)
}
