package zk_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	gozk "github.com/go-zookeeper/zk"
	"github.com/heraldhq/herald/internal/fleet"
	zksrc "github.com/heraldhq/herald/internal/source/zk"
	"github.com/heraldhq/herald/internal/testutil"
)

// Scale: 100 groups of 100 znodes under /scale, watched as /scale/**:
// 10,000 leaves, 10,101 watched znodes with the groups and the root.
const (
	scaleGroups = 100
	scalePer    = 100
	scaleNodes  = scaleGroups*scalePer + scaleGroups + 1
)

// TestScale10k measures how long a source takes to watch 10,000 znodes
// and what it costs, in process (heap) and as the real dispatcher binary
// (RSS, with its embedded NATS server). It runs only with
// HERALD_ZK_SCALE=1:
//
//	HERALD_ZK_SCALE=1 go test -run TestScale10k -v ./internal/source/zk/
//
// Targets (issue 3): all watched within 10s, under 100 MB RSS.
func TestScale10k(t *testing.T) {
	if testing.Short() || os.Getenv("HERALD_ZK_SCALE") != "1" {
		t.Skip("set HERALD_ZK_SCALE=1 to measure watching 10,000 znodes")
	}
	z := testutil.RunZooKeeper(t)
	zc := z.Connect(t)
	start := time.Now()
	populate(t, zc)
	t.Logf("created %d znodes in %v", scaleNodes, time.Since(start).Round(time.Millisecond))

	t.Run("in process", func(t *testing.T) {
		_, js := testutil.ConnectStreams(t, testutil.RunNATS(t))
		r := &rig{t: t, zk: z, zc: zc, js: js}
		cfg := zksrc.Config{Watch: []string{"/scale/**"}}
		for _, round := range []string{"first start (publishes every znode)", "restart (seeded from the stream, publishes nothing)"} {
			runtime.GC()
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			rssBefore := rss(t, os.Getpid())
			t0 := time.Now()
			src := r.start("scale", cfg, fleet.Static())
			var watched time.Duration
			testutil.Eventually(t, 60*time.Second, func() error {
				st := src.src.Stats()
				if watched == 0 && st.Nodes == scaleNodes {
					watched = time.Since(t0)
				}
				if !st.Synced || st.Nodes != scaleNodes {
					return fmt.Errorf("%d/%d znodes, synced %v", st.Nodes, scaleNodes, st.Synced)
				}
				return nil
			})
			synced := time.Since(t0)
			runtime.GC()
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			st := src.src.Stats()
			t.Logf("%s: all %d znodes known after %v, synced (read, watched, published) after %v; published %d; heap +%.1f MB; process RSS +%.1f MB",
				round, st.Nodes, watched.Round(time.Millisecond), synced.Round(time.Millisecond), st.Published,
				float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/1e6, float64(rss(t, os.Getpid())-rssBefore)/1e6)
			if n := serverWatches(t, z); n < scaleNodes {
				t.Errorf("ZooKeeper holds watches on %d paths, want at least %d", n, scaleNodes)
			}
			if synced > 10*time.Second {
				t.Errorf("synced after %v, target 10s", synced)
			}
			src.stop()
		}
	})

	t.Run("dispatcher binary", func(t *testing.T) {
		bin := filepath.Join(testutil.Binaries(t), "dispatcher")
		cmd := exec.Command(bin, "--data", t.TempDir(), "--nats-listen", "127.0.0.1:0", "--http", "127.0.0.1:0",
			"--zk", z.Addr(), "--zk-watch", "/scale/**", "--log-format", "json")
		cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			_ = cmd.Wait()
		}()
		done := make(chan map[string]any, 1)
		go func() {
			sc := bufio.NewScanner(stderr)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				var line map[string]any
				if json.Unmarshal(sc.Bytes(), &line) != nil {
					continue
				}
				if line["message"] == "zk: watches set" {
					done <- line
				}
			}
		}()
		select {
		case line := <-done:
			took := time.Since(t0)
			pid := cmd.Process.Pid
			t.Logf("dispatcher (race=%v): watches set after %v from process start (source: %vms); VmRSS %.1f MB, VmHWM %.1f MB",
				raceBuild(), took.Round(time.Millisecond), line["took_ms"], float64(rss(t, pid))/1e6, float64(hwm(t, pid))/1e6)
			if r := rss(t, pid); r > 100e6 && !raceBuild() {
				t.Errorf("RSS %.1f MB, target 100 MB", float64(r)/1e6)
			}
		case <-time.After(60 * time.Second):
			t.Fatal("the dispatcher did not log \"zk: watches set\" within 60s")
		}
	})
}

// populate creates the scale tree in batches of multi-ops.
func populate(t *testing.T, zc *gozk.Conn) {
	t.Helper()
	ops := []any{&gozk.CreateRequest{Path: "/scale", Acl: openACL}}
	flush := func() {
		if _, err := zc.Multi(ops...); err != nil {
			t.Fatal(err)
		}
		ops = ops[:0]
	}
	for g := range scaleGroups {
		gp := fmt.Sprintf("/scale/g%02d", g)
		ops = append(ops, &gozk.CreateRequest{Path: gp, Acl: openACL})
		for i := range scalePer {
			ops = append(ops, &gozk.CreateRequest{Path: fmt.Sprintf("%s/n%03d", gp, i), Data: []byte(strconv.Itoa(i)), Acl: openACL})
		}
		flush()
	}
}

// serverWatches asks ZooKeeper how many paths have watches.
func serverWatches(t *testing.T, z *testutil.ZooKeeper) int {
	t.Helper()
	out, err := z.FourLetter("wchs")
	if err != nil {
		t.Fatal(err)
	}
	// "1 connections watching 10101 paths"
	for _, f := range strings.Split(out, "\n") {
		var conns, paths int
		if _, err := fmt.Sscanf(f, "%d connections watching %d paths", &conns, &paths); err == nil {
			return paths
		}
	}
	t.Fatalf("wchs: %q", out)
	return 0
}

func procStatus(t *testing.T, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb * 1024
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

func rss(t *testing.T, pid int) int64 { return procStatus(t, pid, "VmRSS") }
func hwm(t *testing.T, pid int) int64 { return procStatus(t, pid, "VmHWM") }
