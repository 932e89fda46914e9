package natsconn

import (
	"sync"
	"time"
)

// AuthLogEvery is how often a client logs that the server refuses its
// credentials while it keeps reconnecting (a revoked identity is refused
// several times a second).
const AuthLogEvery = time.Minute

// Throttle lets one call through per interval and counts the others, for
// the log lines a reconnect loop would repeat several times a second.
type Throttle struct {
	every time.Duration

	mu      sync.Mutex
	last    time.Time
	skipped int
}

// NewThrottle lets one call through per every.
func NewThrottle(every time.Duration) *Throttle { return &Throttle{every: every} }

// Allow reports whether a call at now goes through, and how many calls
// were held back since the last one that did.
func (t *Throttle) Allow(now time.Time) (ok bool, held int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.last.IsZero() && now.Sub(t.last) < t.every {
		t.skipped++
		return false, 0
	}
	t.last, held, t.skipped = now, t.skipped, 0
	return true, held
}
