package actions_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/heraldhq/herald/actions"
	"github.com/heraldhq/herald/events"
)

// TestExec_Run_RequestEnv proves that Request.Env reaches the process as
// environment variables, that only valid HERALD_* names pass, and that the
// standard variables cannot be replaced through it.
func TestExec_Run_RequestEnv(t *testing.T) {
	noLeaks(t)
	out := filepath.Join(t.TempDir(), "env")
	a := newExec(t, actions.ExecConfig{Argv: []string{"/bin/sh", "-c", `env -0 > "$OUT"`}, Env: map[string]string{"OUT": out}})
	req := request("ci/web/prod/api", nil)
	req.Env = map[string]string{
		"HERALD_METHOD":    "create_job",
		"HERALD_ARG_NOTE":  "$(reboot); `x` \n y",
		"HERALD_KEY":       "forged",
		"HERALD_BAD-NAME":  "x",
		"HERALD_":          "x",
		"PATH_NOT_HERALD":  "x",
		"HERALD_WITH\x00N": "x",
	}
	if res := a.Run(context.Background(), req); res.Status != events.StatusOK {
		t.Fatalf("status %q err %v", res.Status, res.Err)
	}
	env := parseEnv(t, out)
	if env["HERALD_METHOD"] != "create_job" || env["HERALD_ARG_NOTE"] != "$(reboot); `x` \n y" {
		t.Fatalf("HERALD_METHOD=%q HERALD_ARG_NOTE=%q", env["HERALD_METHOD"], env["HERALD_ARG_NOTE"])
	}
	if env["HERALD_KEY"] != "ci/web/prod/api" {
		t.Fatalf("HERALD_KEY = %q: the standard variable was replaced", env["HERALD_KEY"])
	}
	for _, k := range []string{"HERALD_BAD-NAME", "HERALD_", "PATH_NOT_HERALD"} {
		if v, ok := env[k]; ok {
			t.Errorf("invalid extra %s=%q reached the process", k, v)
		}
	}
}
