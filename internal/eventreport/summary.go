package eventreport

import (
	"sort"
	"strings"
	"time"

	"github.com/heraldhq/herald/events"
)

// StatusPending is the status of an expected host that has not decided
// the event yet.
const StatusPending = "pending"

// StderrLines is how many of the last lines of a run's stderr a Host
// keeps.
const StderrLines = 10

// Summary is what the fleet did with one event (its JSON is documented in
// the README, "Waiting for the fleet", and in schemas/eventreport.schema.json).
type Summary struct {
	EventID   string    `json:"event_id"`
	EventType string    `json:"event_type"`
	Key       string    `json:"key"`
	Seq       uint64    `json:"seq"`
	Stored    time.Time `json:"stored"`
	// Watch is the one watch reported on (--watch), empty for all.
	Watch string `json:"watch,omitempty"`
	// Expected counts Hosts: one per expected host and watch.
	Expected int `json:"expected"`
	// Decided counts the Hosts that are not pending.
	Decided int `json:"decided"`
	// Done is true once every expected host decided the event.
	Done bool `json:"done"`
	// Counts has every outcome status and pending, zeros included.
	Counts map[string]int `json:"counts"`
	// Hosts is sorted by host, then watch.
	Hosts []Host `json:"hosts"`
	// Missing lists the hosts with a pending watch, sorted.
	Missing []string `json:"missing"`
	// LastOutcome is when the last deciding outcome was stored, and
	// ToLastOutcomeMS how long after the event that was.
	LastOutcome     time.Time `json:"last_outcome,omitzero"`
	ToLastOutcomeMS float64   `json:"to_last_outcome_ms,omitempty"`
	// Rollouts are the event's rollouts (watches with rollout:).
	Rollouts []Rollout `json:"rollouts,omitempty"`
}

// Host is one expected host's (and watch's) answer to the event.
type Host struct {
	Host  string `json:"host"`
	Watch string `json:"watch"`
	// Status is an outcome status (events.Status), or for a host that has
	// not decided: StatusPending, or StatusWaiting or StatusRunning when
	// its watch's rollout says so.
	Status     string  `json:"status"`
	ExitCode   *int    `json:"exit_code,omitempty"`
	Signal     string  `json:"signal,omitempty"`
	Attempts   int     `json:"attempts,omitempty"`
	DurationMS float64 `json:"duration_ms,omitempty"`
	// Stdout and Stderr are the last StderrLines lines of the run's
	// stdout and stderr.
	Stdout string `json:"stdout,omitempty"`
	Stderr string `json:"stderr,omitempty"`
	Error  string `json:"error,omitempty"`
	// SupersededBy names the newer event whose run decided this one.
	SupersededBy string `json:"superseded_by,omitempty"`
	// Reported is when the deciding outcome was stored.
	Reported time.Time `json:"reported,omitzero"`
}

// Failed reports whether the host's answer is a failure: it failed, timed
// out, could not start or was halted. Ok, superseded (a newer event of the
// key ran instead) and discarded (discard mode: a run was in flight) are
// not.
func (h Host) Failed() bool {
	switch events.Status(h.Status) {
	case events.StatusFailed, events.StatusTimeout, events.StatusError, events.StatusHalted:
		return true
	}
	return false
}

// Failures returns the hosts whose answer is a failure (Host.Failed).
func (s Summary) Failures() []Host {
	var out []Host
	for _, h := range s.Hosts {
		if h.Failed() {
			out = append(out, h)
		}
	}
	return out
}

// lastLines is the last n lines of s, without a trailing newline.
func lastLines(s string, n int) string {
	s = strings.TrimRight(s, "\n")
	i := len(s)
	for range n {
		j := strings.LastIndexByte(s[:i], '\n')
		if j < 0 {
			return s
		}
		i = j
	}
	return s[i+1:]
}

// summarize builds the Summary of ev from the hosts' states.
func summarize(ev Event, watch string, hosts map[pair]*Host, states map[pair]string) Summary {
	s := Summary{
		EventID: ev.ID, EventType: ev.Type, Key: ev.Key, Seq: ev.Seq, Stored: ev.Stored, Watch: watch,
		Counts: map[string]int{StatusPending: 0, StatusWaiting: 0, StatusRunning: 0},
		Hosts:  make([]Host, 0, len(hosts)), Missing: []string{},
	}
	for _, st := range events.Statuses {
		s.Counts[string(st)] = 0
	}
	missing := map[string]bool{}
	for p, h := range hosts {
		hs := *h
		if hs.Status == StatusPending && states[p] != "" {
			hs.Status = states[p]
		}
		s.Hosts = append(s.Hosts, hs)
		s.Counts[hs.Status]++
		if h.Status == StatusPending {
			missing[h.Host] = true
			continue
		}
		s.Decided++
		if h.Reported.After(s.LastOutcome) {
			s.LastOutcome = h.Reported
		}
	}
	sort.Slice(s.Hosts, func(i, j int) bool {
		a, b := s.Hosts[i], s.Hosts[j]
		return a.Host < b.Host || a.Host == b.Host && a.Watch < b.Watch
	})
	for h := range missing {
		s.Missing = append(s.Missing, h)
	}
	sort.Strings(s.Missing)
	s.Expected = len(s.Hosts)
	s.Done = s.Decided == s.Expected
	if !s.LastOutcome.IsZero() && !ev.Stored.IsZero() {
		s.ToLastOutcomeMS = float64(s.LastOutcome.Sub(ev.Stored).Microseconds()) / 1000
	}
	return s
}
