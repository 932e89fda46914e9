package e2e_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/heraldhq/herald/internal/testutil/natscluster"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"
)

// clusterPublisher publishes events on the cluster while nodes come and
// go, retrying each with the same id (so a retry that JetStream already
// stored is dropped as a duplicate) and remembering the last stored value
// per key.
type clusterPublisher struct {
	t    *testing.T
	js   jetstream.JetStream
	keys []string

	mu    sync.Mutex
	last  map[string]string // key → data of its last stored event
	n     int
	stop  chan struct{}
	ended chan struct{}
}

func (p *clusterPublisher) publish(key, data string) {
	e := events.New("test", "test.fleet", key, []byte(data))
	deadline := time.Now().Add(2 * wait)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := bus.PublishEvent(ctx, p.js, e)
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			p.t.Errorf("event %s on %s not stored within %v: %v", data, key, 2*wait, err)
			return
		}
	}
	p.mu.Lock()
	p.last[key] = data
	p.n++
	p.mu.Unlock()
}

// run publishes round-robin over the keys until stop is closed.
func (p *clusterPublisher) run() {
	defer close(p.ended)
	for i := 0; ; i++ {
		select {
		case <-p.stop:
			return
		default:
		}
		p.publish(p.keys[i%len(p.keys)], fmt.Sprintf("v%d", i))
	}
}

func (p *clusterPublisher) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}

// storedRuns counts the ok outcomes of watch stored in HERALD_OUTCOMES,
// by "host event-id", read with direct gets (any replica answers); an
// error while a node is still catching up is returned for the caller to
// poll again.
func storedRuns(js jetstream.JetStream, watch string) (map[string]int, error) {
	stored := map[string]int{}
	for seq := uint64(1); ; {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		it, err := jetstreamext.GetBatch(ctx, js, events.OutcomesStream, 256, jetstreamext.GetBatchSeq(seq))
		if err != nil {
			cancel()
			return nil, err
		}
		n := 0
		for m, err := range it {
			if errors.Is(err, jetstreamext.ErrNoMessages) {
				break
			}
			if err != nil {
				cancel()
				return nil, err
			}
			n++
			seq = m.Sequence + 1
			var o events.Outcome
			if err := json.Unmarshal(m.Data, &o); err != nil {
				cancel()
				return nil, fmt.Errorf("outcome on %s: %w", m.Subject, err)
			}
			if o.Watch == watch && o.Status == events.StatusOK {
				stored[o.Host+" "+o.EventID]++
			}
		}
		cancel()
		if n < 256 {
			return stored, nil
		}
	}
}

// nodeOf is the index of the cluster node the client named name is
// connected to, or -1.
func nodeOf(ns *natscluster.Cluster, name string) int {
	for i, s := range ns.Servers() {
		if s == nil {
			continue
		}
		cz, err := s.Connz(nil)
		if err != nil {
			continue
		}
		for _, c := range cz.Conns {
			if c.Name == name {
				return i
			}
		}
	}
	return -1
}

