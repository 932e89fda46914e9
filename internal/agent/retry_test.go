package agent_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldhq/herald/events"
)

// attemptScript records HERALD_ATTEMPT and the data of each attempt, and
// fails unless the data is "ok" or the attempt number reached the data.
const attemptScript = `data=$(cat)
echo "$data $HERALD_ATTEMPT" >> "$DIR/$1.log"
[ "$data" = ok ] || [ "$HERALD_ATTEMPT" = "$data" ]`

// TestRetry_AttemptsBackoffAndAttemptEnv: a failing run is tried again up
// to retry.attempts in all, HERALD_ATTEMPT counting 1, 2, ...; the wait
// before attempt N+1 is backoff × N; the outcome counts the attempts.
func TestRetry_AttemptsBackoffAndAttemptEnv(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.script("attempt.sh", attemptScript)
	ra := r.startAgent("retry", map[string]string{"w.yaml": `
watches:
  - name: r
    on: event:test.retry
    exec: ["%DIR%/attempt.sh", "r"]
    env: {DIR: "%DIR%"}
    retry: {attempts: 4, backoff: 100ms}
    run_on_load: false
`})
	r.publish("test.retry", "/k", "3") // succeeds on the third attempt
	o := r.waitOutcomes("r", 1)[0]
	if o.Status != events.StatusOK || o.Attempts != 3 {
		t.Errorf("outcome %s after %d attempts, want ok after 3", o.Status, o.Attempts)
	}
	r.publish("test.retry", "/k", "never")
	o = r.waitOutcomes("r", 2)[1]
	if o.Status != events.StatusFailed || o.Attempts != 4 || o.ExitCode == nil || *o.ExitCode != 1 {
		t.Errorf("outcome %+v, want failed with exit 1 after 4 attempts", o)
	}
	want := "3 1|3 2|3 3|never 1|never 2|never 3|never 4"
	if got := strings.Join(r.readLines("r.log"), "|"); got != want {
		t.Errorf("attempts ran %s, want %s", got, want)
	}
	// The waits the agent chose: 100ms after attempt 1, 200ms after 2, ...
	var waits []float64
	for _, line := range strings.Split(ra.log.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["message"] == "run failed, retrying" {
			waits = append(waits, m["retry_in_ms"].(float64))
		}
	}
	wantWaits := []float64{100, 200, 100, 200, 300}
	if len(waits) != len(wantWaits) {
		t.Fatalf("retry waits %v, want %v", waits, wantWaits)
	}
	for i := range waits {
		if waits[i] != wantWaits[i] {
			t.Fatalf("retry waits %v, want %v", waits, wantWaits)
		}
	}
}

// TestOnFailureStop_DiscardsUntilTheFileChanges: after a failed run of an
// on_failure: stop watch, its later events are discarded; changing its
// file re-arms it.
func TestOnFailureStop_DiscardsUntilTheFileChanges(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.script("attempt.sh", attemptScript)
	file := func(v string) string {
		return `
watches:
  - name: s
    on: event:test.stop
    exec: ["%DIR%/attempt.sh", "s"]
    env: {DIR: "%DIR%", V: "` + v + `"}
    on_failure: stop
    run_on_load: false
`
	}
	ra := r.startAgent("stop", map[string]string{"w.yaml": file("1")})
	r.publish("test.stop", "/k", "bad")
	r.waitOutcomes("s", 1)
	r.publish("test.stop", "/k", "ok")
	r.publish("test.stop", "/other", "ok")
	got := r.waitOutcomes("s", 3)
	if got[0].Status != events.StatusFailed {
		t.Fatalf("first outcome %s, want failed", got[0].Status)
	}
	for _, o := range got[1:] {
		if o.Status != events.StatusDiscarded || !strings.Contains(o.Error, "on_failure: stop") {
			t.Errorf("after the failure: outcome %s (%s), want discarded saying why", o.Status, o.Error)
		}
	}
	r.writeWatch(ra, "w.yaml", file("2"))
	ra.waitLog(t, "watch changed")
	r.publish("test.stop", "/k", "ok")
	if o := r.waitOutcomes("s", 4)[3]; o.Status != events.StatusOK {
		t.Errorf("after the file changed: outcome %s, want ok", o.Status)
	}
	if got := strings.Join(r.readLines("s.log"), "|"); got != "bad 1|ok 1" {
		t.Errorf("runs %s, want bad 1|ok 1", got)
	}
}

// TestRetry_StopsAtOnceWhenTheWatchChangesOrGoes: a run waiting an hour
// for its next attempt stops retrying as soon as its watch file is changed
// or removed; its outcome is the last attempt's, saying why.
func TestRetry_StopsAtOnceWhenTheWatchChangesOrGoes(t *testing.T) {
	t.Parallel()
	for _, change := range []string{"changed", "removed"} {
		t.Run(change, func(t *testing.T) {
			t.Parallel()
			r := newRig(t)
			r.script("attempt.sh", attemptScript)
			body := `
watches:
  - name: w
    on: event:test.retry
    exec: ["%DIR%/attempt.sh", "w"]
    env: {DIR: "%DIR%"}
    retry: {attempts: 100, backoff: 1h}
    run_on_load: false
`
			ra := r.startAgent("retry-"+change, map[string]string{"w.yaml": body})
			r.publish("test.retry", "/k", "never")
			ra.waitLog(t, "run failed, retrying")
			if change == "changed" {
				r.writeWatch(ra, "w.yaml", strings.Replace(body, "backoff: 1h", "backoff: 2h", 1))
			} else if err := os.Remove(filepath.Join(ra.watches, "w.yaml")); err != nil {
				t.Fatal(err)
			}
			o := r.waitOutcomes("w", 1)[0]
			if o.Status != events.StatusFailed || o.Attempts != 1 {
				t.Errorf("outcome %s after %d attempts, want failed after 1", o.Status, o.Attempts)
			}
			if want := "retries stopped after attempt 1 of 100: the watch was " + change; !strings.Contains(o.Error, want) {
				t.Errorf("outcome error %q, want %q", o.Error, want)
			}
			if got := r.readLines("w.log"); len(got) != 1 {
				t.Errorf("attempts %q, want one", got)
			}
		})
	}
}
