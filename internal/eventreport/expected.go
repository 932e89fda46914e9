package eventreport

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/heraldhq/herald/internal/watch"
	"github.com/nats-io/nats.go/jetstream"
)

// pair is one expected (host, watch).
type pair struct{ host, watch string }

// liveAt reports whether the agent that made a was live at t: it had
// started by then, and either announced since (it was running through t)
// or its last announcement before t was live then (events.Announcement.Live).
func liveAt(a events.Announcement, t time.Time) bool {
	if a.Started.After(t) {
		return false
	}
	if !a.Heartbeat.Before(t) {
		return true
	}
	return a.Live(t)
}

// expectedPairs is every (host, watch) of the announcements that was live
// when ev was stored and whose watch (only name, when given) selects ev.
func expectedPairs(anns []events.Announcement, ev Event, name string) []pair {
	var out []pair
	for _, a := range anns {
		if !liveAt(a, ev.Stored) {
			continue
		}
		for _, w := range a.Watches {
			if name != "" && w.Name != name {
				continue
			}
			sel, err := watch.SummarySelector(w)
			if err != nil || !sel.Match(ev.Type, ev.Key) {
				continue
			}
			out = append(out, pair{host: a.Name, watch: w.Name})
		}
	}
	return out
}

// announcements reads the latest announcement of every agent: one counts
// only on its own subject herald.agent.NAME (what NATS permissions give
// agent NAME alone) and, with check, when check passes its name.
func announcements(ctx context.Context, js jetstream.JetStream, check func(string) bool) ([]events.Announcement, error) {
	var out []events.Announcement
	err := bus.LastMsgs(ctx, js, events.AgentsStream, []string{events.AgentPrefix + ".>"}, func(m *jetstream.RawStreamMsg) error {
		var a events.Announcement
		if json.Unmarshal(m.Data, &a) != nil || a.Name == "" || m.Subject != events.AgentSubject(a.Name) {
			return nil
		}
		if check != nil && !check(a.Name) {
			return nil
		}
		out = append(out, a)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read agent announcements: %w", err)
	}
	return out, nil
}
