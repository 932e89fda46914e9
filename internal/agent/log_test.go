package agent_test

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
)

// jsonKeys returns the top-level keys of one JSON object, in order, with
// repeats (encoding/json into a map would hide them).
func jsonKeys(line string) ([]string, error) {
	dec := json.NewDecoder(strings.NewReader(line))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, fmt.Errorf("not an object: %q", line)
	}
	var keys []string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		keys = append(keys, t.(string))
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
	}
	if _, err := dec.Token(); err != nil && err != io.EOF {
		return nil, err
	}
	return keys, nil
}

// TestLog_EachFieldOnce: every line the agent logs about a run (and every
// other line) carries each key once; a run's duration is duration_ms.
func TestLog_EachFieldOnce(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ra := r.startAgent("log-host", map[string]string{"w.yaml": `
watches:
  - name: w
    on: event:test.log
    exec: ["/bin/true"]
    run_on_load: false
`})
	r.publish("test.log", "/k", "x")
	r.waitOutcomes("w", 1)
	ra.waitLog(t, `"run finished"`)
	runLines := 0
	for _, line := range strings.Split(strings.TrimSpace(ra.log.String()), "\n") {
		keys, err := jsonKeys(line)
		if err != nil {
			t.Fatalf("%v in %s", err, line)
		}
		seen := map[string]bool{}
		for _, k := range keys {
			if seen[k] {
				t.Errorf("key %q twice in %s", k, line)
			}
			seen[k] = true
		}
		if strings.Contains(line, `"message":"run finished"`) {
			runLines++
			for _, want := range []string{"host", "watch", "event_id", "key", "status", "duration_ms"} {
				if !seen[want] {
					t.Errorf("run finished line lacks %q: %s", want, line)
				}
			}
		}
	}
	if runLines != 1 {
		t.Errorf("%d run finished lines, want 1", runLines)
	}
}
