package cli_test

import (
	"strings"
	"testing"

	"github.com/heraldhq/herald/events/call"
	"github.com/heraldhq/herald/internal/cli"
)

const killVeto = `
hooks:
  - name: no-kills
    phase: pre
    methods: [kill_job]
    exec: 'echo "kills are frozen"; exit 1'
`

// A typo in METHOD is denied by the dispatcher (exit 3, the known methods
// named) instead of skipping every hook and running COMMAND.
func TestMain_RunCall_UnknownMethod(t *testing.T) {
	t.Parallel()
	f := newCallFixture(t, killVeto, "")
	marker := f.path("ran")
	r := f.call("", "kill_job", "--job", "west/www/prod/hello", "--", "touch", marker)
	if r.code() != cli.ExitCallDenied || exists(marker) || !strings.Contains(r.errOut, "no-kills (failed): kills are frozen") {
		t.Fatalf("kill_job: exit %d marker %v stderr %s", r.code(), exists(marker), r.errOut)
	}
	r = f.call("", "kill-job", "--job", "west/www/prod/hello", "--", "touch", marker)
	want := `unknown method "kill-job"; known: create_job, update_job, kill_job, restart, cancel_update, add_instances, start_cronjob`
	if r.code() != cli.ExitCallDenied || exists(marker) || !strings.Contains(r.errOut, want) {
		t.Fatalf("kill-job: exit %d (want %d) marker %v stderr %s\nwant %s", r.code(), cli.ExitCallDenied, exists(marker), r.errOut, want)
	}
	if got := f.stored(call.TypeErr); len(got) != 0 {
		t.Fatalf("a denied call stored call.err: %+v", got)
	}
}

func TestMain_RunValidate_CallMethods(t *testing.T) {
	t.Setenv(cli.EnvNATS, "nats://127.0.0.1:1") // validate must not need it
	dir := t.TempDir()
	hooksFile := writeFile(t, dir, "hooks.yaml", `hooks:
  - name: veto-kill
    phase: pre
    methods: [kill_jbo, "cron_*"]
    exec: "false"
`)
	t.Run("default methods", func(t *testing.T) {
		r := run(t, nil, nil, "validate", hooksFile)
		wantLines(t, r, []string{
			`warning: ` + hooksFile + `:4: hooks[0].methods[1]: glob "cron_*" matches none of the known methods`,
			hooksFile + `:4: hooks[0].methods[0]: unknown method "kill_jbo"; known: create_job, update_job, kill_job,`,
		}, "1 problem in 1 of 1 files")
	})
	t.Run("the dispatcher's call_methods", func(t *testing.T) {
		conf := writeFile(t, t.TempDir(), "dispatcher.yaml", "http: 127.0.0.1:7070\ncall_methods: [kill_jbo, cron_start]\n")
		r := run(t, nil, nil, "validate", "--dispatcher-config", conf, hooksFile)
		if r.err != nil || r.errOut != "" || r.out != "ok: 0 watches, 1 hooks, 0 handlers in 1 files\n" {
			t.Fatalf("exit %d stdout %q stderr %q", r.code(), r.out, r.errOut)
		}
	})
	t.Run("a bad dispatcher config", func(t *testing.T) {
		conf := writeFile(t, t.TempDir(), "dispatcher.yaml", "\ncall_methods: [a, \"b*\"]\n")
		r := run(t, nil, nil, "validate", "--dispatcher-config", conf, hooksFile)
		if r.code() != cli.ExitFailure || !strings.Contains(r.errOut, conf+`:2: call_methods[1]: method "b*"`) {
			t.Fatalf("exit %d stderr %q", r.code(), r.errOut)
		}
	})
}
