// Command busmodel is the prototype behind the bus decision in
// docs/ARCHITECTURE.md ("The bus"). It measures candidate ways for N
// agents to receive Herald's events, side by side on this machine, with
// the NATS servers in their own processes so that their memory and CPU
// can be read from /proc:
//
//	go run ./bench/busmodel -models durable,ordered,republish -agents 1000,5000 [-cluster] [-events 20]
//
// Models:
//   - durable: one durable pull consumer per agent (Herald before issue 9).
//   - ordered: one ordered (ephemeral, memory, R1) consumer per agent, as a
//     KV watch or an agent-side cursor read through a consumer would have.
//   - republish: the stream republishes every stored event on a core
//     subject; each agent holds one core subscription and no consumer.
//
// For each it prints one line: setup time, fan-out p50/p99 (publish to the
// last agent's receipt), server RSS and CPU per agent and per event, and
// the time until every agent has received an event published after the
// server (or, with -cluster, the node leading the stream) restarted. It
// knows nothing of Herald's agent: it is a measuring prototype only.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	neturl "net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"
)

const (
	stream  = "PROTO_EVENTS"
	subject = "herald.event.bench"
	live    = "herald.live"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-serve" {
		serve(os.Args[2:])
		return
	}
	models := flag.String("models", "durable,ordered,republish", "comma-separated models")
	agents := flag.String("agents", "1000", "comma-separated agent counts")
	nEvents := flag.Int("events", 20, "events per run")
	cluster := flag.Bool("cluster", false, "3-node cluster, R3 stream")
	restart := flag.Bool("restart", true, "measure a server restart")
	flag.Parse()
	for _, ns := range strings.Split(*agents, ",") {
		n, err := strconv.Atoi(ns)
		if err != nil {
			fmt.Fprintln(os.Stderr, "agents:", err)
			os.Exit(2)
		}
		for _, m := range strings.Split(*models, ",") {
			r, err := runModel(m, n, *nEvents, *cluster, *restart)
			if err != nil {
				fmt.Printf("model=%s agents=%d cluster=%v error=%q\n", m, n, *cluster, err)
				continue
			}
			fmt.Println(r)
		}
	}
}

// serve runs one nats-server: -serve NAME CLIENT_PORT CLUSTER_PORT STORE ROUTES
func serve(args []string) {
	name, store := args[0], args[3]
	port, _ := strconv.Atoi(args[1])
	cport, _ := strconv.Atoi(args[2])
	opts := &server.Options{
		ServerName: name, Host: "127.0.0.1", Port: port,
		JetStream: true, StoreDir: store, NoSigs: true,
		JetStreamLimits: server.JSLimitOpts{DefaultMaxConsumers: -1},
	}
	if cport > 0 {
		opts.Cluster = server.ClusterOpts{Name: "proto", Host: "127.0.0.1", Port: cport}
		for _, r := range strings.Split(args[4], ",") {
			u, _ := neturl.Parse(r)
			opts.Routes = append(opts.Routes, u)
		}
	}
	s, err := server.NewServer(opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	go s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		os.Exit(1)
	}
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
	<-c
	s.Shutdown()
	s.WaitForShutdown()
}

type srv struct {
	name, store string
	port, cport int
	routes      string
	cmd         *exec.Cmd
}

func (s *srv) start() error {
	s.cmd = exec.Command(os.Args[0], "-serve", s.name, strconv.Itoa(s.port), strconv.Itoa(s.cport), s.store, s.routes)
	s.cmd.Stderr = os.Stderr
	if err := s.cmd.Start(); err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", s.port)); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond) // waiting for a child process's port: nothing to poll on but the port
	}
	return errors.New("server did not listen")
}

func (s *srv) stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	_ = s.cmd.Wait()
	s.cmd = nil
}

func (s *srv) rssMB() float64 { return procKB(s.cmd.Process.Pid, "VmRSS") / 1024 }

func (s *srv) cpuS() float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b)[strings.LastIndexByte(string(b), ')')+2:])
	u, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (u + st) / 100
}

func procKB(pid int, field string) float64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, field+":") {
			v, _ := strconv.ParseFloat(strings.Fields(l)[1], 64)
			return v
		}
	}
	return 0
}

