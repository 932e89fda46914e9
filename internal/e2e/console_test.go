package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/heraldhq/herald/internal/testutil"
)

// ScreenshotsEnv names a directory where the console's browser tests also
// write the README's screenshots (HERALD_SCREENSHOTS=docs/screenshots).
const ScreenshotsEnv = "HERALD_SCREENSHOTS"

// browser is a headless Chromium for one test, driven with chromedp: its
// own user-data directory, every console error and uncaught exception of
// its pages recorded (the test fails on any), screenshots under the
// test's temp dir.
type browser struct {
	t     *testing.T
	ctx   context.Context
	shots string
	n     int

	mu   sync.Mutex
	errs []string
}

// chromium is the path of Debian's chromium; a missing one fails the test
// with the install hint (as ZooKeeper and promtool do).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium not found: the console's browser tests need it (apt-get install chromium; .ci/run installs it)")
	return ""
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.UserDataDir(t.TempDir()),
		// Chromium refuses to run as root without --no-sandbox, and a
		// container has no user namespaces for its sandbox anyway.
		chromedp.NoSandbox,
		chromedp.WindowSize(1200, 760),
	)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	b := &browser{t: t, ctx: ctx, shots: t.TempDir()}
	// Subscribed before the first page, so that no message is lost.
	messages := chromedp.Console(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			// Console API calls and exceptions; the browser's own log
			// (Source set) is not the page's.
			switch {
			case (m.Type == chromedp.ConsoleError || m.IsException()) && m.Source == "":
				b.mu.Lock()
				b.errs = append(b.errs, m.String())
				b.mu.Unlock()
			case m.Source != "" && m.Type == chromedp.ConsoleError:
				t.Logf("browser log (%s): %s", m.Source, m.Text)
			}
		}
	})
	t.Cleanup(func() {
		cancel()
		acancel()
		wg.Wait()
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, e := range b.errs {
			t.Errorf("browser console: %s", e)
		}
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	// Runs before the browser stops (cleanups run last first).
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("screenshot at the failure: %s", b.shot("at-failure"))
		}
	})
	return b
}

// do runs steps within the deadline; on failure it saves a screenshot and
// names it.
func (b *browser) do(what string, within time.Duration, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, within)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v (screenshot %s)", what, err, b.shot(what))
	}
}

// text is the text of the element sel, once there is one. It is read in
// one step in the page (a query and a read apart can meet a node the page
// replaced in between: "No node with given id found").
func (b *browser) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, wait)
	defer cancel()
	js := fmt.Sprintf(`(() => { const e = document.querySelector(%q); return e ? e.innerText : null })()`, sel)
	s, err := chromedp.Run(ctx, chromedp.Poll[string](js, chromedp.WithPollingInterval(50*time.Millisecond)))
	if err != nil {
		b.t.Fatalf("text of %s: %v (screenshot %s)", sel, err, b.shot("text"))
	}
	return s
}

// shot saves a screenshot of the page under the test's temp dir and
// returns its path.
func (b *browser) shot(name string) string {
	b.n++
	p := filepath.Join(b.shots, fmt.Sprintf("%02d-%s.png", b.n, strings.NewReplacer(" ", "-", "/", "-").Replace(name)))
	ctx, cancel := context.WithTimeout(b.ctx, wait)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		return fmt.Sprintf("(none: %v)", err)
	}
	if err := os.WriteFile(p, png, 0o644); err != nil {
		return fmt.Sprintf("(none: %v)", err)
	}
	return p
}

