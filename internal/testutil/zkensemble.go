package testutil

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
)

// quorumMain is the ensemble member's main class.
const quorumMain = "org.apache.zookeeper.server.quorum.QuorumPeerMain"

// ZooKeeperEnsemble is a private ZooKeeper ensemble for one test: n servers
// of Debian's package (QuorumPeerMain) on loopback, each with its own data
// directory, myid and client, peer and election ports. The ports stay the
// same across Kill and Start, so a killed server rejoins the quorum.
type ZooKeeperEnsemble struct {
	tb      testing.TB
	dir     string
	members []*ZooKeeper
	peer    []int
	elect   []int
}

// RunZooKeeperEnsemble starts n servers and returns once a quorum serves:
// every server is the leader or a follower. They stop when the test ends.
// Like RunZooKeeper it fails the test when the package or java is missing.
func RunZooKeeperEnsemble(tb testing.TB, n int) *ZooKeeperEnsemble {
	tb.Helper()
	requireZooKeeper(tb)
	dir, err := os.MkdirTemp("", "herald-zkens-")
	if err != nil {
		tb.Fatal(err)
	}
	e := &ZooKeeperEnsemble{tb: tb, dir: dir}
	for i := range n {
		e.members = append(e.members, &ZooKeeper{tb: tb, dir: filepath.Join(dir, fmt.Sprintf("zk%d", i+1))})
	}
	tb.Cleanup(func() {
		for _, m := range e.members {
			m.Stop()
		}
		if tb.Failed() {
			for i, m := range e.members {
				if b, err := os.ReadFile(filepath.Join(m.dir, "zookeeper.log")); err == nil {
					tb.Logf("--- zookeeper %d log (tail):\n%s", i+1, tail(string(b), 3000))
				}
			}
		}
		_ = os.RemoveAll(dir)
	})
	// A free port may be taken before a JVM binds it: that server exits,
	// and the ensemble starts again on other ports.
	for attempt := 0; ; attempt++ {
		err := e.startAll()
		if err == nil {
			return e
		}
		if !errors.Is(err, errExited) || attempt == 2 {
			tb.Fatalf("zookeeper ensemble: %v", err)
		}
		for _, m := range e.members {
			m.Stop()
		}
	}
}

func (e *ZooKeeperEnsemble) startAll() error {
	n := len(e.members)
	e.peer, e.elect = nil, nil
	for _, m := range e.members {
		m.port = freePort(e.tb)
		e.peer = append(e.peer, freePort(e.tb))
		e.elect = append(e.elect, freePort(e.tb))
	}
	for i := range n {
		if err := e.writeConfig(i); err != nil {
			return err
		}
	}
	exited := map[int]<-chan struct{}{}
	for i, m := range e.members {
		done, err := m.spawn(quorumMain)
		if err != nil {
			return err
		}
		exited[i] = done
	}
	return e.waitQuorum(exited)
}

// writeConfig writes member i's zoo.cfg and myid. The short tick lets
// tests use sessions as short as 400ms, as with RunZooKeeper.
func (e *ZooKeeperEnsemble) writeConfig(i int) error {
	m := e.members[i]
	data := filepath.Join(m.dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(data, "myid"), []byte(fmt.Sprintf("%d\n", i+1)), 0o644); err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, `tickTime=%d
initLimit=50
syncLimit=10
dataDir=%s
clientPort=%d
clientPortAddress=127.0.0.1
maxClientCnxns=0
minSessionTimeout=%d
maxSessionTimeout=60000
admin.enableServer=false
4lw.commands.whitelist=*
forceSync=no
reconfigEnabled=false
standaloneEnabled=false
`, ZooKeeperTickTime.Milliseconds(), data, m.port, 2*ZooKeeperTickTime.Milliseconds())
	for j := range e.members {
		fmt.Fprintf(&b, "server.%d=127.0.0.1:%d:%d\n", j+1, e.peer[j], e.elect[j])
	}
	return os.WriteFile(filepath.Join(m.dir, "zoo.cfg"), []byte(b.String()), 0o644)
}

