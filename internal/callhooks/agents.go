package callhooks

import (
	"context"

	"github.com/heraldhq/herald/events/call"
	"github.com/heraldhq/herald/internal/fleet"
)

// liveAgents returns the names of the live agents (events.Announcement.Live)
// matching one of globs, sorted, for run: agents hooks. It waits (bounded
// by ctx) for the announcements stored at start to be read.
func liveAgents(ctx context.Context, tr *fleet.Tracker, globs []string) []string {
	select {
	case <-tr.Ready():
	case <-ctx.Done():
	}
	var out []string
	for _, a := range tr.LiveAgents() { // sorted by name
		for _, g := range globs {
			if call.MatchGlob(g, a.Name) {
				out = append(out, a.Name)
				break
			}
		}
	}
	return out
}
