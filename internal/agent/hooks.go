package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/heraldhq/herald/actions"
	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/events/call"
	"github.com/heraldhq/herald/internal/agent/localhooks"
	"github.com/nats-io/nats.go"
)

// maxHookTimeout bounds what a hook request may ask for.
const maxHookTimeout = time.Hour

// hookRequest is a call.AgentRequest as it arrives: argv and env are what
// dispatchers before issue 10 sent, the command itself; a request carrying
// them is refused rather than run.
type hookRequest struct {
	call.AgentRequest
	Argv json.RawMessage `json:"argv"`
	Env  json.RawMessage `json:"env"`
}

// subscribeHooks answers the dispatcher's requests to run a call hook on
// this host (hooks with run: agents). Only an agent started with
// --accept-hooks runs them, and only the ones its config's call_hooks:
// defines; any other request is refused at once, so the call is denied
// with that reason rather than after a timeout. At most max_call_hooks run
// at once; the others wait for a slot.
func (a *Agent) subscribeHooks() error {
	slots := localhooks.NewSlots(a.cfg.MaxCallHooks)
	_, err := a.nc.Subscribe(call.AgentHookSubject(a.cfg.Name), func(m *nats.Msg) {
		if a.ctx.Err() != nil {
			return
		}
		if !a.cfg.AcceptHooks {
			a.replyHook(m, call.AgentReply{Agent: a.cfg.Name, Status: call.StatusRefused,
				Error: fmt.Sprintf("agent %s does not run hooks (start it with --accept-hooks)", a.cfg.Name)})
			return
		}
		received := time.Now()
		if !a.startRun(func(ctx context.Context) { a.runHook(ctx, m, slots, received) }) {
			a.replyHook(m, call.AgentReply{Agent: a.cfg.Name, Status: call.StatusRefused, Error: "agent stopping"})
		}
	})
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", call.AgentHookSubject(a.cfg.Name), err)
	}
	return nil
}

// runHook runs the local hook one request names, once a slot is free, and
// replies with how it ended.
func (a *Agent) runHook(ctx context.Context, m *nats.Msg, slots *localhooks.Slots, received time.Time) {
	var req hookRequest
	rep := call.AgentReply{Agent: a.cfg.Name, Status: string(events.StatusError)}
	if err := json.Unmarshal(m.Data, &req); err != nil {
		rep.Error = fmt.Sprintf("bad hook request: %v", err)
		a.replyHook(m, rep)
		return
	}
	log := a.log.With().Str("hook", req.Hook).Str("call_id", req.Call.ID).Str("method", req.Call.Method).Str("job", req.Call.Job).Logger()
	if len(req.Argv) > 0 || len(req.Env) > 0 {
		rep.Status = call.StatusRefused
		rep.Error = fmt.Sprintf("agent %s refuses a hook request that carries a command (argv or env): agents run only the call_hooks: of their own config", a.cfg.Name)
		log.Warn().Msg("hook request with a command refused")
		a.replyHook(m, rep)
		return
	}
	h, err := a.cfg.CallHooks.Lookup(req.Hook)
	if err != nil {
		rep.Status = call.StatusRefused
		rep.Error = fmt.Sprintf("agent %s: %v", a.cfg.Name, err)
		log.Warn().Err(err).Msg("hook request refused")
		a.replyHook(m, rep)
		return
	}
	timeout := time.Duration(req.TimeoutMS) * time.Millisecond
	if timeout <= 0 || timeout > maxHookTimeout {
		rep.Error = fmt.Sprintf("hook timeout %v out of range", timeout)
		a.replyHook(m, rep)
		return
	}
	// The slot wait counts against the request's timeout: the dispatcher
	// stops waiting for the reply soon after it.
	deadline := received.Add(timeout)
	release, err := slots.Acquire(ctx, deadline)
	if err != nil {
		rep.Error = err.Error()
		log.Warn().Err(err).Msg("call hook not run")
		a.replyHook(m, rep)
		return
	}
	defer release()
	act, err := h.Action(time.Until(deadline))
	var ev events.Event
	if err == nil {
		ev, err = req.Call.Event(req.Phase)
	}
	if err != nil {
		rep.Error = err.Error()
		log.Warn().Err(err).Msg("hook request refused")
		a.replyHook(m, rep)
		return
	}
	span := a.tracer.StartCallHook(ctx, ev, req.Hook, req.Phase, a.cfg.Name)
	res := act.Run(ctx, actions.Request{Event: ev, Watch: req.Hook, Host: a.cfg.Name, Attempt: 1, Env: req.Call.Env(req.Phase),
		TraceParent: span.TraceParent(), TraceState: span.TraceState()})
	span.Ran(res.Status, res.ExitCode, 1)
	rep.Status, rep.ExitCode, rep.Signal = string(res.Status), res.ExitCode, res.Signal
	rep.Stdout, rep.Stderr = res.Stdout, res.Stderr
	rep.DurationMS = float64(res.Duration) / float64(time.Millisecond)
	if res.Err != nil {
		rep.Error = res.Err.Error()
	}
	log.Info().Str("phase", req.Phase).Str("status", rep.Status).Msg("call hook ran")
	a.replyHook(m, rep)
}

func (a *Agent) replyHook(m *nats.Msg, rep call.AgentReply) {
	data, err := json.Marshal(rep)
	if err != nil {
		return
	}
	if err := m.Respond(data); err != nil {
		a.log.Debug().Err(err).Msg("hook reply")
	}
}
