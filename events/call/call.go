// Package call is the wire format of call hooks: the call a wrapper such as
// "herald call" asks about and reports (method, job, args, and for post and
// err the result), the verdict the dispatcher answers, the request an agent
// gets to run a run: agents hook on its host (the hook's name and the call,
// never a command; with the event the run gets, Call.Event) and its reply, the call.hooks_skipped audit record
// and the engine's status record, plus the NATS subjects and event types
// they travel on. The CLI, the dispatcher's call hooks engine and the agent
// share it; it knows nothing about hook files or how hooks run.
package call

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/heraldhq/herald/events"
)

// Phases of a call. Generic is a hook phase, never a call's.
const (
	PhasePre     = "pre"
	PhasePost    = "post"
	PhaseErr     = "err"
	PhaseGeneric = "generic"
)

// Event types. call.post, call.err and call.hooks_skipped are stored in the
// events stream under the job key (herald.event.call.post.<job>), so agents
// can watch them like any event; call.pre is a NATS request, never stored.
const (
	TypePre          = "call.pre"
	TypePost         = "call.post"
	TypeErr          = "call.err"
	TypeHooksSkipped = "call.hooks_skipped"
)

// Subjects. They live outside herald.event.> so that no stream stores
// them.
const (
	// PrePrefix + "." + method token is where pre requests go; the
	// dispatchers answer in one queue group. A caller with an identity
	// adds its name as a last token (CallerPreSubject).
	PrePrefix = "herald.call.pre"
	// SkipPrefix + "." + method token + "." + caller is where a caller
	// asking skip_hooks sends its pre request; only identities with the
	// right to skip hooks may publish there.
	SkipPrefix = "herald.call.skip"
	// AgentHookPrefix + "." + agent token is where the dispatcher asks an
	// agent to run a hook (run: agents).
	AgentHookPrefix = "herald.callhook"
	// QueueGroup is the queue group of the dispatchers' pre responders.
	QueueGroup = "herald-dispatchers"
)

// SkipAll in Call.SkipHooks skips every hook.
const SkipAll = "all"

// Sentinel errors.
var (
	// ErrInvalidCall wraps every problem with a call's fields.
	ErrInvalidCall = errors.New("invalid call")
)

// PreSubject is the subject of a pre request for method.
func PreSubject(method string) string { return PrePrefix + "." + events.EncodeToken(method) }

// CallerPreSubject is the subject of a pre request for method from the
// identity caller (a name is one subject token as it is):
// herald.call.pre.<method>.<caller>, or herald.call.skip.<method>.<caller>
// when the call asks to skip hooks.
func CallerPreSubject(method, caller string, skip bool) string {
	prefix := PrePrefix
	if skip {
		prefix = SkipPrefix
	}
	return prefix + "." + events.EncodeToken(method) + "." + caller
}

// ParsePreSubject splits the subject of a pre request into its method, its
// caller (empty on herald.call.pre.<method>) and whether it came on the
// skip subject.
func ParsePreSubject(subject string) (method, caller string, skip bool, err error) {
	rest, ok := strings.CutPrefix(subject, PrePrefix+".")
	if !ok {
		if rest, ok = strings.CutPrefix(subject, SkipPrefix+"."); !ok {
			return "", "", false, fmt.Errorf("%w: subject %q: not a pre request", ErrInvalidCall, subject)
		}
		skip = true
	}
	toks := strings.Split(rest, ".")
	switch {
	case len(toks) == 1 && !skip:
	case len(toks) == 2 && toks[1] != "":
		caller = toks[1]
	default:
		return "", "", false, fmt.Errorf("%w: subject %q: want %s.<method>[.<caller>] or %s.<method>.<caller>", ErrInvalidCall, subject, PrePrefix, SkipPrefix)
	}
	if method, err = events.DecodeToken(toks[0]); err != nil {
		return "", "", false, fmt.Errorf("%w: subject %q: %w", ErrInvalidCall, subject, err)
	}
	return method, caller, skip, nil
}

