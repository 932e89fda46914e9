package testutil

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ReadyLine is the shell line a timeout test's script runs once it is set
// up (its trap installed, its children started): it writes the wall clock,
// in nanoseconds, to the file path (a shell word such as "$D/ready").
func ReadyLine(path string) string { return "date +%s%N > " + path }

// ReadyAt is when a script wrote ReadyLine to path; zero if it did not.
func ReadyAt(path string) time.Time {
	b, err := os.ReadFile(path)
	if err != nil {
		return time.Time{}
	}
	ns, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// UntilReady calls try with timeouts of 200ms, 400ms, ... until a run's
// script was ready before its timeout could fire. try runs the script with
// the timeout it is given and returns what it got, the file the script
// writes ReadyLine to, and a time no later than when the timeout's clock
// started. On a loaded machine a run may time out before its script has
// installed its trap; such a run proves nothing and is made again with a
// longer timeout (and a fresh ready file), so that no assertion depends on
// how fast the machine is.
func UntilReady[R any](tb testing.TB, try func(timeout time.Duration) (got R, readyFile string, clock time.Time)) (R, time.Duration) {
	tb.Helper()
	for timeout := 200 * time.Millisecond; ; timeout *= 2 {
		got, ready, clock := try(timeout)
		if r := ReadyAt(ready); !r.IsZero() && r.Before(clock.Add(timeout)) {
			return got, timeout
		}
		if timeout > 20*time.Second {
			tb.Fatalf("the script was never ready within its timeout (last %v)", timeout)
		}
		tb.Logf("timeout %v passed before the script was ready; again with a longer one", timeout)
	}
}
