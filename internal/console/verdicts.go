package console

import (
	"sync"
	"time"

	"github.com/heraldhq/herald/events/call"
)

// DefaultVerdicts is how many pre verdicts a Verdicts keeps.
const DefaultVerdicts = 500

// Verdicts is a bounded record of the pre verdicts one dispatcher gave,
// newest kept: denied pre calls are stored nowhere else (a verdict is a
// NATS reply), so the call-hook engine hands each one here
// (callhooks.VerdictRecorder). It is lost when the dispatcher stops, and
// each dispatcher of a site holds only the calls it answered.
type Verdicts struct {
	mu   sync.Mutex
	max  int
	list []VerdictRecord // ring
	next int
}

// VerdictRecord is one pre verdict and who asked for what. It keeps no
// args or config of the call (they may hold what a viewer should not see).
type VerdictRecord struct {
	Time      time.Time
	Method    string
	Job       string
	Caller    string
	User      string
	Host      string
	SkipHooks []string
	Reason    string
	Verdict   call.Verdict
}

// NewVerdicts keeps the newest n verdicts (DefaultVerdicts when n <= 0).
func NewVerdicts(n int) *Verdicts {
	if n <= 0 {
		n = DefaultVerdicts
	}
	return &Verdicts{max: n}
}

// RecordVerdict keeps v, the verdict given to c (for method, when the
// request could not be read).
func (r *Verdicts) RecordVerdict(c call.Call, method string, v call.Verdict) {
	if c.Method == "" {
		c.Method = method
	}
	rec := VerdictRecord{
		Time: time.Now().UTC(), Method: c.Method, Job: c.Job, Caller: c.Caller, User: c.User, Host: c.Host,
		SkipHooks: c.SkipHooks, Reason: c.Reason, Verdict: v,
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.list) < r.max {
		r.list = append(r.list, rec)
		return
	}
	r.list[r.next] = rec
	r.next = (r.next + 1) % r.max
}

// Recent returns up to n verdicts, newest first.
func (r *Verdicts) Recent(n int) []VerdictRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]VerdictRecord, 0, min(n, len(r.list)))
	for i := range len(r.list) {
		if len(out) == n {
			break
		}
		j := (r.next - 1 - i + 2*len(r.list)) % len(r.list)
		out = append(out, r.list[j])
	}
	return out
}
