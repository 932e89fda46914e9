package feed_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// TestFeed_ReconnectReadRetriedWhenTheStreamCheckFails: after a reconnect
// the feed checks the stream, then reads what the live path lost while it
// was away. When that check fails (the cluster still electing, a starved
// server; here the server refuses the agent's stream info for a while),
// the read is not given up: it is tried again at the next tick, so the
// missed event arrives without waiting for the periodic verify (an hour
// in this test).
func TestFeed_ReconnectReadRetriedWhenTheStreamCheckFails(t *testing.T) {
	users := func(denyInfo bool) []*server.User {
		agent := &server.User{Username: "agent", Password: "a"}
		if denyInfo {
			agent.Permissions = &server.Permissions{Publish: &server.SubjectPermission{
				Allow: []string{">"}, Deny: []string{"$JS.API.STREAM.INFO.>"},
			}}
		}
		return []*server.User{{Username: "admin", Password: "x"}, agent}
	}
	opts := &server.Options{Users: users(false)}
	s := testutil.RunNATSWithOptions(t, opts)
	reload := func(denyInfo bool) {
		t.Helper()
		o := *opts
		o.Users = users(denyInfo)
		if err := s.ReloadOptions(&o); err != nil {
			t.Fatal(err)
		}
	}
	_, js := testutil.ConnectStreams(t, s, nats.UserInfo("admin", "x"))
	var mu sync.Mutex
	var denied bool
	e, p := proxiedEnv(t, s, nats.UserInfo("agent", "a"),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if strings.Contains(err.Error(), "STREAM.INFO") {
				mu.Lock()
				denied = true
				mu.Unlock()
			}
		}))
	nc := e.nc
	pub := env{js: js}
	r := &recorder{auto: true}
	e.start(t, r, events.EventPrefix+".deploy.>")
	first := pub.publish(t, "/a", 0)
	waitSeqs(t, r, []uint64{first})

	cut(t, e, p)
	missed := pub.publish(t, "/b", 0)
	reload(true)
	p.SetDown(false)
	// Reconnected, and the feed's stream check after it refused.
	testutil.Eventually(t, 20*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if !nc.IsConnected() || !denied {
			return fmt.Errorf("connected %v, stream info refused %v", nc.IsConnected(), denied)
		}
		return nil
	})
	reload(false)
	testutil.Eventually(t, 40*time.Second, func() error {
		if got := r.seqs(); len(got) != 2 || got[1] != missed {
			return fmt.Errorf("delivered %v, want %v then the missed %d", got, first, missed)
		}
		return nil
	})
}
