package handlerspec_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/handlerspec"
	"github.com/heraldhq/herald/internal/watch"
	"gopkg.in/yaml.v3"
)

func TestHandler_Validate(t *testing.T) {
	ok := func() handlerspec.Handler {
		return handlerspec.Handler{Name: "page", Exec: watch.Command{Shell: "notify-oncall"}}
	}
	t.Run("valid", func(t *testing.T) {
		for _, h := range []handlerspec.Handler{
			ok(),
			{Name: "p", Match: handlerspec.Match{Watch: "git-*", Host: "web-[0-9]", Status: []string{"failed", "timeout"}}, Exec: watch.Command{Argv: []string{"notify"}}},
			{Name: "s", When: handlerspec.WhenAllReported, Wait: watch.Duration{D: time.Minute}, HTTP: "https://example.com/hook"},
		} {
			if err := h.Validate(); err != nil {
				t.Errorf("%+v: %v", h, err)
			}
		}
	})
	for _, tc := range []struct {
		name, field string
		edit        func(*handlerspec.Handler)
	}{
		{"no name", "name", func(h *handlerspec.Handler) { h.Name = " " }},
		{"two-line name", "name", func(h *handlerspec.Handler) { h.Name = "a\nb" }},
		{"bad watch glob", "match.watch", func(h *handlerspec.Handler) { h.Match.Watch = "git-[" }},
		{"bad host glob", "match.host", func(h *handlerspec.Handler) { h.Match.Host = "[" }},
		{"unknown status", "match.status", func(h *handlerspec.Handler) { h.Match.Status = []string{"ok", "broken"} }},
		{"unknown when", "when", func(h *handlerspec.Handler) { h.When = "always" }},
		{"neither exec nor http", "exec", func(h *handlerspec.Handler) { h.Exec = watch.Command{} }},
		{"exec and http", "exec", func(h *handlerspec.Handler) { h.HTTP = "http://x" }},
		{"empty argv[0]", "exec", func(h *handlerspec.Handler) { h.Exec = watch.Command{Argv: []string{""}} }},
		{"http not a URL", "http", func(h *handlerspec.Handler) { h.Exec = watch.Command{}; h.HTTP = "ftp://x" }},
		{"http with user", "http", func(h *handlerspec.Handler) { h.Exec = watch.Command{}; h.HTTP = "http://x"; h.User = "root" }},
		{"HERALD_ env", "env", func(h *handlerspec.Handler) { h.Env = map[string]string{"HERALD_STATUS": "x"} }},
		{"bad env name", "env", func(h *handlerspec.Handler) { h.Env = map[string]string{"A=B": "x"} }},
		{"unknown user", "user", func(h *handlerspec.Handler) { h.User = "no-such-user-herald" }},
		{"negative timeout", "timeout", func(h *handlerspec.Handler) { h.Timeout.D = -time.Second }},
		{"wait without all_reported", "wait", func(h *handlerspec.Handler) { h.Wait.D = time.Minute }},
		{"wait too long", "wait", func(h *handlerspec.Handler) { h.When = handlerspec.WhenAllReported; h.Wait.D = 13 * time.Hour }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := ok()
			tc.edit(&h)
			err := h.Validate()
			if !errors.Is(err, handlerspec.ErrInvalidHandler) {
				t.Fatalf("err = %v, want ErrInvalidHandler", err)
			}
			if want := handlerspec.ErrInvalidHandler.Error() + ": " + tc.field + ": "; !strings.Contains(err.Error(), want) {
				t.Fatalf("err = %q, want it to name %q", err, tc.field)
			}
		})
	}
}

// TestHandler_YAML proves the example decodes into valid handlerspec.
func TestHandler_YAML(t *testing.T) {
	var f struct {
		Handlers []handlerspec.Handler `yaml:"handlers"`
	}
	src := `
handlers:
  - name: page-on-failure
    match: {watch: "git-pull", host: "*", status: [failed, timeout]}
    exec: "notify-oncall"
  - name: rollout-summary
    match: {watch: "git-pull"}
    when: all_reported
    wait: 5m
    exec: [record-rollout, --json]
    timeout: 30s
`
	if err := yaml.Unmarshal([]byte(src), &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Handlers) != 2 {
		t.Fatalf("%d handlers", len(f.Handlers))
	}
	for _, h := range f.Handlers {
		if err := h.Validate(); err != nil {
			t.Errorf("%s: %v", h.Name, err)
		}
	}
	p, r := f.Handlers[0], f.Handlers[1]
	if p.Exec.Shell != "notify-oncall" || strings.Join(p.Match.Status, ",") != "failed,timeout" || p.Match.Host != "*" {
		t.Errorf("page-on-failure = %+v", p)
	}
	if r.When != handlerspec.WhenAllReported || r.Wait.D != 5*time.Minute || r.Timeout.D != 30*time.Second ||
		strings.Join(r.Exec.Argv, " ") != "record-rollout --json" {
		t.Errorf("rollout-summary = %+v", r)
	}
}
