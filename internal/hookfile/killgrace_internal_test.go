package hookfile

import (
	"reflect"
	"testing"

	"github.com/heraldhq/herald/actions"
)

// A call hook's exec gets the one kill grace every action has by default
// (actions.DefaultKillGrace, 5s), as watches, hooks.d hooks and handlers do.
func TestNewAction_DefaultKillGrace(t *testing.T) {
	h := &Hook{Name: "gate", Phase: "pre", Methods: []string{"*"}}
	h.Exec.Argv = []string{"/bin/true"}
	got, err := h.Action()
	if err != nil {
		t.Fatal(err)
	}
	want, err := actions.NewExec(actions.ExecConfig{Argv: []string{"/bin/true"}, PipeStdin: true, Timeout: h.HookTimeout(), KillGrace: actions.DefaultKillGrace})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Action = %+v, want %+v (kill grace %v)", got, want, actions.DefaultKillGrace)
	}
}
