package schemas_test

import (
	"testing"

	"github.com/heraldhq/herald/schemas"
	"gopkg.in/yaml.v3"
)

// The schema agrees with hookfile.Parse on confirm: hooks: a pre hook run
// centrally with a question and no exec, http or env.
func TestHooksSchema_ConfirmAgreesWithParse(t *testing.T) {
	ask := map[string]any{"name": "kill-confirmer", "phase": "pre", "methods": []any{"kill_job"}, "confirm": "Kill {{.job}}?"}
	mustValid(t, schemas.Hooks, toJSONValue(t, must(yaml.Marshal(map[string]any{"hooks": []any{ask}}))))
	for _, item := range []map[string]any{
		ask,
		with(ask, "confirm", absent),
		with(ask, "confirm", ""),
		with(ask, "confirm", " "),
		with(ask, "phase", "post"),
		with(ask, "phase", "generic"),
		with(ask, "exec", "true"),
		with(ask, "http", "https://ci.example.com/x"),
		with(ask, "env", map[string]any{"A": "1"}),
		with(ask, "run", "central"),
		with(ask, "run", map[string]any{"agents": []any{"web-1"}}),
		with(ask, "timeout", "10s"),
		with(ask, "scope", "job"),
		with(ask, "jobs", []any{"*/*/prod/*"}),
	} {
		checkHookAgree(t, "hooks", item)
	}
}
