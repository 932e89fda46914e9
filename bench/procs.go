package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/heraldhq/herald/events"
)

const (
	// procsAgents is how many agent processes procs200 starts.
	procsAgents = 200
	// procsWarmup events are discarded first (page cache, first runs).
	procsWarmup = 2
	// startedLine is the handler: it writes the time it started, in Unix
	// nanoseconds, to the file named after it.
	startedLine = "date +%s%N > "
)

// targetProcsRatio is issue 9's: herald at most 1.2 times the shell.
var targetProcsRatio = &target{op: "<=", value: 1.2, unit: "x"}

// procs measures, per event, the time from publishing to the last of 200
// real agent processes' handlers starting, next to the time this process
// takes to start the same 200 handler commands concurrently itself. Both
// handlers are sh -c 'date +%s%N > FILE'; a sample is the newest time
// written minus when the event was published (or the shell baseline's
// first start).
func procs(ctx context.Context, r *benchRun, cfg Config) ([]result, error) {
	if err := r.startDispatcher(ctx, 0, ""); err != nil {
		return nil, err
	}
	files := make([]string, procsAgents)
	specs := make([]agentSpec, procsAgents)
	for i := range specs {
		name := fmt.Sprintf("bench-proc-%03d", i+1)
		files[i] = filepath.Join(r.dir, name, "started")
		w := fmt.Sprintf(`watches:
  - name: procs
    on: event:bench.procs
    exec: ["sh", "-c", %q]
    run_mode: queue
    run_on_load: false
`, startedLine+files[i])
		var err error
		if specs[i], err = r.newAgentSpec(name, w); err != nil {
			return nil, err
		}
	}
	if _, err := r.startAgents(ctx, specs...); err != nil {
		return nil, err
	}
	ch, err := r.outcomeChan()
	if err != nil {
		return nil, err
	}
	shellFiles := make([]string, procsAgents)
	for i := range shellFiles {
		shellFiles[i] = filepath.Join(r.dir, "shell", fmt.Sprintf("%03d", i+1))
	}
	if err := os.MkdirAll(filepath.Join(r.dir, "shell"), 0o755); err != nil {
		return nil, fmt.Errorf("shell dir: %w", err)
	}
	var herald, shell []float64
	for i := range procsWarmup + cfg.Events {
		if err := removeAll(files); err != nil {
			return nil, err
		}
		e := events.New("bench", "bench.procs", "/bench/procs", nil)
		if _, _, err := r.publishAndWait(ctx, ch, e, procsAgents); err != nil {
			return nil, fmt.Errorf("event %d: %w", i+1, err)
		}
		h, err := lastStarted(files)
		if err != nil {
			return nil, fmt.Errorf("event %d: %w", i+1, err)
		}
		s, err := shellStart(ctx, shellFiles)
		if err != nil {
			return nil, fmt.Errorf("shell %d: %w", i+1, err)
		}
		if i < procsWarmup {
			continue
		}
		herald = append(herald, ms(h.Sub(e.Time)))
		shell = append(shell, s)
	}
	hm, sm := median(herald), median(shell)
	ratio := hm / sm
	r.printf("procs agents=%d herald_ms=%.0f shell_ms=%.0f ratio=%.2f\n", procsAgents, hm, sm, ratio)
	sc := scProcs
	return []result{
		num(sc, "publish→last of 200 handlers started p50", hm, "ms", nil),
		num(sc, "shell starts the same 200 handlers p50", sm, "ms", nil),
		num(sc, "herald / shell", ratio, "x", targetProcsRatio),
		num(sc, "samples", float64(len(herald)), "", nil),
	}, nil
}

// shellStart starts one sh -c 'date +%s%N > FILE' per file at once, waits
// for all, and returns the time from the first start to the newest time
// written, in ms.
func shellStart(ctx context.Context, files []string) (float64, error) {
	if err := removeAll(files); err != nil {
		return 0, err
	}
	var wg sync.WaitGroup
	errs := make([]error, len(files))
	start := time.Now()
	for i, f := range files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if out, err := exec.CommandContext(ctx, "sh", "-c", startedLine+f).CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("sh: %w: %s", err, out)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return 0, err
	}
	last, err := lastStarted(files)
	if err != nil {
		return 0, err
	}
	return ms(last.Sub(start)), nil
}

// lastStarted is the newest time written to files by the handler line.
func lastStarted(files []string) (time.Time, error) {
	var last time.Time
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return last, fmt.Errorf("handler start time: %w", err)
		}
		ns, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return last, fmt.Errorf("handler start time in %s: %w", f, err)
		}
		if t := time.Unix(0, ns); t.After(last) {
			last = t
		}
	}
	return last, nil
}

func removeAll(files []string) error {
	for _, f := range files {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", f, err)
		}
	}
	return nil
}
