package e2e_test

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// historyDoc is what these tests read of herald validate --history --json.
type historyDoc struct {
	Events         int `json:"events"`
	Unselected     int `json:"unselected"`
	UnselectedKeys []struct {
		Type string `json:"type"`
		Key  string `json:"key"`
	} `json:"unselected_keys"`
	Watches []struct {
		Name   string `json:"name"`
		Events int    `json:"events"`
		Keys   int    `json:"keys"`
		Modes  []struct {
			Mode string `json:"mode"`
			Own  bool   `json:"own"`
			Runs int    `json:"runs"`
		} `json:"modes"`
	} `json:"watches"`
}

func parseHistoryDoc(t *testing.T, out string, err error) historyDoc {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	var doc historyDoc
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("json %q: %v", out, err)
	}
	if len(doc.Watches) != 1 {
		t.Fatalf("watches %+v, want one", doc.Watches)
	}
	return doc
}

const globWatch = `
watches:
  - name: pull
    on: event:git.push
    key: "%KEY%"
    exec: ["touch", "%DIR%/ran"]
`

// TestValidateHistory_KeyGlobChange: a user widening a watch's key glob
// from /repos/* to /repos/** runs herald validate --history on both
// versions against what the dispatcher stored and sees, before the change
// goes live, which events and keys the new glob adds (and that the old
// one left /repos/app/web unselected); nothing is run.
func TestValidateHistory_KeyGlobChange(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	for _, k := range []string{"/repos/app", "/repos/app", "/repos/app/web", "/repos/lib", "/repos/app"} {
		c.publish("git.push", k, "v")
	}
	c.publish("git.tag", "/repos/app", "v1")

	f := newFixture(t)
	dirs := map[string]string{}
	for name, glob := range map[string]string{"old": "/repos/*", "new": "/repos/**"} {
		dirs[name] = filepath.Join(f.dir, name)
		if err := os.Mkdir(dirs[name], 0o755); err != nil {
			t.Fatal(err)
		}
		body := strings.NewReplacer("%KEY%", glob, "%DIR%", f.dir).Replace(globWatch)
		writeFile(t, filepath.Join(dirs[name], "pull.yaml"), body)
	}
	dry := func(dir string) historyDoc {
		out, err := c.herald(t, "", "validate", "--history", "1h", "--run-time", "1h", "--unselected", "--json", dir)
		return parseHistoryDoc(t, out, err)
	}
	old, wide := dry(dirs["old"]), dry(dirs["new"])
	if old.Events != 6 || wide.Events != 6 {
		t.Errorf("events %d and %d, want the 6 stored", old.Events, wide.Events)
	}
	if w := old.Watches[0]; w.Events != 4 || w.Keys != 2 {
		t.Errorf("/repos/*: %d events of %d keys, want 4 of 2 (/repos/app, /repos/lib)", w.Events, w.Keys)
	}
	if w := wide.Watches[0]; w.Events != 5 || w.Keys != 3 {
		t.Errorf("/repos/**: %d events of %d keys, want 5 of 3 (with /repos/app/web)", w.Events, w.Keys)
	}
	unselected := func(d historyDoc) []string {
		var out []string
		for _, k := range d.UnselectedKeys {
			out = append(out, k.Type+" "+k.Key)
		}
		return out
	}
	if got := strings.Join(unselected(old), ","); got != "git.push /repos/app/web,git.tag /repos/app" {
		t.Errorf("unselected by /repos/*: %s", got)
	}
	if got := strings.Join(unselected(wide), ","); got != "git.tag /repos/app" {
		t.Errorf("unselected by /repos/**: %s", got)
	}
	// Queue (its own mode) with 1h runs: /repos/app first, then one run
	// for each other key and one for /repos/app's newest.
	if m := wide.Watches[0].Modes[0]; m.Mode != "queue" || !m.Own || m.Runs != 4 {
		t.Errorf("/repos/** queue: %+v, want its own mode with 4 runs", m)
	}
	if _, err := os.Stat(f.path("ran")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the dry run ran the watch's action (%v)", err)
	}

	// The table, from the same binary.
	out, err := c.herald(t, "", "validate", "--history", "1h", dirs["new"])
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"history: 6 events in HERALD_EVENTS", "; 1 selected by no watch", "pull (", "; 5 events of 3 keys; run time 5s", "queue *"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

// TestValidateHistory_Identities: with --auth, a viewer's credentials run
// the dry run (direct gets and stream info are a viewer's rights); a
// publisher's, which read nothing, are refused with the server's
// violation and a hint, exit 1.
func TestValidateHistory_Identities(t *testing.T) {
	t.Parallel()
	b := newAuthBus(t)
	b.publish("deploy.app", "/app/web", "v1")
	b.publish("deploy.app", "/app/web", "v2")
	f := newFixture(t)
	f.watchFile("w.yaml", strings.NewReplacer("%KEY%", "/app/*", "git.push", "deploy.app").Replace(globWatch))

	out, err := b.herald(t, "", "validate", "--history", "1h", "--json", "--nats-creds", b.creds("viewers", "ops"), f.watches)
	doc := parseHistoryDoc(t, out, err)
	if doc.Events != 2 || doc.Watches[0].Events != 2 || doc.Watches[0].Keys != 1 {
		t.Errorf("as the viewer: %+v, want 2 events, both selected, of 1 key", doc)
	}

	_, err = b.herald(t, "", "validate", "--history", "1h", "--timeout", "1m", "--nats-creds", b.creds("publishers", "ci"), f.watches)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("as a publisher: %v, want exit 1", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "Permissions Violation") || !strings.Contains(msg, "may not read HERALD_EVENTS: run it as a viewer") {
		t.Errorf("as a publisher: %v, want the violation and the hint", err)
	}
}
