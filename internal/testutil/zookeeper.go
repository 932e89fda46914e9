package testutil

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
)

// ZooKeeperJar is where Debian's zookeeper package installs the server; its
// manifest's Class-Path names every dependency.
const ZooKeeperJar = "/usr/share/java/zookeeper.jar"

// ZooKeeperTickTime is the test server's tick. The server accepts session
// timeouts from 2 to 300 ticks, so tests can use sessions as short as
// 400ms.
const ZooKeeperTickTime = 200 * time.Millisecond

// zkStartTimeout bounds how long a JVM may take to accept a session on a
// loaded 2-core machine.
const zkStartTimeout = 60 * time.Second

// ZooKeeper is a private standalone ZooKeeper server for one test: its own
// data directory and a free loopback port, started from Debian's zookeeper
// package with the java on PATH.
type ZooKeeper struct {
	tb   testing.TB
	dir  string
	port int

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	log  *os.File
}

// RunZooKeeper starts a ZooKeeper server and stops it when the test ends. It
// fails the test, saying how to install it, when the server is not there:
// the ZooKeeper tests must not pass by skipping.
func RunZooKeeper(tb testing.TB) *ZooKeeper {
	tb.Helper()
	requireZooKeeper(tb)
	dir, err := os.MkdirTemp("", "herald-zk-")
	if err != nil {
		tb.Fatal(err)
	}
	z := &ZooKeeper{tb: tb, dir: dir}
	tb.Cleanup(func() {
		z.Stop()
		if tb.Failed() {
			if b, err := os.ReadFile(filepath.Join(dir, "zookeeper.log")); err == nil {
				tb.Logf("--- zookeeper log (tail):\n%s", tail(string(b), 4000))
			}
		}
		_ = os.RemoveAll(dir)
	})
	// The free port may be taken by someone else before the JVM binds it:
	// then the server exits at once, and another port is tried.
	var err2 error
	for range 3 {
		z.port = freePort(tb)
		if err := z.writeConfig(); err != nil {
			tb.Fatal(err)
		}
		if err2 = z.start(); err2 == nil || !errors.Is(err2, errExited) {
			break
		}
	}
	if err2 != nil {
		b, _ := os.ReadFile(filepath.Join(dir, "zookeeper.log"))
		tb.Fatalf("zookeeper: %v\n--- log:\n%s", err2, tail(string(b), 4000))
	}
	return z
}

// errExited: the server process ended before accepting a session.
var errExited = errors.New("server exited before accepting a session")

func (z *ZooKeeper) writeConfig() error {
	cfg := fmt.Sprintf(`tickTime=%d
dataDir=%s
clientPort=%d
clientPortAddress=127.0.0.1
maxClientCnxns=0
minSessionTimeout=%d
maxSessionTimeout=60000
admin.enableServer=false
4lw.commands.whitelist=*
forceSync=no
`, ZooKeeperTickTime.Milliseconds(), filepath.Join(z.dir, "data"), z.port, 2*ZooKeeperTickTime.Milliseconds())
	return os.WriteFile(filepath.Join(z.dir, "zoo.cfg"), []byte(cfg), 0o644)
}

// requireZooKeeper fails the test, saying how to install them, when
// Debian's ZooKeeper or a java is missing: the ZooKeeper tests must not
// pass by skipping.
func requireZooKeeper(tb testing.TB) {
	tb.Helper()
	if _, err := os.Stat(ZooKeeperJar); err != nil {
		tb.Fatalf("ZooKeeper is not installed (%v): run `apt-get install -y zookeeper` (.ci/run does)", err)
	}
	if _, err := exec.LookPath("java"); err != nil {
		tb.Fatalf("java is not on PATH (%v): run `apt-get install -y zookeeper`, which brings a JRE (.ci/run does)", err)
	}
}

// FreePort is a free TCP port on loopback (for servers that need to know
// their port before they start).
func FreePort(tb testing.TB) int { return freePort(tb) }

func freePort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// Addr is the server's HOST:PORT; it stays the same across Stop and Start.
func (z *ZooKeeper) Addr() string { return fmt.Sprintf("127.0.0.1:%d", z.port) }

