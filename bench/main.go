// Command bench measures Herald on this machine: it builds the dispatcher
// and agent binaries, starts them as real processes against a fresh
// embedded NATS JetStream store, drives them with events and prints a table
// of latency, throughput and memory figures next to their targets.
//
//	go run ./bench [-scenarios latency1,latency20,throughput,idle,zklat1,zklat20,zkscale,fleet,procs200,rollout20,console] [-n N] [-runs R]
//	go run ./bench -scenarios fleet -agents N [-cluster] [-events 20]
//
// The zk scenarios also start a private ZooKeeper server (Debian's
// zookeeper package, with java) on a free loopback port and drive it with
// a ZooKeeper client.
//
// fleet, procs200, rollout20 and console run only when named in -scenarios. fleet runs
// -agents agents in this process with the real agent code
// (package agent: agent.New, Start, Close), each with its own name, state
// dir and NATS connection; only their action is replaced, by a no-op kind
// that exists only here. Its NATS servers are children of this binary
// (its hidden first argument -nats-server, see natsproc.go), one or with
// -cluster three with routes on loopback and R3 streams, so that their
// memory is read from /proc apart from the agents'. It prints
//
//	fleet agents=N cluster=0|1 up_s=S decided=D p50_ms=X p99_ms=Y server_rss_mb=M
//
// and, with -cluster, restarts the node leading the events stream and
// prints "storm agents=N recovered_s=S decided=D". procs200 starts 200 real
// agent processes and prints "procs agents=200 herald_ms=X shell_ms=Y
// ratio=Z": publish to the last of 200 handlers started, next to this
// process starting the same 200 handler commands itself. rollout20
// starts 20 real agent processes with a watch whose rollout: is max_hosts
// 5 and a 200 ms action, and prints "rollout agents=20 max_hosts=5
// run_ms=200 last_host_ms=X ideal_ms=800 at_once_ms=Y
// overhead_per_host_ms=Z": publish to the last host done, next to the
// ideal 4 waves and to the same action on all 20 at once.
//
// Every scenario run starts its own dispatcher and agents and stops them
// (SIGTERM, then wait) before the next; with -runs above 1 each figure is
// the median of the runs and the spread (min–max) is shown. It knows the
// binaries' flags, the ready file and the "agent consuming events" log
// line, the ZooKeeper source's log lines ("zk: watching", "zk: watches
// set") and event version format, and the wire format from package
// events; it knows nothing of the agent's or dispatcher's insides (fleet
// uses the agent's public API only, so it measures whichever bus model the
// agent has).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/heraldhq/herald/internal/fielderr"
)

// Scenario names.
const (
	scLatency1   = "latency1"
	scLatency20  = "latency20"
	scThroughput = "throughput"
	scIdle       = "idle"
	scZKLat1     = "zklat1"
	scZKLat20    = "zklat20"
	scZKScale    = "zkscale"
	scFleet      = "fleet"
	scProcs      = "procs200"
	scRollout    = "rollout20"
	scConsole    = "console"
	// scStorm labels the storm's figures in the table: it runs within
	// fleet with -cluster.
	scStorm = "storm"
)

var allScenarios = []string{scLatency1, scLatency20, scThroughput, scIdle, scZKLat1, scZKLat20, scZKScale, scFleet, scProcs, scRollout, scConsole}

// defaultScenarios run when -scenarios is not given: fleet and procs200
// run only when named.
var defaultScenarios = []string{scLatency1, scLatency20, scThroughput, scIdle, scZKLat1, scZKLat20, scZKScale}

// ErrInvalidConfig wraps every bad command-line setting.
var ErrInvalidConfig = errors.New("invalid bench config")

// Config is what the command line sets.
type Config struct {
	Scenarios []string
	// N is the number of events the throughput scenario publishes.
	N int
	// Samples and Warmup are the measured and discarded events of latency1
	// and zklat1.
	Samples, Warmup int
	// Samples20 is the number of measured events of latency20 and zklat20
	// (Warmup/2 are discarded first); Agents is how many agents they
	// start, and fleet.
	Samples20, Agents int
	// AgentHeartbeat and AgentVerify, when not 0, are the fleet agents'
	// heartbeat and verify_every (the agent's defaults otherwise).
	AgentHeartbeat, AgentVerify time.Duration
	// Cluster runs fleet on a 3-node NATS cluster with R3 streams, and the
	// storm after its events.
	Cluster bool
	// Events is how many events fleet publishes, and procs200's measured
	// events.
	Events int
	// ZKForceSync is ZooKeeper's forceSync (fsync the transaction log
	// before committing a change) in the zk scenarios.
	ZKForceSync bool
	// EventsPerKey is the dispatcher's streams.events_per_key for the
	// throughput scenario; 0 means N, so every event stays stored.
	EventsPerKey int
	// Stored adds the throughput figure for events stored before the agent
	// starts.
	Stored bool
	// Runs is how many times each scenario runs.
	Runs int
	// Keep leaves the temp dir (binaries, data, logs) in place.
	Keep bool
	// Auth runs the dispatcher with --auth (identities of herald auth
	// init) and every agent with its own credentials.
	Auth bool
	// Bin is a directory holding dispatcher and agent binaries to run
	// instead of building them (e.g. another commit's, side by side).
	Bin string
	// Format is text or markdown.
	Format string
	// CPUProfile is where the bench process writes its CPU profile.
	CPUProfile string
}

