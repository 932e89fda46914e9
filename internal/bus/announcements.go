package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

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
