package dispatcher_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/dispatcher"
	"github.com/heraldhq/herald/internal/gotool"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/nats-io/nats.go"
)

// buildDispatcher builds ./cmd/dispatcher into a temp dir.
func buildDispatcher(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "dispatcher")
	cmd := exec.Command(gotool.Path(), "build", "-o", bin, "github.com/heraldhq/herald/cmd/dispatcher")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// proc is a running dispatcher binary.
type proc struct {
	cmd    *exec.Cmd
	stderr *testutil.SyncBuffer
	exited chan struct{} // closed when Wait returned
	err    error         // Wait's result, set before exited is closed
}

func startProc(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), stderr: &testutil.SyncBuffer{}, exited: make(chan struct{})}
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("dispatcher stderr:\n%s", p.stderr.String())
		}
	})
	return p
}

// wait returns the exit code, failing the test if the process does not
// exit within 20s.
func (p *proc) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.exited:
		var ee *exec.ExitError
		if errors.As(p.err, &ee) {
			return ee.ExitCode()
		}
		if p.err != nil {
			t.Fatalf("wait: %v", p.err)
		}
		return 0
	case <-time.After(20 * time.Second):
		t.Fatalf("dispatcher did not exit within 20s")
		return -1
	}
}

// waitReady polls the ready file.
func waitReady(t *testing.T, path string) dispatcher.ReadyInfo {
	t.Helper()
	var info dispatcher.ReadyInfo
	testutil.Eventually(t, 20*time.Second, func() error {
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return json.Unmarshal(raw, &info)
	})
	return info
}

func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildDispatcher(t)

	t.Run("SIGTERM exits 0 and the data dir keeps events across a restart", func(t *testing.T) {
		data := t.TempDir()
		ready := filepath.Join(t.TempDir(), "ready.json")
		args := []string{"--data", data, "--nats-listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--ready-file", ready}
		p := startProc(t, bin, args...)
		info := waitReady(t, ready)

		// The info line carries the same addresses as the ready file.
		testutil.Eventually(t, 10*time.Second, func() error {
			var logged map[string]any
			sc := bufio.NewScanner(strings.NewReader(p.stderr.String()))
			for sc.Scan() {
				var line map[string]any
				if json.Unmarshal(sc.Bytes(), &line) == nil && line["message"] == "dispatcher ready" {
					logged = line
				}
			}
			if logged == nil || logged["nats_url"] != info.NATSURL || logged["http_addr"] != info.HTTPAddr || logged["level"] != "info" {
				return fmt.Errorf("ready log line %v does not match ready file %+v", logged, info)
			}
			return nil
		})

		body := `{"type":"deploy.done","key":"/svc/api","data":"build 12","version":"12"}`
		resp, err := http.Post("http://"+info.HTTPAddr+"/v1/events", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		var first struct {
			ID        string `json:"id"`
			StreamSeq uint64 `json:"stream_seq"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&first)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated || first.ID == "" {
			t.Fatalf("POST = %d %+v", resp.StatusCode, first)
		}

		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if code := p.wait(t); code != 0 {
			t.Fatalf("exit code after SIGTERM = %d, want 0", code)
		}
		if _, err := os.Stat(ready); !os.IsNotExist(err) {
			t.Errorf("ready file left after a clean stop: %v", err)
		}

		p2 := startProc(t, bin, args...)
		info2 := waitReady(t, ready)
		nc, err := nats.Connect(info2.NATSURL)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		got := readEvents(t, nc, 1)
		e, err := events.FromMsg(got[0])
		if err != nil {
			t.Fatal(err)
		}
		if e.ID != first.ID || string(e.Data) != "build 12" || e.Key != "/svc/api" {
			t.Fatalf("after restart the stream holds %+v, want event %s", e, first.ID)
		}
		if err := p2.cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		if code := p2.wait(t); code != 0 {
			t.Fatalf("exit code after SIGINT = %d, want 0", code)
		}
	})

	t.Run("config errors exit 2 and name the problem", func(t *testing.T) {
		cfgFile := writeFile(t, "d.yaml", "data: /tmp/x\nhttp_addr: 1\n")
		for _, tt := range []struct {
			args []string
			want string
		}{
			{[]string{"--bogus"}, "bogus"},
			{[]string{"--log-format", "xml"}, "log_format"},
			{[]string{"--config", cfgFile}, cfgFile + ":2:"},
		} {
			p := startProc(t, bin, tt.args...)
			if code := p.wait(t); code != 2 {
				t.Errorf("%q: exit code %d, want 2", tt.args, code)
			}
			if !strings.Contains(p.stderr.String(), tt.want) {
				t.Errorf("%q: stderr %q does not mention %q", tt.args, p.stderr.String(), tt.want)
			}
		}
	})

	t.Run("runtime failure exits 1", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		p := startProc(t, bin, "--data", t.TempDir(), "--nats-listen", "127.0.0.1:0", "--http", ln.Addr().String())
		if code := p.wait(t); code != 1 {
			t.Fatalf("exit code with the HTTP port taken = %d, want 1", code)
		}
		if !strings.Contains(p.stderr.String(), "http") {
			t.Errorf("stderr %q does not say http failed", p.stderr.String())
		}
	})
}
