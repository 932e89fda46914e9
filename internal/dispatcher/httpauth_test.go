package dispatcher_test

import (
	"context"
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
	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/dispatcher"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// authConfig is a test dispatcher with --auth on a real auth directory
// (herald auth init) holding the test identities, each with an HTTP
// token but agent web-1: tokens maps their names to them. Identity gone
// is revoked.
func authConfig(t *testing.T) (dispatcher.Config, auth.Dir, map[string]string) {
	t.Helper()
	dir, tokens := testutil.AuthDir(t,
		auth.Spec{Name: "ci", Role: auth.RolePublisher, Types: []string{"ci.*", "git.push"}, HTTPToken: true},
		auth.Spec{Name: "other", Role: auth.RolePublisher, Types: []string{"git.push"}, Keys: []string{"/repos/other/**"}, HTTPToken: true},
		auth.Spec{Name: "deployer", Role: auth.RoleDeployer, HTTPToken: true},
		auth.Spec{Name: "skipper", Role: auth.RoleDeployer, MaySkipHooks: true, HTTPToken: true},
		auth.Spec{Name: "hotfix", Role: auth.RolePublisher, Types: []string{"git.push"}, MaySkipHooks: true, HTTPToken: true},
		auth.Spec{Name: "viewer", Role: auth.RoleViewer, HTTPToken: true},
		auth.Spec{Name: "gone", Role: auth.RolePublisher, Types: []string{"ci.*"}, HTTPToken: true},
		auth.Spec{Name: "web-1", Role: auth.RoleAgent},
	)
	if _, err := dir.Revoke("gone", time.Now()); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	cfg.Auth = string(dir)
	return cfg, dir, tokens
}

// connectAdmin connects to d's embedded server as the admin of dir: with
// --auth, a client needs credentials issued from the directory.
func connectAdmin(t *testing.T, d *dispatcher.Dispatcher, dir auth.Dir) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(d.ClientURL(), nats.UserCredentials(dir.Path(auth.AdminCredsFile)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// request sends one HTTP request with token as a bearer token ("": none).
func request(t *testing.T, method, url, token, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" && strings.Contains(string(raw), token) {
		t.Errorf("%s %s: the answer echoes the token: %s", method, url, raw)
	}
	return resp.StatusCode, resp.Header, string(raw)
}

func TestHTTPAuth_EventsNeedAToken(t *testing.T) {
	cfg, dir, tok := authConfig(t)
	d := startDispatcher(t, cfg)
	url := "http://" + d.HTTPAddr() + "/v1/events"
	ev := `{"type":"ci.build","key":"app","data":"x"}`

	for _, c := range []struct{ name, token, want string }{
		{"no token", "", "a bearer token is required"},
		{"unknown token", "not-a-token", "unknown or revoked token"},
		{"revoked identity", tok["gone"], "unknown or revoked token"},
	} {
		code, h, body := request(t, "POST", url, c.token, ev)
		if code != http.StatusUnauthorized || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") || !strings.Contains(body, c.want) {
			t.Errorf("%s: %d %q %s, want 401 with WWW-Authenticate: Bearer and %q", c.name, code, h.Get("WWW-Authenticate"), body, c.want)
		}
	}
	if code, _, body := request(t, "POST", url, tok["ci"], ev); code != http.StatusCreated {
		t.Fatalf("ci posting ci.build: %d %s, want 201", code, body)
	}
	// Open by default.
	for _, p := range []string{"/healthz", "/metrics"} {
		if code, _, body := request(t, "GET", "http://"+d.HTTPAddr()+p, "", ""); code != http.StatusOK {
			t.Errorf("GET %s without a token: %d %s, want 200", p, code, body)
		}
	}
	// Revoked in the registry: refused at once, no restart.
	if _, err := dir.Revoke("ci", time.Now()); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 20*time.Second, func() error {
		if code, _, body := request(t, "POST", url, tok["ci"], ev); code != http.StatusUnauthorized {
			return fmt.Errorf("revoked ci: %d %s, want 401", code, body)
		}
		return nil
	})
}

