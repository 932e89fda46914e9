package e2e_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/heraldhq/herald/internal/eventreport"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sys/unix"
)

// waitWatches writes the watch directory of one --wait agent: each
// watch runs on event:wait.<name>, its script given inline.
func waitWatches(t *testing.T, f *fixture, agent string, scripts map[string]string) string {
	t.Helper()
	dir := f.path("watches-" + agent)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("watches:\n")
	for name, script := range scripts {
		js, _ := json.Marshal(script)
		b.WriteString("  - name: " + name + "\n    on: event:wait." + name + "\n    exec: [\"/bin/sh\", \"-c\", " + string(js) + "]\n    env: {DIR: \"" + f.dir + "\"}\n    run_on_load: false\n")
	}
	writeFile(t, filepath.Join(dir, "w.yaml"), b.String())
	return dir
}

// TestPublishWait_ExitCodes: herald publish --wait exits 0 once every
// live agent holding a watch that selects the event ran it ok; 1 when one
// failed, with its exit code and the last lines of its stderr; 4 when one
// did not decide before --wait-timeout, listed as missing; --json prints
// the summary alone; an agent that joined after the event was stored is
// not waited for; with no agent holding such a watch it says so and
// exits 0.
func TestPublishWait_ExitCodes(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	f := newFixture(t)
	gated := `touch "$DIR/started-$HERALD_WATCH-$HERALD_HOST"; while [ ! -f "$DIR/gate" ]; do sleep 0.02; done`
	c.startAgent(agentOpts{name: "a1", watches: waitWatches(t, f, "a1", map[string]string{
		"ok":   "true",
		"fail": `for i in 1 2 3 4 5 6 7 8 9 10 11 12; do echo "err line $i" >&2; done; exit 3`,
		"slow": gated,
		"late": gated,
	})})
	a2 := waitWatches(t, f, "a2", map[string]string{
		"ok":   "true",
		"fail": "true",
	})
	// Selects wait.ok, but not its key: a2 is expected once, for "ok".
	writeFile(t, filepath.Join(a2, "keyed.yaml"), `
watches:
  - name: keyed
    on: event:wait.ok
    key: "/elsewhere/**"
    exec: "true"
    run_on_load: false
`)
	c.startAgent(agentOpts{name: "a2", watches: a2})
	waitAnnounced(t, c, "a1", "a2")

	out, err := c.herald(t, "", "publish", "--type", "wait.ok", "--key", "/app", "--wait")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if exitCode(err) != 0 || len(lines) != 2 || lines[1] != "2 expected, 2 decided: 2 ok" {
		t.Fatalf("all ok: exit %d (%v), stdout %q; want 0, the id and \"2 expected, 2 decided: 2 ok\"", exitCode(err), err, out)
	}

	out, err = c.herald(t, "", "publish", "--type", "wait.ok", "--key", "/app", "--wait", "--json")
	var sum eventreport.Summary
	if jerr := json.Unmarshal([]byte(out), &sum); exitCode(err) != 0 || jerr != nil {
		t.Fatalf("--json: exit %d (%v), %v: %q", exitCode(err), err, jerr, out)
	}
	if sum.Expected != 2 || sum.Decided != 2 || !sum.Done || sum.Counts["ok"] != 2 || sum.Counts["pending"] != 0 ||
		len(sum.Hosts) != 2 || sum.Hosts[0].Host != "a1" || sum.Hosts[1].Host != "a2" || sum.Hosts[1].Watch != "ok" || sum.Hosts[0].Status != "ok" ||
		sum.EventType != "wait.ok" || sum.Key != "/app" || sum.EventID == "" || sum.Seq == 0 || len(sum.Missing) != 0 {
		t.Errorf("--json summary %+v: want 2 expected and ok, a1 and a2", sum)
	}
	var raw map[string]any
	_ = json.Unmarshal([]byte(out), &raw)
	for _, k := range []string{"event_id", "event_type", "key", "seq", "stored", "expected", "decided", "done", "counts", "hosts", "missing", "last_outcome", "to_last_outcome_ms"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("--json lacks %q: %s", k, out)
		}
	}

	// A duplicate (same --source, --key, --version) waits for the event
	// stored first, when the identity may read it.
	first, err := c.herald(t, "", "publish", "--type", "wait.ok", "--key", "/app", "--source", "test://dup", "--version", "7")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(testutil.Binaries(t), "herald"), "publish", "--nats", c.url, "--type", "wait.ok", "--key", "/app", "--source", "test://dup", "--version", "7", "--wait")
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	var dupOut, dupErr strings.Builder
	cmd.Stdout, cmd.Stderr = &dupOut, &dupErr
	if err := cmd.Run(); err != nil || !strings.HasPrefix(dupOut.String(), first) || !strings.Contains(dupOut.String(), "2 expected, 2 decided: 2 ok") ||
		!strings.Contains(dupErr.String(), "duplicate, not stored again: waiting for the earlier event "+strings.TrimSpace(first)) {
		t.Errorf("a duplicate with --wait: %v\nstdout %q\nstderr %q\nwant the first event %s waited for", err, dupOut.String(), dupErr.String(), first)
	}

	out, err = c.herald(t, "", "publish", "--type", "wait.fail", "--key", "/app", "--wait")
	if exitCode(err) != 1 || !strings.Contains(out, "2 expected, 2 decided: 1 ok, 1 failed") ||
		!strings.Contains(out, "failed: a1 (watch fail) exit 3") ||
		!strings.Contains(out, "\n    err line 3\n") || !strings.Contains(out, "\n    err line 12\n") || strings.Contains(out, "err line 2\n") {
		t.Errorf("a failing host: exit %d (%v), stdout:\n%s\nwant 1, a1's exit 3 and its stderr's last 10 lines", exitCode(err), err, out)
	}

	// Its stderr a terminal: the progress line, updated in place, cleared
	// before the summary.
	out, tty, code := heraldOnTTY(t, c.url, "publish", "--type", "wait.slow", "--key", "/app", "--wait", "--wait-timeout", "2s")
	if code != 4 || !strings.Contains(out, "1 expected, 0 decided: 1 pending") || !strings.Contains(out, "missing: a1 (watch slow)") {
		t.Errorf("a host that does not decide in time: exit %d, stdout:\n%s\nwant 4, a1 missing", code, out)
	}
	if !strings.Contains(tty, "\r\033[Kwaiting: 0/1 hosts decided, 0 failed\r\033[K") || !strings.Contains(tty, "herald publish: 1 of 1 hosts did not decide within 2s") {
		t.Errorf("stderr on a terminal: %q: want the progress line, cleared, then the exit 4 message", tty)
	}

	slowID, _, _ := strings.Cut(out, "\n")

	// Over HTTP: the summary as JSON, and as a stream of changes.
	code, body := httpGet(t, "http://"+c.http+"/v1/events/"+slowID+"/rollout", "")
	if err := json.Unmarshal([]byte(body), &sum); code != 200 || err != nil || sum.EventID != slowID || sum.Expected != 1 || fmt.Sprint(sum.Missing) != "[a1]" {
		t.Errorf("GET /v1/events/%s/rollout: %d %s", slowID, code, body)
	}
	if code, body := httpGet(t, "http://"+c.http+"/v1/events/no-such-event/rollout", ""); code != 404 {
		t.Errorf("GET of an unknown event: %d %s, want 404", code, body)
	}
	sse := sseOpen(t, "http://"+c.http+"/v1/events/"+slowID+"/rollout", "")
	if first := sse.next(t); first.Decided != 0 || first.Done {
		t.Errorf("first streamed summary %+v: want a1 pending", first)
	}

	// An agent that joins while herald waits is not waited for.
	w := start(t, "herald", "publish", "--nats", c.url, "--type", "wait.late", "--key", "/app", "--wait", "--json")
	waitFile(t, f.path("started-late-a1")) // stored, and running: a3 starts after
	c.startAgent(agentOpts{name: "a3", watches: waitWatches(t, f, "a3", map[string]string{"late": "true"})})
	writeFile(t, f.path("gate"), "")
	if last := sse.next(t); !last.Done || last.Counts["ok"] != 1 {
		t.Errorf("streamed summary once a1 ran the slow event: %+v, want done, ok", last)
	}
	sse.end(t)
	if code := waitExit(t, w); code != 0 {
		t.Fatalf("late joiner: exit %d, output:\n%s", code, w.out.String())
	}
	if err := json.Unmarshal([]byte(w.out.String()), &sum); err != nil || sum.Expected != 1 || sum.Hosts[0].Host != "a1" || !sum.Done {
		t.Errorf("late joiner: %v, %+v: want a1 alone expected, done", err, sum)
	}

	out, err = c.herald(t, "", "publish", "--type", "wait.nobody", "--key", "/app", "--wait")
	if exitCode(err) != 0 || !strings.Contains(out, "no live agent holds a watch that selects this event: nothing to wait for") {
		t.Errorf("nobody expected: exit %d (%v), stdout %q", exitCode(err), err, out)
	}

	if _, err := c.herald(t, "", "publish", "--type", "wait.ok", "--key", "/app", "--json"); exitCode(err) != 2 || !strings.Contains(err.Error(), "--json needs --wait") {
		t.Errorf("--json without --wait: %v, want exit 2", err)
	}
}

