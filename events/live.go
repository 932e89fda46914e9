package events

import "time"

// StaleAfter is how many heartbeat intervals may pass without an
// announcement before an agent counts as gone: its selectors are no
// longer watched, run: agents hooks and all_reported handlers stop
// waiting for it, and herald status shows it as stale.
const StaleAfter = 3

// Live reports whether the agent that made a counts as alive at now: it
// has not announced that it is stopping, and its last heartbeat is at
// most StaleAfter heartbeat intervals old. An announcement without an
// interval never goes stale.
func (a Announcement) Live(now time.Time) bool {
	if a.Stopping {
		return false
	}
	return a.Interval <= 0 || now.Sub(a.Heartbeat) <= time.Duration(StaleAfter*a.Interval*float64(time.Second))
}