// keep saves a screenshot, and with $HERALD_SCREENSHOTS also as name
// there (the README's).
func (b *browser) keep(name string) {
	b.t.Helper()
	p := b.shot(name)
	b.t.Logf("screenshot %s", p)
	dir := os.Getenv(ScreenshotsEnv)
	if dir == "" {
		return
	}
	png, err := os.ReadFile(p)
	if err != nil {
		b.t.Fatal(err)
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join("..", "..", dir) // relative to the module root
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// consoleWatch deploys /app/** events; exit code and stderr are the
// agent's (the failing one writes why).
const consoleWatch = `
watches:
  - name: deploy
    on: event:deploy.app
    key: "/app/**"
    exec: ["/bin/sh", "-c", %CMD%]
    run_on_load: false
`

// TestConsole_Browser drives headless Chromium against the real
// dispatcher and two real agents: an event published appears on
// /ui/events within 2 s without a reload; its page shows each host's row,
// the failing host's stderr; the fleet page shows both agents and their
// last outcomes as colour and word; a call denied by a pre hook appears
// on /ui/calls with the hook's reason.
func TestConsole_Browser(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	hooksDir := f.hookFile(`
hooks:
  - {name: change-freeze, phase: pre, methods: [update_job], exec: 'echo "change freeze until friday"; exit 1'}
`)
	okDir, failDir := filepath.Join(f.dir, "ok.d"), filepath.Join(f.dir, "fail.d")
	for dir, cmd := range map[string]string{
		okDir:   `'cat >/dev/null; echo deployed v42'`,
		failDir: `'cat >/dev/null; echo "disk full on /srv" >&2; exit 3'`,
	} {
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, "w.yaml"), strings.ReplaceAll(consoleWatch, "%CMD%", cmd))
	}
	c := startDispatcher(t, t.TempDir(), "127.0.0.1:0", "--hooks", hooksDir)
	c.startAgent(agentOpts{name: "web-1", watches: okDir})
	c.startAgent(agentOpts{name: "web-2", watches: failDir})
	waitAnnounced(t, c, "web-1")
	waitAnnounced(t, c, "web-2")
	base := "http://" + c.http
	b := newBrowser(t)

	// The events page, open before the event is published.
	b.do("open /ui/events", wait, chromedp.Navigate(base+"/ui/events"), chromedp.WaitVisible(chromedp.CSS("#event-rows")),
		chromedp.Evaluate[chromedp.Void](`window.heraldNotReloaded = true`))
	ev := c.publish("deploy.app", "/app/web", "v42")
	start := time.Now()
	row := fmt.Sprintf(`#event-rows a[href^="/ui/events/%s"]`, ev.ID)
	b.do("see the event appear", wait, chromedp.WaitVisible(chromedp.CSS(row)))
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("the event appeared on /ui/events %v after its publish, want within 2 s (screenshot %s)", took, b.shot("late"))
	}
	ctx, cancel := context.WithTimeout(b.ctx, wait)
	same, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.heraldNotReloaded === true`))
	cancel()
	if err != nil || !same {
		t.Fatalf("the page reloaded to show the event (%v)", err)
	}
	if got := b.text(`tr.event[data-seq] td.key`); got != "/app/web" {
		t.Errorf("key cell %q, want /app/web", got)
	}

	// Its page: one row per host, the failure's stderr.
	b.do("open the event", wait, chromedp.Click(chromedp.CSS(row)),
		chromedp.WaitVisible(chromedp.CSS(`tr.host[data-host="web-1"]`)),
		chromedp.WaitVisible(chromedp.CSS(`tr.host[data-host="web-2"] .st-failed`)),
		chromedp.WaitVisible(chromedp.CSS(`tr.host[data-host="web-1"] .st-ok`)))
	if got := b.text(`tr.host[data-host="web-2"] pre.stderr`); !strings.Contains(got, "disk full on /srv") {
		t.Errorf("web-2's stderr %q, want disk full on /srv (screenshot %s)", got, b.shot("stderr"))
	}
	if got := b.text(`tr.host[data-host="web-1"]`); !strings.Contains(got, "deployed v42") || !strings.Contains(got, "ok") {
		t.Errorf("web-1's row %q, want ok and its stdout", got)
	}
	if got := b.text(`p.totals`); !strings.Contains(got, "2 of 2 decided, done") || !strings.Contains(got, "publish to last host:") {
		t.Errorf("the event's totals %q, want 2 of 2 decided, done, and the time to the last host", got)
	}
	b.keep("console-event")

	// The fleet: both agents, live, their last outcomes.
	b.do("open the fleet", wait, chromedp.Navigate(base+"/ui/"),
		chromedp.WaitVisible(chromedp.CSS(`tbody.agent[data-agent="web-2"] .st-failed`)),
		chromedp.WaitVisible(chromedp.CSS(`tbody.agent[data-agent="web-1"] .st-ok`)))
	if got := b.text(`tbody.agent[data-agent="web-2"]`); !strings.Contains(got, "live") || !strings.Contains(got, "failed") || !strings.Contains(got, "3") {
		t.Errorf("web-2's fleet row %q, want live, failed, exit 3", got)
	}
	if got := b.text(`tbody.agent[data-agent="web-1"] td.nats`); got != c.url {
		t.Errorf("web-1's NATS server %q, want %s (its announcement's)", got, c.url)
	}
	b.keep("console-fleet")
	// The filter box hides this page's other agents as one types.
	b.do("filter the fleet", wait, chromedp.SendKeys(chromedp.CSS("#filter"), "web-2"),
		chromedp.WaitReady(chromedp.CSS(`tbody.agent[data-agent="web-1"][hidden]`)))
	ctx, cancel = context.WithTimeout(b.ctx, wait)
	shown, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!document.querySelector('tbody.agent[data-agent="web-2"]').hidden`))
	cancel()
	if err != nil || !shown {
		t.Errorf("web-2 hidden by a filter naming it (%v)", err)
	}

	// A denied call, with the hook's reason.
	if code, stderr := c.runHeraldIn(t, nil, "call", "update_job", "--job", "west/www/prod/web", "--", "true"); code != 3 {
		t.Fatalf("herald call: exit %d, want 3 (denied)\n%s", code, stderr)
	}
	b.do("open the calls", wait, chromedp.Navigate(base+"/ui/calls"), chromedp.WaitVisible(chromedp.CSS(`tr.verdict`)))
	if got := b.text(`tr.verdict`); !strings.Contains(got, "denied") || !strings.Contains(got, "change freeze until friday") || !strings.Contains(got, "west/www/prod/web") {
		t.Errorf("the call's row %q, want denied, its job and the hook's reason (screenshot %s)", got, b.shot("calls"))
	}
	// While the page is open: a call that skips the hook, and a broken
	// hook file, appear without a reload.
	if code, stderr := c.runHeraldIn(t, nil, "call", "update_job", "--job", "west/www/prod/web", "--skip-hooks", "change-freeze", "--reason", "hotfix for INC-42", "--", "true"); code != 0 {
		t.Fatalf("herald call --skip-hooks: exit %d, want 0\n%s", code, stderr)
	}
	writeFile(t, filepath.Join(hooksDir, "broken.yaml"), "hooks:\n  - {name: typo, phase: pre, methods: [update_jobs], exec: 'true'}\n")
	b.do("see the skip and the broken file", wait,
		chromedp.WaitVisible(chromedp.CSS(`tr.verdict .st-ok`)),
		chromedp.WaitVisible(chromedp.CSS(`tr.callevent[data-type="call.hooks_skipped"]`)),
		chromedp.WaitVisible(chromedp.CSS(`table.broken`)))
	if got := b.text(`tr.verdict`); !strings.Contains(got, "allowed") || !strings.Contains(got, "change-freeze (hotfix for INC-42)") {
		t.Errorf("the skipping call's row %q, want allowed, change-freeze skipped and why", got)
	}
	if got := b.text(`tr.callevent[data-type="call.hooks_skipped"]`); !strings.Contains(got, "change-freeze (by caller: hotfix for INC-42)") {
		t.Errorf("the call.hooks_skipped row %q, want who skipped what and why", got)
	}
	if got := b.text(`table.broken`); !strings.Contains(got, "broken.yaml") || !strings.Contains(got, "update_jobs") {
		t.Errorf("the broken files %q, want broken.yaml and why", got)
	}
	if got := b.text(`section.hooks`); !strings.Contains(got, "kill switch off") {
		t.Errorf("the call hooks' state %q, want kill switch off", got)
	}
	b.shot("calls")
}