// AgentHookSubject is where agent name takes hook requests.
func AgentHookSubject(agent string) string {
	return AgentHookPrefix + "." + events.EncodeToken(agent)
}

// Job is a job key CLUSTER/ROLE/ENV/NAME split into its parts.
type Job struct {
	Cluster, Role, Env, Name string
}

// String is CLUSTER/ROLE/ENV/NAME.
func (j Job) String() string { return j.Cluster + "/" + j.Role + "/" + j.Env + "/" + j.Name }

// ParseJob splits a job key: four non-empty parts separated by '/', none
// holding a NUL or a line break.
func ParseJob(key string) (Job, error) {
	parts := strings.Split(key, "/")
	if len(parts) != 4 {
		return Job{}, fmt.Errorf("%w: job %q: want CLUSTER/ROLE/ENV/NAME", ErrInvalidCall, key)
	}
	for i, p := range parts {
		if p == "" {
			return Job{}, fmt.Errorf("%w: job %q: part %d is empty (want CLUSTER/ROLE/ENV/NAME)", ErrInvalidCall, key, i+1)
		}
		if strings.ContainsAny(p, "\x00\r\n") {
			return Job{}, fmt.Errorf("%w: job %q: holds a NUL or a line break", ErrInvalidCall, key)
		}
	}
	return Job{Cluster: parts[0], Role: parts[1], Env: parts[2], Name: parts[3]}, nil
}

var (
	methodRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)
	argRe    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// ValidateMethod checks a method name: letters, digits, '_', '.', '-',
// starting with a letter or digit (create_job, update_job, ...). Which
// methods a dispatcher accepts is its list (CheckKnownMethod).
func ValidateMethod(m string) error {
	if !methodRe.MatchString(m) {
		return fmt.Errorf("%w: method %q: want letters, digits, '_', '.' or '-', starting with a letter or digit", ErrInvalidCall, m)
	}
	return nil
}

// DefaultMethods are the methods a dispatcher knows when its config gives
// no call_methods: Aurora's client API methods that its client hooks wrap.
var DefaultMethods = []string{"create_job", "update_job", "kill_job", "restart", "cancel_update", "add_instances", "start_cronjob"}

// ErrUnknownMethod is wrapped by CheckKnownMethod's error: a call to a
// method outside the dispatcher's list is denied, so that a typo
// (kill-job for kill_job) cannot skip every hook.
var ErrUnknownMethod = errors.New("unknown method")

// CheckKnownMethod returns an error naming m and the known methods when m
// is not one of them: unknown method "kill-job"; known: create_job, ...
func CheckKnownMethod(m string, known []string) error {
	for _, k := range known {
		if k == m {
			return nil
		}
	}
	return fmt.Errorf("%w %q; known: %s", ErrUnknownMethod, m, strings.Join(known, ", "))
}

// ValidateArgName checks an argument name; it becomes HERALD_ARG_<NAME> in
// a hook's environment, so it is letters, digits and '_'.
func ValidateArgName(k string) error {
	if !argRe.MatchString(k) {
		return fmt.Errorf("%w: arg %q: the name must be letters, digits and '_', not starting with a digit", ErrInvalidCall, k)
	}
	return nil
}