// waitQuorum polls until every server not in skip serves as leader or
// follower with exactly one leader, or one of exited closes.
func (e *ZooKeeperEnsemble) waitQuorum(exited map[int]<-chan struct{}, skip ...int) error {
	deadline := time.Now().Add(zkStartTimeout)
	for {
		for i, done := range exited {
			select {
			case <-done:
				return fmt.Errorf("server %d: %w", i+1, errExited)
			default:
			}
		}
		err := e.serving(skip)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no quorum within %v: %w", zkStartTimeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// serving checks that every server not in skip is the leader or a
// follower, with one leader among them.
func (e *ZooKeeperEnsemble) serving(skip []int) error {
	leaders := 0
	for i := range e.members {
		if slices.Contains(skip, i) {
			continue
		}
		mode, err := e.mode(i)
		if err != nil {
			return fmt.Errorf("server %d: %w", i+1, err)
		}
		switch mode {
		case "leader":
			leaders++
		case "follower":
		default:
			return fmt.Errorf("server %d: mode %q", i+1, mode)
		}
	}
	if leaders != 1 {
		return fmt.Errorf("%d leaders", leaders)
	}
	return nil
}

// mode is what server i's `srvr` says it is: leader, follower, or "" while
// it serves no requests (an election is under way).
func (e *ZooKeeperEnsemble) mode(i int) (string, error) {
	out, err := e.members[i].FourLetter("srvr")
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(out, "\n") {
		if m, ok := strings.CutPrefix(line, "Mode: "); ok {
			return strings.TrimSpace(m), nil
		}
	}
	return "", nil
}

// Servers is the connect string, HOST:PORT of every server joined by
// commas, as --zk takes it.
func (e *ZooKeeperEnsemble) Servers() string { return strings.Join(e.addrs(), ",") }

func (e *ZooKeeperEnsemble) addrs() []string {
	var addrs []string
	for _, m := range e.members {
		addrs = append(addrs, m.Addr())
	}
	return addrs
}

// Server is server i, for its Addr and FourLetter.
func (e *ZooKeeperEnsemble) Server(i int) *ZooKeeper { return e.members[i] }

// Leader is the index of the server that leads the quorum, or -1 while
// none does (during an election, or when too few servers run).
func (e *ZooKeeperEnsemble) Leader() int {
	for i := range e.members {
		if mode, _ := e.mode(i); mode == "leader" {
			return i
		}
	}
	return -1
}

// Kill kills server i (SIGKILL) and waits for it to exit; its data is
// kept for Start.
func (e *ZooKeeperEnsemble) Kill(i int) { e.members[i].Stop() }

// Start starts killed server i again and returns once it serves in the
// quorum, with every server not in down (the indexes still killed)
// serving too.
func (e *ZooKeeperEnsemble) Start(i int, down ...int) {
	e.tb.Helper()
	done, err := e.members[i].spawn(quorumMain)
	if err == nil {
		err = e.waitQuorum(map[int]<-chan struct{}{i: done}, down...)
	}
	if err != nil {
		e.tb.Fatalf("zookeeper %d: %v", i+1, err)
	}
}

// WaitQuorum polls until the servers not in down serve with one leader,
// and fails the test if that takes longer than a minute.
func (e *ZooKeeperEnsemble) WaitQuorum(down ...int) {
	e.tb.Helper()
	if err := e.waitQuorum(nil, down...); err != nil {
		e.tb.Fatalf("zookeeper ensemble: %v", err)
	}
}

// Connect opens a client session to the ensemble (any server), closed
// when the test ends.
func (e *ZooKeeperEnsemble) Connect(tb testing.TB) *zk.Conn {
	tb.Helper()
	return connectSession(tb, e.addrs())
}
