package agent_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// TestRunOnLoad_NoConsumer: run_on_load reads the latest events with
// direct gets. The agent presents a user denied the whole consumer API
// ($JS.API.CONSUMER.>) and still runs the newest event of each key at
// load; the server announces no consumer created and the events stream
// counts none while the agent loads.
func TestRunOnLoad_NoConsumer(t *testing.T) {
	t.Parallel()
	srv := testutil.RunNATSWithOptions(t, &server.Options{Users: []*server.User{
		{Username: "admin", Password: "a"},
		{Username: "agent", Password: "g", Permissions: &server.Permissions{
			Publish: &server.SubjectPermission{Allow: []string{">"}, Deny: []string{"$JS.API.CONSUMER.>"}},
		}},
	}})
	nc, js := testutil.ConnectStreams(t, srv, nats.UserInfo("admin", "a"))
	r := &rig{t: t, srv: srv, nc: nc, js: js, out: testutil.CollectOutcomes(t, nc), dir: t.TempDir(), user: "agent", password: "g"}
	r.script("rec.sh", recordScript)

	var created atomic.Int64
	adv, err := nc.Subscribe("$JS.EVENT.ADVISORY.CONSUMER.CREATED.>", func(*nats.Msg) { created.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	defer adv.Unsubscribe() //nolint:errcheck
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"v1", "v2", "v3"} {
		r.publish("kv.put", "cfg/nc.app", v)
	}
	r.publish("kv.put", "cfg/nc.other", "o1")

	// Count the events stream's consumers until the loaded watch has run.
	stop := make(chan struct{})
	seen := make(chan int64, 1)
	go func() {
		var most int64
		defer func() { seen <- most }()
		for {
			select {
			case <-stop:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			s, err := js.Stream(ctx, events.EventsStream)
			cancel()
			if err == nil {
				most = max(most, int64(s.CachedInfo().State.Consumers))
			}
		}
	}()
	r.startAgent("nocons", map[string]string{"w.yaml": `
watches:
  - name: nocons
    on: kv:cfg/nc.>
    exec: ["%DIR%/rec.sh", "nocons"]
    env: {DIR: "%DIR%"}
`})
	got := r.waitOutcomes("nocons", 2)
	close(stop)
	if most := <-seen; most != 0 {
		t.Errorf("the events stream held %d consumers while the agent loaded", most)
	}
	runs := r.readLines("nocons.log")
	if strings.Join(runs, "|") != "kv.put v3|kv.put o1" {
		t.Errorf("runs %q, want the newest of each key, in stream order", runs)
	}
	for _, o := range got {
		if o.Status != events.StatusOK {
			t.Errorf("outcome %s for %s", o.Status, o.EventID)
		}
	}
	// An advisory published before the outcomes were stored has arrived
	// by the time a flush after them returns.
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if n := created.Load(); n != 0 {
		t.Errorf("%d consumers created while the agent loaded", n)
	}
	if len(got) != 2 {
		t.Errorf("%d outcomes, want 2", len(got))
	}
}
