package callhooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/heraldhq/herald/internal/hookfile"
	"strings"
	"sync"
	"time"

	"github.com/heraldhq/herald/actions"
	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/events/call"
	"github.com/nats-io/nats.go"
)

// HookRequest is the action request for one hook run of c in phase: the
// call as JSON data (with Phase set to phase), the HERALD_* call variables
// in Env, the hook as the watch and the call id as the event id.
func HookRequest(c call.Call, hook, host, phase string) (actions.Request, error) {
	ev, err := c.Event(phase)
	if err != nil {
		return actions.Request{}, err
	}
	return actions.Request{Event: ev, Watch: hook, Host: host, Attempt: 1, Env: c.Env(phase)}, nil
}

// hookRun is one run of a hook (on one agent for run: agents): its verdict
// and what an outcome records besides.
type hookRun struct {
	call.HookVerdict
	stdout string
	err    string
	start  time.Time
}

// runHook runs one hook for c standing for phase: one run for a central
// hook, one per targeted agent for run: agents.
func (e *Engine) runHook(rt *runtime, h *hookfile.Hook, c call.Call, phase string) []hookRun {
	if h.Confirm != "" {
		return []hookRun{confirmRun(h, c)}
	}
	if !h.Run.Central() {
		return e.runOnAgents(rt, h, c, phase)
	}
	r := hookRun{HookVerdict: call.HookVerdict{Hook: h.Name, Phase: h.Phase}, start: time.Now()}
	act, err := h.Action()
	var req actions.Request
	if err == nil {
		req, err = HookRequest(c, h.Name, e.cfg.Host, phase)
	}
	if err != nil {
		r.Status, r.Reason, r.err = string(events.StatusError), err.Error(), err.Error()
		return []hookRun{r}
	}
	span := e.cfg.Tracer.StartCallHook(rt.ctx, req.Event, h.Name, phase, e.cfg.Host)
	req.TraceParent, req.TraceState = span.TraceParent(), span.TraceState()
	res := act.Run(rt.ctx, req)
	span.Ran(res.Status, res.ExitCode, 1)
	r.Status = string(res.Status)
	r.ExitCode, r.Signal, r.Stderr, r.stdout = res.ExitCode, res.Signal, res.Stderr, res.Stdout
	r.DurationMS = float64(res.Duration) / float64(time.Millisecond)
	if res.Err != nil {
		r.err = res.Err.Error()
	}
	if !res.Started.IsZero() {
		r.start = res.Started
	}
	r.Allow, r.Reason = judge(h, res.Status, res.Stdout, res.Err)
	return []hookRun{r}
}

// judge decides what a run says: ok allows; a timeout allows only with
// on_timeout: allow; anything else denies. The reason is the run's stdout,
// with what went wrong when it was not a plain refusal.
func judge(h *hookfile.Hook, st events.Status, stdout string, runErr error) (bool, string) {
	reason := strings.TrimSpace(stdout)
	note := func(s string) string {
		if reason == "" {
			return s
		}
		return s + ": " + reason
	}
	switch st {
	case events.StatusOK:
		return true, reason
	case events.StatusTimeout:
		return h.AllowsOnTimeout(), note(fmt.Sprintf("timed out after %v (on_timeout: %s)", h.HookTimeout(), h.OnTimeout))
	case events.StatusError:
		msg := "could not start"
		if runErr != nil {
			msg = runErr.Error()
		}
		return false, note(msg)
	}
	if reason == "" && runErr != nil {
		return false, runErr.Error()
	}
	if reason == "" {
		return false, "denied (exit status non-zero, nothing on stdout)"
	}
	return false, reason
}

// runOnAgents asks every live agent matching the hook's run: agents to run
// it, in parallel, and returns one verdict per agent (or one no_agent
// verdict when none matches).
func (e *Engine) runOnAgents(rt *runtime, h *hookfile.Hook, c call.Call, phase string) []hookRun {
	wait := h.HookTimeout() + actions.DefaultKillGrace + e.cfg.AgentGrace
	lctx, cancel := context.WithTimeout(rt.ctx, wait)
	targets := liveAgents(lctx, rt.fleet, h.Run.Agents)
	cancel()
	if len(targets) == 0 {
		reason := fmt.Sprintf("no live agent matches run: agents %v", h.Run.Agents)
		return []hookRun{{HookVerdict: call.HookVerdict{
			Hook: h.Name, Phase: h.Phase, Status: call.StatusNoAgent, Reason: reason,
		}, err: reason, start: time.Now()}}
	}
	c.Phase = phase
	// The name, never the command: each agent runs its own call_hooks:
	// entry of that name.
	req := call.AgentRequest{Hook: h.Name, Phase: phase, TimeoutMS: h.HookTimeout().Milliseconds(), Call: c}
	data, err := json.Marshal(req)
	if err != nil {
		return []hookRun{{HookVerdict: call.HookVerdict{Hook: h.Name, Phase: h.Phase, Status: string(events.StatusError), Reason: err.Error()}, err: err.Error(), start: time.Now()}}
	}
	out := make([]hookRun, len(targets))
	var wg sync.WaitGroup
	for i, agent := range targets {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(rt.ctx, wait)
			defer cancel()
			start := time.Now()
			v := hookRun{HookVerdict: call.HookVerdict{Hook: h.Name, Agent: agent, Phase: h.Phase}, start: start}
			m, err := rt.nc.RequestWithContext(ctx, call.AgentHookSubject(agent), data)
			var rep call.AgentReply
			if err == nil {
				err = json.Unmarshal(m.Data, &rep)
			}
			if err != nil {
				v.Status = call.StatusNoReply
				v.DurationMS = float64(time.Since(start)) / float64(time.Millisecond)
				switch {
				case errors.Is(err, nats.ErrNoResponders):
					v.Reason = fmt.Sprintf("agent %s is not listening for hooks", agent)
				case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
					v.Reason = fmt.Sprintf("agent %s did not answer within %v", agent, wait)
				default:
					v.Reason = fmt.Sprintf("agent %s: %v", agent, err)
				}
				v.err = v.Reason
				out[i] = v
				return
			}
			v.stdout, v.err = rep.Stdout, rep.Error
			v.Status, v.ExitCode, v.Signal, v.Stderr, v.DurationMS = rep.Status, rep.ExitCode, rep.Signal, rep.Stderr, rep.DurationMS
			if rep.Status == call.StatusRefused {
				v.Reason = rep.Error
				out[i] = v
				return
			}
			var runErr error
			if rep.Error != "" {
				runErr = errors.New(rep.Error)
			}
			v.Allow, v.Reason = judge(h, events.Status(rep.Status), rep.Stdout, runErr)
			out[i] = v
		})
	}
	wg.Wait()
	return out
}

// confirmRun is a confirm: hook's verdict: nothing runs here; the
// rendered question goes back to the caller (status confirm, not allowed
// until the caller answers yes). A question that cannot be rendered denies.
func confirmRun(h *hookfile.Hook, c call.Call) hookRun {
	r := hookRun{HookVerdict: call.HookVerdict{Hook: h.Name, Phase: h.Phase}, start: time.Now()}
	q, err := h.Question(c)
	if err != nil {
		r.Status, r.Reason, r.err = string(events.StatusError), err.Error(), err.Error()
		return r
	}
	r.Status, r.Reason = call.StatusConfirm, q
	return r
}