// waitExit waits for a started process to exit by itself and returns its
// exit code.
func waitExit(t *testing.T, p *proc) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(wait):
		t.Fatalf("%s did not exit within %v:\n%s", p.name, wait, p.out.String())
	}
	return p.cmd.ProcessState.ExitCode()
}

// TestPublishWait_PublisherCreds: with --auth on, herald publish --wait
// works with the credentials of a publisher granted --may-wait (it reads
// the announcements and the outcomes by direct gets, nothing the server
// refuses), while that publisher still may not read the events stream,
// make a consumer on the outcomes or subscribe to them; a publisher
// without --may-wait reads nothing: its --wait fails at once, exit 1,
// naming the missing right, and publishes nothing.
func TestPublishWait_PublisherCreds(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.watchFile("w.yaml", authWatch)
	b := startAuthBus(t, newAuthDir(t,
		[]string{"add-agent", "web-1"},
		[]string{"add-publisher", "ci", "--types", "deploy.*", "--keys", "/app/**", "--may-wait", "--http-token"},
		[]string{"add-publisher", "blind", "--types", "deploy.*", "--keys", "/app/**"},
		[]string{"add-viewer", "ops", "--http-token"},
	))
	b.startAuthAgent("web-1", f.watches)
	waitAnnounced(t, b.cluster, "web-1")

	out, err := b.herald(t, "", "publish", "--nats-creds", b.creds("publishers", "blind"), "--type", "deploy.app", "--key", "/app/blind", "--data", "v1", "--wait", "--wait-timeout", "20s")
	if exitCode(err) != 1 || !strings.Contains(err.Error(), "Permissions Violation") || !strings.Contains(err.Error(), "--may-wait") {
		t.Fatalf("publish --wait without the wait right: exit %d, want 1 naming --may-wait: %v\n%s", exitCode(err), err, out)
	}
	if list := runHerald(t, nil, "", "auth", "ls", "--dir", b.dir); !strings.Contains(list, "types=deploy.* keys=/app/** wait") {
		t.Errorf("herald auth ls does not show ci's wait right:\n%s", list)
	}
	b.disp.waitLog(`Publish Violation - Subject "$JS.API.STREAM.INFO.HERALD_OUTCOMES"`)
	refused := len(b.disp.out.String())

	out, err = b.herald(t, "", "publish", "--nats-creds", b.creds("publishers", "ci"), "--type", "deploy.app", "--key", "/app/web", "--data", "v42", "--wait", "--wait-timeout", "20s")
	if err != nil || !strings.Contains(out, "1 expected, 1 decided: 1 ok") {
		t.Fatalf("publish --wait as the publisher: %v\n%s", err, out)
	}
	if log := b.disp.out.String(); strings.Contains(log[refused:], "Violation") {
		t.Fatalf("the server refused something publish --wait did:\n%s", log)
	}

	// GET /v1/events/{id}/rollout needs a token (401) of an identity with
	// the read right (a publisher: 403; a viewer: the summary).
	id, _, _ := strings.Cut(out, "\n")
	url := "http://" + b.http + "/v1/events/" + id + "/rollout"
	if code, body := httpGet(t, url, ""); code != 401 {
		t.Errorf("GET without a token: %d %s, want 401", code, body)
	}
	if code, body := httpGet(t, url, b.token("publishers", "ci")); code != 403 || !strings.Contains(body, "may not read") {
		t.Errorf("GET as the publisher: %d %s, want 403", code, body)
	}
	code, body := httpGet(t, url, b.token("viewers", "ops"))
	var sum eventreport.Summary
	if err := json.Unmarshal([]byte(body), &sum); code != 200 || err != nil || !sum.Done || sum.Counts["ok"] != 1 || sum.Hosts[0].Host != "web-1" {
		t.Errorf("GET as the viewer: %d %s", code, body)
	}
	if sse := sseOpen(t, url, b.token("viewers", "ops")); !sse.next(t).Done {
		t.Error("the viewer's stream: want a done summary")
	} else {
		sse.end(t)
	}

	nc, v := b.connectAs(t, b.creds("publishers", "ci"))
	for _, subj := range []string{"$JS.API.DIRECT.GET.HERALD_EVENTS", "$JS.API.CONSUMER.CREATE.HERALD_OUTCOMES.x"} {
		if err := nc.Publish(subj, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		v.wait(t, "Publish", subj)
	}
	if _, err := nc.SubscribeSync("herald.outcome.>"); err != nil {
		t.Fatal(err)
	}
	v.wait(t, "Subscription", "herald.outcome.>")
}

// httpGet GETs url with an optional bearer token and returns the status
// and body.
func httpGet(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// sseStream reads the Server-Sent Events of a rollout stream.
type sseStream struct {
	resp *http.Response
	br   *bufio.Reader
}

func sseOpen(t *testing.T, url, token string) *sseStream {
	t.Helper()
	// Reads block: the request's deadline bounds them.
	ctx, cancel := context.WithTimeout(context.Background(), 3*wait)
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Header.Set("Accept", "text/event-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET %s as a stream: %d %s", url, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return &sseStream{resp: resp, br: bufio.NewReader(resp.Body)}
}

// next reads the next data: event.
func (s *sseStream) next(t *testing.T) eventreport.Summary {
	t.Helper()
	l, err := s.br.ReadString('\n')
	d, ok := strings.CutPrefix(l, "data: ")
	if err != nil || !ok {
		t.Fatalf("stream line %q, %v: want data: JSON", l, err)
	}
	var sum eventreport.Summary
	if err := json.Unmarshal([]byte(d), &sum); err != nil {
		t.Fatalf("data %q: %v", d, err)
	}
	_, _ = s.br.ReadString('\n') // the empty line that ends the event
	return sum
}

// end checks that the stream ended after its last event.
func (s *sseStream) end(t *testing.T) {
	t.Helper()
	if rest, err := io.ReadAll(s.br); err != nil || len(rest) != 0 {
		t.Errorf("after done: %q, %v; want the end of the stream", rest, err)
	}
}

// heraldOnTTY runs the herald binary with its stderr on a pseudo-terminal
// and returns its stdout, what it wrote to the terminal and its exit code.
func heraldOnTTY(t *testing.T, url string, args ...string) (stdout, tty string, code int) {
	t.Helper()
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("no pseudo-terminal: %v", err)
	}
	defer ptmx.Close()
	fd := int(ptmx.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("ptsname: %v", err)
	}
	pts, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("no pseudo-terminal: %v", err)
	}
	var termOut strings.Builder
	read := make(chan struct{})
	go func() {
		defer close(read)
		buf := make([]byte, 4096)
		for {
			k, err := ptmx.Read(buf)
			termOut.Write(buf[:k])
			if err != nil {
				return // EIO once the last holder of the terminal closed it
			}
		}
	}()
	cmd := exec.Command(filepath.Join(testutil.Binaries(t), "herald"), append(args[:1:1], append([]string{"--nats", url}, args[1:]...)...)...)
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, pts
	runErr := cmd.Run()
	pts.Close()
	select {
	case <-read:
	case <-time.After(wait):
		t.Fatal("the terminal's output was not read to its end")
	}
	return out.String(), strings.ReplaceAll(termOut.String(), "\r\n", "\n"), exitCode(runErr)
}

// waitAnnounced waits until HERALD_AGENTS holds an announcement of each of
// names with its watches: an agent logs that it consumes just before it
// announces, and --wait expects only announced agents.
func waitAnnounced(t *testing.T, c *cluster, names ...string) {
	t.Helper()
	testutil.Eventually(t, wait, func() error {
		seen := map[string]bool{}
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		err := bus.LastMsgs(ctx, c.js, events.AgentsStream, nil, func(m *jetstream.RawStreamMsg) error {
			var a events.Announcement
			if json.Unmarshal(m.Data, &a) == nil && len(a.Watches) > 0 {
				seen[a.Name] = true
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, n := range names {
			if !seen[n] {
				return fmt.Errorf("agent %s has not announced itself yet", n)
			}
		}
		return nil
	})
}
