package agent_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestNames_DefaultFromFileAndDescriptionEverywhere: a watch without a
// name is named after its file (stem, or stem-N of several); a watch's
// description is in its outcomes and in every log line about its runs; a
// default name that another file already holds is refused, naming both.
func TestNames_DefaultFromFileAndDescriptionEverywhere(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ra := r.startAgent("names", map[string]string{
		"team/git-pull.yaml": `
watches:
  - on: event:test.names
    description: keep the checkout at the pushed head
    exec: ["/bin/true"]
    run_on_load: false
`,
		"multi.yaml": `
watches:
  - on: event:test.names
    exec: ["/bin/true"]
    run_on_load: false
  - on: event:test.names
    exec: ["/bin/false"]
    run_on_load: false
`,
	})
	e := r.publish("test.names", "/k", "x")
	got := r.waitOutcomes("git-pull", 1)
	if got[0].Description != "keep the checkout at the pushed head" {
		t.Errorf("outcome description %q", got[0].Description)
	}
	r.waitOutcomes("multi-1", 1)
	if o := r.waitOutcomes("multi-2", 1); o[0].Description != "" {
		t.Errorf("watch without description: outcome has %q", o[0].Description)
	}
	lines := 0
	for _, line := range strings.Split(ra.log.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil || m["event_id"] != e.ID || m["watch"] != "git-pull" {
			continue
		}
		lines++
		if m["description"] != "keep the checkout at the pushed head" {
			t.Errorf("log line about a run lacks the description: %s", line)
		}
	}
	if lines < 2 { // run starting, run finished
		t.Errorf("%d log lines about the run, want at least 2", lines)
	}

	// Another file defining "git-pull": refused, both files named.
	clash := r.writeWatch(ra, "other.yaml", `
watches:
  - name: git-pull
    on: event:test.names
    exec: ["/bin/true"]
`)
	ra.waitLog(t, `watch \"git-pull\" is already defined in `+ra.watches+`/team/git-pull.yaml`)
	if !strings.Contains(ra.log.String(), clash) {
		t.Errorf("the refused file %s is not named", clash)
	}
}
