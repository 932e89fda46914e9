package call

import (
	"fmt"
	"strings"
	"time"

	"github.com/heraldhq/herald/events"
)

// What reaches the caller's side of a call besides the verdict: the
// questions of confirm: pre hooks and their answers, and the report of a
// call's post or err hooks that herald call --wait-hooks waits for.

// StatusConfirm is the status of a confirm: pre hook in a HookVerdict: the
// dispatcher ran nothing; the call may run only once the caller has
// answered the hook's question yes. Such a verdict has Allow false (a
// caller that cannot ask denies) and lists the questions in
// Verdict.Confirm.
const StatusConfirm = "confirm"

// TypeConfirm is the call's confirmation audit event, stored by the
// caller under the job key (herald.event.call.confirm.<job>) once it has
// the answers, before COMMAND runs (or instead, when one is not yes). Its
// data is a ConfirmRecord.
const TypeConfirm = "call.confirm"

// How a question was answered (Confirmation.By).
const (
	AnsweredOnTerminal = "terminal"    // typed on the caller's terminal
	AnsweredByYes      = "--yes"       // herald call --yes, not asked
	AnsweredNoTerminal = "no_terminal" // no terminal to ask on: denied
)

// Confirmation is one confirm: pre hook's question (rendered by the
// dispatcher from the call) and the caller's answer.
type Confirmation struct {
	Hook     string `json:"hook"`
	Question string `json:"question"`
	// Answer is what the caller typed; Confirmed is true only for yes (or
	// --yes); By says how it was answered.
	Answer    string `json:"answer,omitempty"`
	Confirmed bool   `json:"confirmed"`
	By        string `json:"by,omitempty"`
}

// Pending reports whether a verdict only waits for the caller's answers:
// it has questions and every hook that did not allow is a confirm: hook.
func (v *Verdict) Pending() bool {
	if len(v.Confirm) == 0 || v.Error != "" {
		return false
	}
	for _, d := range v.Denied {
		if d.Status != StatusConfirm {
			return false
		}
	}
	return true
}

// ConfirmRecord is the data of a call.confirm event: the questions the
// call's confirm: hooks asked, the caller's answers, and whether the call
// went ahead.
type ConfirmRecord struct {
	CallID string `json:"call_id"`
	Method string `json:"method"`
	Job    string `json:"job"`
	User   string `json:"user,omitempty"`
	Host   string `json:"host,omitempty"`
	// Identity is the caller's identity name (its --nats-creds), empty
	// without.
	Identity      string         `json:"identity,omitempty"`
	Confirmations []Confirmation `json:"confirmations"`
	Allowed       bool           `json:"allowed"`
	Time          time.Time      `json:"time"`
}

// HooksReportPrefix is where the dispatcher that ran a call's post or err
// hooks reports them to a waiting caller (core NATS, not stored):
// HooksReportSubject.
const HooksReportPrefix = "herald.call.hooks"

// HooksReportSubject is herald.call.hooks.<call id>, with the caller's
// identity as a last token when it has one (only that identity may
// subscribe there).
func HooksReportSubject(callID, identity string) string {
	s := HooksReportPrefix + "." + events.EncodeToken(callID)
	if identity != "" {
		s += "." + identity
	}
	return s
}

// CheckReportTo checks a call's ReportTo: HooksReportSubject of its own
// id, with one identity token or none.
func (c *Call) CheckReportTo() error {
	base := HooksReportSubject(c.ID, "")
	if c.ReportTo == base {
		return nil
	}
	tok, ok := strings.CutPrefix(c.ReportTo, base+".")
	if !ok || tok == "" || strings.ContainsAny(tok, ".*> \t\r\n") {
		return fmt.Errorf("%w: report_to %q: want %s[.<identity>]", ErrInvalidCall, c.ReportTo, base)
	}
	return nil
}

// HooksReport is what the dispatcher publishes on a call's ReportTo once
// the post or err hooks of its call.post or call.err event have run and
// their outcomes are stored in HERALD_OUTCOMES (one per hook run, on
// herald.outcome.<dispatcher or agent>.<hook>).
type HooksReport struct {
	CallID string `json:"call_id"`
	// EventID is the call.post or call.err event's id (the outcomes'
	// event_id); Phase is post or err.
	EventID string `json:"event_id"`
	Phase   string `json:"phase"`
	// Dispatcher is the host of the dispatcher that ran them.
	Dispatcher string `json:"dispatcher"`
	// Outcomes are the stored outcomes of the hooks that ran, in hook
	// order; none when no hook matched.
	Outcomes []events.Outcome `json:"outcomes"`
	// Skipped are the matching hooks the call skipped; HooksDisabled the
	// reason none ran.
	Skipped       []string `json:"skipped,omitempty"`
	HooksDisabled string   `json:"hooks_disabled,omitempty"`
}
