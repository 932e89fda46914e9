package e2e_test

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/testutil"
)

// TestZK_EnsembleLeaderKilled gives the dispatcher binary a 3-server
// ZooKeeper ensemble and kills its leader twice, with no restart of the
// dispatcher:
//
//   - The first time the dispatcher's connections (through loopback
//     proxies) stay cut until the two servers left have elected a new
//     leader and taken a change: the change can reach the dispatcher only
//     by its catch-up after the reconnect.
//   - The first leader rejoins; the new leader is killed, and the change
//     made right after that election reaches the dispatcher as the
//     network allows (its watch or its catch-up).
//
// Each change is stored once, in order, by the same dispatcher process.
func TestZK_EnsembleLeaderKilled(t *testing.T) {
	t.Parallel()
	e := testutil.RunZooKeeperEnsemble(t, 3)
	zc := e.Connect(t)
	if _, err := zc.Create("/k", []byte("init"), 0, zkOpenACL); err != nil {
		t.Fatal(err)
	}
	var proxies []*testutil.Proxy
	var addrs []string
	for i := range 3 {
		p := testutil.StartProxy(t, e.Server(i).Addr())
		proxies = append(proxies, p)
		addrs = append(addrs, p.Addr())
	}
	c := startDispatcher(t, t.TempDir(), "127.0.0.1:0", "--zk", strings.Join(addrs, ","), "--zk-watch", "/k")
	c.disp.waitLog("zk: watches set")
	stored := collectZK(t, c.js, "/k")
	// An election among JVMs on a loaded machine may take a while.
	const election = time.Minute
	waitStored := func(want string) {
		t.Helper()
		testutil.Eventually(t, election, func() error {
			evs := stored.list()
			if len(evs) == 0 || string(evs[len(evs)-1].Data) != want {
				return fmt.Errorf("%d events stored for /k, the last is not %q", len(evs), want)
			}
			return nil
		})
	}
	set := func(data string) {
		t.Helper()
		// Every server refuses requests until there is a leader again:
		// the first write that succeeds is the first after the election.
		testutil.Eventually(t, election, func() error {
			_, err := zc.Set("/k", []byte(data), -1)
			return err
		})
	}
	set("before")
	waitStored("before")

	first := e.Leader()
	if first < 0 {
		t.Fatal("the ensemble has no leader")
	}
	for _, p := range proxies {
		p.SetDown(true)
	}
	e.Kill(first)
	set("during")
	for _, p := range proxies {
		p.SetDown(false)
	}
	waitStored("during")
	testutil.Eventually(t, wait, func() error {
		if n := zkMetric(t, c, "herald_zk_catchup_events_total"); n < 1 {
			return fmt.Errorf("herald_zk_catchup_events_total %d, want at least 1", n)
		}
		return nil
	})

	e.Start(first)
	second := e.Leader()
	if second < 0 || second == first {
		t.Fatalf("leader %d after killing %d and starting it again", second, first)
	}
	e.Kill(second)
	set("after")
	waitStored("after")
	e.WaitQuorum(second)

	select {
	case <-c.disp.done:
		t.Fatalf("the dispatcher exited: %v", c.disp.err)
	default:
	}
	seen := map[string]bool{}
	var datas []string
	for _, ev := range stored.list() {
		if seen[ev.Version] {
			t.Fatalf("version %s stored twice: %q", ev.Version, datas)
		}
		seen[ev.Version] = true
		datas = append(datas, string(ev.Data))
	}
	if want := []string{"before", "during", "after"}; fmt.Sprint(datas) != fmt.Sprint(want) {
		t.Fatalf("stored %q, want %q", datas, want)
	}
	if n := zkMetric(t, c, "herald_zk_reconnects_total"); n < 2 {
		t.Fatalf("herald_zk_reconnects_total %d, want at least 2", n)
	}
	if n := zkMetric(t, c, "herald_zk_connected"); n != 1 {
		t.Fatalf("herald_zk_connected %d, want 1", n)
	}
}

// zkMetric reads one unlabelled integer series from the dispatcher's
// /metrics; -1 when it is not there.
func zkMetric(t *testing.T, c *cluster, name string) int {
	t.Helper()
	resp, err := http.Get("http://" + c.http + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\d+)$`).FindSubmatch(body)
	if m == nil {
		return -1
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}