func freePort() int {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

type result struct {
	model            string
	agents           int
	cluster          bool
	setup            time.Duration
	p50, p99         time.Duration
	received         int64
	want             int64
	rssMB, idleRSSMB float64
	cpuPerEvent      float64
	restart          time.Duration
	restartErr       error
}

func (r result) String() string {
	rs := "-"
	if r.restart > 0 {
		rs = fmt.Sprintf("%.1f", r.restart.Seconds())
	}
	if r.restartErr != nil {
		rs = fmt.Sprintf("%q", r.restartErr.Error())
	}
	return fmt.Sprintf("model=%s agents=%d cluster=%v setup_s=%.1f p50_ms=%.1f p99_ms=%.1f got=%d/%d server_rss_mb=%.0f kb_per_agent=%.1f cpu_ms_per_event=%.1f restart_s=%s",
		r.model, r.agents, r.cluster, r.setup.Seconds(), ms(r.p50), ms(r.p99), r.received, r.want, r.rssMB,
		(r.rssMB-r.idleRSSMB)*1024/float64(r.agents), r.cpuPerEvent*1000, rs)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// agentConn is one simulated agent: its own connection and receipt log.
type agentConn struct {
	nc   *nats.Conn
	stop func()
}

func runModel(model string, n, nEvents int, cluster, doRestart bool) (res result, err error) {
	res = result{model: model, agents: n, cluster: cluster}
	dir, err := os.MkdirTemp("", "busmodel-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	nodes := 1
	if cluster {
		nodes = 3
	}
	servers := make([]*srv, nodes)
	var routes []string
	for i := range servers {
		servers[i] = &srv{name: fmt.Sprintf("n%d", i+1), store: filepath.Join(dir, fmt.Sprint(i)), port: freePort()}
		if cluster {
			servers[i].cport = freePort()
			routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", servers[i].cport))
		}
	}
	for _, s := range servers {
		s.routes = strings.Join(routes, ",")
		if err := s.start(); err != nil {
			return res, err
		}
	}
	defer func() {
		for _, s := range servers {
			s.stop()
		}
	}()
	var urls []string
	for _, s := range servers {
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", s.port))
	}
	pub, err := nats.Connect(strings.Join(urls, ","), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		return res, err
	}
	defer pub.Close()
	js, _ := jetstream.New(pub)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	sc := jetstream.StreamConfig{
		Name: stream, Subjects: []string{subject + ".>"}, Storage: jetstream.FileStorage,
		MaxMsgsPerSubject: 100, Replicas: nodes, AllowDirect: true, MaxConsumers: -1,
	}
	if model == "republish" {
		sc.RePublish = &jetstream.RePublish{Source: "herald.event.>", Destination: live + ".>"}
	}
	for deadline := time.Now().Add(60 * time.Second); ; {
		actx, acancel := context.WithTimeout(ctx, 5*time.Second)
		_, err = js.CreateStream(actx, sc)
		acancel()
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond) // the cluster elects its meta leader
	}
	if err != nil {
		return res, fmt.Errorf("stream: %w", err)
	}
	sumRSS := func() (v float64) {
		for _, s := range servers {
			v += s.rssMB()
		}
		return v
	}
	sumCPU := func() (v float64) {
		for _, s := range servers {
			v += s.cpuS()
		}
		return v
	}
	res.idleRSSMB = sumRSS()

	// got[e] counts agents that received event e; first receipt per agent
	// per event only (a redelivery is not a second receipt).
	const maxEvents = 64
	var got [maxEvents]atomic.Int64
	var last [maxEvents]atomic.Int64 // unix nanos of the latest receipt
	seen := make([][maxEvents]atomic.Bool, n)
	onMsg := func(a int, hdr nats.Header) {
		e, err := strconv.Atoi(hdr.Get("E"))
		if err != nil || e < 0 || e >= maxEvents {
			return
		}
		if seen[a][e].Swap(true) {
			return
		}
		got[e].Add(1)
		now := time.Now().UnixNano()
		for {
			l := last[e].Load()
			if now <= l || last[e].CompareAndSwap(l, now) {
				break
			}
		}
	}

	conns := make([]*agentConn, n)
	start := time.Now()
	var wg sync.WaitGroup
	var setupErr atomic.Value
	sem := make(chan struct{}, 32)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ac, err := newAgent(ctx, model, i, urls[i%len(urls)], strings.Join(urls, ","), onMsg)
			if err != nil {
				setupErr.Store(err)
				return
			}
			conns[i] = ac
		}()
	}
	wg.Wait()
	defer func() {
		var cwg sync.WaitGroup
		for _, c := range conns {
			if c != nil {
				cwg.Add(1)
				go func() { defer cwg.Done(); c.stop() }()
			}
		}
		cwg.Wait()
	}()
	if e, ok := setupErr.Load().(error); ok {
		return res, fmt.Errorf("setup: %w", e)
	}
	res.setup = time.Since(start)
	if model == "republish" {
		// Subscriptions travel to the server (and its routes) asynchronously.
		for _, c := range conns {
			_ = c.nc.Flush()
		}
	}
	res.rssMB = sumRSS()

	publish := func(e int) (time.Time, error) {
		m := nats.NewMsg(fmt.Sprintf("%s.k%d", subject, e%4))
		m.Header.Set("E", strconv.Itoa(e))
		m.Data = []byte(`{"specversion":"1.0","type":"bench","id":"x"}`)
		t0 := time.Now()
		for {
			pctx, pc := context.WithTimeout(ctx, 5*time.Second)
			_, err := js.PublishMsg(pctx, m)
			pc()
			if err == nil {
				return t0, nil
			}
			if ctx.Err() != nil {
				return t0, err
			}
		}
	}
	waitAll := func(e int, within time.Duration) bool {
		deadline := time.Now().Add(within)
		for time.Now().Before(deadline) {
			if got[e].Load() >= int64(n) {
				return true
			}
			time.Sleep(2 * time.Millisecond) // polling a counter the agents' goroutines raise
		}
		return false
	}
	var lats []time.Duration
	cpu0 := sumCPU()
	for e := range nEvents {
		t0, err := publish(e)
		if err != nil {
			return res, err
		}
		waitAll(e, 30*time.Second)
		res.received += got[e].Load()
		if l := last[e].Load(); l > 0 && got[e].Load() == int64(n) {
			lats = append(lats, time.Unix(0, l).Sub(t0))
		} else {
			lats = append(lats, 30*time.Second)
		}
	}
	res.cpuPerEvent = (sumCPU() - cpu0) / float64(nEvents)
	res.want = int64(n * nEvents)
	slices.Sort(lats)
	res.p50 = lats[len(lats)/2]
	res.p99 = lats[min(len(lats)-1, (len(lats)*99+99)/100-1)]
	if !doRestart || nEvents+1 >= maxEvents {
		return res, nil
	}
	// Restart: one server (the stream leader on a cluster) stops and
	// starts again with its store; then an event is published and we wait
	// for every agent to have it.
	victim := servers[0]
	if cluster {
		if info, err := js.Stream(ctx, stream); err == nil {
			leader := info.CachedInfo().Cluster.Leader
			for _, s := range servers {
				if s.name == leader {
					victim = s
				}
			}
		}
	}
	t0 := time.Now()
	victim.stop()
	if err := victim.start(); err != nil {
		res.restartErr = err
		return res, nil
	}
	e := nEvents
	if _, err := publish(e); err != nil {
		res.restartErr = err
		return res, nil
	}
	if !waitAll(e, 120*time.Second) {
		res.restartErr = fmt.Errorf("%d/%d agents after 120s", got[e].Load(), n)
		return res, nil
	}
	res.restart = time.Since(t0)
	return res, nil
}

