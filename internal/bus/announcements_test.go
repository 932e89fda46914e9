package bus_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/heraldhq/herald/internal/testutil"
)

// TestAnnouncements_TheSubjectNamesTheAgent: the newest announcement of
// each agent, sorted; one without a name takes its subject's; one naming
// another agent than its subject, or not JSON, does not count and is
// reported.
func TestAnnouncements_TheSubjectNamesTheAgent(t *testing.T) {
	s := testutil.RunNATS(t)
	nc, js := testutil.ConnectStreams(t, s)
	_ = nc
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	put := func(subject string, a any) {
		t.Helper()
		b, ok := a.([]byte)
		if !ok {
			b, _ = json.Marshal(a)
		}
		if _, err := js.Publish(ctx, subject, b); err != nil {
			t.Fatal(err)
		}
	}
	put(events.AgentSubject("web-2"), events.Announcement{Name: "web-2", Version: "old"})
	put(events.AgentSubject("web-2"), events.Announcement{Name: "web-2", Version: "new"})
	put(events.AgentSubject("web-1.example"), events.Announcement{})
	put(events.AgentSubject("mallory"), events.Announcement{Name: "web-3"})
	put(events.AgentSubject("broken"), []byte("{"))
	var skipped []string
	anns, err := bus.Announcements(ctx, js, func(subj string, err error) { skipped = append(skipped, subj+": "+err.Error()) })
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range anns {
		names = append(names, a.Name+"@"+a.Version)
	}
	if !slices.Equal(names, []string{"web-1.example@", "web-2@new"}) {
		t.Errorf("announcements %v, want web-1.example (named by its subject) and web-2's newest", names)
	}
	if len(skipped) != 2 || !strings.Contains(strings.Join(skipped, "\n"), "names another agent than its subject") {
		t.Errorf("skipped %q, want mallory's forged one and the broken one", skipped)
	}
}

// TestLastOutcomes_TheSubjectNamesHostAndWatch: the newest outcome of each
// (host, watch), its host and watch those of its subject whatever the
// body says; what is not an outcome is reported.
func TestLastOutcomes_TheSubjectNamesHostAndWatch(t *testing.T) {
	s := testutil.RunNATS(t)
	_, js := testutil.ConnectStreams(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	put := func(subject string, b []byte) {
		t.Helper()
		if _, err := js.Publish(ctx, subject, b); err != nil {
			t.Fatal(err)
		}
	}
	o := func(host, id string) []byte {
		b, _ := json.Marshal(events.Outcome{EventID: id, Host: host, Watch: "w", Status: events.StatusOK})
		return b
	}
	put(events.OutcomeSubject("web-1", "git-pull"), o("web-1", "e1"))
	put(events.OutcomeSubject("web-1", "git-pull"), o("web-1", "e2"))
	put(events.OutcomeSubject("web-2", "git-pull"), o("web-9", "e3"))
	put(events.OutcomeSubject("web-3", "git-pull"), []byte("{"))
	var skipped []string
	outs, err := bus.LastOutcomes(ctx, js, func(subj string, err error) { skipped = append(skipped, subj) })
	if err != nil {
		t.Fatal(err)
	}
	if got := outs[bus.HostWatch{Host: "web-1", Watch: "git-pull"}]; got.EventID != "e2" || got.Stored.IsZero() {
		t.Errorf("web-1's newest: %+v", got)
	}
	if got := outs[bus.HostWatch{Host: "web-2", Watch: "git-pull"}]; got.EventID != "e3" || got.Host != "web-2" || got.Watch != "git-pull" {
		t.Errorf("web-2's, whose body names web-9: %+v", got)
	}
	if len(outs) != 2 || len(skipped) != 1 {
		t.Errorf("outcomes %d, skipped %q", len(outs), skipped)
	}
}
