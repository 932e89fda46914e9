package watch_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/watch"
	"github.com/nats-io/nats-server/v2/server"
)

func TestParse_Valid(t *testing.T) {
	f, err := watch.Parse("w.yaml", []byte(`
watches:
  - name: git-pull
    on: event:git.push
    key: /repos/*
    exec: ["git", "pull"]
    timeout: 10s
    kill_grace: 2
    retry: {attempts: 3, backoff: 1s}
  - name: sh
    on: zk:/git/head
    exec: "git pull && make"
    pipe_stdin: false
    run_on_load: false
    run_mode: parallel
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Watches) != 2 {
		t.Fatalf("%d watches", len(f.Watches))
	}
	g, s := f.Watches[0], f.Watches[1]
	if g.RunMode != watch.ModeQueue || !g.PipesStdin() || !g.RunsOnLoad() || g.Attempts() != 3 || g.Grace().Seconds() != 2 || g.Timeout.D.Seconds() != 10 {
		t.Errorf("defaults/values wrong: %+v", g)
	}
	if got := strings.Join(g.Exec.Args(), " "); got != "git pull" {
		t.Errorf("argv %q", got)
	}
	if got := s.Exec.Args(); len(got) != 3 || got[0] != "/bin/sh" || got[1] != "-c" {
		t.Errorf("shell form %q", got)
	}
	if s.PipesStdin() || s.RunsOnLoad() || s.MaxParallel != watch.DefaultMaxParallel || s.Line != 10 {
		t.Errorf("second watch: %+v", s)
	}
}

func TestParse_ErrorsNameFileLineField(t *testing.T) {
	_, err := watch.Parse("/etc/herald/watches.d/x.yaml", []byte(`watches:
  - name: a
    on: event:t
    exec: "x"
    run_mode: fast
    tiemout: 5s
  - name: a
    on: zk:relative
    exec: [x]
    timeout: soon
`))
	if err == nil || !errors.Is(err, watch.ErrInvalid) {
		t.Fatalf("err = %v", err)
	}
	msg := err.Error()
	for _, want := range []string{
		"/etc/herald/watches.d/x.yaml:6: watches[0].tiemout: unknown field",
		"/etc/herald/watches.d/x.yaml:5: watches[0].run_mode:",
		"/etc/herald/watches.d/x.yaml:10: watches[1].timeout:",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
	_, err = watch.Parse("y.yaml", []byte("watches:\n  - name: b\n    on: zk:relative\n    exec: [x]\n  - name: b\n    on: event:t\n    exec: [x]\n"))
	for _, want := range []string{"y.yaml:3: watches[0].on: zk path", "y.yaml:5: watches[1].name: duplicate watch name"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
	_, err = watch.Parse("z.yaml", []byte("watches:\n  - name: [\n"))
	if err == nil || !strings.HasPrefix(err.Error(), "z.yaml:") {
		t.Errorf("syntax error not located: %v", err)
	}
}

func TestParseSelector(t *testing.T) {
	for _, tc := range []struct {
		on, key string
		typ     string
		key1    string
		match   bool
	}{
		{"event:git.push", "", "git.push", "/anything", true},
		{"event:git.push", "/repos/*", "git.push", "/repos/app", true},
		{"event:git.push", "/repos/*", "git.pushed", "/repos/app", false},
		{"zk:/git/head", "", "zk.changed", "/git/head", true},
		{"zk:/git/head", "", "zk.deleted", "/git/head", true},
		{"zk:/git/head", "", "zk.changed", "/git/head/x", false},
		{"zk:/deploy/**", "", "zk.created", "/deploy/a/b/c", true},
		{"zk:/deploy/**", "", "zk.changed", "/deploy", true},
		{"zk:/deploy/**", "", "zk.changed", "/deployx", false},
		{"kv:cfg/app.db", "", "kv.put", "cfg/app.db", true},
		{"kv:cfg/app.>", "", "kv.put", "cfg/app.db.host", true},
		{"kv:cfg/app.>", "", "kv.deleted", "cfg/app", false},
		{"kv:cfg/app.>", "", "kv.put", "other/app.db", false},
	} {
		sel, err := watch.ParseSelector(tc.on, tc.key)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.on, tc.key, err)
		}
		if got := sel.Match(tc.typ, tc.key1); got != tc.match {
			t.Errorf("%s key=%s Match(%s, %s) = %v", tc.on, tc.key, tc.typ, tc.key1, got)
		}
		if tc.match {
			// The server-side filters must let every match through.
			subj := "herald.event." + tc.typ + "." + encode(tc.key1)
			ok := false
			for _, f := range sel.Filters() {
				ok = ok || server.SubjectMatchesFilter(subj, f)
			}
			if !ok {
				t.Errorf("%s: filters %v drop %s", tc.on, sel.Filters(), subj)
			}
		}
	}
	for _, bad := range [][2]string{{"zk:git", ""}, {"zk:/a/*", ""}, {"kv:nobucket", ""}, {"kv:b/a b", ""}, {"event:Bad", ""}, {"ftp:/x", ""}, {"event:x", "/a**"}, {"zk:/a", "/b"}} {
		if _, err := watch.ParseSelector(bad[0], bad[1]); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestParseSignal(t *testing.T) {
	for _, s := range []string{"HUP", "SIGHUP", "hup", "1"} {
		if sig, err := watch.ParseSignal(s); err != nil || sig != 1 {
			t.Errorf("%s: %v %v", s, sig, err)
		}
	}
	if _, err := watch.ParseSignal("SIGNOPE"); err == nil {
		t.Error("unknown signal accepted")
	}
}

func TestWatch_Equal(t *testing.T) {
	src := "watches:\n  - name: a\n    on: event:t\n    exec: [x]\n"
	a, _ := watch.Parse("a.yaml", []byte(src))
	b, _ := watch.Parse("b.yaml", []byte("\n\n"+src))
	c, _ := watch.Parse("a.yaml", []byte(src+"    timeout: 1s\n"))
	if !a.Watches[0].Equal(b.Watches[0]) {
		t.Error("same watch in another place is not Equal")
	}
	if a.Watches[0].Equal(c.Watches[0]) {
		t.Error("changed watch is Equal")
	}
}

func TestParse_HooksDir(t *testing.T) {
	t.Run("hooksdir instead of exec", func(t *testing.T) {
		f, err := watch.Parse("h.yaml", []byte("watches:\n  - name: h\n    on: event:deploy.done\n    hooksdir: /etc/herald/hooks d;$(x)\n    timeout: 5s\n"))
		if err != nil {
			t.Fatal(err)
		}
		w := f.Watches[0]
		if w.HooksDir != "/etc/herald/hooks d;$(x)" || !w.Exec.IsZero() {
			t.Fatalf("hooksdir %q exec %v", w.HooksDir, w.Exec)
		}
	})
	for name, tc := range map[string]struct{ body, want string }{
		"both":         {"    exec: [x]\n    hooksdir: /h\n", "h.yaml:5: watches[0].hooksdir: exec and hooksdir are exclusive"},
		"neither":      {"", "h.yaml:2: watches[0].exec: required (or hooksdir"},
		"relative":     {"    hooksdir: hooks.d\n", "h.yaml:4: watches[0].hooksdir: \"hooks.d\" must be an absolute path"},
		"NUL":          {"    hooksdir: \"/a\\0b\"\n", "h.yaml:4: watches[0].hooksdir: contains a NUL byte"},
		"not a string": {"    hooksdir: [/a]\n", "h.yaml:4: watches[0].hooksdir:"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := watch.Parse("h.yaml", []byte("watches:\n  - name: h\n    on: event:t\n"+tc.body))
			if !errors.Is(err, watch.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestParse_MaxParallel(t *testing.T) {
	for _, tc := range []struct {
		line string
		want int
	}{
		{"", watch.DefaultMaxParallel},
		{"    max_parallel: 0\n", 0},
		{"    max_parallel: 9\n", 9},
	} {
		f, err := watch.Parse("p.yaml", []byte("watches:\n  - name: p\n    on: event:t\n    exec: [x]\n    run_mode: parallel\n"+tc.line))
		if err != nil {
			t.Fatalf("%q: %v", tc.line, err)
		}
		if got := f.Watches[0].MaxParallel; got != tc.want {
			t.Errorf("%q: max_parallel %d, want %d", tc.line, got, tc.want)
		}
	}
	_, err := watch.Parse("p.yaml", []byte("watches:\n  - name: p\n    on: event:t\n    exec: [x]\n    run_mode: parallel\n    max_parallel: -1\n"))
	if err == nil || !strings.Contains(err.Error(), "p.yaml:6: watches[0].max_parallel: must be 0 (no cap) or more") {
		t.Errorf("negative max_parallel: %v", err)
	}
}

func TestParse_Types(t *testing.T) {
	parse := func(on, types string) (*watch.Watch, error) {
		src := "watches:\n  - name: t\n    on: " + on + "\n    exec: [x]\n"
		if types != "" {
			src += "    types: " + types + "\n"
		}
		f, err := watch.Parse("t.yaml", []byte(src))
		if err != nil {
			return nil, err
		}
		return f.Watches[0], nil
	}
	for _, tc := range []struct {
		on, types string
		want      []string
	}{
		{"zk:/git/head", "", []string{"zk.created", "zk.changed", "zk.deleted"}},
		{"zk:/git/**", "", []string{"zk.created", "zk.changed", "zk.deleted", "zk.children"}},
		{"kv:cfg/app", "", []string{"kv.put", "kv.deleted"}},
		{"event:git.push", "", []string{"git.push"}},
		{"zk:/git/head", "[zk.children]", []string{"zk.children"}},
		{"zk:/git/head", "[zk.changed, zk.children]", []string{"zk.changed", "zk.children"}},
		{"kv:cfg/app.>", "[kv.put]", []string{"kv.put"}},
	} {
		w, err := parse(tc.on, tc.types)
		if err != nil {
			t.Fatalf("%s types %s: %v", tc.on, tc.types, err)
		}
		if got := w.Source.Types(); strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("%s types %q: %v, want %v", tc.on, tc.types, got, tc.want)
		}
		for _, typ := range []string{"zk.created", "zk.changed", "zk.deleted", "zk.children", "kv.put", "kv.deleted", "git.push"} {
			key := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(strings.TrimPrefix(tc.on, "zk:"), "kv:"), "event:"), "/**")
			key = strings.TrimSuffix(key, ".>") + map[bool]string{true: ".x", false: ""}[strings.HasSuffix(tc.on, ".>")]
			if got, want := w.Source.Match(typ, key), slices.Contains(tc.want, typ); got != want {
				t.Errorf("%s types %q: Match(%s, %s) = %v, want %v", tc.on, tc.types, typ, key, got, want)
			}
		}
		// The consumer's filters carry only the watch's types.
		for _, f := range w.Source.Filters() {
			typ := strings.Split(strings.TrimPrefix(f, events.EventPrefix+"."), ".")
			if !slices.Contains(tc.want, typ[0]+"."+typ[1]) && tc.on != "event:git.push" {
				t.Errorf("%s types %q: filter %s is for another type", tc.on, tc.types, f)
			}
		}
	}
	for _, tc := range []struct{ on, types, want string }{
		{"zk:/a", "[kv.put]", `t.yaml:5: watches[0].types: "kv.put" is not a type of zk:`},
		{"kv:b/k", "[zk.changed]", `t.yaml:5: watches[0].types: "zk.changed" is not a type of kv:`},
		{"zk:/a", "[zk.changed, zk.changed]", `t.yaml:5: watches[0].types: "zk.changed" given twice`},
		{"zk:/a", "[]", `t.yaml:5: watches[0].types: want at least one of`},
		{"zk:/a", "[zk.bogus]", `t.yaml:5: watches[0].types: "zk.bogus" is not a type of zk:`},
		{"event:git.push", "[git.push]", `t.yaml:5: watches[0].types: not allowed with event:`},
		{"zk:/a", "zk.changed", `t.yaml:5: watches[0].types:`},
	} {
		if _, err := parse(tc.on, tc.types); err == nil || !errors.Is(err, watch.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s types %s: err = %v, want %q", tc.on, tc.types, err, tc.want)
		}
	}
}

func TestParse_DefaultNames(t *testing.T) {
	w := func(name string) string {
		s := "  - on: event:t\n    exec: [x]\n"
		if name != "" {
			s = "  - name: " + name + "\n    on: event:t\n    exec: [x]\n"
		}
		return s
	}
	f, err := watch.Parse("/etc/herald/watches.d/team/git-pull.yaml", []byte("watches:\n"+w("")))
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Watches[0].Name; got != "git-pull" {
		t.Errorf("only watch named %q, want git-pull (the file's stem)", got)
	}
	f, err = watch.Parse("deploy.yml", []byte("watches:\n"+w("")+w("named")+w("")))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, x := range f.Watches {
		got = append(got, x.Name)
	}
	if strings.Join(got, ",") != "deploy-1,named,deploy-3" {
		t.Errorf("names %q, want deploy-1,named,deploy-3 (N is the 1-based position)", got)
	}
	// A default name that collides with an explicit one is a duplicate.
	_, err = watch.Parse("d.yaml", []byte("watches:\n"+w("d-2")+w("")))
	if err == nil || !strings.Contains(err.Error(), `d.yaml:5: watches[1].name: duplicate watch name "d-2" (also at line 2)`) {
		t.Errorf("collision: %v", err)
	}
	_, err = watch.Parse("e.yaml", []byte("watches:\n  - name: \"\"\n    on: event:t\n    exec: [x]\n"))
	if err == nil || !strings.Contains(err.Error(), "e.yaml:2: watches[0].name: must not be empty") {
		t.Errorf("empty name: %v", err)
	}
}

func TestParse_RetryLimits(t *testing.T) {
	parse := func(retry string) (*watch.Watch, error) {
		f, err := watch.Parse("r.yaml", []byte("watches:\n  - name: r\n    on: event:t\n    exec: [x]\n    retry:\n"+retry))
		if err != nil {
			return nil, err
		}
		return f.Watches[0], nil
	}
	w, err := parse("      attempts: 100\n")
	if err != nil || w.Attempts() != 100 || w.Retry.Backoff.D != watch.DefaultRetryBackoff {
		t.Fatalf("attempts 100, no backoff: %v %+v", err, w)
	}
	if w, err := parse("      attempts: 2\n      backoff: 100ms\n"); err != nil || w.Retry.Backoff.D.Milliseconds() != 100 {
		t.Fatalf("backoff 100ms: %v", err)
	}
	for retry, want := range map[string]string{
		"      attempts: 101\n":                    "r.yaml:6: watches[0].retry.attempts: 101: want 1 to 100",
		"      attempts: 0\n":                      "r.yaml:6: watches[0].retry.attempts: 0: want 1 to 100",
		"      attempts: 2\n      backoff: 99ms\n": "r.yaml:7: watches[0].retry.backoff: 99ms: want at least 100ms",
		"      attempts: 2\n      backoff: 0\n":    "r.yaml:7: watches[0].retry.backoff: 0s: want at least 100ms",
		"      backoff: 1s\n":                      "r.yaml:5: watches[0].retry: attempts: required",
	} {
		if _, err := parse(retry); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want %q", retry, err, want)
		}
	}
}

// TestParse_EnvErrorsHideValues: a bad env entry is named by file, line and
// key, never by its value, which may be a secret (issue 10).
func TestParse_EnvErrorsHideValues(t *testing.T) {
	for _, tc := range []struct{ name, doc, want string }{
		{"env not a mapping", "watches:\n  - on: event:t\n    exec: [x]\n    env: \"TOKEN=s3cret-value\"\n", "w.yaml:4: watches[0].env: cannot unmarshal !!str (value hidden) into map[string]string"},
		{"HERALD_ name", "watches:\n  - on: event:t\n    exec: [x]\n    env: {HERALD_X: s3cret-value}\n", `w.yaml:4: watches[0].env: "HERALD_X": HERALD_* variables are set by the agent`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := watch.Parse("w.yaml", []byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Fatalf("error quotes an env value: %v", err)
			}
		})
	}
}

func TestParse_Rollout(t *testing.T) {
	parse := func(rollout string) (*watch.Watch, error) {
		f, err := watch.Parse("r.yaml", []byte("watches:\n  - name: r\n    on: event:t\n    exec: [x]\n    rollout:\n"+rollout))
		if err != nil {
			return nil, err
		}
		return f.Watches[0], nil
	}
	w, err := parse("      max_hosts: \"10%\"\n      splay: 5s\n      canary: 2\n      halt_after_failures: 3\n      order: random\n      lease: 10s\n")
	if err != nil {
		t.Fatal(err)
	}
	s := w.Rollout.Spec()
	if s.MaxPercent != 10 || s.MaxHosts != 0 || s.Splay.Seconds() != 5 || s.Canary != 2 || s.HaltAfterFailures != 3 || s.Order != "random" || s.Lease.Seconds() != 10 {
		t.Errorf("spec = %+v", s)
	}
	if s.Resolve(20) != 2 || s.Resolve(3) != 1 || s.Resolve(25) != 3 {
		t.Errorf("10%% of 20, 3, 25 hosts = %d, %d, %d; want 2, 1, 3", s.Resolve(20), s.Resolve(3), s.Resolve(25))
	}
	if w, err := parse("      max_hosts: 3\n"); err != nil || w.Rollout.Spec().Resolve(100) != 3 || w.Rollout.Order != "name" {
		t.Errorf("max_hosts 3: %v", err)
	}
	if w, err := parse("      canary: 1\n"); err != nil || w.Rollout.Spec().Resolve(7) != 7 {
		t.Errorf("no max_hosts: every host at once, got %v", err)
	}
	for rollout, want := range map[string]string{
		"      max_hosts: 0\n":            "r.yaml:6: watches[0].rollout.max_hosts: \"0\": want a number of hosts",
		"      max_hosts: \"150%\"\n":     "r.yaml:6: watches[0].rollout.max_hosts: \"150%\": want a share above 0% and at most 100%",
		"      max_hosts: many\n":         "r.yaml:6: watches[0].rollout.max_hosts: \"many\"",
		"      canary: -1\n":              "r.yaml:6: watches[0].rollout.canary: must be 0 (none) or more",
		"      halt_after_failures: -2\n": "r.yaml:6: watches[0].rollout.halt_after_failures: must be 0 (never) or more",
		"      order: fastest\n":          "r.yaml:6: watches[0].rollout.order: \"fastest\": want name or random",
		"      lease: 1s\n":               "r.yaml:6: watches[0].rollout.lease: 1s: want at least 3s",
		"      splay: -1s\n":              "r.yaml:6: watches[0].rollout.splay: must not be negative",
		"      max_host: 3\n":             "r.yaml:6: watches[0].rollout.max_host: unknown field (want max_hosts, splay, canary, halt_after_failures, order, lease)",
	} {
		if _, err := parse(rollout); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want %q", rollout, err, want)
		}
	}
}
