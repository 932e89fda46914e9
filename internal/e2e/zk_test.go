package e2e_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	gozk "github.com/go-zookeeper/zk"
	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

var zkOpenACL = gozk.WorldACL(gozk.PermAll)

// recordScript stands for Twitcher's "git pull": it records which event
// reached which host, with the znode's content from stdin.
const recordScript = `data=$(cat)
echo "$HERALD_EVENT_TYPE $data" >> "$DIR/runs-$HERALD_HOST.log"`

// TestZK_GitHeadReachesEveryAgent is Twitcher's example: every host runs
// "git pull" when /git/head changes. The dispatcher watches /git/head only
// because the agents' watch files ask for it; the znode does not exist when
// they start, is created, changed, then deleted, and every step reaches
// both agents.
func TestZK_GitHeadReachesEveryAgent(t *testing.T) {
	t.Parallel()
	z := testutil.RunZooKeeper(t)
	zc := z.Connect(t)
	if _, err := zc.Create("/git", nil, 0, zkOpenACL); err != nil {
		t.Fatal(err)
	}
	c := startDispatcher(t, t.TempDir(), "127.0.0.1:0", "--zk", z.Addr())
	f := newFixture(t)
	f.script("pull.sh", recordScript)
	f.watchFile("git.yaml", `
watches:
  - name: git-pull
    on: zk:/git/head
    exec: ["%DIR%/pull.sh"]
    env: {DIR: "%DIR%"}
`)
	out := c.watchOutcomes()
	hosts := []string{"web-1", "web-2"}
	for _, h := range hosts {
		c.startAgent(agentOpts{name: h, watches: f.watches})
	}
	waitPlainLog(t, c.disp, "zk: watching key=/git/head")

	steps := []struct {
		do   func() error
		want string
	}{
		{func() error { _, err := zc.Create("/git/head", []byte("abc123"), 0, zkOpenACL); return err }, "zk.created abc123"},
		{func() error { _, err := zc.Set("/git/head", []byte("def456"), -1); return err }, "zk.changed def456"},
		{func() error { return zc.Delete("/git/head", -1) }, "zk.deleted "},
	}
	for i, s := range steps {
		if err := s.do(); err != nil {
			t.Fatal(err)
		}
		out.waitCount(t, "git-pull", events.StatusOK, 2*(i+1))
		for _, h := range hosts {
			lines := waitLines(t, f.path("runs-"+h+".log"), i+1)
			if got := lines[i]; got != s.want {
				t.Fatalf("%s run %d saw %q, want %q (all: %q)", h, i+1, got, s.want, lines)
			}
		}
	}
	for _, o := range out.Snapshot() {
		if o.Key != "/git/head" || !strings.HasPrefix(o.EventType, "zk.") || o.Version == "" {
			t.Fatalf("outcome %+v", o)
		}
	}
	// The source's own series are on the dispatcher's /metrics.
	resp, err := http.Get("http://" + c.http + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"herald_zk_connected 1", "herald_zk_reconnects_total", `herald_dispatcher_events_published_total{source="zk"}`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("dispatcher /metrics lacks %q", want)
		}
	}
}

// twoZKDispatchers starts a private ZooKeeper holding /k, an external NATS
// and two dispatcher processes on both, each watching /k, and returns once
// both watch it.
func twoZKDispatchers(t *testing.T) (*gozk.Conn, *cluster, *cluster) {
	t.Helper()
	z := testutil.RunZooKeeper(t)
	zc := z.Connect(t)
	if _, err := zc.Create("/k", []byte("init"), 0, zkOpenACL); err != nil {
		t.Fatal(err)
	}
	ns := testutil.RunNATS(t)
	flags := []string{"--nats", ns.ClientURL(), "--zk", z.Addr(), "--zk-watch", "/k"}
	a := startDispatcher(t, t.TempDir(), "127.0.0.1:0", flags...)
	b := startDispatcher(t, t.TempDir(), "127.0.0.1:0", flags...)
	a.disp.waitLog("zk: watches set")
	b.disp.waitLog("zk: watches set")
	return zc, a, b
}

