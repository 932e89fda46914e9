package agent

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
func (a *Agent) decide(w *watch.Watch, d *delivery, o events.Outcome) {
	o.EventID, o.EventType, o.Key, o.Version = d.ev.ID, d.ev.Type, d.ev.Key, d.ev.Version
	o.Watch, o.Host = w.Name, a.cfg.Name
	o.Description = w.Description
	if s := d.takeSuperseded(w.Name); s != nil {
		o.Superseded, o.SupersededCount = s.list(), s.count
	}
	a.metrics.runs.WithLabelValues(w.Name, string(o.Status)).Inc()
	if o.Status == events.StatusDiscarded {
		a.metrics.discarded.WithLabelValues(w.Name).Inc()
		a.log.Debug().Str(logging.FieldEventID, d.ev.ID).Str(logging.FieldWatch, w.Name).
			Str("status", string(o.Status)).Msg("event decided without a run")
	}
	id := events.OutcomeMsgID(d.ev, a.cfg.Name, w.Name)
	if d.msg == nil {
		// A run_on_load replay runs an event that may have run before: its
		// outcome is a new one, not a retry (unique per agent start and
		// replay).
		id += "/load/" + strconv.FormatInt(a.started.UnixNano(), 36) + "." + strconv.FormatUint(d.replay, 36)
	}
	if err := a.outcomes.StoreID(o, id, func() { a.release(d) }); err != nil {
		// Closed: the agent is stopping and the event is redelivered.
		a.log.Warn().Err(err).Str(logging.FieldEventID, d.ev.ID).Str(logging.FieldWatch, w.Name).Msg("cannot store outcome; the event will be redelivered")
	}
}

// supersede lets go at once of an event that a newer one, by, replaced
// before it ran: it gets no outcome of its own. The runtime has already
// folded it into by's record for the watch (absorb), so by's run lists it.
func (a *Agent) supersede(w *watch.Watch, d, by *delivery) {
	a.metrics.collapsed.WithLabelValues(w.Name).Inc()
	a.log.Debug().Str(logging.FieldEventID, d.ev.ID).Str(logging.FieldWatch, w.Name).
		Str("superseded_by", by.ev.ID).Msg("event superseded")
	a.release(d)
}