// Call is one scheduler call as hooks see it: the JSON on a hook's stdin,
// the body of the HTTP endpoints, the data of call.post and call.err
// events.
type Call struct {
	// ID identifies the call across pre, post and err; the caller picks it
	// (a UUID). The dispatcher fills it in when it is empty.
	ID     string            `json:"id"`
	Method string            `json:"method"`
	Job    string            `json:"job"`
	Args   map[string]string `json:"args,omitempty"`
	// Config is the merged config of a job file's stage (herald deploy):
	// any JSON value, nested values included. Its top-level scalars are
	// in Args too (as HERALD_ARG_<KEY>), beside githash. Absent for a
	// call that gives its args by hand (herald call --arg).
	Config map[string]any `json:"config,omitempty"`
	// JobMismatch lists the job keys COMMAND names that differ from Job,
	// when the caller ran it anyway (herald call --allow-job-mismatch):
	// the pre hooks see it, and call.post and call.err record it.
	JobMismatch []string `json:"job_mismatch,omitempty"`
	// Phase is pre, post or err; a hook standing in as generic sees the
	// phase it stands for.
	Phase string `json:"phase"`
	// User and Host say who calls, for the audit: what the caller claims
	// (its OS user and host name).
	User string `json:"user,omitempty"`
	Host string `json:"host,omitempty"`
	// Caller is the identity that made the call, set by the dispatcher from
	// what authenticated it (the NATS identity's name, or the HTTP token's
	// identity); whatever a caller puts here is overwritten. Empty when the
	// dispatcher runs without --auth.
	Caller string `json:"caller,omitempty"`
	// SkipHooks is SkipAll or hook names to skip; Reason is required with
	// it.
	SkipHooks []string `json:"skip_hooks,omitempty"`
	Reason    string   `json:"reason,omitempty"`
	// HooksDisabled is set on post and err by a caller whose pre verdict
	// said the dispatcher's hooks were disabled; their hooks do not run
	// either.
	HooksDisabled string `json:"hooks_disabled,omitempty"`
	// Confirmations are the questions of the call's confirm: pre hooks
	// and the caller's answers (post and err).
	Confirmations []Confirmation `json:"confirmations,omitempty"`
	// ReportTo, on post and err, is where a caller waiting for their hooks
	// (herald call --wait-hooks) listens: HooksReportSubject of the call's
	// id (CheckReportTo). The dispatcher publishes the HooksReport there.
	ReportTo string `json:"report_to,omitempty"`
	// Result is how COMMAND ended (post and err only).
	Result *Result `json:"result,omitempty"`
	// Time is when the caller built this phase of the call.
	Time time.Time `json:"time,omitzero"`
	// TraceParent and TraceState are the call's W3C trace context (the
	// caller's herald.call span): the pre request and the call.post and
	// call.err events carry it, and every hook runs in a child of it.
	TraceParent string `json:"traceparent,omitempty"`
	TraceState  string `json:"tracestate,omitempty"`
}

// Result is how the wrapped command ended.
type Result struct {
	// ExitCode is set when the command exited; Signal when a signal killed
	// it; Error when it could not be started.
	ExitCode *int      `json:"exit_code,omitempty"`
	Signal   string    `json:"signal,omitempty"`
	Error    string    `json:"error,omitempty"`
	Start    time.Time `json:"start,omitzero"`
	// DurationMS is the command's wall time in milliseconds.
	DurationMS float64 `json:"duration_ms"`
	// Stdout and Stderr are the last events.TailBytes of its output.
	Stdout string `json:"stdout,omitempty"`
	Stderr string `json:"stderr,omitempty"`
}

// OK reports whether the result is a success (exit 0): a post, not an err.
func (r *Result) OK() bool {
	return r != nil && r.ExitCode != nil && *r.ExitCode == 0 && r.Error == "" && r.Signal == ""
}

// Validate checks the fields every phase needs.
func (c *Call) Validate() error {
	if err := ValidateMethod(c.Method); err != nil {
		return err
	}
	if _, err := ParseJob(c.Job); err != nil {
		return err
	}
	for k := range c.Args {
		if err := ValidateArgName(k); err != nil {
			return err
		}
	}
	switch c.Phase {
	case PhasePre:
	case PhasePost, PhaseErr:
		if c.Result == nil {
			return fmt.Errorf("%w: result: required for %s", ErrInvalidCall, c.Phase)
		}
	default:
		return fmt.Errorf("%w: phase %q: want pre, post or err", ErrInvalidCall, c.Phase)
	}
	if len(c.SkipHooks) > 0 && strings.TrimSpace(c.Reason) == "" {
		return fmt.Errorf("%w: reason: required when skipping hooks", ErrInvalidCall)
	}
	for _, s := range c.SkipHooks {
		if s == "" {
			return fmt.Errorf("%w: skip_hooks: empty name", ErrInvalidCall)
		}
	}
	return nil // a traceparent that is not W3C's is ignored (trace), as a receiver must
}

