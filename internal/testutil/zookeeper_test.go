package testutil_test

import (
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/heraldhq/herald/internal/testutil"
)

func TestRunZooKeeper_RestartKeepsData(t *testing.T) {
	z := testutil.RunZooKeeper(t)
	c := z.Connect(t)
	if _, err := c.Create("/keep", []byte("v"), 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	addr := z.Addr()
	z.Stop()
	if ok, _ := z.FourLetter("ruok"); ok != "" {
		t.Fatalf("stopped server answered %q", ok)
	}
	z.Start()
	if z.Addr() != addr {
		t.Fatalf("address changed: %s -> %s", addr, z.Addr())
	}
	data, _, err := z.Connect(t).Get("/keep")
	if err != nil || string(data) != "v" {
		t.Fatalf("after restart: %q, %v", data, err)
	}
	if out, err := z.FourLetter("ruok"); err != nil || out != "imok\n" {
		t.Fatalf("ruok: %q, %v", out, err)
	}
}

// TestRunZooKeeperEnsemble_LeaderKilled kills the leader of a 3-server
// ensemble: the other two elect a new one and keep serving the data, and
// the killed server rejoins as a follower with what changed meanwhile.
func TestRunZooKeeperEnsemble_LeaderKilled(t *testing.T) {
	t.Parallel()
	e := testutil.RunZooKeeperEnsemble(t, 3)
	if n := strings.Count(e.Servers(), ","); n != 2 {
		t.Fatalf("connect string %q", e.Servers())
	}
	c := e.Connect(t)
	if _, err := c.Create("/keep", []byte("v1"), 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	old := e.Leader()
	if old < 0 {
		t.Fatal("no leader once the ensemble serves")
	}
	e.Kill(old)
	e.WaitQuorum(old)
	if l := e.Leader(); l < 0 || l == old {
		t.Fatalf("leader %d after killing %d", l, old)
	}
	testutil.Eventually(t, 30*time.Second, func() error {
		_, err := c.Set("/keep", []byte("v2"), -1)
		return err
	})

	e.Start(old)
	if l := e.Leader(); l == old {
		t.Fatalf("the restarted server %d leads again", old)
	}
	// A client of the restarted server alone reads the change it missed.
	data, _, err := e.Server(old).Connect(t).Get("/keep")
	if err != nil || string(data) != "v2" {
		t.Fatalf("restarted server: %q, %v", data, err)
	}
}
