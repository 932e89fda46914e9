package agent

import (
	"encoding/json"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/logging"
	"github.com/heraldhq/herald/internal/watch"
)

// decide publishes the outcome of an event for a watch, counts it, and lets
// go of the event. The outcome is published before the ack, so a crash in
// between repeats the outcome rather than losing it.
func (a *Agent) decide(w *watch.Watch, d *delivery, o events.Outcome) {
	o.EventID, o.EventType, o.Key, o.Version = d.ev.ID, d.ev.Type, d.ev.Key, d.ev.Version
	o.Watch, o.Host = w.Name, a.cfg.Name
	o.Description = w.Description
	a.metrics.runs.WithLabelValues(w.Name, string(o.Status)).Inc()
	switch o.Status {
	case events.StatusSuperseded:
		a.metrics.collapsed.WithLabelValues(w.Name).Inc()
	case events.StatusDiscarded:
		a.metrics.discarded.WithLabelValues(w.Name).Inc()
	}
	if o.Status == events.StatusSuperseded || o.Status == events.StatusDiscarded {
		a.log.Debug().Str(logging.FieldEventID, d.ev.ID).Str(logging.FieldWatch, w.Name).
			Str("status", string(o.Status)).Str("superseded_by", o.SupersededBy).Msg("event decided without a run")
	}
	if data, err := json.Marshal(o); err == nil {
		if err := a.nc.Publish(o.Subject(), data); err != nil {
			a.log.Warn().Err(err).Str(logging.FieldEventID, d.ev.ID).Str(logging.FieldWatch, w.Name).Msg("cannot publish outcome")
		}
	}
	a.release(d)
}
