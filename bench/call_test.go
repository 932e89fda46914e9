package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/gotool"
	"github.com/heraldhq/herald/internal/testutil"
)

// callBenchHooks are three central pre hooks that do nothing, matching the
// benchmark's call.
const callBenchHooks = `
hooks:
  - {name: pre-1, phase: pre, methods: [create_job], exec: ["/bin/true"]}
  - {name: pre-2, phase: pre, methods: [create_job], exec: ["/bin/true"]}
  - {name: pre-3, phase: pre, methods: [create_job], exec: ["/bin/true"]}
`

// callBenchTarget is the target for the p50 overhead.
const callBenchTarget = 15 * time.Millisecond

// BenchmarkCall measures what "herald call" adds around a command that does
// nothing: the real herald and dispatcher binaries (built without -race),
// an embedded NATS, three central pre hooks running /bin/true. Each
// iteration runs /bin/true alone and then
//
//	herald call create_job --job west/www/prod/web -- /bin/true
//
// (the pre request, the three hooks, the command, the stored call.post)
// and the figures are the medians of each and of their difference:
//
//	go test ./bench -run '^$' -bench BenchmarkCall -benchtime 200x
func BenchmarkCall(b *testing.B) {
	bin, dir := callBenchBuild(b)
	hooksDir := filepath.Join(dir, "hooks")
	if err := os.MkdirAll(hooksDir, 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(hooksDir, "bench.yaml"), []byte(callBenchHooks), 0o644); err != nil {
		b.Fatal(err)
	}
	url := callBenchDispatcher(b, bin, dir, hooksDir)
	heraldArgs := []string{"call", "create_job", "--job", "west/www/prod/web", "--nats", url, "--", "/bin/true"}
	runOnce := func(name string, args ...string) time.Duration {
		cmd := exec.Command(name, args...)
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
		return time.Since(start)
	}
	// Warm up: page cache, the dispatcher's first consumer and hook runs.
	for range 5 {
		runOnce("/bin/true")
		runOnce(filepath.Join(bin, "herald"), heraldArgs...)
	}
	var bare, wrapped, overhead []float64
	b.ResetTimer()
	for b.Loop() {
		db := runOnce("/bin/true")
		dw := runOnce(filepath.Join(bin, "herald"), heraldArgs...)
		bare = append(bare, callBenchMS(db))
		wrapped = append(wrapped, callBenchMS(dw))
		overhead = append(overhead, callBenchMS(dw-db))
	}
	b.StopTimer()
	p50 := callBenchMedian(overhead)
	b.ReportMetric(callBenchMedian(bare), "bare-p50-ms")
	b.ReportMetric(callBenchMedian(wrapped), "call-p50-ms")
	b.ReportMetric(p50, "overhead-p50-ms")
	b.ReportMetric(callBenchPercentile(overhead, 0.9), "overhead-p90-ms")
	if time.Duration(p50*float64(time.Millisecond)) > callBenchTarget {
		b.Logf("p50 overhead %.2f ms is above the %v target (%d samples, GOMAXPROCS %d)", p50, callBenchTarget, len(overhead), runtime.GOMAXPROCS(0))
	}
}

func callBenchMS(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func callBenchMedian(xs []float64) float64 { return callBenchPercentile(xs, 0.5) }

func callBenchPercentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[min(len(s)-1, int(p*float64(len(s))))]
}

// callBenchBuild builds the herald and dispatcher binaries without -race
// into a temp dir; it returns the bin dir and a scratch dir.
func callBenchBuild(b *testing.B) (bin, dir string) {
	b.Helper()
	dir = b.TempDir()
	bin = filepath.Join(dir, "bin")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	goCmd := gotool.Path()
	out, err := exec.CommandContext(ctx, goCmd, "env", "GOMOD").Output()
	if err != nil {
		b.Fatalf("go env GOMOD: %v", err)
	}
	build := exec.CommandContext(ctx, goCmd, "build", "-o", bin+string(filepath.Separator), "./cmd/dispatcher", "./cmd/herald")
	build.Dir = filepath.Dir(strings.TrimSpace(string(out)))
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	return bin, dir
}

// callBenchDispatcher starts the dispatcher with embedded NATS on a free
// port and the hooks dir; it is stopped with SIGTERM when the benchmark
// ends. It returns the NATS URL.
func callBenchDispatcher(b *testing.B, bin, dir, hooksDir string) string {
	b.Helper()
	ready := filepath.Join(dir, "ready.json")
	logf, err := os.Create(filepath.Join(dir, "dispatcher.log"))
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(bin, "dispatcher"), "--data", filepath.Join(dir, "data"),
		"--nats-listen", "127.0.0.1:0", "--http", "", "--ready-file", ready, "--hooks", hooksDir, "--log-level", "warn")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	b.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		logf.Close()
	})
	var url string
	testutil.Eventually(b, 30*time.Second, func() error {
		select {
		case <-done:
			log, _ := os.ReadFile(logf.Name())
			b.Fatalf("dispatcher exited:\n%s", log)
		default:
		}
		var info struct {
			NATSURL string `json:"nats_url"`
		}
		data, err := os.ReadFile(ready)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(data, &info); err != nil || info.NATSURL == "" {
			return fmt.Errorf("ready file %q: %v", data, err)
		}
		url = info.NATSURL
		return nil
	})
	return url
}
