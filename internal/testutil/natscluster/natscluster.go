// Package natscluster starts a NATS cluster of in-process nats-servers for
// tests (routes on loopback, JetStream on each, stores in the test's temp
// dir) whose nodes can be killed and restarted on the same ports and
// store. It knows nats-server's options and nothing of Herald.
package natscluster

import (
	"fmt"
	"github.com/heraldhq/herald/internal/testutil"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// clusterReadyTimeout bounds how long a cluster may take to elect its
// JetStream meta leader and have every running node current, on a loaded
// 2-core machine (under -race).
const clusterReadyTimeout = 60 * time.Second

// Cluster is n in-process nats-servers routed to each other on
// loopback, JetStream on each with its own store in tb.TempDir(). Every
// node's client and route ports are chosen once, up front, so that a node
// stopped with Kill comes back with Restart on the same ports and store and
// rejoins; clients given URLs() reconnect to it by themselves.
type Cluster struct {
	tb     testing.TB
	name   string
	client []int
	route  []int
	store  []string

	mu      sync.Mutex
	servers []*server.Server // nil while killed
}

// Run starts an n-node cluster and returns once JetStream has
// elected its meta leader with every node a current peer; the nodes shut
// down when the test ends. Streams created on it may have up to n
// replicas.
func Run(tb testing.TB, n int) *Cluster {
	tb.Helper()
	c := &Cluster{tb: tb, name: "herald-test", servers: make([]*server.Server, n)}
	tb.Cleanup(func() {
		for i := range n {
			c.Kill(i)
		}
	})
	// A port chosen free may be taken by another test before the node
	// listens on it: then the whole cluster starts again on new ports.
	for attempt := 1; ; attempt++ {
		c.client, c.route, c.store = nil, nil, nil
		for range n {
			c.client = append(c.client, testutil.FreePort(tb))
			c.route = append(c.route, testutil.FreePort(tb))
			c.store = append(c.store, tb.TempDir())
		}
		var err error
		for i := range n {
			if err = c.startNode(i); err != nil {
				break
			}
		}
		if err == nil {
			break
		}
		for i := range n {
			c.Kill(i)
		}
		if attempt == 3 {
			tb.Fatal(err)
		}
	}
	c.WaitReady()
	return c
}

// options are node i's options, fresh for every start (the server fills
// in the ones it is given).
func (c *Cluster) options(i int) *server.Options {
	var routes []string
	for _, p := range c.route {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	return &server.Options{
		ServerName: fmt.Sprintf("n%d", i+1),
		Host:       "127.0.0.1",
		Port:       c.client[i],
		JetStream:  true,
		StoreDir:   c.store[i],
		NoLog:      true,
		NoSigs:     true,
		Cluster: server.ClusterOpts{
			Name: c.name,
			Host: "127.0.0.1",
			Port: c.route[i],
		},
		Routes: server.RoutesFromStr(strings.Join(routes, ",")),
	}
}

func (c *Cluster) start(i int) {
	c.tb.Helper()
	if err := c.startNode(i); err != nil {
		c.tb.Fatal(err)
	}
}

// startNode starts node i on its ports and store.
func (c *Cluster) startNode(i int) error {
	s, err := server.NewServer(c.options(i))
	if err != nil {
		return fmt.Errorf("nats cluster node %d: %w", i, err)
	}
	go s.Start()
	if !s.ReadyForConnections(20 * time.Second) {
		s.Shutdown()
		return fmt.Errorf("nats cluster node %d not ready on port %d", i, c.client[i])
	}
	c.mu.Lock()
	c.servers[i] = s
	c.mu.Unlock()
	return nil
}

// Servers are the nodes by index; a killed node is nil.
func (c *Cluster) Servers() []*server.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*server.Server(nil), c.servers...)
}

// URLs is every node's client URL joined by commas, as --nats takes them;
// it stays the same across Kill and Restart.
func (c *Cluster) URLs() string {
	var urls []string
	for _, p := range c.client {
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	return strings.Join(urls, ",")
}

// URL is node i's client URL.
func (c *Cluster) URL(i int) string { return fmt.Sprintf("nats://127.0.0.1:%d", c.client[i]) }

// Kill shuts node i down (its store is kept for Restart): its clients and
// routes drop at once, as when the process dies, but in process it is a
// clean shutdown, not a SIGKILL. Killing a killed node does nothing.
func (c *Cluster) Kill(i int) {
	c.mu.Lock()
	s := c.servers[i]
	c.servers[i] = nil
	c.mu.Unlock()
	if s != nil {
		s.Shutdown()
		s.WaitForShutdown()
	}
}

// Restart starts killed node i again on its ports and store, and returns
// once it has rejoined: a meta leader is elected and every running node,
// this one too, is current.
func (c *Cluster) Restart(i int) {
	c.tb.Helper()
	c.mu.Lock()
	running := c.servers[i] != nil
	c.mu.Unlock()
	if running {
		c.tb.Fatalf("nats cluster node %d is running", i)
	}
	c.start(i)
	c.WaitReady()
}

// Leader is the index of the node that leads JetStream's meta group, or -1
// while there is none.
func (c *Cluster) Leader() int {
	for i, s := range c.Servers() {
		if s != nil && s.JetStreamIsLeader() {
			return i
		}
	}
	return -1
}

// StreamLeader is the index of the node that leads stream (in the default
// account), or -1 while it has none.
func (c *Cluster) StreamLeader(stream string) int {
	for i, s := range c.Servers() {
		if s != nil && s.JetStreamIsStreamLeader(server.DEFAULT_GLOBAL_ACCOUNT, stream) {
			return i
		}
	}
	return -1
}

// WaitReady polls until JetStream has a meta leader that sees every
// running node online and every running node is current, and fails the
// test if that takes longer than a minute.
func (c *Cluster) WaitReady() {
	c.tb.Helper()
	testutil.Eventually(c.tb, clusterReadyTimeout, func() error {
		servers := c.Servers()
		l := -1
		for i, s := range servers {
			if s != nil && s.JetStreamIsLeader() {
				l = i
			}
		}
		if l < 0 {
			return fmt.Errorf("no JetStream meta leader")
		}
		running := 0
		for i, s := range servers {
			if s == nil {
				continue
			}
			running++
			if !s.JetStreamIsCurrent() {
				return fmt.Errorf("node n%d is not current", i+1)
			}
		}
		if peers := servers[l].JetStreamClusterPeers(); len(peers) != running {
			return fmt.Errorf("meta leader n%d sees %d peers online, want %d", l+1, len(peers), running)
		}
		return nil
	})
}
