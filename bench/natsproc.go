package main

import (
	"context"
	"fmt"
	"io"
	neturl "net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/heraldhq/herald/internal/bus"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
)

// natsServerArg, as the bench's first argument, makes the process one NATS
// server (see serveNATS) instead of the bench: the fleet scenario runs its
// servers as children of its own binary so that their memory can be read
// from /proc apart from the agents'.
const natsServerArg = "-nats-server"

// natsReadyLine is what a server child prints once it accepts clients.
const natsReadyLine = "nats-server ready"

// Server limits the fleet scenario sets explicitly, so that no default of
// nats-server caps the fleet below what it measures.
const (
	natsMaxConn = 200000
	// streamTimeout bounds creating the streams while a new cluster elects
	// its meta leader; streamAttempt bounds one attempt.
	streamTimeout = time.Minute
	streamAttempt = 5 * time.Second
)

// serveNATS runs one nats-server with JetStream until SIGTERM or SIGINT:
//
//	bench -nats-server NAME CLIENT_PORT CLUSTER_PORT STORE ROUTES
//
// CLUSTER_PORT 0 means no cluster; ROUTES is a comma-separated list of
// nats-route URLs (the cluster's, this server's own included). It returns
// the exit code.
func serveNATS(args []string, stdout, stderr io.Writer) int {
	opts, err := natsServerOptions(args)
	if err != nil {
		fmt.Fprintln(stderr, "bench nats-server:", err)
		return 2
	}
	s, err := server.NewServer(opts)
	if err != nil {
		fmt.Fprintln(stderr, "bench nats-server:", err)
		return 1
	}
	s.ConfigureLogger()
	go s.Start()
	if !s.ReadyForConnections(readyTimeout) {
		fmt.Fprintf(stderr, "bench nats-server: %s not ready within %v\n", opts.ServerName, readyTimeout)
		s.Shutdown()
		return 1
	}
	fmt.Fprintf(stdout, "%s: %s on %s\n", natsReadyLine, opts.ServerName, s.ClientURL())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	s.Shutdown()
	s.WaitForShutdown()
	return 0
}

// natsServerOptions parses serveNATS's arguments.
func natsServerOptions(args []string) (*server.Options, error) {
	if len(args) != 5 {
		return nil, fmt.Errorf("want NAME CLIENT_PORT CLUSTER_PORT STORE ROUTES, got %d arguments", len(args))
	}
	port, err := strconv.Atoi(args[1])
	if err != nil {
		return nil, fmt.Errorf("client port: %w", err)
	}
	cport, err := strconv.Atoi(args[2])
	if err != nil {
		return nil, fmt.Errorf("cluster port: %w", err)
	}
	opts := &server.Options{
		ServerName: args[0], Host: "127.0.0.1", Port: port,
		JetStream: true, StoreDir: args[3], NoSigs: true, MaxConn: natsMaxConn,
		// -1: no cap on consumers per stream from the server's side
		// either; the streams set their own (bus.MaxConsumers).
		JetStreamLimits: server.JSLimitOpts{DefaultMaxConsumers: -1},
	}
	if cport > 0 {
		opts.Cluster = server.ClusterOpts{Name: "herald-bench", Host: "127.0.0.1", Port: cport}
		for _, r := range strings.Split(args[4], ",") {
			u, err := neturl.Parse(r)
			if err != nil || u.Host == "" {
				return nil, fmt.Errorf("route %q: not a URL", r)
			}
			opts.Routes = append(opts.Routes, u)
		}
	}
	return opts, nil
}

// natsProc is one NATS server child process; restart starts it again with
// the same name, ports and store.
type natsProc struct {
	name, store, routes string
	port, cport         int
	logDir              string
	p                   *proc
}

func (n *natsProc) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.port) }

// start runs the server and waits until it accepts clients.
func (n *natsProc) start(ctx context.Context) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("bench executable: %w", err)
	}
	logPath := filepath.Join(n.logDir, fmt.Sprintf("%s-%d.log", n.name, time.Now().UnixNano()))
	p, err := startProc("nats-server "+n.name, self, logPath, natsReadyLine,
		natsServerArg, n.name, strconv.Itoa(n.port), strconv.Itoa(n.cport), n.store, n.routes)
	if err != nil {
		return err
	}
	n.p = p
	select {
	case <-p.log.hit:
		return nil
	case <-p.done:
		return fmt.Errorf("nats-server %s exited before it was ready: %v (log %s)", n.name, p.err, p.logPath)
	case <-time.After(readyTimeout):
		return fmt.Errorf("nats-server %s not ready within %v (log %s)", n.name, readyTimeout, p.logPath)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// stop sends SIGTERM and waits (see stopAll).
func (n *natsProc) stop(stderr io.Writer) {
	if n.p != nil {
		stopAll([]*proc{n.p}, stderr)
		n.p = nil
	}
}

// rssMB is the server's VmRSS in MB (10^6 bytes).
func (n *natsProc) rssMB() (float64, error) {
	if n.p == nil {
		return 0, fmt.Errorf("nats-server %s is not running", n.name)
	}
	kib, err := rssKiB(n.p.cmd.Process.Pid)
	if err != nil {
		return 0, fmt.Errorf("nats-server %s: %w", n.name, err)
	}
	return float64(kib) * 1024 / 1e6, nil
}

// startNATS starts one server, or with cluster three with routes between
// them, each with its store under dir; on an error it stops what it
// started.
func startNATS(ctx context.Context, dir string, cluster bool, stderr io.Writer) ([]*natsProc, error) {
	nodes := 1
	if cluster {
		nodes = 3
	}
	ns := make([]*natsProc, nodes)
	var routes []string
	for i := range ns {
		n := &natsProc{name: fmt.Sprintf("n%d", i+1), store: filepath.Join(dir, fmt.Sprintf("n%d", i+1)), logDir: dir}
		var err error
		if n.port, err = freePort(); err != nil {
			return nil, err
		}
		if cluster {
			if n.cport, err = freePort(); err != nil {
				return nil, err
			}
			routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", n.cport))
		}
		ns[i] = n
	}
	for _, n := range ns {
		n.routes = strings.Join(routes, ",")
		if err := n.start(ctx); err != nil {
			stopNATS(ns, stderr)
			return nil, err
		}
	}
	return ns, nil
}

func stopNATS(ns []*natsProc, stderr io.Writer) {
	for _, n := range ns {
		n.stop(stderr)
	}
}

// natsURLs is the servers' client URLs, comma-separated.
func natsURLs(ns []*natsProc) string {
	urls := make([]string, len(ns))
	for i, n := range ns {
		urls[i] = n.url()
	}
	return strings.Join(urls, ",")
}

// serversRSSMB sums the servers' VmRSS.
func serversRSSMB(ns []*natsProc) (float64, error) {
	var sum float64
	for _, n := range ns {
		v, err := n.rssMB()
		if err != nil {
			return 0, err
		}
		sum += v
	}
	return sum, nil
}

// ensureStreams creates Herald's streams with replicas, retrying while a
// new cluster elects its meta leader.
func ensureStreams(ctx context.Context, js jetstream.JetStream, replicas int) error {
	cfg := bus.DefaultStreamConfig()
	cfg.Replicas = replicas
	var last error
	err := poll(ctx, streamTimeout, func() (bool, error) {
		actx, cancel := context.WithTimeout(ctx, streamAttempt)
		defer cancel()
		last = bus.EnsureStreams(actx, js, cfg)
		return last == nil, nil
	})
	if err != nil {
		return fmt.Errorf("streams (replicas %d): %w (last: %w)", replicas, err, last)
	}
	return nil
}
