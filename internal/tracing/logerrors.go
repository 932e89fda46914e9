package tracing

import (
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// LogEvery is how often LogErrors logs while exports keep failing (a
// collector that is down fails every batch, once a second).
const LogEvery = time.Minute

// LogErrors is New's onError for a daemon: a warn line "spans not
// exported" with the error, at most once per LogEvery, with held: how
// many errors it held back since the last line.
func LogErrors(log zerolog.Logger) func(error) {
	var (
		mu   sync.Mutex
		last time.Time
		held int
	)
	return func(err error) {
		mu.Lock()
		now := time.Now()
		if !last.IsZero() && now.Sub(last) < LogEvery {
			held++
			mu.Unlock()
			return
		}
		n := held
		last, held = now, 0
		mu.Unlock()
		log.Warn().Err(err).Int("held", n).Msg("spans not exported")
	}
}