// SkipsAll reports whether every hook is skipped.
func (c *Call) SkipsAll() bool {
	for _, s := range c.SkipHooks {
		if s == SkipAll {
			return true
		}
	}
	return false
}

// Skips reports whether the hook named name is skipped.
func (c *Call) Skips(name string) bool {
	for _, s := range c.SkipHooks {
		if s == SkipAll || s == name {
			return true
		}
	}
	return false
}

// Event is the event a hook run of c in phase gets: the call as JSON data
// (with Phase set to phase), the call id as the event id, the job as the
// key. The dispatcher's central hooks and an agent running a run: agents
// hook build the same one.
func (c Call) Event(phase string) (events.Event, error) {
	c.Phase = phase
	data, err := json.Marshal(c)
	if err != nil {
		return events.Event{}, err
	}
	ev := events.Event{
		ID: c.ID, Source: "herald://call/" + c.Host, Type: "call." + phase, Key: c.Job,
		Time: c.Time, DataContentType: "application/json", Data: data,
	}
	ev.TraceParent, ev.TraceState = c.trace()
	return ev, nil
}

// trace is the call's trace context as an event carries it: none when
// the traceparent is not W3C's.
func (c *Call) trace() (traceparent, tracestate string) {
	if !events.ValidTraceParent(c.TraceParent) {
		return "", ""
	}
	return c.TraceParent, c.TraceState
}

// Env returns the HERALD_* variables a hook gets for this call:
// HERALD_CALL_ID, HERALD_METHOD, HERALD_JOB, HERALD_CLUSTER, HERALD_ROLE,
// HERALD_ENV, HERALD_JOB_NAME, HERALD_PHASE, HERALD_CALLER_USER,
// HERALD_CALLER_HOST, HERALD_CALLER_IDENTITY (Caller, empty without
// --auth), HERALD_ARG_<NAME> (upper case) for each argument,
// and for post and err HERALD_EXIT_CODE, HERALD_SIGNAL, HERALD_CALL_ERROR
// and HERALD_DURATION_MS. phase is the phase the hook runs for.
func (c *Call) Env(phase string) map[string]string {
	j, _ := ParseJob(c.Job)
	env := map[string]string{
		"HERALD_CALL_ID":     c.ID,
		"HERALD_METHOD":      c.Method,
		"HERALD_JOB":         c.Job,
		"HERALD_CLUSTER":     j.Cluster,
		"HERALD_ROLE":        j.Role,
		"HERALD_ENV":         j.Env,
		"HERALD_JOB_NAME":    j.Name,
		"HERALD_PHASE":       phase,
		"HERALD_CALLER_USER": c.User,
		"HERALD_CALLER_HOST": c.Host,
		// The authenticated identity, beside the claimed user.
		"HERALD_CALLER_IDENTITY": c.Caller,
	}
	for k, v := range c.Args {
		env["HERALD_ARG_"+strings.ToUpper(k)] = v
	}
	if r := c.Result; r != nil {
		if r.ExitCode != nil {
			env["HERALD_EXIT_CODE"] = fmt.Sprint(*r.ExitCode)
		}
		env["HERALD_SIGNAL"] = r.Signal
		env["HERALD_CALL_ERROR"] = r.Error
		env["HERALD_DURATION_MS"] = fmt.Sprintf("%.0f", r.DurationMS)
	}
	return env
}

// Hook statuses in a HookVerdict, beyond the run statuses of package
// events (ok, failed, timeout, error).
const (
	// StatusNoReply: a targeted agent did not answer in time.
	StatusNoReply = "no_reply"
	// StatusNoAgent: run: agents matched no live agent.
	StatusNoAgent = "no_agent"
)

