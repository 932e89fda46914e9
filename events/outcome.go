package events

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// Status is how a run was decided.
type Status string

// Run statuses.
const (
	StatusOK         Status = "ok"         // exited 0
	StatusFailed     Status = "failed"     // exited non-zero or was killed by a signal
	StatusTimeout    Status = "timeout"    // killed after its timeout
	StatusDiscarded  Status = "discarded"  // dropped: discard mode and a run was in flight
	StatusSuperseded Status = "superseded" // a newer event for the key replaced it before it ran
	StatusError      Status = "error"      // the process could not be started
	StatusHalted     Status = "halted"     // not run: the event's rollout was halted (failures, a failed canary, or by hand)
)

// Statuses lists every status, in schema order.
var Statuses = []Status{StatusOK, StatusFailed, StatusTimeout, StatusDiscarded, StatusSuperseded, StatusError, StatusHalted}

// Ran reports whether s says the action ran (or could not start): ok,
// failed, timeout, error. Superseded, discarded and halted say the host
// decided the event without running it.
func (s Status) Ran() bool {
	switch s {
	case StatusOK, StatusFailed, StatusTimeout, StatusError:
		return true
	}
	return false
}

// MergeStatus is a host's status for one event after it reports next,
// having reported prev before (had): a run status is never replaced by
// one that says the event did not run.
func MergeStatus(prev Status, had bool, next Status) Status {
	if had && prev.Ran() && !next.Ran() {
		return prev
	}
	return next
}

// TailBytes bounds the stdout and stderr tails carried in an outcome.
const TailBytes = 8 << 10

// Outcome is the record of one decided run, published on
// herald.outcome.<host>.<watch>.
type Outcome struct {
	EventID   string `json:"event_id"`
	EventType string `json:"event_type"`
	Key       string `json:"key"`
	Version   string `json:"version,omitempty"`
	Watch     string `json:"watch"`
	Host      string `json:"host"`
	Status    Status `json:"status"`
	ExitCode  *int   `json:"exit_code,omitempty"`
	Signal    string `json:"signal,omitempty"`
	Attempts  int    `json:"attempts"`
	// Start is when the first attempt's process was running (after exec).
	Start time.Time `json:"start,omitzero"`
	// DurationMS is the wall time of the run (all attempts) in milliseconds.
	DurationMS float64 `json:"duration_ms"`
	Stdout     string  `json:"stdout,omitempty"`
	Stderr     string  `json:"stderr,omitempty"`
	// Error explains StatusError and other non-process failures.
	Error string `json:"error,omitempty"`
	// SupersededBy names the event that replaced this one (outcomes of
	// status superseded, which agents no longer publish: see Superseded).
	SupersededBy string `json:"superseded_by,omitempty"`
	// Description is the watch's description, when it has one.
	Description string `json:"description,omitempty"`
	// Superseded lists the events this run absorbed: queue-mode events of
	// the same key that a newer one replaced before they ran, the newest
	// last, at most MaxSuperseded of them. They get no outcome of their own.
	Superseded []string `json:"superseded,omitempty"`
	// SupersededCount is how many events the run absorbed in all; it is
	// above len(Superseded) when older ids were left out.
	SupersededCount int `json:"superseded_count,omitempty"`
	// TraceID is the W3C trace id (32 hex digits) of the run's span: the
	// trace of the event's traceparent, or of a trace the agent started.
	TraceID string `json:"trace_id,omitempty"`
}

// Absorbed is, for each event o lists as superseded, the outcome it would
// have had of its own: status superseded, superseded by o's event.
func (o Outcome) Absorbed() []Outcome {
	out := make([]Outcome, 0, len(o.Superseded))
	for _, id := range o.Superseded {
		out = append(out, Outcome{
			EventID: id, EventType: o.EventType, Key: o.Key, Watch: o.Watch, Host: o.Host,
			Status: StatusSuperseded, SupersededBy: o.EventID,
		})
	}
	return out
}

// MaxSuperseded bounds Outcome.Superseded.
const MaxSuperseded = 1000

// ContentTypeJSON is the Content-Type header of every outcome message.
const ContentTypeJSON = "application/json"

// OutcomeMsgID is the Nats-Msg-Id of an outcome of event e, named by parts
// (host and watch; a central handler adds the handled outcome's watch and
// host): readable, since it names the parts and the event id, and unique
// to the parts and the event's own identity (Event.MsgID: source and id,
// or source, key and version), so that a retried publish is stored once
// and two events that share an id (two sources) never share an outcome.
func OutcomeMsgID(e Event, parts ...string) string {
	return "outcome/" + strings.Join(parts, "/") + "/" + e.ID + "/" + digest(append(parts, e.MsgID())...)
}

// ToMsg is the outcome as a NATS message on its subject, JSON with header
// Content-Type: application/json and Nats-Msg-Id msgID.
func (o Outcome) ToMsg(msgID string) (*nats.Msg, error) {
	data, err := o.Marshal()
	if err != nil {
		return nil, fmt.Errorf("outcome %s: %w", msgID, err)
	}
	m := nats.NewMsg(o.Subject())
	m.Header.Set("Content-Type", ContentTypeJSON)
	m.Header.Set(nats.MsgIdHdr, msgID)
	m.Data = data
	return m, nil
}

// Subject is where the outcome is published.
func (o Outcome) Subject() string { return OutcomeSubject(o.Host, o.Watch) }

// Marshal encodes the outcome as JSON.
func (o Outcome) Marshal() ([]byte, error) { return json.Marshal(o) }

// Announcement is what an agent publishes about itself on
// herald.agent.<name> when it starts, on every heartbeat and on reload.
type Announcement struct {
	Name      string         `json:"name"`
	Version   string         `json:"version"`
	Started   time.Time      `json:"started"`
	Heartbeat time.Time      `json:"heartbeat"`
	Interval  float64        `json:"heartbeat_interval_s"`
	Stopping  bool           `json:"stopping,omitempty"`
	Watches   []WatchSummary `json:"watches"`
	// NATSServer is the URL of the NATS server the agent is connected to
	// (credentials redacted), for the web console.
	NATSServer string `json:"nats_server,omitempty"`
}

// WatchSummary describes one loaded watch in an announcement.
type WatchSummary struct {
	Name string `json:"name"`
	On   string `json:"on"`
	// Key is the watch's key: glob (event: selectors only; empty: every
	// key) and Types its types: list (empty: the selector's default): with
	// On they say which events the watch selects (watch.SummarySelector).
	Key     string   `json:"key,omitempty"`
	Types   []string `json:"types,omitempty"`
	RunMode string   `json:"run_mode"`
	File    string   `json:"file"`
	// Waiting lists the events that wait for their rollout turn on this
	// host (a watch with rollout:), oldest first.
	Waiting []string `json:"waiting,omitempty"`
}
