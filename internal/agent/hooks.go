package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/heraldhq/herald/actions"
	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/events/call"
	"github.com/nats-io/nats.go"
)

// maxHookTimeout bounds what a hook request may ask for.
const maxHookTimeout = time.Hour

// subscribeHooks answers the dispatcher's requests to run a call hook on
// this host (hooks with run: agents). Only an agent started with
// --accept-hooks runs them; any other refuses at once, so the call is
// denied with that reason rather than after a timeout.
func (a *Agent) subscribeHooks() error {
	_, err := a.nc.Subscribe(call.AgentHookSubject(a.cfg.Name), func(m *nats.Msg) {
		if a.ctx.Err() != nil {
			return
		}
		if !a.cfg.AcceptHooks {
			a.replyHook(m, call.AgentReply{Agent: a.cfg.Name, Status: call.StatusRefused,
				Error: fmt.Sprintf("agent %s does not run hooks (start it with --accept-hooks)", a.cfg.Name)})
			return
		}
		if !a.startRun(func(ctx context.Context) { a.runHook(ctx, m) }) {
			a.replyHook(m, call.AgentReply{Agent: a.cfg.Name, Status: call.StatusRefused, Error: "agent stopping"})
		}
	})
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", call.AgentHookSubject(a.cfg.Name), err)
	}
	return nil
}

// runHook runs one hook request and replies with how it ended.
func (a *Agent) runHook(ctx context.Context, m *nats.Msg) {
	var req call.AgentRequest
	rep := call.AgentReply{Agent: a.cfg.Name, Status: string(events.StatusError)}
	if err := json.Unmarshal(m.Data, &req); err != nil {
		rep.Error = fmt.Sprintf("bad hook request: %v", err)
		a.replyHook(m, rep)
		return
	}
	timeout := time.Duration(req.TimeoutMS) * time.Millisecond
	log := a.log.With().Str("hook", req.Hook).Str("call_id", req.Call.ID).Str("method", req.Call.Method).Str("job", req.Call.Job).Logger()
	if timeout <= 0 || timeout > maxHookTimeout {
		rep.Error = fmt.Sprintf("hook timeout %v out of range", timeout)
		a.replyHook(m, rep)
		return
	}
	act, err := actions.Build(actions.Spec{
		Kind: actions.KindExec, Argv: req.Argv, PipeStdin: true, Env: req.Env, Timeout: timeout, KillGrace: actions.DefaultKillGrace,
	})
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
	res := act.Run(ctx, actions.Request{Event: ev, Watch: req.Hook, Host: a.cfg.Name, Attempt: 1, Env: req.Call.Env(req.Phase)})
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
