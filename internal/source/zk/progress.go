package zk

// Retries and progress: failed reads and publishes wait for one retry
// timer; the loop logs the end of the initial load and of catch-up passes
// and publishes the source's stats.

import (
	"time"

	"github.com/heraldhq/herald/internal/logging"
)

func (w *watcher) scheduleRetry(n *node, d dim) {
	s := &n.d[d]
	if s.retry {
		return
	}
	s.retry = true
	w.markRead(n, d)
	w.retries++
	if !w.retryArmed {
		w.retryArmed = true
		w.retryTimer.Reset(RetryInterval)
	}
}

func (w *watcher) onRetry() {
	for _, n := range w.nodes {
		for d := range n.d {
			if n.d[d].retry {
				n.d[d].retry = false
				w.enqueue(n)
			}
		}
	}
	w.retries = 0
}

func (w *watcher) synced() bool {
	return w.connected && w.ready && w.auth && len(w.queue) == 0 && w.inflightReads == 0 &&
		len(w.pubQ) == 0 && w.inflightPubs == 0 && w.retries == 0
}

// noteProgress logs the end of the initial load and of catch-up passes.
func (w *watcher) noteProgress() {
	if !w.synced() {
		return
	}
	if !w.loaded {
		w.loaded = true
		w.log.Info().Int("znodes", len(w.nodes)).Strs("roots", w.stats.Roots).Float64("took_ms", logging.Millis(time.Since(w.loadStart))).
			Uint64("published", w.stats.Published).Msg("zk: watches set")
	}
	if w.resyncing {
		w.resyncing = false
		w.log.Info().Int("znodes", len(w.nodes)).Uint64("published", w.resyncEvs).Float64("took_ms", logging.Millis(time.Since(w.resyncAt))).
			Msg("zk: caught up")
	}
}

func (w *watcher) publishStats() {
	w.stats.Synced = w.synced()
	w.stats.Nodes = len(w.nodes)
	w.src.setStats(w.stats)
}
