package callhooks_test

import (
	"fmt"
	"github.com/heraldhq/herald/internal/hookfile"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldhq/herald/events/call"
	"github.com/heraldhq/herald/internal/callhooks"
	"github.com/heraldhq/herald/internal/testutil"
)

const knownList = "create_job, update_job, kill_job, restart, cancel_update, add_instances, start_cronjob"

func TestValidateMethods(t *testing.T) {
	for _, ok := range [][]string{nil, {}, {"create_job", "deploy.v2", "Kill-Job"}} {
		if err := hookfile.ValidateMethods(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for list, want := range map[string][]string{
		`[1]: method "kill_*"`:            {"create_job", "kill_*"},
		`[0]: method ""`:                  {""},
		`[2]: method "a" is listed twice`: {"a", "b", "a"},
	} {
		if err := hookfile.ValidateMethods(want); err == nil || !strings.HasPrefix(err.Error(), list) {
			t.Errorf("%q: %v, want %s...", want, err, list)
		}
	}
	if _, err := callhooks.New(callhooks.Config{Methods: []string{"x", "x"}}); err == nil || !strings.Contains(err.Error(), "call_methods[1]") {
		t.Errorf("New with a duplicate method: %v", err)
	}
}

func TestFile_CheckMethods(t *testing.T) {
	f, err := hookfile.Parse("h.yaml", []byte(`
hooks:
  - name: veto-kill
    phase: pre
    methods: [kill_job, kill_jbo, "kill_*", "cron_*"]
    exec: "false"
  - {name: every, phase: post, methods: ["*"], exec: "true"}
`))
	if err != nil {
		t.Fatal(err)
	}
	warns, err := f.CheckMethods(nil)
	want := `h.yaml:5: hooks[0].methods[1]: unknown method "kill_jbo"; known: ` + knownList
	if err == nil || !strings.HasPrefix(err.Error(), want) || strings.Count(err.Error(), "\n") != 0 {
		t.Fatalf("CheckMethods: %v, want one error %s", err, want)
	}
	if len(warns) != 1 || !strings.HasPrefix(warns[0].Error(), `h.yaml:5: hooks[0].methods[3]: glob "cron_*" matches none of the known methods`) {
		t.Fatalf("warnings %v, want one for cron_*", warns)
	}
	// With the dispatcher's own list, kill_jbo and cron_* are fine and
	// kill_job is not.
	warns, err = f.CheckMethods([]string{"kill_jbo", "cron_start"})
	if err == nil || !strings.Contains(err.Error(), `hooks[0].methods[0]: unknown method "kill_job"; known: kill_jbo, cron_start`) || len(warns) != 0 {
		t.Fatalf("CheckMethods with a list: %v %v", err, warns)
	}
}

// A typo in a hook file is a load error: the file is broken and its
// previous version stays, as for any invalid file.
func TestLoadDir_UnknownMethod(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "hooks.yaml", `
hooks:
  - {name: veto-kill, phase: pre, methods: [kill_jbo], exec: "false"}
`)
	set, errs, err := hookfile.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Hooks) != 0 || errs[p] == nil || !strings.Contains(errs[p].Error(), `hooks.yaml:3: hooks[0].methods[0]: unknown method "kill_jbo"`) {
		t.Fatalf("hooks %d, errors %v", len(set.Hooks), errs)
	}
}

// A call to a method the dispatcher does not know is denied, over NATS and
// over HTTP, even with hooks disabled; a hook file naming one does not
// load; the list comes from Config.Methods.
func TestEngine_UnknownMethod(t *testing.T) {
	t.Parallel()
	t.Run("default list", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		writeFile(t, dir, "hooks.yaml", `
hooks:
  - {name: veto-kill, phase: pre, methods: [kill_job], exec: "echo no kills; exit 1"}
`)
		e := startEngine(t, callhooks.Config{Dir: dir}, nil)
		if v := e.pre(newCall("kill_job", "c/r/prod/web")); v.Allow || hookNames(v.Denied) != "veto-kill" {
			t.Fatalf("kill_job: %+v, want denied by veto-kill", v)
		}
		want := `unknown method "kill-job"; known: ` + knownList
		v := e.pre(newCall("kill-job", "c/r/prod/web"))
		if v.Allow || v.Error != want || len(v.Hooks) != 0 {
			t.Fatalf("kill-job: %+v, want denied with %q and no hook run", v, want)
		}
		if !strings.Contains(v.DenialText(), want) {
			t.Fatalf("denial text %q", v.DenialText())
		}

		mux := http.NewServeMux()
		e.eng.Mount(mux)
		srv := httptest.NewServer(mux)
		t.Cleanup(srv.Close)
		post := func(path, body string) (int, string) {
			t.Helper()
			resp, err := http.Post(srv.URL+path, "application/json", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		if code, body := post("/v1/calls/kill-job/pre", `{"job":"c/r/prod/web"}`); code != http.StatusForbidden || !strings.Contains(body, `unknown method \"kill-job\"`) {
			t.Fatalf("HTTP pre kill-job: %d %s", code, body)
		}
		if code, body := post("/v1/calls/kill-job/post", `{"id":"c1","job":"c/r/prod/web","result":{"exit_code":0}}`); code != http.StatusBadRequest || !strings.Contains(body, "unknown method") {
			t.Fatalf("HTTP post kill-job: %d %s", code, body)
		}
		if got := e.storedEvents(call.TypePost); len(got) != 0 {
			t.Fatalf("a call.post of an unknown method was stored: %+v", got)
		}

		// A typo in the hook file: broken, the previous version stays.
		writeFile(t, dir, "hooks.yaml", `
hooks:
  - {name: veto-kill, phase: pre, methods: [kill_jbo], exec: "true"}
`)
		testutil.Eventually(t, wait, func() error {
			if b := e.eng.Current().Broken[filepath.Join(dir, "hooks.yaml")]; !strings.Contains(b, `hooks.yaml:3: hooks[0].methods[0]: unknown method "kill_jbo"`) {
				return fmt.Errorf("broken: %q", b)
			}
			return nil
		})
		if v := e.pre(newCall("kill_job", "c/r/prod/web")); v.Allow || hookNames(v.Denied) != "veto-kill" {
			t.Fatalf("after the typo the previous version must stay: %+v", v)
		}
	})
	t.Run("own list, hooks disabled", func(t *testing.T) {
		t.Parallel()
		e := startEngine(t, callhooks.Config{Methods: []string{"deploy", "rollback"}, Disabled: "migration"}, nil)
		if v := e.pre(newCall("deploy", "c/r/e/n")); !v.Allow {
			t.Fatalf("deploy: %+v", v)
		}
		if v := e.pre(newCall("create_job", "c/r/e/n")); v.Allow || v.Error != `unknown method "create_job"; known: deploy, rollback` {
			t.Fatalf("create_job with hooks disabled: %+v, want denied as unknown", v)
		}
	})
}
