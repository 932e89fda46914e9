package actions_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhq/herald/actions"
	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/testutil"
)

// writeHook writes a /bin/sh hook called name into dir with mode perm.
func writeHook(t *testing.T, dir, name string, perm os.FileMode, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, perm); err != nil { // not filtered by the umask
		t.Fatal(err)
	}
	return p
}

func newHooksDir(t *testing.T, cfg actions.HooksDirConfig) *actions.HooksDir {
	t.Helper()
	h, err := actions.NewHooksDir(cfg)
	if err != nil {
		t.Fatalf("NewHooksDir: %v", err)
	}
	return h
}

func hookNames(hs []actions.Hook) []string {
	var out []string
	for _, h := range hs {
		out = append(out, h.Name)
	}
	return out
}

func TestIsHookName(t *testing.T) {
	for name, want := range map[string]bool{
		"10-stop-mysql": true, "backup.sh": true, "a b;$(x)`y`&|'\"*": true, "#tmp": true, "x#": true,
		"": false, ".hidden": false, ".": false, "10-x~": false, "#10-x#": false, "10-x.bak": false,
		"10-x.orig": false, "10-x.swp": false, "10-x.dpkg-old": false, "10-x.dpkg-dist": false,
		"10-x.dpkg-new": false, "10-x.rpmsave": false, "10-x.rpmnew": false, "10-x.ucf-dist": false,
	} {
		if got := actions.IsHookName(name); got != want {
			t.Errorf("IsHookName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestListHooks(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"20-b", "10-a", "9-last", "a b;$(rm -rf x)", "Upper", "30-c.sh"} {
		writeHook(t, dir, n, 0o755, "true")
	}
	writeHook(t, dir, "15-owner-only", 0o700, "true")
	writeHook(t, dir, "16-group-only", 0o610, "true")
	writeHook(t, dir, "11-not-executable", 0o644, "true")
	writeHook(t, dir, ".10-hidden", 0o755, "true")
	writeHook(t, dir, "10-a~", 0o755, "true")
	writeHook(t, dir, "10-a.dpkg-old", 0o755, "true")
	if err := os.Mkdir(filepath.Join(dir, "12-directory"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "13-fifo"), 0o777); err != nil {
		t.Fatal(err)
	}
	other := t.TempDir()
	target := writeHook(t, other, "target", 0o755, "true")
	if err := os.Symlink(target, filepath.Join(dir, "14-link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(other, filepath.Join(dir, "17-link-to-dir")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(other, "missing"), filepath.Join(dir, "18-dangling")); err != nil {
		t.Fatal(err)
	}
	hooks, err := actions.ListHooks(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10-a", "14-link", "15-owner-only", "16-group-only", "18-dangling", "20-b", "30-c.sh", "9-last", "Upper", "a b;$(rm -rf x)"}
	if got := hookNames(hooks); !slices.Equal(got, want) {
		t.Fatalf("hooks %q\nwant  %q", got, want)
	}
	for _, h := range hooks {
		if h.Path != filepath.Join(dir, h.Name) {
			t.Errorf("%s: path %q", h.Name, h.Path)
		}
	}
	t.Run("missing directory", func(t *testing.T) {
		if _, err := actions.ListHooks(filepath.Join(dir, "nope")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("err = %v, want ErrNotExist", err)
		}
	})
	t.Run("empty directory", func(t *testing.T) {
		if hooks, err := actions.ListHooks(t.TempDir()); err != nil || len(hooks) != 0 {
			t.Fatalf("%v %v", hooks, err)
		}
	})
}

func TestHooksDirConfig_Validate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   actions.HooksDirConfig
		field string
	}{
		{"valid", actions.HooksDirConfig{Dir: "/etc/herald/hooks.d"}, ""},
		{"empty dir", actions.HooksDirConfig{}, "dir"},
		{"relative dir", actions.HooksDirConfig{Dir: "hooks.d"}, "dir"},
		{"NUL in dir", actions.HooksDirConfig{Dir: "/a\x00"}, "dir"},
		{"reserved env", actions.HooksDirConfig{Dir: "/h", Env: map[string]string{"HERALD_HOOK": "x"}}, "env"},
		{"negative timeout", actions.HooksDirConfig{Dir: "/h", Timeout: -1}, "timeout"},
		{"unknown user", actions.HooksDirConfig{Dir: "/h", User: "herald-no-such-user"}, "user"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			_, nerr := actions.NewHooksDir(tc.cfg)
			if tc.field == "" {
				if err != nil || nerr != nil {
					t.Fatalf("Validate: %v, NewHooksDir: %v", err, nerr)
				}
				return
			}
			if !errors.Is(err, actions.ErrInvalidConfig) || !strings.Contains(err.Error(), ": "+tc.field+": ") {
				t.Fatalf("Validate = %v, want ErrInvalidConfig naming %q", err, tc.field)
			}
			if !errors.Is(nerr, actions.ErrInvalidConfig) {
				t.Fatalf("NewHooksDir accepted an invalid config: %v", nerr)
			}
		})
	}
}

func TestHooksDir_Kind(t *testing.T) {
	h := newHooksDir(t, actions.HooksDirConfig{Dir: "/etc/herald/hooks.d"})
	if h.Kind() != "hooksdir" || h.Dir() != "/etc/herald/hooks.d" {
		t.Fatalf("Kind %q Dir %q", h.Kind(), h.Dir())
	}
}

// logHook appends one line per run to $LOG: the hook's name, its
// arguments, some of its environment and its stdin.
const logHook = `printf '%s|%s|%s|%s|%s|%s|%s\n' "$(basename "$0")" "$#:$*" "$HERALD_HOOK" "$HERALD_EVENT_TYPE" "$HERALD_KEY" "$HERALD_WATCH" "$(cat)" >> "$LOG"
echo "out of $HERALD_HOOK"`

func TestHooksDir_Run_OrderArgumentsEnvironment(t *testing.T) {
	noLeaks(t)
	dir, tmp := t.TempDir(), t.TempDir()
	log := filepath.Join(tmp, "log")
	for _, n := range []string{"20-second", "10-first", "30 third;$(touch pwned)", "9-last"} {
		writeHook(t, dir, n, 0o755, logHook)
	}
	writeHook(t, dir, "15-skipped", 0o644, logHook)
	writeHook(t, dir, ".15-hidden", 0o755, logHook)
	writeHook(t, dir, "10-first~", 0o755, logHook)
	h := newHooksDir(t, actions.HooksDirConfig{Dir: dir, PipeStdin: true, Env: map[string]string{"LOG": log}, Workdir: tmp})
	req := request("/app/$(touch pwned2)", []byte("the data"))
	res := h.Run(context.Background(), req)
	if res.Status != events.StatusOK || exitCode(res) != "0" || res.Err != nil {
		t.Fatalf("status %q exit %s err %v", res.Status, exitCode(res), res.Err)
	}
	if res.Started.IsZero() || res.Started.Before(res.Start) || res.Duration <= 0 {
		t.Fatalf("start %v started %v duration %v", res.Start, res.Started, res.Duration)
	}
	want := []string{
		"10-first|1:config.changed|10-first|config.changed|/app/$(touch pwned2)|w1|the data",
		"20-second|1:config.changed|20-second|config.changed|/app/$(touch pwned2)|w1|the data",
		"30 third;$(touch pwned)|1:config.changed|30 third;$(touch pwned)|config.changed|/app/$(touch pwned2)|w1|the data",
		"9-last|1:config.changed|9-last|config.changed|/app/$(touch pwned2)|w1|the data",
	}
	if got := strings.Split(strings.TrimSpace(readFile(t, log)), "\n"); !slices.Equal(got, want) {
		t.Fatalf("log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, p := range []string{"pwned", "pwned2"} {
		if _, err := os.Stat(filepath.Join(tmp, p)); err == nil {
			t.Fatalf("%s exists: a name or key reached a shell", p)
		}
	}
	wantOut := "==> 10-first <==\nout of 10-first\n==> 20-second <==\nout of 20-second\n" +
		"==> 30 third;$(touch pwned) <==\nout of 30 third;$(touch pwned)\n==> 9-last <==\nout of 9-last\n"
	if res.Stdout != wantOut || res.Stderr != "" {
		t.Fatalf("stdout %q stderr %q\nwant stdout %q", res.Stdout, res.Stderr, wantOut)
	}

	t.Run("pipe_stdin off and request env", func(t *testing.T) {
		log := filepath.Join(t.TempDir(), "log")
		h := newHooksDir(t, actions.HooksDirConfig{Dir: dir, Env: map[string]string{"LOG": log}})
		req := request("/k", []byte("not piped"))
		req.Env = map[string]string{actions.EnvHook: "from the caller"}
		if res := h.Run(context.Background(), req); res.Status != events.StatusOK {
			t.Fatalf("status %q err %v", res.Status, res.Err)
		}
		lines := strings.Split(strings.TrimSpace(readFile(t, log)), "\n")
		if len(lines) != 4 || lines[0] != "10-first|1:config.changed|10-first|config.changed|/k|w1|" {
			t.Fatalf("log %q: want 4 runs with empty stdin and HERALD_HOOK of the hook", lines)
		}
	})
}

func TestHooksDir_Run_StopsAtFirstFailure(t *testing.T) {
	noLeaks(t)
	dir, tmp := t.TempDir(), t.TempDir()
	log := filepath.Join(tmp, "log")
	writeHook(t, dir, "10-ok", 0o755, `echo 10 >> "$LOG"; echo fine >&2`)
	writeHook(t, dir, "20-fails", 0o755, `echo 20 >> "$LOG"; echo "disk full" >&2; exit 4`)
	writeHook(t, dir, "30-never", 0o755, `echo 30 >> "$LOG"`)
	h := newHooksDir(t, actions.HooksDirConfig{Dir: dir, Env: map[string]string{"LOG": log}})
	res := h.Run(context.Background(), request("/k", nil))
	if res.Status != events.StatusFailed || exitCode(res) != "4" || res.Signal != "" {
		t.Fatalf("status %q exit %s signal %q, want failed 4", res.Status, exitCode(res), res.Signal)
	}
	if !errors.Is(res.Err, actions.ErrHookFailed) || !strings.Contains(res.Err.Error(), `"20-fails": exit status 4`) {
		t.Fatalf("Err = %v, want ErrHookFailed naming 20-fails and its exit status", res.Err)
	}
	if got := readFile(t, log); got != "10\n20\n" {
		t.Fatalf("log %q: the hook after the failure ran", got)
	}
	if want := "==> 10-ok <==\nfine\n==> 20-fails <==\ndisk full\n"; res.Stderr != want {
		t.Fatalf("stderr %q, want %q", res.Stderr, want)
	}
}

func TestHooksDir_Run_Timeout(t *testing.T) {
	noLeaks(t)
	var tmp string
	res, _ := testutil.UntilReady(t, func(timeout time.Duration) (actions.Result, string, time.Time) {
		dir := t.TempDir()
		tmp = t.TempDir()
		writeHook(t, dir, "10-stuck", 0o755, `trap '' TERM
echo $$ > "$D/pid"
sleep 1000 &
`+testutil.ReadyLine(`"$D/ready"`)+`
wait`)
		writeHook(t, dir, "20-never", 0o755, `touch "$D/ran"`)
		h := newHooksDir(t, actions.HooksDirConfig{Dir: dir, Env: map[string]string{"D": tmp}, Timeout: timeout, KillGrace: 200 * time.Millisecond})
		clock := time.Now() // before the hook starts, so before its timeout's clock
		res := await(t, runAsync(context.Background(), h, request("/k", nil))).res
		if _, err := os.Stat(filepath.Join(tmp, "pid")); err == nil {
			waitDead(t, readPID(t, filepath.Join(tmp, "pid")))
		}
		return res, filepath.Join(tmp, "ready"), clock
	})
	if res.Status != events.StatusTimeout || res.Signal != "SIGKILL" || !errors.Is(res.Err, actions.ErrTimeout) || !errors.Is(res.Err, actions.ErrHookFailed) {
		t.Fatalf("status %q signal %q err %v, want timeout SIGKILL", res.Status, res.Signal, res.Err)
	}
	waitDead(t, readPID(t, filepath.Join(tmp, "pid")))
	if _, err := os.Stat(filepath.Join(tmp, "ran")); err == nil {
		t.Fatal("the hook after the timed-out one ran")
	}
}

func TestHooksDir_Run_Cancel(t *testing.T) {
	noLeaks(t)
	dir, tmp := t.TempDir(), t.TempDir()
	writeHook(t, dir, "10-long", 0o755, `echo $$ > "$D/pid"; exec sleep 1000`)
	writeHook(t, dir, "20-never", 0o755, `touch "$D/ran"`)
	h := newHooksDir(t, actions.HooksDirConfig{Dir: dir, Env: map[string]string{"D": tmp}})
	ctx, cancel := context.WithCancel(context.Background())
	ch := runAsync(ctx, h, request("/k", nil))
	pid := readPID(t, filepath.Join(tmp, "pid"))
	cancel()
	res := await(t, ch).res
	if res.Status != events.StatusFailed || !errors.Is(res.Err, actions.ErrCanceled) {
		t.Fatalf("status %q err %v, want failed and ErrCanceled", res.Status, res.Err)
	}
	waitDead(t, pid)
	if _, err := os.Stat(filepath.Join(tmp, "ran")); err == nil {
		t.Fatal("a hook ran after the cancel")
	}
}

func TestHooksDir_Run_DirectoryStates(t *testing.T) {
	noLeaks(t)
	t.Run("empty directory succeeds without running anything", func(t *testing.T) {
		res := newHooksDir(t, actions.HooksDirConfig{Dir: t.TempDir()}).Run(context.Background(), request("/k", nil))
		if res.Status != events.StatusOK || res.ExitCode != nil || !res.Started.IsZero() {
			t.Fatalf("status %q exit %s started %v", res.Status, exitCode(res), res.Started)
		}
	})
	t.Run("missing directory is an error", func(t *testing.T) {
		res := newHooksDir(t, actions.HooksDirConfig{Dir: filepath.Join(t.TempDir(), "nope")}).Run(context.Background(), request("/k", nil))
		if res.Status != events.StatusError || !errors.Is(res.Err, actions.ErrStart) || !errors.Is(res.Err, os.ErrNotExist) {
			t.Fatalf("status %q err %v", res.Status, res.Err)
		}
	})
	t.Run("hooks added later run at the next run", func(t *testing.T) {
		dir := t.TempDir()
		h := newHooksDir(t, actions.HooksDirConfig{Dir: dir})
		if res := h.Run(context.Background(), request("/k", nil)); res.Status != events.StatusOK || res.Stdout != "" {
			t.Fatalf("status %q stdout %q", res.Status, res.Stdout)
		}
		writeHook(t, dir, "10-new", 0o755, "echo new")
		if res := h.Run(context.Background(), request("/k", nil)); res.Status != events.StatusOK || res.Stdout != "==> 10-new <==\nnew\n" {
			t.Fatalf("status %q stdout %q", res.Status, res.Stdout)
		}
	})
	t.Run("dangling link fails to start", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.Symlink(filepath.Join(dir, "missing"), filepath.Join(dir, "10-dangling")); err != nil {
			t.Fatal(err)
		}
		res := newHooksDir(t, actions.HooksDirConfig{Dir: dir}).Run(context.Background(), request("/k", nil))
		if res.Status != events.StatusError || !errors.Is(res.Err, actions.ErrStart) || !strings.Contains(res.Err.Error(), "10-dangling") {
			t.Fatalf("status %q err %v", res.Status, res.Err)
		}
	})
	t.Run("cancelled before the run", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		res := newHooksDir(t, actions.HooksDirConfig{Dir: t.TempDir()}).Run(ctx, request("/k", nil))
		if res.Status != events.StatusError || !errors.Is(res.Err, actions.ErrStart) {
			t.Fatalf("status %q err %v", res.Status, res.Err)
		}
	})
}
