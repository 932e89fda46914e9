package testutil_test

import (
	"testing"

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
