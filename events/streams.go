package events

import "time"

// JetStream streams. The dispatcher creates or updates them at start; every
// other component only binds to them.
const (
	// EventsStream holds every event under herald.event.>.
	EventsStream = "HERALD_EVENTS"
	// OutcomesStream holds every outcome under herald.outcome.>.
	OutcomesStream = "HERALD_OUTCOMES"
	// AgentsStream holds the latest announcement of each agent.
	AgentsStream = "HERALD_AGENTS"
)

// Stream defaults; the dispatcher's config can change them.
const (
	DefaultDedupWindow        = 2 * time.Minute
	DefaultEventsPerKey       = 64
	DefaultEventsMaxAge       = 7 * 24 * time.Hour
	DefaultOutcomesPerSubject = 256
	DefaultOutcomesMaxAge     = 7 * 24 * time.Hour
)