// HookVerdict is what one hook (on one agent, for run: agents) said.
type HookVerdict struct {
	Hook string `json:"hook"`
	// Agent is set for hooks run by agents.
	Agent string `json:"agent,omitempty"`
	// Phase is the phase the hook is defined for (generic when it stood
	// in for the call's phase).
	Phase  string `json:"phase"`
	Allow  bool   `json:"allow"`
	Status string `json:"status"`
	// Reason is the hook's stdout tail (why it denied), or what went wrong
	// (could not start, timed out, no agent answered).
	Reason     string  `json:"reason,omitempty"`
	ExitCode   *int    `json:"exit_code,omitempty"`
	Signal     string  `json:"signal,omitempty"`
	Stderr     string  `json:"stderr,omitempty"`
	DurationMS float64 `json:"duration_ms"`
}

// Verdict is the dispatcher's answer to a pre request.
type Verdict struct {
	CallID string `json:"call_id"`
	Allow  bool   `json:"allow"`
	// Hooks has every pre hook evaluated, in name order.
	Hooks []HookVerdict `json:"hooks"`
	// Denied lists the hooks (and agents) that denied, with their reasons.
	Denied []HookVerdict `json:"denied,omitempty"`
	// Skipped lists the matching hooks that were skipped on request.
	Skipped []string `json:"skipped,omitempty"`
	// Confirm lists the questions of the confirm: hooks (status confirm in
	// Hooks and Denied); Allow is then false: the caller may run the call
	// only when every other hook allowed (Pending) and it answered each
	// question yes.
	Confirm []Confirmation `json:"confirm,omitempty"`
	// HooksDisabled is the reason of the dispatcher-wide switch when it is
	// on: the call is allowed and no hook ran.
	HooksDisabled string `json:"hooks_disabled,omitempty"`
	// Error is set when the dispatcher could not evaluate the call (bad
	// request, unknown method, audit event not stored); Allow is then
	// false.
	Error string `json:"error,omitempty"`
}

// DenialText is a human summary of why the call was denied, one line per
// denying hook.
func (v *Verdict) DenialText() string {
	var b strings.Builder
	if v.Error != "" {
		fmt.Fprintf(&b, "  dispatcher: %s\n", v.Error)
	}
	for _, d := range v.Denied {
		who := d.Hook
		if d.Agent != "" {
			who += " on " + d.Agent
		}
		reason := strings.TrimSpace(d.Reason)
		if reason == "" {
			reason = "(no reason given)"
		}
		fmt.Fprintf(&b, "  %s (%s): %s\n", who, d.Status, strings.ReplaceAll(reason, "\n", "\n    "))
	}
	return b.String()
}

// HooksSkipped is the data of a call.hooks_skipped audit event: who
// skipped which hooks of which call, and why.
type HooksSkipped struct {
	CallID string `json:"call_id"`
	Method string `json:"method"`
	Job    string `json:"job"`
	// User and Host are what the caller claims; empty for the
	// dispatcher-wide switch when the caller did not say.
	User string `json:"user,omitempty"`
	Host string `json:"host,omitempty"`
	// Caller is the authenticated identity that asked (Call.Caller).
	Caller string `json:"caller,omitempty"`
	// Requested is what the caller asked to skip (SkipAll or names);
	// Skipped the matching hooks that were not run.
	Requested []string `json:"requested"`
	Skipped   []string `json:"skipped"`
	Reason    string   `json:"reason"`
	// By is "caller" (--skip-hooks) or "hooks_disabled" (the
	// dispatcher-wide switch).
	By string `json:"by"`
	// Dispatcher is the host of the dispatcher that recorded it.
	Dispatcher string    `json:"dispatcher"`
	Time       time.Time `json:"time"`
}

