package eventreport

import (
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/watch"
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
