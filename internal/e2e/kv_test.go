package e2e_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/nats-io/nats-server/v2/server"
)

var kvANSI = regexp.MustCompile(`\x1b\[[0-9;]*m`)

// kvWaitLog polls a console-format log, without its colours, for s.
func kvWaitLog(t *testing.T, p *proc, s string) {
	t.Helper()
	testutil.Eventually(t, wait, func() error {
		if strings.Contains(kvANSI.ReplaceAllString(p.out.String(), ""), s) {
			return nil
		}
		return fmt.Errorf("%s has not logged %q", p.name, s)
	})
}

// TestKV_PutAndDeleteReachAgents is the quick start without ZooKeeper: an
// agent's watches on kv:cfg/app.db and kv:cfg/app.> make the dispatcher
// watch the bucket (which herald kv put creates), and every put and delete
// reaches the watches that select the key, with the value on stdin.
func TestKV_PutAndDeleteReachAgents(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	f := newFixture(t)
	f.script("rec.sh", `data=$(cat)
echo "$HERALD_EVENT_TYPE $HERALD_KEY $HERALD_VERSION $data" >> "$DIR/runs-$HERALD_WATCH.log"`)
	f.watchFile("kv.yaml", `
watches:
  - name: db
    on: kv:cfg/app.db
    exec: ["%DIR%/rec.sh"]
    env: {DIR: "%DIR%"}
  - name: app
    on: kv:cfg/app.>
    exec: ["%DIR%/rec.sh"]
    env: {DIR: "%DIR%"}
`)
	out := c.watchOutcomes()
	c.startAgent(agentOpts{name: "web-1", watches: f.watches})
	// The agent's selectors reach the dispatcher, which waits for the
	// bucket.
	kvWaitLog(t, c.disp, "kv bucket does not exist; waiting for it")

	kv := func(stdin string, args ...string) string {
		t.Helper()
		got, err := c.herald(t, stdin, append([]string{"kv"}, args...)...)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	evil := "v1 $(touch " + f.path("pwned") + ")"
	if rev := kv("", "put", "cfg/app.db", evil); rev != "1\n" {
		t.Fatalf("put printed %q, want revision 1", rev)
	}
	for _, w := range []string{"db", "app"} {
		lines := waitLines(t, f.path("runs-"+w+".log"), 1)
		if want := "kv.put cfg/app.db 1 " + evil; lines[0] != want {
			t.Fatalf("watch %s ran with %q, want %q", w, lines[0], want)
		}
	}

	// A key under the prefix only: the app watch runs, db does not. Value
	// from stdin.
	if rev := kv("big", "put", "cfg/app.cache"); rev != "2\n" {
		t.Fatalf("put printed %q", rev)
	}
	if got := waitLines(t, f.path("runs-app.log"), 2)[1]; got != "kv.put cfg/app.cache 2 big" {
		t.Fatalf("app watch ran with %q", got)
	}

	// Delete: kv.deleted with no data reaches both watches of app.db.
	kv("", "del", "cfg/app.db")
	if got := waitLines(t, f.path("runs-db.log"), 2)[1]; got != "kv.deleted cfg/app.db 3 " {
		t.Fatalf("db watch ran with %q after del", got)
	}
	if got := waitLines(t, f.path("runs-app.log"), 3)[2]; got != "kv.deleted cfg/app.db 3 " {
		t.Fatalf("app watch ran with %q after del", got)
	}
	if _, err := c.herald(t, "", "kv", "get", "cfg/app.db"); err == nil || !strings.Contains(err.Error(), "exit status 1") {
		t.Fatalf("get after del: %v, want exit 1", err)
	}

	// Re-created: the value reaches db again.
	kv("", "put", "cfg/app.db", "v2")
	if got := waitLines(t, f.path("runs-db.log"), 3)[2]; got != "kv.put cfg/app.db 4 v2" {
		t.Fatalf("db watch ran with %q after re-create", got)
	}
	out.waitCount(t, "db", events.StatusOK, 3)
	out.waitCount(t, "app", events.StatusOK, 4)
	// Nothing ran twice: one outcome per event and watch.
	if n, m := out.count("db", ""), out.count("app", ""); n != 3 || m != 4 {
		t.Fatalf("outcomes: db %d app %d, want 3 and 4", n, m)
	}
	if got := kv("", "get", "cfg/app.db"); got != "v2" {
		t.Fatalf("get = %q", got)
	}
	if _, err := os.Stat(f.path("pwned")); err == nil {
		t.Fatal("the value reached a shell")
	}

	resp, err := http.Get("http://" + c.http + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"herald_kv_watched_buckets 1", "herald_kv_catchups_total", `herald_dispatcher_events_published_total{source="kv"} 4`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("dispatcher /metrics lacks %q", want)
		}
	}
}