// Who skipped hooks.
const (
	SkippedByCaller        = "caller"
	SkippedByHooksDisabled = "hooks_disabled"
)

// AgentRequest asks an agent to run one of its own call hooks for one
// call. It names the hook; what runs (program, arguments, environment) is
// defined in the agent's config (call_hooks:), never in the request.
type AgentRequest struct {
	// Hook is the hook's name: the hook file's, and the key of the agent's
	// call_hooks: entry that runs for it.
	Hook string `json:"hook"`
	// Phase is the phase the hook runs for (HERALD_PHASE).
	Phase string `json:"phase"`
	// Timeout bounds the run, in milliseconds (the hook file's timeout);
	// the agent's own call hook may bound it further.
	TimeoutMS int64 `json:"timeout_ms"`
	// Call is the call; it goes to the hook's stdin as JSON and into its
	// environment.
	Call Call `json:"call"`
}

// AgentReply is an agent's answer to an AgentRequest.
type AgentReply struct {
	Agent      string  `json:"agent"`
	Status     string  `json:"status"` // ok, failed, timeout, error, or refused
	ExitCode   *int    `json:"exit_code,omitempty"`
	Signal     string  `json:"signal,omitempty"`
	Stdout     string  `json:"stdout,omitempty"`
	Stderr     string  `json:"stderr,omitempty"`
	Error      string  `json:"error,omitempty"`
	DurationMS float64 `json:"duration_ms"`
}

// StatusRefused is an agent's reply status when it does not run the hook:
// it was not started with --accept-hooks, its config defines no call hook
// of that name, or the request carries a command.
const StatusRefused = "refused"

// HooksStatus is the hook engine's state as herald status shows it.
type HooksStatus struct {
	Dispatcher string `json:"dispatcher"`
	// HooksDisabled is the reason of the dispatcher-wide switch, if on.
	HooksDisabled string `json:"hooks_disabled,omitempty"`
	// Dir is the hooks directory ("" when none is configured).
	Dir string `json:"dir,omitempty"`
	// Hooks are the loaded hook names by phase.
	Hooks map[string][]string `json:"hooks"`
	// Jobs are the job opt-in files loaded (job names).
	Jobs []string `json:"jobs,omitempty"`
	// Broken lists files that failed to load, with why; their previous
	// version (if any) stays active.
	Broken   map[string]string `json:"broken,omitempty"`
	Stopping bool              `json:"stopping,omitempty"`
	Time     time.Time         `json:"time"`
}

// MatchGlob reports whether name matches a path.Match glob; "*" matches
// everything (including names holding '/').
func MatchGlob(glob, name string) bool {
	if glob == "*" {
		return true
	}
	ok, _ := path.Match(glob, name)
	return ok
}

// StatusBucket is the JetStream key-value bucket where every dispatcher's
// call hooks engine keeps its state (HooksStatus) under StatusKey of its
// host; herald status reads it. Nothing of it goes to the events stream.
const StatusBucket = "herald_hooks"

// StatusKey is the bucket key for a dispatcher host: the name with every
// character a key cannot hold replaced by '_' (the value has the name).
func StatusKey(host string) string {
	var b strings.Builder
	for _, c := range host {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '=':
			b.WriteRune(c)
		default:
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "_"
	}
	return b.String()
}

// ResultEvent builds the call.post or call.err event for c (by c.Phase),
// keyed by the job, with the call as JSON data; src is the CloudEvents
// source. A call without an id gets one.
func ResultEvent(src string, c Call) (events.Event, error) {
	typ := TypePost
	if c.Phase == PhaseErr {
		typ = TypeErr
	}
	if c.ID == "" {
		c.ID = uuid.NewString()
	}
	data, err := json.Marshal(c)
	if err != nil {
		return events.Event{}, err
	}
	ev := events.New(src, typ, c.Job, data)
	ev.DataContentType = "application/json"
	ev.TraceParent, ev.TraceState = c.trace()
	return ev, nil
}
