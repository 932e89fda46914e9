package zkconn_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/heraldhq/herald/internal/zkconn"
	"github.com/rs/zerolog"
)

func TestConfig_ChrootMapping(t *testing.T) {
	for _, c := range []struct {
		chroot, key, zpath string
	}{
		{"", "/a/b", "/a/b"},
		{"/", "/a", "/a"},
		{"/herald", "/", "/herald"},
		{"/herald/", "/a/b", "/herald/a/b"},
	} {
		cfg := zkconn.Config{Chroot: c.chroot}
		if got := cfg.ZPath(c.key); got != c.zpath {
			t.Errorf("chroot %q: ZPath(%q) = %q, want %q", c.chroot, c.key, got, c.zpath)
		}
		if got, ok := cfg.Key(c.zpath); !ok || got != c.key {
			t.Errorf("chroot %q: Key(%q) = %q, %v, want %q", c.chroot, c.zpath, got, ok, c.key)
		}
	}
	cfg := zkconn.Config{Chroot: "/herald"}
	for _, zpath := range []string{"/other", "/heraldx/a"} {
		if k, ok := cfg.Key(zpath); ok {
			t.Errorf("Key(%q) = %q inside chroot /herald", zpath, k)
		}
	}
}

// Against a real ZooKeeper: a missing znode read with an exists watch is
// watched for its creation, whose notification reaches the inbox; the
// data and children reads then find it, children sorted.
func TestRead_WatchesThroughInbox(t *testing.T) {
	z := testutil.RunZooKeeper(t)
	in := zkconn.NewInbox()
	conn, err := zkconn.Connect(zkconn.Config{Servers: z.Addr()}, zerolog.Nop(), in.Push)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	zkconn.Authenticate(ctx, conn, zkconn.Config{Auth: "digest:u:p"}, zerolog.Nop(), 100*time.Millisecond)

	var got []zk.Event
	waitEvent := func(want func(zk.Event) bool) {
		t.Helper()
		testutil.Eventually(t, 20*time.Second, func() error {
			select {
			case <-in.Signal():
				got = append(got, in.Take()...)
			default:
			}
			if slices.ContainsFunc(got, want) {
				return nil
			}
			return fmt.Errorf("inbox holds %v", got)
		})
	}
	waitEvent(func(ev zk.Event) bool { return ev.State == zk.StateHasSession })

	r, err := zkconn.ReadData(conn, "/n", true, true)
	if err != nil || r.Exists || !r.Armed {
		t.Fatalf("missing znode: %+v, %v; want not existing, watched for its creation", r, err)
	}
	zc := z.Connect(t)
	if _, err := zc.Create("/n", []byte("v1"), 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	waitEvent(func(ev zk.Event) bool { return ev.Type == zk.EventNodeCreated && ev.Path == "/n" })

	for _, c := range []string{"/n/b", "/n/a"} {
		if _, err := zc.Create(c, nil, 0, zk.WorldACL(zk.PermAll)); err != nil {
			t.Fatal(err)
		}
	}
	r, err = zkconn.ReadData(conn, "/n", false, false)
	if err != nil || !r.Exists || r.Armed || string(r.Data) != "v1" {
		t.Fatalf("data: %+v, %v; want v1, no watch", r, err)
	}
	r, err = zkconn.ReadChildren(conn, "/n", true)
	if err != nil || !r.Exists || !r.Armed || fmt.Sprint(r.Children) != "[a b]" {
		t.Fatalf("children: %+v, %v; want [a b] sorted, watched", r, err)
	}
	if r, err := zkconn.ReadChildren(conn, "/none", false); err != nil || r.Exists {
		t.Fatalf("children of a missing znode: %+v, %v", r, err)
	}
	conn.Close()
	if _, err := zkconn.ReadData(conn, "/n", false, false); !zkconn.ConnErr(err) {
		t.Fatalf("read on a closed connection: %v, want a connection error", err)
	}
}