// Validate names the first bad field.
func (c Config) Validate() error {
	if len(c.Scenarios) == 0 {
		return fielderr.New(ErrInvalidConfig, "-scenarios", "none given; want some of %s", strings.Join(allScenarios, ","))
	}
	for _, s := range c.Scenarios {
		if !slices.Contains(allScenarios, s) {
			return fielderr.New(ErrInvalidConfig, "-scenarios", "unknown scenario %q; want some of %s", s, strings.Join(allScenarios, ","))
		}
	}
	switch {
	case c.N < 1:
		return fielderr.New(ErrInvalidConfig, "-n", "must be at least 1")
	case c.Samples < 1:
		return fielderr.New(ErrInvalidConfig, "-samples", "must be at least 1")
	case c.Warmup < 0:
		return fielderr.New(ErrInvalidConfig, "-warmup", "must not be negative")
	case c.Samples20 < 1:
		return fielderr.New(ErrInvalidConfig, "-samples20", "must be at least 1")
	case c.Agents < 1:
		return fielderr.New(ErrInvalidConfig, "-agents", "must be at least 1")
	case c.Agents > maxFleetAgents:
		return fielderr.New(ErrInvalidConfig, "-agents", "%d is more than %d", c.Agents, maxFleetAgents)
	case c.Events < 1:
		return fielderr.New(ErrInvalidConfig, "-events", "must be at least 1")
	case c.AgentHeartbeat < 0 || (c.AgentHeartbeat > 0 && c.AgentHeartbeat < 100*time.Millisecond):
		return fielderr.New(ErrInvalidConfig, "-agent-heartbeat", "must be 0 (the default) or at least 100ms")
	case c.AgentVerify < 0:
		return fielderr.New(ErrInvalidConfig, "-agent-verify", "must not be negative")
	case c.Cluster && !slices.Contains(c.Scenarios, scFleet):
		return fielderr.New(ErrInvalidConfig, "-cluster", "only the fleet scenario runs on a cluster; add fleet to -scenarios")
	case c.Auth && slices.Contains(c.Scenarios, scFleet):
		return fielderr.New(ErrInvalidConfig, "-auth", "the fleet scenario's in-process agents run without identities; drop fleet or -auth")
	case c.EventsPerKey < 0:
		return fielderr.New(ErrInvalidConfig, "-events-per-key", "must not be negative")
	case c.Runs < 1:
		return fielderr.New(ErrInvalidConfig, "-runs", "must be at least 1")
	case c.Format != "text" && c.Format != "markdown":
		return fielderr.New(ErrInvalidConfig, "-format", "%q: want text or markdown", c.Format)
	}
	return nil
}

