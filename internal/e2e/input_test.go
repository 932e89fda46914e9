package e2e_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/heraldhq/herald/internal/yamlfile"
)

// waitLogLine polls the process output for one line holding every part.
func (p *proc) waitLogLine(parts ...string) {
	p.t.Helper()
	testutil.Eventually(p.t, wait, func() error {
		for _, line := range strings.Split(p.out.String(), "\n") {
			all := true
			for _, s := range parts {
				all = all && strings.Contains(line, s)
			}
			if all {
				return nil
			}
		}
		return fmt.Errorf("%s has logged no line with all of %q", p.name, parts)
	})
}

// A watch naming a user this host lacks makes its file invalid at load:
// logged at error with file, line and field, the whole file not loaded (no
// watch of it silently skipped), and on a reload the previous version stays
// active and keeps deciding events. A file over 1 MiB is refused the same
// way, naming its size and the limit.
func TestAgent_UnknownUserAndBigFileAreLoadErrors(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	f := newFixture(t)
	f.script("rec.sh", `data=$(cat); echo "$1 $data" >> "$DIR/$1.log"`)
	const good = `
watches:
  - name: r
    on: event:test.user
    exec: ["%DIR%/rec.sh", "r"]
    env: {DIR: "%DIR%"}
    run_on_load: false
`
	wf := f.watchFile("r.yaml", good)
	nf := f.watchFile("new.yaml", `
watches:
  - name: sibling
    on: event:test.user
    exec: ["%DIR%/rec.sh", "sibling"]
    env: {DIR: "%DIR%"}
    run_on_load: false
  - name: nouser
    on: event:test.user
    exec: ["%DIR%/rec.sh", "nouser"]
    env: {DIR: "%DIR%"}
    run_on_load: false
    user: herald-no-such-user
`)
	out := c.watchOutcomes()
	a := c.startAgent(agentOpts{name: "a1", watches: f.watches})
	a.waitLogLine(`"level":"error"`, nf+`:13: watches[1].user: unknown user \"herald-no-such-user\"`, "watch file is invalid; not loaded")
	c.publish("test.user", "k", "e1")
	out.waitCount(t, "r", events.StatusOK, 1)

	f.watchFile("r.yaml", strings.Replace(good, "run_on_load: false", "run_on_load: false\n    group: herald-no-such-group", 1))
	a.waitLogLine(`"level":"error"`, wf+`:8: watches[0].group: unknown group \"herald-no-such-group\"`, "its previous version stays active")
	c.publish("test.user", "k", "e2")
	out.waitCount(t, "r", events.StatusOK, 2)

	big := f.watchFile("big.yaml", "watches: []\n"+strings.Repeat("# padding\n", yamlfile.MaxFileSize/10))
	a.waitLogLine(`"level":"error"`, big+`: file is too big: 1048582 bytes, the limit is 1048576 bytes (1 MiB)`)

	c.publish("test.user", "k", "e3")
	out.waitCount(t, "r", events.StatusOK, 3)
	if got := strings.Join(readLines(t, f.path("r.log")), ","); got != "r e1,r e2,r e3" {
		t.Errorf("r ran %s, want r e1,r e2,r e3", got)
	}
	for _, w := range []string{"sibling", "nouser"} {
		if n := out.count(w, ""); n != 0 {
			t.Errorf("watch %s of the invalid file decided %d events, want none (the file is not loaded)", w, n)
		}
	}
}

// Both daemons refuse a --config file with a key given twice, or over 1
// MiB, before they start: exit 2 and the file, line (or size) on stderr.
func TestDaemons_ConfigDuplicateKeyAndSize(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tc := range []struct {
		bin, content, want string
	}{
		{"dispatcher", "http: \"\"\nhttp: 127.0.0.1:0\n", `:2: duplicate key "http" (first at line 1)`},
		{"agent", "nats:\n  url: nats://127.0.0.1:1\n  url: nats://127.0.0.1:2\n", `:3: nats: duplicate key "url" (first at line 2)`},
		{"agent", "name: a\n" + strings.Repeat("# padding\n", yamlfile.MaxFileSize/10), `: file is too big: 1048578 bytes, the limit is 1048576 bytes (1 MiB)`},
	} {
		p := filepath.Join(dir, fmt.Sprintf("%s-%d.yaml", tc.bin, len(tc.content)))
		if err := os.WriteFile(p, []byte(tc.content), 0o600); err != nil {
			t.Fatal(err)
		}
		d := start(t, tc.bin, "--config", p)
		select {
		case <-d.done:
		case <-time.After(wait):
			t.Fatalf("%s --config %s did not exit", tc.bin, p)
		}
		if code := d.cmd.ProcessState.ExitCode(); code != 2 || !strings.Contains(d.out.String(), p+tc.want) {
			t.Errorf("%s --config with %q: exit %d, output %q; want 2 and %q", tc.bin, tc.want, code, d.out.String(), p+tc.want)
		}
	}
}