// TestConsole_BrowserLogin: with --auth the console needs a viewer's
// token. A browser without one is sent to the login form; a wrong token
// and a publisher's (no read right) are refused; a viewer's sets an
// HttpOnly, SameSite=Strict cookie, never shows in a URL, and opens the
// pages and their live streams; the live stream without the cookie and a
// login POST without the form's CSRF token are refused.
func TestConsole_BrowserLogin(t *testing.T) {
	t.Parallel()
	ab := startAuthBus(t, newAuthDir(t,
		[]string{"add-viewer", "ops", "--http-token"},
		[]string{"add-publisher", "ci", "--types", "deploy.*", "--keys", "/app/**", "--http-token"},
	), "--hooks-disabled", "maintenance window")
	viewer, publisher := ab.token("viewers", "ops"), ab.token("publishers", "ci")
	base := "http://" + ab.http

	// Without a browser: the live stream and a forged login.
	resp, err := http.Get(base + "/ui/live/fleet")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("live stream without a session: %d, want 401", resp.StatusCode)
	}
	resp, err = http.PostForm(base+"/ui/login", map[string][]string{"token": {viewer}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("login without the form's csrf token: %d, want 403", resp.StatusCode)
	}

	b := newBrowser(t)
	login := func(token string) {
		b.t.Helper()
		// The old page is marked: what is read after is the answer's.
		b.do("log in", wait, chromedp.WaitVisible(chromedp.CSS("#token")),
			chromedp.Evaluate[chromedp.Void](`document.body.dataset.old = "1"`),
			chromedp.SendKeys(chromedp.CSS("#token"), token), chromedp.Click(chromedp.CSS("#login")),
			chromedp.WaitReady(chromedp.CSS("body:not([data-old]) main")))
	}
	b.do("open /ui/calls", wait, chromedp.Navigate(base+"/ui/calls"), chromedp.WaitVisible(chromedp.CSS("#token")))
	login("not-a-token")
	if got := b.text(".error"); !strings.Contains(got, "unknown or revoked token") {
		t.Errorf("wrong token: %q, want unknown or revoked token", got)
	}
	login(publisher)
	if got := b.text(".error"); !strings.Contains(got, "may not read the console") {
		t.Errorf("publisher's token: %q, want may not read the console", got)
	}
	login(viewer)
	b.do("see /ui/calls", wait, chromedp.WaitVisible(chromedp.CSS(`#live[data-live="/ui/live/calls"]`)))
	ctx, cancel := context.WithTimeout(b.ctx, wait)
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil || loc != base+"/ui/calls" {
		t.Errorf("after login at %q (%v), want back at %s/ui/calls", loc, err, base)
	}
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{base + "/ui/"}})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, ck := range res.Cookies {
		if ck.Name != "herald_console" {
			continue
		}
		found = true
		if !ck.HTTPOnly || ck.SameSite != network.CookieSameSiteStrict || ck.Path != "/ui/" {
			t.Errorf("session cookie %+v, want HttpOnly, SameSite=Strict, path /ui/", ck)
		}
	}
	if !found {
		t.Error("no herald_console cookie after the viewer's login")
	}
	if strings.Contains(loc, viewer) {
		t.Error("the token is in the URL")
	}
	// The live stream with the session: the page's region updates (the
	// kill switch line comes from the dispatcher's state).
	b.do("see the calls' live region", wait, chromedp.WaitVisible(chromedp.CSS(`section.hooks`)))
	if got := b.text(`section.hooks`); !strings.Contains(got, "kill switch on: hooks disabled: maintenance window") {
		t.Errorf("the call hooks' state %q, want the kill switch on with its reason", got)
	}
	b.shot("logged-in")
	// The other pages with the session: the dispatcher's identity reads
	// what they show.
	for path, sel := range map[string]string{"/ui/": "table.fleet", "/ui/events": "#event-rows"} {
		b.do("open "+path, wait, chromedp.Navigate(base+path), chromedp.WaitVisible(chromedp.CSS(sel)))
		ctx, cancel := context.WithTimeout(b.ctx, wait)
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll(".error").length`))
		cancel()
		if err != nil || n != 0 {
			t.Errorf("%s with the viewer's session shows an error (%v, screenshot %s)", path, err, b.shot("error"))
		}
	}
	for _, tok := range []string{viewer, publisher} {
		if strings.Contains(ab.disp.out.String(), tok) {
			t.Error("a token is in the dispatcher's log")
		}
	}
}

// TestConsole_Off: --ui=false serves no console; the API stays.
func TestConsole_Off(t *testing.T) {
	t.Parallel()
	c := startDispatcher(t, t.TempDir(), "127.0.0.1:0", "--ui=false")
	for path, want := range map[string]int{"/ui/": http.StatusNotFound, "/ui/events": http.StatusNotFound, "/healthz": http.StatusOK} {
		var code int
		testutil.Eventually(t, wait, func() error {
			resp, err := http.Get("http://" + c.http + path)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if code = resp.StatusCode; code == http.StatusServiceUnavailable && path == "/healthz" {
				return errors.New("not healthy yet")
			}
			return nil
		})
		if code != want {
			t.Errorf("GET %s with --ui=false: %d, want %d", path, code, want)
		}
	}
}

// TestConsole_BrowserRollout: an event's page shows its rollout's
// progress and its halt: with max_hosts 1 and halt_after_failures 1, the
// first host's failure halts the rollout and the other host is halted
// without a run.
func TestConsole_BrowserRollout(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.watchFile("w.yaml", `
watches:
  - name: deploy
    on: event:deploy.app
    exec: ["/bin/sh", "-c", "cat >/dev/null; echo 'migration failed' >&2; exit 1"]
    run_on_load: false
    rollout: {max_hosts: 1, halt_after_failures: 1}
`)
	c := newCluster(t)
	c.startAgent(agentOpts{name: "h1", watches: f.watches})
	c.startAgent(agentOpts{name: "h2", watches: f.watches})
	waitAnnounced(t, c, "h1", "h2")
	ev, seq := c.publishSeq("deploy.app", "/app", "v1")
	b := newBrowser(t)
	b.do("open the event", wait, chromedp.Navigate(fmt.Sprintf("http://%s/ui/events/%s?seq=%d", c.http, ev.ID, seq)),
		chromedp.WaitVisible(chromedp.CSS(`section.rollout`)))
	b.do("see the halt", wait,
		chromedp.WaitVisible(chromedp.CSS(`section.rollout p.st-halted`)),
		chromedp.WaitVisible(chromedp.CSS(`tr.host .st-halted`)),
		chromedp.WaitVisible(chromedp.CSS(`tr.host .st-failed`)))
	got := b.text(`section.rollout`)
	for _, want := range []string{"Rollout of deploy", "1 failed of 2 planned", "at most 1 at once", "halted automatically"} {
		if !strings.Contains(got, want) {
			t.Errorf("the rollout %q lacks %q (screenshot %s)", got, want, b.shot("rollout"))
		}
	}
}