func TestHTTPAuth_EventsWithinRights(t *testing.T) {
	cfg, dir, tok := authConfig(t)
	d := startDispatcher(t, cfg)
	nc := connectAdmin(t, d, dir)
	url := "http://" + d.HTTPAddr() + "/v1/events"

	for _, c := range []struct {
		name, token, body, field, want string
	}{
		{"type not granted", tok["ci"], `{"type":"deploy.done","key":"app"}`, "type", `"deploy.done" is not among the types granted to identity ci`},
		{"key not granted", tok["other"], `{"type":"git.push","key":"/repos/herald/main"}`, "key", `not among the keys granted to identity other`},
		{"reserved type", tok["ci"], `{"type":"zk.changed","key":"/app/config","version":"999999999999"}`, "type", `"zk.changed" is reserved`},
		{"reserved call type", tok["ci"], `{"type":"call.hooks_skipped","key":"c/r/prod/web"}`, "type", `is reserved`},
		{"reserved source", tok["ci"], `{"type":"ci.build","key":"app","source":"zk:///"}`, "source", `"zk:///" claims one of Herald's own producers`},
		{"reserved source herald", tok["ci"], `{"type":"ci.build","key":"app","source":"herald://dispatcher/x"}`, "source", `claims one of Herald's own producers`},
		{"viewer publishes nothing", tok["viewer"], `{"type":"ci.build","key":"app"}`, "type", `not among the types granted to identity viewer`},
		{"deployer not over the events endpoint", tok["deployer"], `{"type":"call.post","key":"c/r/prod/web"}`, "type", `is reserved`},
	} {
		code, _, body := request(t, "POST", url, c.token, c.body)
		var r struct{ Error, Field string }
		_ = json.Unmarshal([]byte(body), &r)
		if code != http.StatusForbidden || r.Field != c.field || !strings.Contains(r.Error, c.want) {
			t.Errorf("%s: %d %s, want 403 field %s %q", c.name, code, body, c.field, c.want)
		}
	}
	// A batch is all or nothing: one event outside the rights and none is
	// stored; the error names its index and field.
	batch := `[{"specversion":"1.0","id":"b1","source":"ci://x","type":"ci.build","subject":"a"},
	           {"specversion":"1.0","id":"b2","source":"ci://x","type":"zk.changed","subject":"/b"}]`
	req, _ := http.NewRequest("POST", url, strings.NewReader(batch))
	req.Header.Set("Content-Type", "application/cloudevents-batch+json")
	req.Header.Set("Authorization", "Bearer "+tok["ci"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(raw), `"field":"[1].type"`) || !strings.Contains(string(raw), `"events":[]`) {
		t.Fatalf("batch with a reserved type: %d %s, want 403 field [1].type and no events", resp.StatusCode, raw)
	}
	if n, err := streamMsgs(nc, events.EventsStream); err != nil || n != 0 {
		t.Fatalf("events stored after refusals: %d (%v), want 0", n, err)
	}
	// Within its rights: stored, with the identity in the default source.
	code, _, body := request(t, "POST", url, tok["other"], `{"type":"git.push","key":"/repos/other/main"}`)
	if code != http.StatusCreated {
		t.Fatalf("other within its keys: %d %s", code, body)
	}
	m := readEvents(t, nc, 1)[0]
	if src := m.Header.Get(events.HeaderSource); !strings.HasSuffix(src, "/http/other") {
		t.Errorf("default source %q, want it to end in /http/other", src)
	}
}

// TestHTTPAuth_DedupPoisoning is the attack: identity ci posts, first,
// the source, key and version that identity other is about to publish.
// Other's real publish is still stored (and reaches a subscriber of the
// live subjects, as an agent's feed), not dropped as a duplicate. Without
// auth the same two posts are one event, as before.
func TestHTTPAuth_DedupPoisoning(t *testing.T) {
	body := `{"type":"git.push","key":"/repos/other/main","version":"43","source":"ci://other","data":"%s"}`
	t.Run("auth", func(t *testing.T) {
		cfg, dir, tok := authConfig(t)
		d := startDispatcher(t, cfg)
		// The live subjects as agent web-1's feed follows them.
		nc, err := nats.Connect(d.ClientURL(), nats.UserCredentials(dir.Path(filepath.Join(auth.KindDir(auth.RoleAgent), "web-1.creds"))))
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		live, err := nc.SubscribeSync(events.LivePrefix + ".>")
		if err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		url := "http://" + d.HTTPAddr() + "/v1/events"
		// ci may publish git.push under every key: its post is stored.
		if code, _, b := request(t, "POST", url, tok["ci"], fmt.Sprintf(body, "forged")); code != http.StatusCreated {
			t.Fatalf("ci's post: %d %s", code, b)
		}
		code, _, b := request(t, "POST", url, tok["other"], fmt.Sprintf(body, "real"))
		if code != http.StatusCreated || strings.Contains(b, `"duplicate":true`) {
			t.Fatalf("other's real publish: %d %s, want 201, not a duplicate", code, b)
		}
		// The real one is delivered live.
		deadline := time.Now().Add(20 * time.Second)
		for {
			m, err := live.NextMsg(time.Until(deadline))
			if err != nil {
				t.Fatalf("other's event never delivered live: %v", err)
			}
			if string(m.Data) == "real" {
				break
			}
		}
		// Other resending the same version is still deduplicated.
		if code, _, b := request(t, "POST", url, tok["other"], fmt.Sprintf(body, "real")); code != http.StatusAccepted {
			t.Fatalf("other's resend: %d %s, want 202 duplicate", code, b)
		}
	})
	t.Run("no auth", func(t *testing.T) {
		d := startDispatcher(t, testConfig(t))
		if code, r := post(t, d, fmt.Sprintf(body, "first")); code != http.StatusCreated {
			t.Fatalf("first: %d %+v", code, r)
		}
		if code, r := post(t, d, fmt.Sprintf(body, "second")); code != http.StatusAccepted || !r.Duplicate {
			t.Fatalf("second: %d %+v, want 202 duplicate (today's ids without auth)", code, r)
		}
	})
}

func TestHTTPAuth_Metrics(t *testing.T) {
	cfg, _, tok := authConfig(t)
	cfg.MetricsAuth = true
	d := startDispatcher(t, cfg)
	url := "http://" + d.HTTPAddr() + "/metrics"
	if code, h, body := request(t, "GET", url, "", ""); code != http.StatusUnauthorized || h.Get("WWW-Authenticate") == "" {
		t.Errorf("metrics without a token: %d %s, want 401", code, body)
	}
	if code, _, body := request(t, "GET", url, tok["ci"], ""); code != http.StatusForbidden || !strings.Contains(body, "identity ci (publisher) may not read /metrics") {
		t.Errorf("metrics as a publisher: %d %s, want 403", code, body)
	}
	if code, _, body := request(t, "GET", url, tok["viewer"], ""); code != http.StatusOK || !strings.Contains(body, "herald_") {
		t.Errorf("metrics as a viewer: %d %.200s, want 200", code, body)
	}
	if code, _, body := request(t, "GET", "http://"+d.HTTPAddr()+"/healthz", "", ""); code != http.StatusOK {
		t.Errorf("healthz: %d %s, want 200 (always open)", code, body)
	}

	bad := testConfig(t)
	bad.MetricsAuth = true
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "metrics_auth") {
		t.Errorf("metrics_auth without auth: %v, want an error naming metrics_auth", err)
	}
}

