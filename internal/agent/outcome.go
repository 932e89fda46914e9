package agent

import (
	"context"
	"encoding/json"
	"sort"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/heraldhq/herald/internal/logging"
	"github.com/heraldhq/herald/internal/version"
	"github.com/heraldhq/herald/internal/watch"
	"github.com/nats-io/nats.go/jetstream"
)

// decide publishes the outcome of an event for a watch, counts it, and lets
// go of the event. The outcome is published before the ack, so a crash in
// between repeats the outcome rather than losing it.
func (a *Agent) decide(w *watch.Watch, d *delivery, o events.Outcome) {
	o.EventID, o.EventType, o.Key, o.Version = d.ev.ID, d.ev.Type, d.ev.Key, d.ev.Version
	o.Watch, o.Host = w.Name, a.cfg.Name
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

func busLastPerSubject(ctx context.Context, js jetstream.JetStream, filters []string, fn func(jetstream.Msg) error) error {
	return bus.LastPerSubject(ctx, js, events.EventsStream, reduceFilters(filters), fn)
}

func versionString() string { return version.Version }

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

func sortSummaries(s []events.WatchSummary) {
	sort.Slice(s, func(i, j int) bool { return s[i].Name < s[j].Name })
}
