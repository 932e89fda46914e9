package agent

import (
	"encoding/json"
	"sort"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/natsconn"
	"github.com/heraldhq/herald/internal/version"
)

// announce publishes the agent's announcement on herald.agent.<name>; the
// agents stream keeps the latest per agent, which herald status and the
// dispatcher's interest tracker read.
func (a *Agent) announce(stopping bool) {
	if a.nc == nil {
		return
	}
	ann := events.Announcement{
		Name: a.cfg.Name, Version: version.Get().Short(), Started: a.started, Heartbeat: time.Now().UTC(),
		Interval: a.cfg.Heartbeat.Seconds(), Stopping: stopping, Watches: []events.WatchSummary{},
		NATSServer: natsconn.ConnectedURL(a.nc),
	}
	for _, rt := range a.runtimes() {
		ws := rt.Watch().Summary()
		ws.Waiting = rt.Waiting()
		ann.Watches = append(ann.Watches, ws)
	}
	sort.Slice(ann.Watches, func(i, j int) bool { return ann.Watches[i].Name < ann.Watches[j].Name })
	data, err := json.Marshal(ann)
	if err != nil {
		return
	}
	if err := a.nc.Publish(events.AgentSubject(a.cfg.Name), data); err != nil {
		a.log.Debug().Err(err).Msg("announce")
	}
}