// TestHTTPAuth_Calls: the audited caller is the token's identity, not the
// body's; skip_hooks needs the skip right; only callers may call.
func TestHTTPAuth_Calls(t *testing.T) {
	hooksDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(hooksDir, "h.yaml"), []byte(`
hooks:
  - {name: prod-freeze, phase: pre, methods: [create_job], jobs: ["*/*/prod/*"], exec: "echo frozen; exit 1"}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, dir, tok := authConfig(t)
	cfg.Hooks = hooksDir
	d := startDispatcher(t, cfg)
	nc := connectAdmin(t, d, dir)
	url := "http://" + d.HTTPAddr() + "/v1/calls/create_job/pre"
	skip := `{"job":"c/r/prod/web","user":"alice","caller":"mallory","skip_hooks":["all"],"reason":"hotfix"}`

	if code, _, body := request(t, "POST", url, "", skip); code != http.StatusUnauthorized {
		t.Errorf("no token: %d %s, want 401", code, body)
	}
	if code, _, body := request(t, "POST", url, tok["ci"], `{"job":"c/r/devel/web"}`); code != http.StatusForbidden || !strings.Contains(body, "may not make scheduler calls") {
		t.Errorf("publisher calling: %d %s, want 403", code, body)
	}
	if code, _, body := request(t, "POST", url, tok["deployer"], skip); code != http.StatusForbidden || !strings.Contains(body, "skip_hooks: identity deployer may not skip hooks") {
		t.Errorf("skip without the right: %d %s, want 403 naming skip_hooks", code, body)
	}
	// The legitimate paths.
	code, _, body := request(t, "POST", url, tok["deployer"], `{"job":"c/r/devel/web","user":"alice"}`)
	var v call.Verdict
	if err := json.Unmarshal([]byte(body), &v); err != nil || code != http.StatusOK || !v.Allow {
		t.Fatalf("deployer's call: %d %s", code, body)
	}
	// A publisher granted --may-skip-hooks is a caller that may skip.
	code, _, body = request(t, "POST", url, tok["hotfix"], skip)
	if err := json.Unmarshal([]byte(body), &v); err != nil || code != http.StatusOK || !v.Allow {
		t.Fatalf("hotfix publisher's skip: %d %s", code, body)
	}
	code, _, body = request(t, "POST", url, tok["skipper"], skip)
	if err := json.Unmarshal([]byte(body), &v); err != nil || code != http.StatusOK || !v.Allow {
		t.Fatalf("skipper's skip: %d %s", code, body)
	}
	// The audit record names the token's identity; the claimed user stays.
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	var rec call.HooksSkipped
	testutil.Eventually(t, 20*time.Second, func() error {
		s, err := js.Stream(t.Context(), events.EventsStream)
		if err != nil {
			return err
		}
		m, err := s.GetLastMsgForSubject(t.Context(), events.EventSubject(call.TypeHooksSkipped, "c/r/prod/web"))
		if err != nil {
			return err
		}
		return json.Unmarshal(m.Data, &rec)
	})
	if rec.Caller != "skipper" || rec.User != "alice" || rec.CallID != v.CallID {
		t.Errorf("audit record %+v, want caller skipper (not the body's mallory), user alice, call %s", rec, v.CallID)
	}
	// post and err: callers only; the result names the caller.
	post := "http://" + d.HTTPAddr() + "/v1/calls/create_job/post"
	res := `{"id":"` + v.CallID + `","job":"c/r/prod/web","caller":"mallory","result":{"exit_code":0}}`
	if code, _, body := request(t, "POST", post, tok["viewer"], res); code != http.StatusForbidden {
		t.Errorf("viewer reporting: %d %s, want 403", code, body)
	}
	if code, _, body := request(t, "POST", post, tok["skipper"], res); code != http.StatusAccepted {
		t.Errorf("skipper reporting: %d %s, want 202", code, body)
	}
	testutil.Eventually(t, 20*time.Second, func() error {
		s, err := js.Stream(t.Context(), events.EventsStream)
		if err != nil {
			return err
		}
		m, err := s.GetLastMsgForSubject(t.Context(), events.EventSubject(call.TypePost, "c/r/prod/web"))
		if err != nil {
			return err
		}
		if !strings.Contains(string(m.Data), `"caller":"skipper"`) {
			return fmt.Errorf("call.post data %s lacks caller skipper", m.Data)
		}
		return nil
	})
}

// TestHTTPAuth_StartNeedsTheRegistry: --auth on a directory without a
// registry, or with a registry and no trust root (not made by herald auth
// init), is refused with an error saying to run herald auth init.
func TestHTTPAuth_StartNeedsTheRegistry(t *testing.T) {
	dir, _ := testutil.AuthDir(t)
	onlyRegistry := t.TempDir()
	copyFile(t, dir, auth.Dir(onlyRegistry), auth.RegistryFile)
	for _, c := range []struct{ name, dir, says string }{
		{"empty", t.TempDir(), auth.RegistryFile},
		{"no trust root", onlyRegistry, auth.OperatorJWTFile},
	} {
		cfg := testConfig(t)
		cfg.Auth = c.dir
		err := startErr(t, cfg)
		if err == nil || !strings.Contains(err.Error(), c.says) || !strings.Contains(err.Error(), "run herald auth init --dir "+c.dir) {
			t.Errorf("%s: %v, want an error naming %s and saying to run herald auth init", c.name, err, c.says)
		}
	}
}

// startErr is the error of building or starting a dispatcher with cfg.
func startErr(t *testing.T, cfg dispatcher.Config) error {
	t.Helper()
	d, err := dispatcher.New(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	defer d.Close(ctx)
	return d.Start(ctx)
}
