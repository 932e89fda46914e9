package cli_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/cli"
	"github.com/heraldhq/herald/internal/testutil"
)

// statusJSON mirrors the documented --json output.
type statusJSON struct {
	Now    time.Time `json:"now"`
	Agents []struct {
		Name      string    `json:"name"`
		Version   string    `json:"version"`
		Started   time.Time `json:"started"`
		Heartbeat time.Time `json:"heartbeat"`
		Interval  float64   `json:"heartbeat_interval_s"`
		AgeS      float64   `json:"heartbeat_age_s"`
		State     string    `json:"state"`
		Watches   []struct {
			Name          string          `json:"name"`
			On            string          `json:"on"`
			RunMode       string          `json:"run_mode"`
			LastOutcomeAt time.Time       `json:"last_outcome_at"`
			LastOutcome   *events.Outcome `json:"last_outcome"`
		} `json:"watches"`
	} `json:"agents"`
}

func TestMain_RunStatus(t *testing.T) {
	s, js := natsWithStreams(t)
	url := s.ClientURL()
	now := time.Now().UTC().Truncate(time.Second)
	m := &cli.Main{Now: func() time.Time { return now }}

	t.Run("no agents", func(t *testing.T) {
		r := run(t, m, nil, "status", "--nats", url)
		if r.err != nil || !strings.Contains(r.out, "no agents") {
			t.Errorf("exit %d stdout %q stderr %q: want 0 and 'no agents'", r.code(), r.out, r.errOut)
		}
		r = run(t, m, nil, "status", "--nats", url, "--json")
		var doc statusJSON
		if err := json.Unmarshal([]byte(r.out), &doc); err != nil || r.err != nil {
			t.Fatalf("json %q: %v %v", r.out, err, r.err)
		}
		if doc.Agents == nil || len(doc.Agents) != 0 || !strings.Contains(r.out, `"agents": []`) {
			t.Errorf("agents %v in %q, want an empty list", doc.Agents, r.out)
		}
	})

	watches := []events.WatchSummary{
		{Name: "git-pull", On: "event:git.push", RunMode: "queue", File: "/etc/herald/watches.d/git.yaml"},
		{Name: "conf", On: "zk:/app/**", RunMode: "discard", File: "/etc/herald/watches.d/zk.yaml"},
	}
	// web1 announced twice; only the latest counts.
	testutil.Announce(t, js, events.Announcement{Name: "web1", Version: "0.9.0", Started: now.Add(-2 * time.Hour), Heartbeat: now.Add(-time.Hour), Interval: 10})
	testutil.Announce(t, js, events.Announcement{Name: "web1", Version: "1.2.0", Started: now.Add(-time.Hour), Heartbeat: now.Add(-5 * time.Second), Interval: 10, Watches: watches})
	// web2's last heartbeat is 31s old with a 10s interval: stale.
	testutil.Announce(t, js, events.Announcement{Name: "web2", Version: "1.2.0", Started: now.Add(-time.Hour), Heartbeat: now.Add(-31 * time.Second), Interval: 10,
		Watches: []events.WatchSummary{{Name: "backup", On: "event:db.dump", RunMode: "parallel"}}})
	// web3 said goodbye.
	testutil.Announce(t, js, events.Announcement{Name: "web3", Version: "1.1.0", Started: now.Add(-time.Hour), Heartbeat: now, Interval: 10, Stopping: true})

	publishOutcome(t, js, events.Outcome{EventID: "ev-old", EventType: "git.push", Key: "/r", Watch: "git-pull", Host: "web1", Status: events.StatusFailed, ExitCode: intp(1)})
	publishOutcome(t, js, events.Outcome{EventID: "ev-new", EventType: "git.push", Key: "/r", Watch: "git-pull", Host: "web1", Status: events.StatusOK, ExitCode: intp(0),
		Superseded: []string{"ev-s1", "ev-s2"}, SupersededCount: 2})
	publishOutcome(t, js, events.Outcome{EventID: "ev-b", EventType: "db.dump", Key: "/db", Watch: "backup", Host: "web2", Status: events.StatusTimeout, Signal: "KILL"})
	// Same watch name on another host: must not leak into web1's row.
	publishOutcome(t, js, events.Outcome{EventID: "ev-other", EventType: "zk.changed", Key: "/app/x", Watch: "conf", Host: "web9", Status: events.StatusOK, ExitCode: intp(0)})

	t.Run("json", func(t *testing.T) {
		r := run(t, m, nil, "status", "--nats", url, "--json")
		if r.err != nil {
			t.Fatalf("status: %v\n%s", r.err, r.errOut)
		}
		var doc statusJSON
		if err := json.Unmarshal([]byte(r.out), &doc); err != nil {
			t.Fatalf("json %q: %v", r.out, err)
		}
		if len(doc.Agents) != 3 {
			t.Fatalf("agents %+v, want web1, web2, web3", doc.Agents)
		}
		w1, w2, w3 := doc.Agents[0], doc.Agents[1], doc.Agents[2]
		if w1.Name != "web1" || w1.Version != "1.2.0" || w1.State != cli.StateOK || w1.AgeS != 5 || !w1.Heartbeat.Equal(now.Add(-5*time.Second)) {
			t.Errorf("web1 = %+v, want version 1.2.0, ok, 5s old", w1)
		}
		if w2.Name != "web2" || w2.State != cli.StateStale {
			t.Errorf("web2 = %+v, want stale", w2)
		}
		if w3.Name != "web3" || w3.State != cli.StateStopped {
			t.Errorf("web3 = %+v, want stopped", w3)
		}
		if len(w1.Watches) != 2 || w1.Watches[0].Name != "git-pull" || w1.Watches[1].Name != "conf" {
			t.Fatalf("web1 watches %+v, want git-pull and conf", w1.Watches)
		}
		gp, conf := w1.Watches[0], w1.Watches[1]
		if gp.On != "event:git.push" || gp.RunMode != "queue" || gp.LastOutcome == nil || gp.LastOutcome.EventID != "ev-new" ||
			gp.LastOutcome.Status != events.StatusOK || gp.LastOutcomeAt.IsZero() {
			t.Errorf("git-pull = %+v, want its last outcome ev-new ok", gp)
		}
		if conf.LastOutcome != nil {
			t.Errorf("conf last outcome %+v, want none (ev-other is web9's)", conf.LastOutcome)
		}
		if len(w2.Watches) != 1 || w2.Watches[0].LastOutcome == nil || w2.Watches[0].LastOutcome.Status != events.StatusTimeout {
			t.Errorf("web2 watches %+v, want backup with a timeout outcome", w2.Watches)
		}
	})

	t.Run("table", func(t *testing.T) {
		r := run(t, m, nil, "status", "--nats", url)
		if r.err != nil {
			t.Fatalf("status: %v\n%s", r.err, r.errOut)
		}
		for _, re := range []string{
			`(?m)^AGENT +VERSION +STARTED +LAST HEARTBEAT +STATE$`,
			`(?m)^web1 +1\.2\.0 +\S+Z +\S+Z \(5s ago\) +ok$`,
			`(?m)^web2 +1\.2\.0 +\S+Z +\S+Z \(31s ago\) +stale$`,
			`(?m)^web3 +1\.1\.0 +\S+Z +\S+Z \(0s ago\) +stopped$`,
			`(?m)^watches of web1:\n  WATCH +ON +RUN MODE +LAST +EXIT +WHEN +EVENT$`,
			`(?m)^  git-pull +event:git\.push +queue +ok +0 +\S+Z \(\S+ ago\) +ev-new \(\+2 superseded\)$`,
			`(?m)^  conf +zk:/app/\*\* +discard +- +- +- +-$`,
			`(?m)^  backup +event:db\.dump +parallel +timeout +sig KILL +\S+Z \(\S+ ago\) +ev-b$`,
			`(?m)^watches of web3:\n  \(none\)$`,
		} {
			if !regexp.MustCompile(re).MatchString(r.out) {
				t.Errorf("table does not match %s:\n%s", re, r.out)
			}
		}
		if strings.Contains(r.out, "ev-old") || strings.Contains(r.out, "ev-other") || strings.Contains(r.out, "0.9.0") {
			t.Errorf("table shows superseded data:\n%s", r.out)
		}
	})

	t.Run("without Herald's streams", func(t *testing.T) {
		bare := testutil.RunNATS(t)
		r := run(t, m, nil, "status", "--nats", bare.ClientURL())
		if r.code() != cli.ExitFailure || !strings.Contains(r.errOut, "stream not found") || !strings.Contains(r.errOut, "dispatcher") {
			t.Errorf("exit %d stderr %q: want 1 and a hint", r.code(), r.errOut)
		}
	})
}