// TestZK_TwoDispatchersOneKilled runs two dispatcher processes on one
// ZooKeeper and one external NATS, kills one (SIGKILL) in the middle of a
// burst, and checks that each change was stored once and that the agent's
// last run saw the final value.
func TestZK_TwoDispatchersOneKilled(t *testing.T) {
	t.Parallel()
	zc, a, b := twoZKDispatchers(t)

	f := newFixture(t)
	f.script("rec.sh", `data=$(cat); echo "$data" >> "$DIR/runs.log"`)
	f.watchFile("k.yaml", `
watches:
  - name: k
    on: zk:/k
    exec: ["%DIR%/rec.sh"]
    env: {DIR: "%DIR%"}
    run_on_load: false
`)
	b.startAgent(agentOpts{name: "host-1", watches: f.watches})

	stored := collectZK(t, b.js, "/k")
	const n = 400
	for i := range n {
		if i == n/2 {
			a.disp.kill()
		}
		if _, err := zc.Set("/k", []byte(strconv.Itoa(i)), -1); err != nil {
			t.Fatal(err)
		}
	}
	final := strconv.Itoa(n - 1)
	testutil.Eventually(t, wait, func() error {
		runs := readLines(t, f.path("runs.log"))
		if len(runs) == 0 || runs[len(runs)-1] != final {
			return fmt.Errorf("last run saw %v, want %s", tailOf(runs), final)
		}
		return nil
	})
	var evs []events.Event
	testutil.Eventually(t, wait, func() error {
		evs = stored.list()
		if len(evs) == 0 || string(evs[len(evs)-1].Data) != final {
			return fmt.Errorf("%d events stored, the last is not %s", len(evs), final)
		}
		return nil
	})
	seen := map[string]bool{}
	for _, e := range evs {
		if seen[e.Version] {
			t.Fatalf("version %s stored twice", e.Version)
		}
		seen[e.Version] = true
	}
	t.Logf("%d sets, %d events stored", n, len(evs))
}

var ansiRe = regexp.MustCompile("\x1b\\[[0-9;]*m")

// waitPlainLog is waitLog on the console log without its colours.
func waitPlainLog(t *testing.T, p *proc, s string) {
	t.Helper()
	testutil.Eventually(t, wait, func() error {
		if strings.Contains(ansiRe.ReplaceAllString(p.out.String(), ""), s) {
			return nil
		}
		return fmt.Errorf("%s has not logged %q", p.name, s)
	})
}

func tailOf(s []string) []string {
	if len(s) > 3 {
		return s[len(s)-3:]
	}
	return s
}

// zkEvents collects the data events stored for one key from now on.
type zkEvents struct {
	mu  sync.Mutex
	evs []events.Event
}

func (z *zkEvents) list() []events.Event {
	z.mu.Lock()
	defer z.mu.Unlock()
	return append([]events.Event(nil), z.evs...)
}

func collectZK(t *testing.T, js jetstream.JetStream, key string) *zkEvents {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	var filters []string
	for _, typ := range []string{"zk.created", "zk.changed", "zk.deleted"} {
		filters = append(filters, events.EventSubject(typ, key))
	}
	cons, err := js.OrderedConsumer(ctx, events.EventsStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: filters, DeliverPolicy: jetstream.DeliverNewPolicy,
	})
	if err != nil {
		t.Fatal(err)
	}
	z := &zkEvents{}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		e, err := events.FromMsg(&nats.Msg{Subject: m.Subject(), Header: m.Headers(), Data: m.Data()})
		if err != nil {
			t.Errorf("stored event: %v", err)
			return
		}
		z.mu.Lock()
		z.evs = append(z.evs, e)
		z.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cc.Stop)
	return z
}
