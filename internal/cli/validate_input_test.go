package cli_test

import (
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/cli"
	"github.com/heraldhq/herald/internal/yamlfile"
)

// herald validate reports a duplicate key, in every file kind, with file
// and line, and refuses a file over 1 MiB naming its size and the limit.
func TestMain_RunValidate_InputLimits(t *testing.T) {
	t.Setenv(cli.EnvNATS, "nats://127.0.0.1:1")
	dir := t.TempDir()
	watches := writeFile(t, dir, "w.yaml", "watches:\n  - name: a\n    on: event:t\n    exec: [x]\n    exec: [y]\n")
	hookFile := writeFile(t, dir, "h.yaml", "hooks:\n  - name: gate\n    phase: pre\n    methods: [\"*\"]\n    phase: post\n    exec: \"true\"\n")
	big := writeFile(t, dir, "big.yaml", "watches: []\n"+strings.Repeat("# padding\n", yamlfile.MaxFileSize/10))
	r := run(t, nil, nil, "validate", dir)
	if r.code() != cli.ExitFailure {
		t.Fatalf("exit %d, want 1; stderr %q", r.code(), r.errOut)
	}
	for _, want := range []string{
		big + ": file is too big: 1048582 bytes, the limit is 1048576 bytes (1 MiB)",
		hookFile + `:5: hooks[0]: duplicate key "phase" (first at line 3)`,
		watches + `:5: watches[0]: duplicate key "exec" (first at line 4)`,
		"herald validate: 3 problems in 3 of 3 files",
	} {
		if !strings.Contains(r.errOut, want+"\n") {
			t.Errorf("stderr has no line %q:\n%s", want, r.errOut)
		}
	}
}

// A user or group the host lacks, in a watch or a handler, is a validate
// error naming file, line and field.
func TestMain_RunValidate_UnknownUser(t *testing.T) {
	t.Setenv(cli.EnvNATS, "nats://127.0.0.1:1")
	dir := t.TempDir()
	w := writeFile(t, dir, "w.yaml", "watches:\n  - name: a\n    on: event:t\n    exec: [x]\n    user: herald-no-such-user\n")
	h := writeFile(t, dir, "h.yaml", "handlers:\n  - name: page\n    exec: [x]\n    group: herald-no-such-group\n")
	r := run(t, nil, nil, "validate", dir)
	if r.code() != cli.ExitFailure {
		t.Fatalf("exit %d, want 1; stderr %q", r.code(), r.errOut)
	}
	for _, want := range []string{
		w + `:5: watches[0].user: unknown user "herald-no-such-user"`,
		h + `:4: handlers[0].group: unknown group "herald-no-such-group"`,
	} {
		if !strings.Contains(r.errOut, want+"\n") {
			t.Errorf("stderr has no line %q:\n%s", want, r.errOut)
		}
	}
}
