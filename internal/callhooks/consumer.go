package callhooks

import (
	"context"
	"encoding/json"
	"github.com/heraldhq/herald/internal/hookfile"
	"strings"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/events/call"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/heraldhq/herald/internal/logging"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// consumerAckWait is the post/err consumer's ack wait; a running event is
// kept with progress acks at a third of it.
const consumerAckWait = 30 * time.Second

// resultFilters are the subjects of call.post and call.err events.
var resultFilters = []string{
	events.EventPrefix + "." + call.TypePost + ".>",
	events.EventPrefix + "." + call.TypeErr + ".>",
}

// setupConsumer creates or binds the shared durable consumer of call.post
// and call.err events, retrying until it works or the run ends (nil).
func (e *Engine) setupConsumer(rt *runtime) jetstream.Consumer {
	wait := 100 * time.Millisecond
	for {
		ctx, cancel := context.WithTimeout(rt.ctx, 10*time.Second)
		cons, err := rt.js.CreateOrUpdateConsumer(ctx, events.EventsStream, jetstream.ConsumerConfig{
			Durable:        e.cfg.Durable,
			Description:    "herald call hooks: post and err hooks of call.post and call.err",
			DeliverPolicy:  jetstream.DeliverNewPolicy,
			AckPolicy:      jetstream.AckExplicitPolicy,
			AckWait:        consumerAckWait,
			MaxDeliver:     -1,
			MaxAckPending:  1000,
			FilterSubjects: resultFilters,
		})
		cancel()
		if err == nil {
			return cons
		}
		if rt.ctx.Err() != nil {
			return nil
		}
		rt.log.Warn().Err(err).Float64("retry_in_ms", logging.Millis(wait)).Msg("cannot set up the call.post/call.err consumer yet")
		select {
		case <-rt.ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = min(wait*2, 5*time.Second)
	}
}

// consume runs the post and err hooks of call.post and call.err events
// from the shared durable consumer until the run ends. An event is
// acknowledged once every matching hook has run, so a dispatcher that
// stops mid-run leaves it to be handled again.
func (e *Engine) consume(rt *runtime, cons jetstream.Consumer) {
	err := bus.Work(rt.ctx, cons, bus.WorkConfig{
		Name:          "call.post/call.err",
		Durable:       e.cfg.Durable,
		MaxConcurrent: e.cfg.MaxConcurrent,
		KeepAlive:     consumerAckWait / 3,
		Setup: func(ctx context.Context) (jetstream.Consumer, error) {
			if cons := e.setupConsumer(rt); cons != nil {
				return cons, nil
			}
			return nil, ctx.Err() // the run ended
		},
		Log: rt.log,
	}, func(_ context.Context, m jetstream.Msg) { e.handleResult(rt, m) })
	if err != nil {
		rt.log.Error().Err(err).Msg("cannot consume call.post/call.err events")
	}
}

// handleResult runs the post or err hooks of one event and records an
// outcome for each run.
func (e *Engine) handleResult(rt *runtime, m jetstream.Msg) {
	ev, err := events.FromMsg(&nats.Msg{Subject: m.Subject(), Header: m.Headers(), Data: m.Data()})
	if err != nil {
		rt.log.Warn().Err(err).Str("subject", m.Subject()).Msg("malformed call result event; dropped")
		_ = m.Term()
		return
	}
	var c call.Call
	if err := json.Unmarshal(ev.Data, &c); err != nil {
		rt.log.Warn().Err(err).Str(logging.FieldEventID, ev.ID).Msg("call result event with bad data; dropped")
		_ = m.Term()
		return
	}
	phase := call.PhasePost
	if ev.Type == call.TypeErr {
		phase = call.PhaseErr
	}
	c.Phase = phase
	if c.Job == "" {
		c.Job = ev.Key
	}
	log := rt.log.With().Str(logging.FieldEventID, ev.ID).Str("call_id", c.ID).Str("method", c.Method).Str("job", c.Job).Str("phase", phase).Logger()
	job, err := call.ParseJob(c.Job)
	if err != nil || call.ValidateMethod(c.Method) != nil {
		log.Warn().Msg("call result event without a valid method and job; dropped")
		_ = m.Term()
		return
	}
	matched, generic := e.Current().Matching(phase, c.Method, job)
	if len(matched) == 0 {
		e.reportHooks(rt, log, c, ev, nil, nil, "")
		_ = m.Ack()
		return
	}
	reason := e.cfg.Disabled
	if reason == "" {
		reason = c.HooksDisabled
	}
	if reason != "" {
		log.Info().Strs("skipped", names(matched)).Str("hooks_disabled", reason).Msg("hooks disabled: post/err hooks not run")
		e.reportHooks(rt, log, c, ev, nil, names(matched), reason)
		_ = m.Ack()
		return
	}
	var run []*hookfile.Hook
	var skipped []string
	for _, h := range matched {
		if c.Skips(h.Name) {
			skipped = append(skipped, h.Name)
			continue
		}
		run = append(run, h)
	}
	if len(skipped) > 0 {
		log.Info().Strs("skipped", skipped).Str("reason", c.Reason).Msg("hooks skipped by the caller")
	}
	// consume keeps the event alive with progress acks until this
	// returns: the hooks run, then their outcomes are stored.
	runs := e.runAll(rt, run, c, phase)
	if rt.ctx.Err() != nil {
		// Stopping: the runs were cut short; leave the event to be
		// handled again.
		_ = m.Nak()
		return
	}
	outs := make([]events.Outcome, 0, len(runs))
	for _, r := range runs {
		o := e.outcome(ev, r)
		lev := log.Info()
		if o.Status != events.StatusOK {
			lev = log.Warn()
		}
		lev.Str("hook", r.Hook).Str("agent", r.Agent).Bool("generic", generic).Str("status", string(o.Status)).
			Str("error", o.Error).Msg(phase + " hook ran")
		// The event is acked only once every outcome is stored; StoreWait
		// retries until then or until the dispatcher stops.
		if err := rt.outcomes.StoreWait(rt.ctx, o, events.OutcomeMsgID(ev, o.Host, o.Watch)); err != nil {
			log.Warn().Err(err).Str("hook", r.Hook).Msg("hook outcome not stored; the event will be handled again")
			_ = m.Nak()
			return
		}
		e.m.results.WithLabelValues(phase, string(o.Status)).Inc()
		outs = append(outs, o)
	}
	e.reportHooks(rt, log, c, ev, outs, skipped, "")
	if err := m.Ack(); err != nil {
		log.Warn().Err(err).Msg("ack failed; the hooks may run again")
	}
}

// outcome records one post or err hook run. The host is the dispatcher's
// for a central hook and the agent's for run: agents.
func (e *Engine) outcome(ev events.Event, r hookRun) events.Outcome {
	host := e.cfg.Host
	if r.Agent != "" {
		host = r.Agent
	}
	st := events.Status(r.Status)
	switch st {
	case events.StatusOK, events.StatusFailed, events.StatusTimeout, events.StatusError:
	default: // refused, no_reply, no_agent: the hook did not run
		st = events.StatusError
	}
	errText := r.err
	if errText == "" && st != events.StatusOK && r.Status != string(st) {
		errText = r.Reason
	}
	if st == events.StatusError && errText == "" {
		errText = strings.TrimSpace(r.Reason)
	}
	return events.Outcome{
		EventID: ev.ID, EventType: ev.Type, Key: ev.Key, Watch: r.Hook, Host: host,
		Status: st, ExitCode: r.ExitCode, Signal: r.Signal, Attempts: 1,
		Start: r.start.UTC(), DurationMS: r.DurationMS,
		Stdout: r.stdout, Stderr: r.Stderr, Error: errText, TraceID: ev.TraceID(),
	}
}