// Start starts the server (again, after Stop) on the same port and data
// directory, and returns once it accepts a session.
func (z *ZooKeeper) Start() {
	z.tb.Helper()
	if err := z.start(); err != nil {
		b, _ := os.ReadFile(filepath.Join(z.dir, "zookeeper.log"))
		z.tb.Fatalf("zookeeper: %v\n--- log:\n%s", err, tail(string(b), 4000))
	}
}

func (z *ZooKeeper) start() error {
	done, err := z.spawn("org.apache.zookeeper.server.ZooKeeperServerMain")
	if err != nil {
		return err
	}
	if err := z.waitSession(done); err != nil {
		z.Stop()
		return err
	}
	return nil
}

// spawn starts the JVM running mainClass on the zoo.cfg in z's directory,
// logging to zookeeper.log there; done is closed when it exits.
func (z *ZooKeeper) spawn(mainClass string) (done <-chan struct{}, err error) {
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.cmd != nil {
		return nil, errors.New("already running")
	}
	logf, err := os.OpenFile(filepath.Join(z.dir, "zookeeper.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cp := ZooKeeperJar
	// A logging binding keeps the server's own log readable on failure;
	// without one SLF4J logs nothing, which is fine too.
	if _, err := os.Stat("/usr/share/java/slf4j-simple.jar"); err == nil {
		cp += ":/usr/share/java/slf4j-simple.jar"
	}
	cmd := exec.Command("java",
		"-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
		"-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
		"-Dzookeeper.admin.enableServer=false",
		"-cp", cp,
		mainClass,
		filepath.Join(z.dir, "zoo.cfg"))
	cmd.Dir = z.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group, and killed with the test process if that dies
	// first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return nil, fmt.Errorf("start java: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	z.cmd, z.done, z.log = cmd, exited, logf
	return exited, nil
}

// waitSession returns once a client gets a session from the server.
func (z *ZooKeeper) waitSession(exited <-chan struct{}) error {
	conn, events, err := zk.Connect([]string{z.Addr()}, 10*time.Second, zk.WithLogger(nopLogger{}))
	if err != nil {
		return err
	}
	defer conn.Close()
	deadline := time.After(zkStartTimeout)
	for {
		select {
		case ev := <-events:
			if ev.State == zk.StateHasSession {
				return nil
			}
		case <-exited:
			return errExited
		case <-deadline:
			return fmt.Errorf("no session within %v", zkStartTimeout)
		}
	}
}

// Stop kills the server and waits for it to exit. The data directory is
// kept for Start.
func (z *ZooKeeper) Stop() {
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.cmd == nil {
		return
	}
	_ = syscall.Kill(-z.cmd.Process.Pid, syscall.SIGKILL)
	<-z.done
	_ = z.log.Close()
	z.cmd, z.done, z.log = nil, nil, nil
}

// Connect opens a client session to the server, closed when the test ends;
// tests make their changes through it.
func (z *ZooKeeper) Connect(tb testing.TB) *zk.Conn {
	tb.Helper()
	return connectSession(tb, []string{z.Addr()})
}

// connectSession opens a client to servers and waits for its session.
func connectSession(tb testing.TB, servers []string) *zk.Conn {
	tb.Helper()
	conn, events, err := zk.Connect(servers, 10*time.Second, zk.WithLogger(nopLogger{}))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(conn.Close)
	deadline := time.After(zkStartTimeout)
	for {
		select {
		case ev := <-events:
			if ev.State == zk.StateHasSession {
				return conn
			}
		case <-deadline:
			tb.Fatalf("zookeeper: no session within %v", zkStartTimeout)
		}
	}
}

// FourLetter sends a four-letter command ("srvr", "dump", "wchs"...) and
// returns the answer.
func (z *ZooKeeper) FourLetter(cmd string) (string, error) {
	c, err := net.DialTimeout("tcp", z.Addr(), 5*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte(cmd)); err != nil {
		return "", err
	}
	var b strings.Builder
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		b.WriteString(sc.Text())
		b.WriteByte('\n')
	}
	return b.String(), sc.Err()
}

// HasSession reports whether the server still holds the session id: the
// "dump" command lists every live session.
func (z *ZooKeeper) HasSession(id int64) (bool, error) {
	out, err := z.FourLetter("dump")
	if err != nil {
		return false, err
	}
	return strings.Contains(strings.ToLower(out), fmt.Sprintf("0x%x", id)), nil
}

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}
