package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/go-zookeeper/zk"
)

// zooKeeperJar is where Debian's zookeeper package installs the server; its
// manifest's Class-Path names every dependency. internal/testutil starts
// the same server for the tests, but it is built on testing.TB, so the
// bench carries its own minimal copy of the start logic.
const zooKeeperJar = "/usr/share/java/zookeeper.jar"

const (
	// zkStartTimeout bounds how long the JVM may take to accept a session
	// on a loaded 2-core machine.
	zkStartTimeout = 60 * time.Second
	// zkTickTime is ZooKeeper's default tick.
	zkTickTime = 2 * time.Second
)

// errZKExited: the server process ended before accepting a session.
var errZKExited = errors.New("zookeeper exited before accepting a session")

// zkServer is a private standalone ZooKeeper for one scenario run: its own
// data directory and a free loopback port.
type zkServer struct {
	dir  string
	port int
	cmd  *exec.Cmd
	done chan struct{}
	log  *os.File
}

// startZooKeeper starts a ZooKeeper server under dir and returns once it
// accepts a session. forceSync false writes zoo.cfg's forceSync=no (no
// fsync of the transaction log before a change is committed).
func startZooKeeper(ctx context.Context, dir string, forceSync bool) (*zkServer, error) {
	if _, err := os.Stat(zooKeeperJar); err != nil {
		return nil, fmt.Errorf("zookeeper is not installed (%w): run `apt-get install -y zookeeper`", err)
	}
	if _, err := exec.LookPath("java"); err != nil {
		return nil, fmt.Errorf("java is not on PATH (%w): run `apt-get install -y zookeeper`, which brings a JRE", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("zookeeper dir: %w", err)
	}
	z := &zkServer{dir: dir}
	// The free port may be taken by someone else before the JVM binds it:
	// then the server exits at once, and another port is tried.
	var err error
	for range 3 {
		if z.port, err = freePort(); err != nil {
			return nil, err
		}
		if err = z.writeConfig(forceSync); err != nil {
			return nil, err
		}
		if err = z.start(ctx); err == nil || !errors.Is(err, errZKExited) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("zookeeper: %w (log %s)", err, filepath.Join(dir, "zookeeper.log"))
	}
	return z, nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func (z *zkServer) writeConfig(forceSync bool) error {
	sync := "yes"
	if !forceSync {
		sync = "no"
	}
	cfg := fmt.Sprintf(`tickTime=%d
dataDir=%s
clientPort=%d
clientPortAddress=127.0.0.1
maxClientCnxns=0
admin.enableServer=false
forceSync=%s
`, zkTickTime.Milliseconds(), filepath.Join(z.dir, "data"), z.port, sync)
	if err := os.WriteFile(filepath.Join(z.dir, "zoo.cfg"), []byte(cfg), 0o644); err != nil {
		return fmt.Errorf("zoo.cfg: %w", err)
	}
	return nil
}

// addr is the server's HOST:PORT.
func (z *zkServer) addr() string { return fmt.Sprintf("127.0.0.1:%d", z.port) }

func (z *zkServer) start(ctx context.Context) error {
	logf, err := os.OpenFile(filepath.Join(z.dir, "zookeeper.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("zookeeper log: %w", err)
	}
	cp := zooKeeperJar
	if _, err := os.Stat("/usr/share/java/slf4j-simple.jar"); err == nil {
		cp += ":/usr/share/java/slf4j-simple.jar"
	}
	// The serial collector keeps the JVM from taking a core for GC threads
	// on a 2-core machine; the JIT is left at its default (both tiers).
	cmd := exec.Command("java", "-Xmx512m", "-XX:+UseSerialGC",
		"-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
		"-Dzookeeper.admin.enableServer=false",
		"-cp", cp, "org.apache.zookeeper.server.ZooKeeperServerMain",
		filepath.Join(z.dir, "zoo.cfg"))
	cmd.Dir = z.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return fmt.Errorf("start java: %w", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	z.cmd, z.done, z.log = cmd, done, logf
	conn, err := z.connect(ctx)
	if err != nil {
		z.stop()
		return err
	}
	conn.Close()
	return nil
}

// connect opens a client session; the caller closes it.
func (z *zkServer) connect(ctx context.Context) (*zk.Conn, error) {
	conn, evs, err := zk.Connect([]string{z.addr()}, 10*time.Second, zk.WithLogger(nopLogger{}))
	if err != nil {
		return nil, fmt.Errorf("zookeeper connect: %w", err)
	}
	deadline := time.NewTimer(zkStartTimeout)
	defer deadline.Stop()
	for {
		select {
		case ev := <-evs:
			if ev.State == zk.StateHasSession {
				return conn, nil
			}
		case <-z.done:
			conn.Close()
			return nil, errZKExited
		case <-deadline.C:
			conn.Close()
			return nil, fmt.Errorf("zookeeper: no session within %v", zkStartTimeout)
		case <-ctx.Done():
			conn.Close()
			return nil, ctx.Err()
		}
	}
}

// stop kills the server's process group and waits for it.
func (z *zkServer) stop() {
	if z.cmd == nil {
		return
	}
	_ = syscall.Kill(-z.cmd.Process.Pid, syscall.SIGKILL)
	<-z.done
	_ = z.log.Close()
	z.cmd = nil
}

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}
