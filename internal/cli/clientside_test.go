package cli_test

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/events/call"
	"github.com/heraldhq/herald/internal/cli"
	"github.com/heraldhq/herald/internal/testutil"
)

// localHooks writes executable /bin/sh hooks into a fresh directory.
func localHooks(t *testing.T, hooks map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range hooks {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestMain_RunCall_LocalPreHookDenies proves the local pre hooks run in
// name order with argv METHOD PHASE and the call on stdin, and that one
// that fails denies (exit 3) before the dispatcher is asked: neither the
// dispatcher's pre hook nor COMMAND runs, nor the local hooks after it.
// A --local-hooks directory that does not exist denies too.
func TestMain_RunCall_LocalPreHookDenies(t *testing.T) {
	t.Parallel()
	f := newCallFixture(t, `
hooks:
  - {name: asked, phase: pre, methods: ["*"], exec: 'touch %TMP%/asked'}
`, "")
	dir := localHooks(t, map[string]string{
		"10-record": `echo "$1 $2 $HERALD_JOB $HERALD_HOOK" >> "` + f.path("local") + `"; cat > "` + f.path("stdin") + `"`,
		"20-master": `echo "you are not at the head of master"; exit 1`,
		"30-never":  `touch "` + f.path("never") + `"`,
	})
	marker := f.path("ran")
	r := f.call("", "update_job", "--job", "c/r/prod/web", "--arg", "build=7", "--local-hooks", dir, "--", "touch", marker)
	if r.code() != cli.ExitCallDenied {
		t.Fatalf("exit %d, want %d; stderr %s", r.code(), cli.ExitCallDenied, r.errOut)
	}
	if !strings.Contains(r.errOut, "denied by the local pre hook 20-master (failed)") || !strings.Contains(r.errOut, "you are not at the head of master") {
		t.Fatalf("stderr does not name the local hook and its reason:\n%s", r.errOut)
	}
	for _, p := range []string{marker, f.path("asked"), f.path("never")} {
		if exists(p) {
			t.Fatalf("%s exists: something ran after the local pre hook denied", p)
		}
	}
	if got := readFileString(t, f.path("local")); got != "update_job pre c/r/prod/web 10-record\n" {
		t.Fatalf("local hook argv and env %q", got)
	}
	var c call.Call
	if err := json.Unmarshal([]byte(readFileString(t, f.path("stdin"))), &c); err != nil || c.Method != "update_job" || c.Phase != "pre" || c.Args["build"] != "7" {
		t.Fatalf("local hook stdin %+v %v", c, err)
	}

	r = f.call("", "update_job", "--job", "c/r/prod/web", "--local-hooks", filepath.Join(dir, "nope"), "--", "touch", marker)
	if r.code() != cli.ExitCallDenied || !strings.Contains(r.errOut, "local hooks:") || exists(marker) {
		t.Fatalf("missing --local-hooks dir: exit %d stderr %s", r.code(), r.errOut)
	}
}

// TestMain_RunCall_LocalPostAndErrHooks proves the local post hooks run
// after a COMMAND that succeeded and the err hooks after one that failed,
// every one of them, and that their failures are printed without changing
// the exit status.
func TestMain_RunCall_LocalPostAndErrHooks(t *testing.T) {
	t.Parallel()
	f := newCallFixture(t, "hooks: []\n", "")
	dir := localHooks(t, map[string]string{
		"10-fail":   `[ "$2" = pre ] && exit 0; echo "slack is down"; exit 1`,
		"20-record": `echo "$1 $2 $HERALD_EXIT_CODE $(cat | grep -c '"phase":"'$2'"')" >> "` + f.path("local") + `"`,
	})
	r := f.call("", "update_job", "--job", "c/r/e/web", "--local-hooks", dir, "--", "true")
	if r.code() != 0 || !strings.Contains(r.errOut, "local post hook 10-fail failed (failed): slack is down") {
		t.Fatalf("post: exit %d stderr %s", r.code(), r.errOut)
	}
	r = f.call("", "update_job", "--job", "c/r/e/web", "--local-hooks", dir, "--", "sh", "-c", "exit 4")
	if r.code() != 4 || !strings.Contains(r.errOut, "local err hook 10-fail failed (failed): slack is down") {
		t.Fatalf("err: exit %d stderr %s", r.code(), r.errOut)
	}
	want := "update_job pre  1\nupdate_job post 0 1\nupdate_job pre  1\nupdate_job err 4 1\n"
	if got := readFileString(t, f.path("local")); got != want {
		t.Fatalf("local hooks ran\n%q\nwant\n%q", got, want)
	}
}

// terminal is a caller's terminal with a typed answer.
type terminal struct {
	mu    sync.Mutex
	in    io.Reader
	shown strings.Builder
}

func (t *terminal) Read(p []byte) (int, error) { return t.in.Read(p) }
func (t *terminal) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.shown.Write(p)
}
func (t *terminal) Close() error { return nil }
func (t *terminal) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.shown.String()
}

