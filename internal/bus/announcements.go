package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrNotItsSubject: an announcement naming another agent than the subject
// it is stored on (only agent NAME may publish on herald.agent.NAME when
// identities are on): it does not count.
var ErrNotItsSubject = errors.New("the announcement names another agent than its subject")

// Announcements returns the newest announcement of every agent in the
// agents stream, sorted by name, read with multi-last direct gets (no
// consumer). The subject is the authority for the agent's name: an
// announcement without a name takes its subject's, one naming another
// agent does not count. skip, when set, hears of each one that does not
// count or does not decode.
func Announcements(ctx context.Context, js jetstream.JetStream, skip func(subject string, err error)) ([]events.Announcement, error) {
	var out []events.Announcement
	err := LastMsgs(ctx, js, events.AgentsStream, []string{events.AgentPrefix + ".>"}, func(m *jetstream.RawStreamMsg) error {
		name, err := events.DecodeToken(strings.TrimPrefix(m.Subject, events.AgentPrefix+"."))
		var a events.Announcement
		if err == nil {
			err = json.Unmarshal(m.Data, &a)
		}
		switch {
		case err != nil:
			err = fmt.Errorf("bad announcement: %w", err)
		case a.Name == "":
			a.Name = name
		case a.Name != name:
			err = fmt.Errorf("%w (%q)", ErrNotItsSubject, a.Name)
		}
		if err != nil {
			if skip != nil {
				skip(m.Subject, err)
			}
			return nil
		}
		out = append(out, a)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the agents' announcements: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// HostWatch names one watch of one agent.
type HostWatch struct{ Host, Watch string }

// StoredOutcome is an outcome with when the stream stored it.
type StoredOutcome struct {
	events.Outcome
	Stored time.Time
}

// LastOutcomes returns the newest outcome of every agent's watch in the
// outcomes stream, read with multi-last direct gets (no consumer). The
// subject herald.outcome.HOST.WATCH is the authority for the host and the
// watch (only agent HOST may publish there when identities are on): they
// are set from it. skip, when set, hears of each message that is not an
// outcome.
func LastOutcomes(ctx context.Context, js jetstream.JetStream, skip func(subject string, err error)) (map[HostWatch]StoredOutcome, error) {
	out := map[HostWatch]StoredOutcome{}
	err := LastMsgs(ctx, js, events.OutcomesStream, []string{events.OutcomePrefix + ".>"}, func(m *jetstream.RawStreamMsg) error {
		var o events.Outcome
		err := json.Unmarshal(m.Data, &o)
		toks := strings.Split(strings.TrimPrefix(m.Subject, events.OutcomePrefix+"."), ".")
		if err == nil && len(toks) != 2 {
			err = errors.New("not an outcome subject")
		}
		var h, w string
		if err == nil {
			h, err = events.DecodeToken(toks[0])
		}
		if err == nil {
			w, err = events.DecodeToken(toks[1])
		}
		if err != nil {
			if skip != nil {
				skip(m.Subject, fmt.Errorf("bad outcome: %w", err))
			}
			return nil
		}
		o.Host, o.Watch = h, w
		out[HostWatch{h, w}] = StoredOutcome{Outcome: o, Stored: m.Time}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the outcomes: %w", err)
	}
	return out, nil
}
