package ophooks_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/ophooks"
)

// TestRunPhase proves one phase alone: hooks in name order with the given
// arguments, the event data on stdin and the extra variables; a pre phase
// stops at the first failure, another runs every hook; each hook is bound
// by the timeout; a missing directory is an error unless MissingDirOK.
func TestRunPhase(t *testing.T) {
	dir, out := t.TempDir(), t.TempDir()
	log := filepath.Join(out, "log")
	writeHook(t, dir, "10-a", 0o755, `echo "a $* $(cat) $HERALD_HOOK $HERALD_EXTRA" >> `+log)
	writeHook(t, dir, "20-fail", 0o755, `echo "b $*" >> `+log+`; echo nope; exit 2`)
	writeHook(t, dir, "30-slow", 0o755, `echo "c $*" >> `+log+`; exec sleep 30`)
	ev := events.New("test", "call.pre", "c/r/e/n", []byte(`{"method":"m"}`))
	p := ophooks.Phase{Dir: dir, Args: []string{"m", "pre"}, Event: ev, Env: map[string]string{"HERALD_EXTRA": "x"},
		State: "pre", StopAtFailure: true, Timeout: 2 * time.Second, KillGrace: 100 * time.Millisecond}
	runs, err := ophooks.RunPhase(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 || !runs[0].OK() || runs[1].OK() || runs[1].Name != "20-fail" || runs[1].Stdout != "nope\n" || *runs[1].ExitCode != 2 {
		t.Fatalf("pre runs %+v", runs)
	}
	b, _ := os.ReadFile(log)
	if got := string(b); got != "a m pre {\"method\":\"m\"} 10-a x\nb m pre\n" {
		t.Fatalf("hooks saw %q", got)
	}

	p.Args, p.State, p.StopAtFailure = []string{"m", "post"}, "post", false
	runs, err = ophooks.RunPhase(context.Background(), p)
	if err != nil || len(runs) != 3 || runs[2].Status != events.StatusTimeout {
		t.Fatalf("post runs %+v %v", runs, err)
	}
	b, _ = os.ReadFile(log)
	if !strings.HasSuffix(string(b), "c m post\n") {
		t.Fatalf("log %q", b)
	}

	if _, err := ophooks.RunPhase(context.Background(), ophooks.Phase{Dir: filepath.Join(dir, "nope")}); err == nil {
		t.Fatal("a missing directory is no error")
	}
	if runs, err := ophooks.RunPhase(context.Background(), ophooks.Phase{Dir: filepath.Join(dir, "nope"), MissingDirOK: true}); err != nil || len(runs) != 0 {
		t.Fatalf("missing dir with MissingDirOK: %v %v", runs, err)
	}
}
