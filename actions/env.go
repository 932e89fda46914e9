package actions

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/events"
)

// Environment variables every action run gets. Their values come from the
// request; they are the only way (with stdin) that event attributes reach a
// process.
const (
	EnvEventID     = "HERALD_EVENT_ID"
	EnvEventType   = "HERALD_EVENT_TYPE"
	EnvKey         = "HERALD_KEY"
	EnvVersion     = "HERALD_VERSION"
	EnvWatch       = "HERALD_WATCH"
	EnvHost        = "HERALD_HOST"
	EnvAttempt     = "HERALD_ATTEMPT"
	EnvSource      = "HERALD_SOURCE"
	EnvTime        = "HERALD_TIME" // RFC 3339 with nanoseconds, UTC; empty when the event has no time
	EnvContentType = "HERALD_CONTENT_TYPE"
)

// EnvTraceParent, EnvTraceState carry Request's trace context; the agent's own never pass, nor
// its EnvCredentialsDirectory (systemd's LoadCredential= directory: the agent's .creds).
const EnvTraceParent, EnvTraceState, EnvCredentialsDirectory = "TRACEPARENT", "TRACESTATE", "CREDENTIALS_DIRECTORY"

// EnvPrefix is reserved: configured environments must not set HERALD_*.
const EnvPrefix = "HERALD_"

// requestEnv returns the HERALD_* variables for req as NAME=value strings.
// Values pass through envValue, so a NUL byte in a key is dropped.
func requestEnv(req Request) []string {
	ev := req.Event
	ts := ""
	if !ev.Time.IsZero() {
		ts = ev.Time.UTC().Format(time.RFC3339Nano)
	}
	ct := ev.DataContentType
	if ct == "" {
		ct = events.DefaultContentType
	}
	kv := [...][2]string{
		{EnvEventID, ev.ID},
		{EnvEventType, ev.Type},
		{EnvKey, ev.Key},
		{EnvVersion, ev.Version},
		{EnvWatch, req.Watch},
		{EnvHost, req.Host},
		{EnvAttempt, strconv.Itoa(req.Attempt)},
		{EnvSource, ev.Source},
		{EnvTime, ts},
		{EnvContentType, ct},
	}
	out := make([]string, 0, len(kv)+len(req.Env))
	// The caller's extras come first: os/exec keeps the last value of a
	// repeated name, so the standard variables cannot be replaced.
	for _, name := range slices.Sorted(maps.Keys(req.Env)) {
		if validExtraEnv(name) {
			out = append(out, name+"="+envValue(req.Env[name]))
		}
	}
	for _, p := range kv {
		out = append(out, p[0]+"="+envValue(p[1]))
	}
	if req.TraceParent != "" {
		out = append(out, EnvTraceParent+"="+req.TraceParent, EnvTraceState+"="+envValue(req.TraceState))
	}
	return out
}

// envValue makes s fit in an environment variable. The kernel passes the
// environment as NUL-terminated strings, so a NUL byte cannot be carried:
// it is dropped ("a\x00b" arrives as "ab"). Every other byte, including
// newlines and invalid UTF-8, arrives unchanged. Keys with NUL bytes are
// legal in Herald but cannot be told apart from the same key without them
// through HERALD_KEY alone.
func envValue(s string) string {
	if strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(s, "\x00", "")
}

// validExtraEnv reports whether name may be set through Request.Env: it
// starts with HERALD_ and holds only letters, digits and '_'.
func validExtraEnv(name string) bool {
	if !strings.HasPrefix(name, EnvPrefix) || len(name) == len(EnvPrefix) {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c == '_' || '0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z') {
			return false
		}
	}
	return true
}

// EnvNameProblem says what is wrong with k as the name of a variable in an
// env: list, or "" when nothing is: an empty name, one holding '=' or a
// NUL, or a HERALD_* name, which setter ("Herald", "the agent") sets
// itself.
func EnvNameProblem(k, setter string) string {
	switch {
	case k == "" || strings.ContainsAny(k, "=\x00"):
		return fmt.Sprintf("invalid variable name %q", k)
	case strings.HasPrefix(k, EnvPrefix):
		return fmt.Sprintf("%q: HERALD_* variables are set by %s", k, setter)
	}
	return ""
}