// TestKV_DispatcherRestartCatchesUp: a dispatcher told to watch a bucket
// with --kv-watch is stopped; a put and a delete made meanwhile reach the
// agent once the dispatcher is back, and the keys that did not change do
// not run again.
func TestKV_DispatcherRestartCatchesUp(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	c := startDispatcher(t, data, "127.0.0.1:0", "--kv-watch", "cfg")
	kvWaitLog(t, c.disp, "kv bucket does not exist; waiting for it")
	f := newFixture(t)
	f.script("rec.sh", `data=$(cat)
echo "$HERALD_EVENT_TYPE $HERALD_KEY $data" >> "$DIR/runs.log"`)
	f.watchFile("kv.yaml", `
watches:
  - name: all
    on: kv:cfg/site.>
    exec: ["%DIR%/rec.sh"]
    env: {DIR: "%DIR%"}
    run_on_load: false
`)
	c.startAgent(agentOpts{name: "web-1", watches: f.watches})
	for _, k := range []string{"site.a", "site.b", "site.c"} {
		if _, err := c.herald(t, "", "kv", "put", "cfg/"+k, "1"); err != nil {
			t.Fatal(err)
		}
	}
	waitLines(t, f.path("runs.log"), 3)

	// The dispatcher stops, its embedded NATS with it. The changes are
	// made through a NATS server of the test's own on the same store.
	url := c.url
	if code := c.disp.stop(); code != 0 {
		t.Fatalf("dispatcher exited %d", code)
	}
	srv := testutil.RunNATSWithOptions(t, &server.Options{StoreDir: data, ServerName: "herald-dispatcher"})
	down := &cluster{t: t, url: srv.ClientURL()}
	if _, err := down.herald(t, "", "kv", "put", "cfg/site.a", "2"); err != nil {
		t.Fatal(err)
	}
	if _, err := down.herald(t, "", "kv", "del", "cfg/site.b"); err != nil {
		t.Fatal(err)
	}
	srv.Shutdown()
	srv.WaitForShutdown()
	listen := strings.TrimPrefix(url, "nats://")
	back := startDispatcher(t, data, listen, "--kv-watch", "cfg")
	kvWaitLog(t, back.disp, "kv catch-up done")
	lines := waitLines(t, f.path("runs.log"), 5)
	want := []string{"kv.deleted cfg/site.b ", "kv.put cfg/site.a 2"}
	if got := lines[3:]; !slices.Equal(slices.Sorted(slices.Values(got)), want) {
		t.Fatalf("after restart the agent ran %q, want %q", got, want)
	}
	// site.c did not change: a put made now is the next and only run.
	if _, err := back.herald(t, "", "kv", "put", "cfg/site.c", "2"); err != nil {
		t.Fatal(err)
	}
	lines = waitLines(t, f.path("runs.log"), 6)
	if len(lines) != 6 || lines[5] != "kv.put cfg/site.c 2" {
		t.Fatalf("runs %q", lines)
	}
}
