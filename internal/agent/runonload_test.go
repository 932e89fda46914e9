package agent_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/heraldhq/herald/events"
)

// recordScript appends "TYPE DATA" of each run to $DIR/NAME.log.
const recordScript = `data=$(cat)
echo "$HERALD_EVENT_TYPE $data" >> "$DIR/$1.log"`

// runOnLoadCase is a history of one key and the one run it must cause.
type runOnLoadCase struct {
	name    string
	on      string
	history [][2]string // type, data
	want    string      // "TYPE DATA" of the only run_on_load run
	live    [2]string   // a live event after loading, to prove nothing else ran
}

func runOnLoadCases(prefix string) []runOnLoadCase {
	zkKey := "/" + prefix + "/git/head"
	kvKey := "cfg/" + prefix + ".app"
	return []runOnLoadCase{
		{
			name: "zk",
			on:   "zk:" + zkKey,
			// create A; set B; delete; create C: only C may run.
			history: [][2]string{{"zk.created", "A"}, {"zk.changed", "B"}, {"zk.deleted", ""}, {"zk.created", "C"}},
			want:    "zk.created C",
			live:    [2]string{"zk.changed", "D"},
		},
		{
			name:    "kv",
			on:      "kv:" + kvKey,
			history: [][2]string{{"kv.put", "v1"}, {"kv.deleted", ""}, {"kv.put", "v2"}},
			want:    "kv.put v2",
			live:    [2]string{"kv.put", "v3"},
		},
	}
}

func (c runOnLoadCase) key() string {
	if k, ok := strings.CutPrefix(c.on, "zk:"); ok {
		return k
	}
	return strings.TrimPrefix(c.on, "kv:")
}

// TestRunOnLoad_NewestOfKeyAcrossTypes: run_on_load offers one event per
// key, the newest across every type the watch receives, in every run
// mode, when the agent starts, when the watch file appears later and when
// it changes.
func TestRunOnLoad_NewestOfKeyAcrossTypes(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.script("rec.sh", recordScript)
	for _, mode := range []string{"queue", "discard", "parallel"} {
		for _, when := range []string{"start", "reload", "change"} {
			for _, c := range runOnLoadCases(mode + "-" + when) {
				t.Run(mode+"/"+when+"/"+c.name, func(t *testing.T) {
					r := *r
					r.t = t
					name := mode + "-" + when + "-" + c.name
					for _, h := range c.history {
						r.publish(h[0], c.key(), h[1])
					}
					file := fmt.Sprintf(`
watches:
  - name: %s
    on: %s
    run_mode: %s
    exec: ["%%DIR%%/rec.sh", "%s"]
    env: {DIR: "%%DIR%%"}
`, name, c.on, mode, name)
					switch when {
					case "start":
						r.startAgent(name, map[string]string{"w.yaml": file})
					case "reload": // the file is added while the agent runs
						ra := r.startAgent(name, nil)
						r.writeWatch(ra, "w.yaml", file)
					case "change": // a watch without run_on_load gets it
						ra := r.startAgent(name, map[string]string{"w.yaml": file + "    run_on_load: false\n"})
						r.writeWatch(ra, "w.yaml", file)
					}
					r.waitOutcomes(name, 1)
					// A discard watch is busy until its run's outcome is
					// published and its slot given back, in that order: a
					// live event that comes in between, once the outcome is
					// visible, is discarded. Publish it again until it runs.
					var got []events.Outcome
					discarded := 0
					for {
						r.publish(c.live[0], c.key(), c.live[1])
						got = r.waitOutcomes(name, 2+discarded)
						if last := got[len(got)-1]; mode != "discard" || last.Status != events.StatusDiscarded || discarded == 10 {
							break
						}
						discarded++
					}
					runs := r.readLines(name + ".log")
					want := []string{c.want, c.live[0] + " " + c.live[1]}
					if strings.Join(runs, "|") != strings.Join(want, "|") {
						t.Fatalf("runs %q, want %q", runs, want)
					}
					for _, o := range got[:1] {
						if o.Status != events.StatusOK {
							t.Errorf("outcome %s for %s %s, want only ok outcomes", o.Status, o.EventType, o.EventID)
						}
					}
					if last := got[len(got)-1]; last.Status != events.StatusOK {
						t.Errorf("live event's outcome %s, want ok", last.Status)
					}
					if len(got) != 2+discarded {
						t.Errorf("%d outcomes, want %d", len(got), 2+discarded)
					}
				})
			}
		}
	}
}