// TestClusterBus_NodeLossesLoseNothing runs the real dispatcher and three
// agents on a 3-node cluster with R3 streams while events flow on five
// keys, kills (and restarts) the node leading HERALD_EVENTS, then the node
// an agent is connected to. Afterwards every agent's last run of every key
// saw the key's last value, no agent ran one event twice, every run has
// exactly one stored outcome, and the agents reconnected on their own.
func TestClusterBus_NodeLossesLoseNothing(t *testing.T) {
	t.Parallel()
	ns := natscluster.Run(t, 3)
	// Every outcome is kept (the default keeps the newest 256 per host and
	// watch), so that each run's can be counted.
	conf := testutil.WriteFile(t, t.TempDir(), "dispatcher.yaml", "streams:\n  replicas: 3\n  outcomes_per_subject: 100000\n")
	c := startDispatcher(t, t.TempDir(), "127.0.0.1:0", "--nats", ns.URLs(), "--config", conf)
	c.url = ns.URLs()

	f := newFixture(t)
	f.script("rec.sh", `data=$(cat); echo "$HERALD_EVENT_ID $HERALD_KEY $data" >> "$DIR/$HERALD_HOST.log"`)
	f.watchFile("w.yaml", `
watches:
  - name: fleet
    on: event:test.fleet
    key: /k/*
    exec: ["%DIR%/rec.sh"]
    env: {DIR: "%DIR%"}
    run_on_load: false
`)
	hosts := []string{"h0", "h1", "h2"}
	for i, h := range hosts {
		// Each agent starts on its own node (the others as fallbacks).
		c.startAgent(agentOpts{name: h, watches: f.watches, extra: []string{"--nats", ns.URL(i) + "," + ns.URLs()}})
	}

	nc, err := nats.Connect(ns.URLs(), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	p := &clusterPublisher{t: t, js: js, keys: []string{"/k/0", "/k/1", "/k/2", "/k/3", "/k/4"},
		last: map[string]string{}, stop: make(chan struct{}), ended: make(chan struct{})}
	go p.run()
	stopped := false
	stopPublishing := func() {
		if !stopped {
			stopped = true
			close(p.stop)
			<-p.ended
		}
	}
	t.Cleanup(stopPublishing)
	flowing := func(more int) {
		t.Helper()
		target := p.count() + more
		testutil.Eventually(t, 2*wait, func() error {
			if n := p.count(); n < target {
				return fmt.Errorf("%d events stored, want %d", n, target)
			}
			return nil
		})
	}

	flowing(50)
	leader := ns.StreamLeader(events.EventsStream)
	if leader < 0 {
		t.Fatal("HERALD_EVENTS has no leader")
	}
	t.Logf("killing node %d, the leader of %s", leader, events.EventsStream)
	ns.Kill(leader)
	flowing(50)
	ns.Restart(leader)
	flowing(50)
	victim := nodeOf(ns, "herald-agent h0")
	if victim < 0 {
		t.Fatal("agent h0 is connected to no node")
	}
	t.Logf("killing node %d, where agent h0 is connected", victim)
	ns.Kill(victim)
	flowing(50)
	ns.Restart(victim)
	flowing(50)
	stopPublishing()
	// One final value per key, stored once every node is back.
	for _, k := range p.keys {
		p.publish(k, "final")
	}

	// 0 lost final states: every agent's last run of every key saw "final".
	testutil.Eventually(t, 3*wait, func() error {
		for _, h := range hosts {
			last := map[string]string{}
			for _, l := range readLines(t, f.path(h+".log")) {
				parts := strings.Fields(l)
				if len(parts) == 3 {
					last[parts[1]] = parts[2]
				}
			}
			for _, k := range p.keys {
				if last[k] != "final" {
					return fmt.Errorf("%s: last run of %s saw %q, want final", h, k, last[k])
				}
			}
		}
		return nil
	})
	// 0 double runs of one event on one host.
	runs := map[string]bool{} // host event
	for _, h := range hosts {
		for _, l := range readLines(t, f.path(h+".log")) {
			id := strings.Fields(l)[0]
			if runs[h+" "+id] {
				t.Errorf("%s ran event %s twice", h, id)
			}
			runs[h+" "+id] = true
		}
	}
	// Every run's outcome stored exactly once.
	ns.WaitReady()
	testutil.Eventually(t, 2*wait, func() error {
		stored, err := storedRuns(js, "fleet")
		if err != nil {
			st, serr := js.Stream(context.Background(), events.OutcomesStream)
			if serr == nil {
				ci := st.CachedInfo()
				return fmt.Errorf("%w (outcomes stream: replicas %d, leader %q, msgs %d)", err, ci.Config.Replicas, ci.Cluster.Leader, ci.State.Msgs)
			}
			return fmt.Errorf("%w (outcomes stream: %v)", err, serr)
		}
		var errs []error
		for r := range runs {
			if n := stored[r]; n != 1 {
				errs = append(errs, fmt.Errorf("run %s has %d stored outcomes, want 1", r, n))
			}
		}
		for r, n := range stored {
			if !runs[r] {
				errs = append(errs, fmt.Errorf("outcome %s (%d) of no run", r, n))
			}
		}
		if len(errs) > 5 {
			errs = append(errs[:5], fmt.Errorf("and %d more", len(errs)-5))
		}
		return errors.Join(errs...)
	})
	// The agents reconnected on their own: each is connected to a node.
	for _, h := range hosts {
		if nodeOf(ns, "herald-agent "+h) < 0 {
			t.Errorf("agent %s is connected to no node", h)
		}
	}
	t.Logf("%d events published, %d runs", p.count(), len(runs))
}