func parseFlags(args []string, stderr io.Writer) (Config, error) {
	c := Config{}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	scen := fs.String("scenarios", strings.Join(defaultScenarios, ","), "comma-separated `list` of scenarios to run (also: fleet, procs200, rollout20, console)")
	fs.IntVar(&c.N, "n", 100000, "events the throughput scenario publishes")
	fs.IntVar(&c.Samples, "samples", 300, "measured events of latency1 and zklat1")
	fs.IntVar(&c.Warmup, "warmup", 20, "warm-up events of latency1 and zklat1 (latency20 and zklat20 use half)")
	fs.IntVar(&c.Samples20, "samples20", 200, "measured events of latency20 and zklat20")
	fs.IntVar(&c.Agents, "agents", 20, "agents started by latency20, zklat20 and fleet")
	fs.DurationVar(&c.AgentHeartbeat, "agent-heartbeat", 0, "fleet: the agents' heartbeat (0: the agent's default, 10s)")
	fs.DurationVar(&c.AgentVerify, "agent-verify", 0, "fleet: the agents' verify_every (0: the agent's default, 10s)")
	fs.BoolVar(&c.Cluster, "cluster", false, "fleet: run on a 3-node NATS cluster with R3 streams, then the storm (restart a node)")
	fs.IntVar(&c.Events, "events", 20, "events fleet publishes one at a time; measured events of procs200 and rollout20")
	fs.BoolVar(&c.ZKForceSync, "zk-force-sync", true, "zk scenarios: ZooKeeper fsyncs its transaction log before committing (its default)")
	fs.IntVar(&c.EventsPerKey, "events-per-key", 0, "dispatcher streams.events_per_key for throughput (0: n, so no event is dropped by the stream)")
	fs.BoolVar(&c.Stored, "stored", true, "throughput: also measure events stored before the agent starts")
	fs.IntVar(&c.Runs, "runs", 1, "run each scenario this many times and report the median")
	fs.BoolVar(&c.Keep, "keep", false, "keep the temp dir with binaries, data and logs")
	fs.BoolVar(&c.Auth, "auth", false, "run the dispatcher with --auth and each agent with its own identity (not fleet)")
	fs.StringVar(&c.Bin, "bin", "", "run the dispatcher and agent binaries in `dir` instead of building them")
	fs.StringVar(&c.Format, "format", "text", "table format: text or markdown")
	fs.StringVar(&c.CPUProfile, "cpuprofile", "", "write the bench process's CPU profile (fleet: the in-process agents) to `file`")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("%w: unexpected argument %q", ErrInvalidConfig, fs.Arg(0))
	}
	for _, s := range strings.Split(*scen, ",") {
		if s = strings.TrimSpace(s); s != "" {
			c.Scenarios = append(c.Scenarios, s)
		}
	}
	return c, c.Validate()
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == natsServerArg {
		os.Exit(serveNATS(os.Args[2:], os.Stdout, os.Stderr))
	}
	if len(os.Args) > 1 && os.Args[1] == fleetWorkerArg {
		os.Exit(serveFleetWorker(os.Args[2:], os.Stdout, os.Stderr))
	}
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	cfg, err := parseFlags(args, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 2
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 2
		}
		defer pprof.StopCPUProfile()
	}
	if err := bench(ctx, cfg, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	return 0
}

// bench builds the binaries, runs the scenarios and prints the table. A
// failed scenario run is reported and the others still run; the error
// then names every failure.
func bench(ctx context.Context, cfg Config, stdout, stderr io.Writer) error {
	m := readMachine()
	m.print(stdout)
	h, err := newHarness(ctx, cfg.Keep, cfg.Bin, stderr)
	if err != nil {
		return err
	}
	defer h.close()
	h.stdout = stdout
	h.auth = cfg.Auth

	var all [][]result
	var failures []error
	for _, sc := range cfg.Scenarios {
		for r := 1; r <= cfg.Runs; r++ {
			if ctx.Err() != nil {
				return errors.Join(append(failures, ctx.Err())...)
			}
			fmt.Fprintf(stderr, "bench: %s run %d/%d\n", sc, r, cfg.Runs)
			res, err := runScenario(ctx, h, cfg, sc)
			if err != nil {
				err = fmt.Errorf("%s run %d: %w", sc, r, err)
				fmt.Fprintln(stderr, "bench:", err)
				failures = append(failures, err)
			}
			all = append(all, res)
			for _, x := range res {
				fmt.Fprintf(stderr, "bench:   %s %s = %s\n", x.scenario, x.metric, x.formatOne())
			}
		}
	}
	fmt.Fprintln(stdout)
	fmt.Fprintf(stdout, "load average at end %s\n\n", loadAverage())
	printTable(stdout, aggregate(all), cfg.Runs, cfg.Format)
	if cfg.Keep {
		fmt.Fprintf(stdout, "\nbinaries, data and logs kept in %s\n", h.tmp)
	}
	return errors.Join(failures...)
}

func runScenario(ctx context.Context, h *harness, cfg Config, sc string) ([]result, error) {
	run, err := h.newRun(sc)
	if err != nil {
		return nil, err
	}
	defer run.stop()
	switch sc {
	case scLatency1:
		return latency1(ctx, run, cfg)
	case scLatency20:
		return latency20(ctx, run, cfg)
	case scThroughput:
		return throughput(ctx, run, cfg)
	case scIdle:
		return idle(ctx, run)
	case scZKLat1:
		return zkLatency(ctx, run, cfg, sc, 1, cfg.Warmup, cfg.Samples)
	case scZKLat20:
		return zkLatency(ctx, run, cfg, sc, cfg.Agents, cfg.Warmup/2, cfg.Samples20)
	case scZKScale:
		return zkScale(ctx, run, cfg)
	case scFleet:
		return fleet(ctx, run, cfg)
	case scProcs:
		return procs(ctx, run, cfg)
	case scRollout:
		return rollout(ctx, run, cfg)
	case scConsole:
		return consoleRender(ctx, run, cfg)
	}
	return nil, fmt.Errorf("unknown scenario %q", sc)
}
