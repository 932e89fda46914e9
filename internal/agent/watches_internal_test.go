package agent

import (
	"errors"
	"testing"

	"github.com/heraldhq/herald/internal/watch"
)

// A watch that parses but whose action cannot be built (a NUL byte in an
// env value, refused by actions.ExecConfig) makes its file invalid, located
// at the watch, rather than being skipped.
func TestCheckActions(t *testing.T) {
	f, err := watch.Parse("w.yaml", []byte("watches:\n  - name: ok\n    on: event:t\n    exec: [x]\n  - name: nul\n    on: event:t\n    exec: [x]\n    env: {A: \"a\\0b\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	err = checkActions("w.yaml", f)
	var fe *watch.FieldError
	want := `w.yaml:5: watches[1]: invalid action config: env: value of "A" contains a NUL byte`
	if !errors.As(err, &fe) || !errors.Is(err, watch.ErrInvalid) || err.Error() != want {
		t.Errorf("checkActions = %v, want %s", err, want)
	}
}
