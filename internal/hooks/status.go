package hooks

import (
	"context"
	"encoding/json"
	"sort"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/heraldhq/herald/internal/hooks/call"
)

// StatusSubjectFilter selects the hooks.status events of every dispatcher;
// herald status reads the latest per dispatcher.
var StatusSubjectFilter = events.EventPrefix + "." + call.TypeHooksStatus + ".>"

// Status is the engine's state as herald status shows it.
func (e *Engine) Status(stopping bool) call.HooksStatus {
	set := e.Current()
	st := call.HooksStatus{
		Dispatcher: e.cfg.Host, HooksDisabled: e.cfg.Disabled, Dir: e.cfg.Dir,
		Hooks: map[string][]string{}, Stopping: stopping, Time: time.Now().UTC(),
	}
	for _, h := range set.Hooks {
		st.Hooks[h.Phase] = append(st.Hooks[h.Phase], h.Name)
	}
	for name := range set.Jobs {
		st.Jobs = append(st.Jobs, name)
	}
	sort.Strings(st.Jobs)
	if len(set.Broken) > 0 {
		st.Broken = set.Broken
	}
	return st
}

// publishStatus stores the engine's state as a hooks.status event keyed by
// the dispatcher's host. It goes straight to JetStream (not through the
// source publisher), so that the stopping state is stored during shutdown.
func (e *Engine) publishStatus(rt *runtime, stopping bool) {
	data, err := json.Marshal(e.Status(stopping))
	if err != nil {
		return
	}
	ev := events.New(e.source(), call.TypeHooksStatus, e.cfg.Host, data)
	ev.DataContentType = "application/json"
	ctx, cancel := context.WithTimeout(context.WithoutCancel(rt.ctx), 5*time.Second)
	defer cancel()
	if _, err := bus.PublishEvent(ctx, rt.js, ev); err != nil {
		rt.log.Warn().Err(err).Msg("cannot publish the call hooks status")
	}
}
