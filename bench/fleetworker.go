package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// fleetWorkerArg, as the bench's first argument, makes the process hold a
// share of the fleet's agents:
//
//	bench -fleet-worker DIR URLS FIRST COUNT HEARTBEAT VERIFY
//
// It starts agents FIRST+1 .. FIRST+COUNT, prints "up NAME UNIX_NANOS" for
// each once it consumes, and closes them all on SIGTERM. One process has
// file descriptors for fleetPerProcess agents (4 each; the hard limit here
// is 20,000), so a larger fleet is spread over several.
const fleetWorkerArg = "-fleet-worker"

// fleetPerProcess is how many agents one bench process holds.
const fleetPerProcess = 4000

// serveFleetWorker is the worker's main.
func serveFleetWorker(args []string, stdout, stderr io.Writer) int {
	if len(args) != 6 {
		fmt.Fprintln(stderr, "usage: bench -fleet-worker DIR URLS FIRST COUNT HEARTBEAT VERIFY")
		return 2
	}
	first, err1 := strconv.Atoi(args[2])
	count, err2 := strconv.Atoi(args[3])
	hb, err3 := time.ParseDuration(args[4])
	vf, err4 := time.ParseDuration(args[5])
	if err1 != nil || err2 != nil || count < 1 || err3 != nil || err4 != nil {
		fmt.Fprintln(stderr, "bench -fleet-worker: FIRST and COUNT must be numbers, COUNT at least 1, HEARTBEAT and VERIFY durations")
		return 2
	}
	if err := raiseNoFile(uint64(fdsBase + fdsPerAgent*count)); err != nil {
		fmt.Fprintln(stderr, "bench -fleet-worker:", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	var mu sync.Mutex
	up := newFleetUp(count)
	up.onMark = func(host string, at time.Time) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(stdout, "up %s %d\n", host, at.UnixNano())
	}
	f, err := newFleetAgents(args[0], args[1], first, count, up, fleetTuning{heartbeat: hb, verify: vf})
	if err != nil {
		fmt.Fprintln(stderr, "bench -fleet-worker:", err)
		return 1
	}
	defer f.close(stderr)
	if err := f.start(ctx); err != nil {
		fmt.Fprintln(stderr, "bench -fleet-worker:", err)
	}
	<-ctx.Done()
	return 0
}

// fleetWorker is one worker process of the bench.
type fleetWorker struct {
	cmd  *exec.Cmd
	done chan struct{} // its stdout is read to the end
}

// startFleetWorker starts a worker for count agents from first and marks
// each on up as the worker reports it.
func startFleetWorker(dir, urls string, first, count int, up *fleetUp, tune fleetTuning, stderr io.Writer) (*fleetWorker, error) {
	cmd := exec.Command(os.Args[0], fleetWorkerArg, dir, urls, strconv.Itoa(first), strconv.Itoa(count), tune.heartbeat.String(), tune.verify.String())
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("fleet worker: %w", err)
	}
	w := &fleetWorker{cmd: cmd, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) != 3 || f[0] != "up" {
				continue
			}
			if ns, err := strconv.ParseInt(f[2], 10, 64); err == nil {
				up.mark(f[1], time.Unix(0, ns))
			}
		}
	}()
	return w, nil
}

// stopFleetWorkers sends SIGTERM to every worker (they close their agents)
// and waits for them.
func stopFleetWorkers(ws []*fleetWorker, stderr io.Writer) {
	for _, w := range ws {
		_ = w.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, w := range ws {
		<-w.done
		if err := w.cmd.Wait(); err != nil {
			fmt.Fprintf(stderr, "bench: fleet worker: %v\n", err)
		}
	}
}
