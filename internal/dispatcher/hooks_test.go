package dispatcher_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/events/call"
	"github.com/heraldhq/herald/internal/dispatcher"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/nats-io/nats.go"
)

func TestParseArgs_Hooks(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "dispatcher.yaml")
	if err := os.WriteFile(file, []byte("hooks: /etc/herald/call-hooks\nhooks_disabled: \"migration, CHG-7\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := dispatcher.ParseArgs([]string{"--config", file}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Hooks != "/etc/herald/call-hooks" || cfg.HooksDisabled != "migration, CHG-7" {
		t.Fatalf("from the file: hooks %q hooks_disabled %q", cfg.Hooks, cfg.HooksDisabled)
	}
	cfg, err = dispatcher.ParseArgs([]string{"--config", file, "--hooks", "/srv/hooks", "--hooks-disabled", ""}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Hooks != "/srv/hooks" || cfg.HooksDisabled != "" {
		t.Fatalf("flags over the file: hooks %q hooks_disabled %q", cfg.Hooks, cfg.HooksDisabled)
	}
}

// TestDispatcher_CallHooks proves the dispatcher answers call.pre over NATS
// once Start returns, mounts the /v1/calls endpoints, and that a hooks dir
// that does not exist fails the start.
func TestDispatcher_CallHooks(t *testing.T) {
	hooksDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(hooksDir, "h.yaml"), []byte(`
hooks:
  - {name: prod-freeze, phase: pre, methods: [create_job], jobs: ["*/*/prod/*"], exec: "echo frozen until Monday; exit 1"}
handlers:
  - name: page-on-failure
    match: {watch: deploy, status: [failed]}
    exec: 'cat > "$OUT/paged"'
    env: {OUT: "`+hooksDir+`"}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	cfg.Hooks = hooksDir
	d := startDispatcher(t, cfg)

	nc, err := nats.Connect(d.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	req, _ := json.Marshal(call.Call{Method: "create_job", Job: "c/r/prod/web"})
	m, err := nc.Request(call.PreSubject("create_job"), req, 10*time.Second)
	if err != nil {
		t.Fatalf("call.pre right after Start: %v", err)
	}
	var v call.Verdict
	if err := json.Unmarshal(m.Data, &v); err != nil || v.Allow || len(v.Denied) != 1 || v.Denied[0].Reason != "frozen until Monday" {
		t.Fatalf("verdict %s (%v)", m.Data, err)
	}

	resp, err := http.Post("http://"+d.HTTPAddr()+"/v1/calls/create_job/pre", "application/json", strings.NewReader(`{"job":"c/r/devel/web"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := json.Unmarshal(body, &v); err != nil || resp.StatusCode != http.StatusOK || !v.Allow {
		t.Fatalf("POST pre: %d %s", resp.StatusCode, body)
	}
	resp, err = http.Post("http://"+d.HTTPAddr()+"/v1/calls/create_job/post", "application/json",
		strings.NewReader(`{"id":"`+v.CallID+`","job":"c/r/devel/web","result":{"exit_code":0}}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST post: %d %s", resp.StatusCode, body)
	}

	// The hook file's handlers: list runs for agent outcomes.
	one := 1
	o, _ := json.Marshal(events.Outcome{EventID: "e1", EventType: "ci.build", Key: "app", Watch: "deploy", Host: "web-1",
		Status: events.StatusFailed, ExitCode: &one, Attempts: 1})
	if _, err := nc.Request(events.OutcomeSubject("web-1", "deploy"), o, 10*time.Second); err != nil {
		t.Fatalf("publish outcome: %v", err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		b, err := os.ReadFile(filepath.Join(hooksDir, "paged"))
		if err != nil || !strings.Contains(string(b), `"watch":"deploy"`) {
			return fmt.Errorf("handler has not run: %q %v", b, err)
		}
		return nil
	})

	t.Run("a hooks dir that does not exist fails the start", func(t *testing.T) {
		cfg := testConfig(t)
		cfg.Hooks = filepath.Join(t.TempDir(), "missing")
		d, _ := newDispatcher(t, cfg)
		ctx := t.Context()
		if err := d.Start(ctx); err == nil {
			t.Fatal("Start succeeded")
		}
	})
}