// TestMain_RunCall_Confirm proves a confirm: hook's question is asked on
// the caller's terminal: yes runs COMMAND, anything else denies (exit 3);
// with no terminal the call is denied unless --yes; the questions and
// answers are stored in call.confirm events and the post event carries
// them.
func TestMain_RunCall_Confirm(t *testing.T) {
	t.Parallel()
	f := newCallFixture(t, `
hooks:
  - {name: kill-confirmer, phase: pre, methods: [kill_job], confirm: 'Kill {{.job}} ({{index .args "shards"}})?'}
`, "")
	marker := f.path("ran")
	callWith := func(tty func() (io.ReadWriteCloser, error), extra ...string) result {
		args := append([]string{"call", "--nats", f.url, "kill_job", "--job", "c/r/prod/web", "--arg", "shards=0-3"}, extra...)
		return run(t, &cli.Main{Terminal: tty}, strings.NewReader(""), append(args, "--", "touch", marker)...)
	}
	answering := func(answer string) (*terminal, func() (io.ReadWriteCloser, error)) {
		tt := &terminal{in: strings.NewReader(answer)}
		return tt, func() (io.ReadWriteCloser, error) { return tt, nil }
	}

	tt, open := answering("no\n")
	r := callWith(open)
	if r.code() != cli.ExitCallDenied || exists(marker) || !strings.Contains(r.errOut, `"no"`) {
		t.Fatalf("answered no: exit %d stderr %s", r.code(), r.errOut)
	}
	if got := tt.String(); got != "Kill c/r/prod/web (0-3)? (yes/no): " {
		t.Fatalf("terminal shows %q", got)
	}
	noTTY := func() (io.ReadWriteCloser, error) { return nil, errors.New("no controlling terminal") }
	r = callWith(noTTY)
	if r.code() != cli.ExitCallDenied || exists(marker) || !strings.Contains(r.errOut, "no terminal") {
		t.Fatalf("no terminal: exit %d stderr %s", r.code(), r.errOut)
	}
	_, open = answering("yes\n")
	if r = callWith(open); r.code() != 0 || !exists(marker) {
		t.Fatalf("answered yes: exit %d stderr %s", r.code(), r.errOut)
	}
	if r = callWith(noTTY, "--yes"); r.code() != 0 {
		t.Fatalf("--yes: exit %d stderr %s", r.code(), r.errOut)
	}

	var recs []call.ConfirmRecord
	for _, e := range testutil.StoredEvents(t, f.js, 10*time.Second, events.EventPrefix+"."+call.TypeConfirm+".>") {
		var rec call.ConfirmRecord
		if err := json.Unmarshal(e.Data, &rec); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	type seen struct {
		answer, by string
		allowed    bool
	}
	var got []seen
	for _, rec := range recs {
		if len(rec.Confirmations) != 1 || rec.Confirmations[0].Question != "Kill c/r/prod/web (0-3)?" || rec.Job != "c/r/prod/web" || rec.CallID == "" {
			t.Fatalf("call.confirm %+v", rec)
		}
		got = append(got, seen{rec.Confirmations[0].Answer, rec.Confirmations[0].By, rec.Allowed})
	}
	want := []seen{{"no", call.AnsweredOnTerminal, false}, {"", call.AnsweredNoTerminal, false}, {"yes", call.AnsweredOnTerminal, true}, {"yes", call.AnsweredByYes, true}}
	if len(got) != len(want) {
		t.Fatalf("call.confirm events %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("call.confirm events %+v, want %+v", got, want)
		}
	}
	posts := f.stored(call.TypePost)
	if len(posts) != 2 || len(posts[0].Confirmations) != 1 || !posts[0].Confirmations[0].Confirmed || posts[1].Confirmations[0].By != call.AnsweredByYes {
		t.Fatalf("call.post events do not carry the answers: %+v", posts)
	}
}

// TestMain_RunCall_WaitHooks proves --wait-hooks prints one line per post
// or err hook of the call once they have run (hook, status, reason), a
// note when none ran, and keeps COMMAND's exit status.
func TestMain_RunCall_WaitHooks(t *testing.T) {
	t.Parallel()
	f := newCallFixture(t, `
hooks:
  - {name: notify, phase: post, methods: [update_job], exec: 'echo "slack is down"; exit 1'}
  - {name: record, phase: post, methods: [update_job], exec: 'echo "recorded $HERALD_JOB"'}
  - {name: page, phase: err, methods: [update_job], exec: 'echo "paged on-call"'}
`, "")
	r := f.call("", "update_job", "--job", "c/r/e/web", "--wait-hooks", "--hooks-timeout", "20s", "--", "true")
	if r.code() != 0 {
		t.Fatalf("exit %d stderr %s", r.code(), r.errOut)
	}
	for _, w := range []string{"post hook notify: failed: ", "slack is down", "post hook record: ok: recorded c/r/e/web"} {
		if !strings.Contains(r.errOut, w) {
			t.Fatalf("stderr does not show %q:\n%s", w, r.errOut)
		}
	}
	r = f.call("", "update_job", "--job", "c/r/e/web", "--wait-hooks", "--", "sh", "-c", "exit 6")
	if r.code() != 6 || !strings.Contains(r.errOut, "err hook page: ok: paged on-call") || strings.Contains(r.errOut, "notify") {
		t.Fatalf("err: exit %d stderr %s", r.code(), r.errOut)
	}
	r = f.call("", "restart", "--job", "c/r/e/web", "--wait-hooks", "--", "true")
	if r.code() != 0 || !strings.Contains(r.errOut, "post hooks: none ran") {
		t.Fatalf("no hooks: exit %d stderr %s", r.code(), r.errOut)
	}
}
