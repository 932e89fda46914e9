package cli_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/events/call"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestMain_RunStatus_NoConsumerAPI: herald status reads announcements,
// outcomes and the call hooks state with direct gets, so a viewer denied
// the whole consumer API ($JS.API.CONSUMER.>) sees everything, deleted
// call hooks state left out, and the server creates no consumer.
func TestMain_RunStatus_NoConsumerAPI(t *testing.T) {
	t.Parallel()
	s := testutil.RunNATSWithOptions(t, &server.Options{Users: []*server.User{
		{Username: "admin", Password: "a"},
		{Username: "viewer", Password: "v", Permissions: &server.Permissions{
			Publish: &server.SubjectPermission{Allow: []string{">"}, Deny: []string{"$JS.API.CONSUMER.>"}},
		}},
	}})
	nc, js := testutil.ConnectStreams(t, s, nats.UserInfo("admin", "a"))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	now := time.Now().UTC()
	testutil.Announce(t, js, events.Announcement{Name: "web1", Version: "1.2.0", Started: now, Heartbeat: now, Interval: 10,
		Watches: []events.WatchSummary{{Name: "git-pull", On: "event:git.push", RunMode: "queue"}}})
	testutil.Announce(t, js, events.Announcement{Name: "web2", Version: "1.2.0", Started: now, Heartbeat: now, Interval: 10})
	publishOutcome(t, js, events.Outcome{EventID: "ev-1", EventType: "git.push", Key: "/r", Watch: "git-pull", Host: "web1", Status: events.StatusFailed, ExitCode: intp(1)})
	publishOutcome(t, js, events.Outcome{EventID: "ev-2", EventType: "git.push", Key: "/r", Watch: "git-pull", Host: "web1", Status: events.StatusOK, ExitCode: intp(0)})
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: call.StatusBucket})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"d1", "d2"} {
		b, _ := json.Marshal(call.HooksStatus{Dispatcher: d, HooksDisabled: "reason of " + d, Time: now})
		if _, err := kv.Put(ctx, d, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := kv.Delete(ctx, "d2"); err != nil {
		t.Fatal(err)
	}
	var created int
	adv, err := nc.SubscribeSync("$JS.EVENT.ADVISORY.CONSUMER.CREATED.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	pw := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(pw, []byte("v\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := run(t, nil, nil, "status", "--json", "--nats", s.ClientURL(), "--nats-user", "viewer", "--nats-password-file", pw)
	if r.err != nil {
		t.Fatalf("status as a viewer without the consumer API: %v\n%s", r.err, r.errOut)
	}
	var doc struct {
		statusJSON
		CallHooks []call.HooksStatus `json:"call_hooks"`
	}
	if err := json.Unmarshal([]byte(r.out), &doc); err != nil {
		t.Fatalf("json %q: %v", r.out, err)
	}
	if len(doc.Agents) != 2 || doc.Agents[0].Name != "web1" || doc.Agents[1].Name != "web2" {
		t.Fatalf("agents %+v, want web1 and web2", doc.Agents)
	}
	if w := doc.Agents[0].Watches; len(w) != 1 || w[0].LastOutcome == nil || w[0].LastOutcome.EventID != "ev-2" {
		t.Errorf("web1 watches %+v, want git-pull with its last outcome ev-2", w)
	}
	if len(doc.CallHooks) != 1 || doc.CallHooks[0].Dispatcher != "d1" || doc.CallHooks[0].HooksDisabled != "reason of d1" {
		t.Errorf("call hooks %+v, want d1 only (d2 deleted)", doc.CallHooks)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := adv.NextMsg(10 * time.Millisecond); err != nil {
			break
		}
		created++
	}
	if created != 0 {
		t.Errorf("status created %d consumers", created)
	}
}
