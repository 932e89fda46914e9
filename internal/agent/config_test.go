package agent_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/agent"
	"github.com/heraldhq/herald/internal/fielderr"
	"github.com/heraldhq/herald/internal/yamlfile"
)

func writeConfig(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfig_LoadConfigFile_DuplicateKey(t *testing.T) {
	p := writeConfig(t, "name: web-1\nwatches: /etc/a\nname: web-2\n")
	c := agent.DefaultConfig()
	err := c.LoadConfigFile(p)
	want := p + `:3: duplicate key "name" (first at line 1)`
	if !errors.Is(err, agent.ErrInvalidConfig) || !strings.Contains(err.Error(), want) {
		t.Errorf("LoadConfigFile = %v, want ErrInvalidConfig with %q", err, want)
	}
}

func TestConfig_LoadConfigFile_TooBig(t *testing.T) {
	p := writeConfig(t, "name: web-1\n"+strings.Repeat("# padding\n", yamlfile.MaxFileSize/10))
	c := agent.DefaultConfig()
	err := c.LoadConfigFile(p)
	if !errors.Is(err, agent.ErrInvalidConfig) || !strings.Contains(err.Error(), p+": file is too big: ") {
		t.Errorf("LoadConfigFile = %v, want ErrInvalidConfig naming %s and its size", err, p)
	}
}

func TestConfig_LoadConfigFile_LocatedErrors(t *testing.T) {
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"unknown key", "name: web-1\nwatches: /etc/a\nbogus: 1\n", ":3: field bogus not found in type agent.Config"},
		{"bad value", "name: web-1\n\nheartbeat: often\n", ":3: cannot unmarshal !!str `often` into time.Duration"},
		{"syntax error", "name: web-1\nnats: [\n", ":2: did not find expected node content"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeConfig(t, tc.doc)
			c := agent.DefaultConfig()
			err := c.LoadConfigFile(p)
			want := "invalid agent config: " + p + tc.want
			if !errors.Is(err, agent.ErrInvalidConfig) || !strings.HasPrefix(err.Error(), want) {
				t.Errorf("LoadConfigFile = %v, want ErrInvalidConfig starting %q", err, want)
			}
		})
	}
}

// TestConfig_LoadConfigFile_VerifyEvery: the file's verify_every reaches the
// config and is checked; ack_wait, from configs of agents that held a
// consumer, is still accepted.
func TestConfig_LoadConfigFile_VerifyEvery(t *testing.T) {
	p := writeConfig(t, "name: web-1\nwatches: /etc/a\nack_wait: 7s\nverify_every: 250ms\n")
	c := agent.DefaultConfig()
	if err := c.LoadConfigFile(p); err != nil {
		t.Fatal(err)
	}
	if c.VerifyEvery != 250*time.Millisecond || c.AckWait != 7*time.Second {
		t.Fatalf("verify_every %v, ack_wait %v; want the file's 250ms and 7s", c.VerifyEvery, c.AckWait)
	}
	c.VerifyEvery = 50 * time.Millisecond
	var fe *fielderr.Error
	if err := c.Validate(); !errors.Is(err, agent.ErrInvalidConfig) || !errors.As(err, &fe) || fe.Field != "verify_every" {
		t.Fatalf("Validate with verify_every 50ms = %v, want ErrInvalidConfig naming verify_every", err)
	}
}

// TestConfig_CallHooks: call_hooks: defines the hooks the agent runs for
// the dispatcher, by name; max_call_hooks defaults to 8.
func TestConfig_CallHooks(t *testing.T) {
	p := writeConfig(t, `name: web-1
call_hooks:
  drain-check:
    exec: ["/usr/local/bin/drain-check", "--quiet"]
    env: {TOKEN: s3cret-value}
    timeout: 5s
  note: "logger call hook"
`)
	c := agent.DefaultConfig()
	err := c.LoadConfigFile(p)
	if want := p + ":7: call_hooks.note: want a mapping"; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("LoadConfigFile = %v, want %q", err, want)
	}
	p = writeConfig(t, `name: web-1
max_call_hooks: 3
call_hooks:
  drain-check:
    exec: ["/usr/local/bin/drain-check", "--quiet"]
    env: {TOKEN: s3cret-value}
    timeout: 5s
  note: {exec: "logger call hook"}
`)
	c = agent.DefaultConfig()
	if c.MaxCallHooks != 8 {
		t.Fatalf("default max_call_hooks %d, want 8", c.MaxCallHooks)
	}
	if err := c.LoadConfigFile(p); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.CallHooks.Names(), ","); got != "drain-check,note" || c.MaxCallHooks != 3 {
		t.Fatalf("call hooks %q, max_call_hooks %d", got, c.MaxCallHooks)
	}
	h, err := c.CallHooks.Lookup("drain-check")
	if err != nil || h.Env["TOKEN"] != "s3cret-value" || h.Timeout.D != 5*time.Second || h.Exec.Args()[0] != "/usr/local/bin/drain-check" {
		t.Fatalf("drain-check = %+v, %v", h, err)
	}
	if _, err := c.CallHooks.Lookup("other"); err == nil || !strings.Contains(err.Error(), `no such call hook "other" (define it under call_hooks: in the agent's config)`) {
		t.Fatalf("Lookup(other) = %v", err)
	}
	c.MaxCallHooks = 0
	var fe *fielderr.Error
	if err := c.Validate(); !errors.As(err, &fe) || fe.Field != "max_call_hooks" {
		t.Fatalf("Validate with max_call_hooks 0 = %v", err)
	}
}

// TestConfig_CallHooksErrors: every problem of call_hooks: names the file,
// the line and the field, and none quotes a value under env: (issue 10).
func TestConfig_CallHooksErrors(t *testing.T) {
	p := writeConfig(t, `name: web-1
call_hooks:
  no-exec:
    env: {TOKEN: s3cret-value}
  bad-env:
    exec: "true"
    env: "TOKEN=s3cret-value"
  herald-env:
    exec: "true"
    env: {HERALD_JOB: s3cret-value}
  rel:
    exec: "true"
    workdir: tmp
    tiemout: 5s
  nul:
    exec: "true"
    env: {TOKEN: "s3cret\0"}
`)
	c := agent.DefaultConfig()
	err := c.LoadConfigFile(p)
	if err == nil || !errors.Is(err, agent.ErrInvalidConfig) {
		t.Fatalf("LoadConfigFile = %v", err)
	}
	for _, want := range []string{
		p + ":3: call_hooks.no-exec.exec: required",
		p + ":7: call_hooks.bad-env.env: cannot unmarshal !!str (value hidden) into map[string]string",
		p + `:10: call_hooks.herald-env.env: "HERALD_JOB": HERALD_* variables are set by Herald`,
		p + ":14: call_hooks.rel.tiemout: unknown field",
		p + `:17: call_hooks.nul.env: value of "TOKEN" contains a NUL byte`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("an error quotes an env value:\n%v", err)
	}
	p = writeConfig(t, "name: web-1\ncall_hooks:\n  rel: {exec: \"true\", workdir: tmp}\n")
	if err := c.LoadConfigFile(p); err == nil || !strings.Contains(err.Error(), p+`:3: call_hooks.rel.workdir: "tmp" must be an absolute path`) {
		t.Errorf("relative workdir: %v", err)
	}
}