func newAgent(ctx context.Context, model string, i int, url, all string, onMsg func(int, nats.Header)) (*agentConn, error) {
	nc, err := nats.Connect(url+","+all, nats.DontRandomize(), nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond),
		nats.ReconnectJitter(500*time.Millisecond, time.Second), nats.Name(fmt.Sprintf("agent-%d", i)))
	if err != nil {
		return nil, err
	}
	ac := &agentConn{nc: nc, stop: nc.Close}
	switch model {
	case "republish":
		// The agent's cursor is the highest stream sequence it has seen;
		// after a reconnect it reads what it missed with batched direct
		// gets, which need no consumer on the server.
		var cursor atomic.Uint64
		see := func(seq uint64) {
			for {
				c := cursor.Load()
				if seq <= c || cursor.CompareAndSwap(c, seq) {
					return
				}
			}
		}
		js, _ := jetstream.New(nc)
		catchUp := func() {
			for ctx.Err() == nil {
				from := cursor.Load() + 1
				msgs, err := jetstreamext.GetBatch(ctx, js, stream, 256, jetstreamext.GetBatchSeq(from), jetstreamext.GetBatchSubject(subject+".>"))
				if err != nil {
					time.Sleep(250 * time.Millisecond) // retry while the stream elects a leader
					continue
				}
				n := 0
				for m, err := range msgs {
					if err != nil {
						break
					}
					n++
					onMsg(i, m.Header)
					see(m.Sequence)
				}
				if n < 256 {
					return
				}
			}
		}
		nc.SetReconnectHandler(func(*nats.Conn) { go catchUp() })
		if _, err := nc.Subscribe(live+".bench.>", func(m *nats.Msg) {
			if seq, err := strconv.ParseUint(m.Header.Get(jetstream.SequenceHeader), 10, 64); err == nil {
				see(seq)
			}
			onMsg(i, m.Header)
		}); err != nil {
			nc.Close()
			return nil, err
		}
	case "durable", "ordered":
		js, _ := jetstream.New(nc)
		var cons jetstream.Consumer
		if model == "durable" {
			cons, err = js.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{
				Durable: fmt.Sprintf("agent-%d", i), FilterSubject: subject + ".>",
				DeliverPolicy: jetstream.DeliverNewPolicy, AckPolicy: jetstream.AckExplicitPolicy,
				AckWait: 30 * time.Second, MaxDeliver: -1,
			})
		} else {
			cons, err = js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{
				FilterSubjects: []string{subject + ".>"}, DeliverPolicy: jetstream.DeliverNewPolicy,
			})
		}
		if err != nil {
			nc.Close()
			return nil, err
		}
		cc, err := cons.Consume(func(m jetstream.Msg) {
			onMsg(i, m.Headers())
			if model == "durable" {
				_ = m.Ack()
			}
		}, jetstream.PullMaxMessages(64))
		if err != nil {
			nc.Close()
			return nil, err
		}
		ac.stop = func() { cc.Stop(); nc.Close() }
	default:
		nc.Close()
		return nil, fmt.Errorf("unknown model %q", model)
	}
	return ac, nil
}
