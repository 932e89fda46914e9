package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"github.com/heraldhq/herald/internal/display"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/events/call"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/nats-io/nats.go/jetstream"
)

// Agent states shown by status.
const (
	StateOK      = "ok"      // heartbeats arrive
	StateStale   = "stale"   // no heartbeat for events.StaleAfter heartbeat intervals
	StateStopped = "stopped" // the agent announced that it is stopping
)

// statusCmd is "herald status".
type statusCmd struct {
	conn connFlags
	json bool
}

func (c *statusCmd) flags(fs *flag.FlagSet) {
	fs.BoolVar(&c.json, "json", false, "print one JSON document")
	c.conn.add(fs)
}

// statusDoc is the --json document.
type statusDoc struct {
	Now    time.Time     `json:"now"`
	Agents []agentStatus `json:"agents"`
	// CallHooks is each dispatcher's call hooks state (herald call),
	// including the dispatcher-wide hooks_disabled switch.
	CallHooks []call.HooksStatus `json:"call_hooks,omitempty"`
}

// agentStatus is one agent's latest announcement, judged.
type agentStatus struct {
	Name      string    `json:"name"`
	Version   string    `json:"version"`
	Started   time.Time `json:"started"`
	Heartbeat time.Time `json:"heartbeat"`
	Interval  float64   `json:"heartbeat_interval_s"`
	// AgeS is how long ago the last heartbeat was, in seconds.
	AgeS    float64       `json:"heartbeat_age_s"`
	State   string        `json:"state"`
	Watches []watchStatus `json:"watches"`
}

// watchStatus is one announced watch and its last outcome, if any.
type watchStatus struct {
	Name    string `json:"name"`
	On      string `json:"on"`
	RunMode string `json:"run_mode"`
	File    string `json:"file,omitempty"`
	// LastOutcomeAt is when the last outcome was stored.
	LastOutcomeAt time.Time       `json:"last_outcome_at,omitzero"`
	LastOutcome   *events.Outcome `json:"last_outcome"`
	// Waiting lists the events waiting for their rollout turn there.
	Waiting []string `json:"waiting,omitempty"`
}

func (c *statusCmd) run(ctx context.Context, m *Main, s stdio, args []string) error {
	if len(args) > 0 {
		return usageErrorf("unexpected argument %q", args[0])
	}
	nc, js, err := c.conn.connect()
	if err != nil {
		return err
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(ctx, c.conn.timeout)
	defer cancel()

	anns, err := bus.Announcements(ctx, js, func(subj string, err error) {
		fmt.Fprintf(s.errOut, "herald status: skipping %s: %v\n", subj, err)
	})
	if err != nil {
		return streamHint(err)
	}
	outcomes := map[bus.HostWatch]bus.StoredOutcome{}
	if len(anns) > 0 {
		outcomes, err = bus.LastOutcomes(ctx, js, func(subj string, err error) {
			fmt.Fprintf(s.errOut, "herald status: skipping %s: %v\n", subj, err)
		})
		if err != nil {
			return streamHint(err)
		}
	}
	doc := buildStatus(m.now(), anns, outcomes)
	if doc.CallHooks, err = readCallHooks(ctx, js, s.errOut); err != nil {
		return err
	}
	if c.json {
		enc := json.NewEncoder(s.out)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		return enc.Encode(doc)
	}
	return writeStatusTable(s.out, doc)
}

func buildStatus(now time.Time, anns []events.Announcement, outcomes map[bus.HostWatch]bus.StoredOutcome) statusDoc {
	doc := statusDoc{Now: now.UTC(), Agents: []agentStatus{}}
	sort.Slice(anns, func(i, j int) bool { return anns[i].Name < anns[j].Name })
	for _, a := range anns {
		age := max(now.Sub(a.Heartbeat), 0)
		as := agentStatus{
			Name:      a.Name,
			Version:   a.Version,
			Started:   a.Started,
			Heartbeat: a.Heartbeat,
			Interval:  a.Interval,
			AgeS:      age.Seconds(),
			State:     agentState(a, now),
			Watches:   []watchStatus{},
		}
		for _, w := range a.Watches {
			ws := watchStatus{Name: w.Name, On: w.On, RunMode: w.RunMode, File: w.File, Waiting: w.Waiting}
			if so, ok := outcomes[bus.HostWatch{Host: a.Name, Watch: w.Name}]; ok {
				o := so.Outcome
				ws.LastOutcome, ws.LastOutcomeAt = &o, so.Stored
			}
			as.Watches = append(as.Watches, ws)
		}
		doc.Agents = append(doc.Agents, as)
	}
	return doc
}

func agentState(a events.Announcement, now time.Time) string {
	switch {
	case a.Stopping:
		return StateStopped
	case !a.Live(now):
		return StateStale
	}
	return StateOK
}

func writeStatusTable(w io.Writer, doc statusDoc) error {
	if err := writeAgentsTable(w, doc); err != nil {
		return err
	}
	return writeCallHooks(w, doc)
}

func writeAgentsTable(w io.Writer, doc statusDoc) error {
	if len(doc.Agents) == 0 {
		_, err := fmt.Fprintf(w, "no agents have announced themselves (nothing on %s.> in stream %s)\n", events.AgentPrefix, events.AgentsStream)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AGENT\tVERSION\tSTARTED\tLAST HEARTBEAT\tSTATE")
	for _, a := range doc.Agents {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", quoteIfNeeded(a.Name), dash(a.Version), stamp(a.Started), when(doc.Now, a.Heartbeat), a.State)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, a := range doc.Agents {
		fmt.Fprintf(w, "\nwatches of %s:\n", quoteIfNeeded(a.Name))
		if len(a.Watches) == 0 {
			fmt.Fprintln(w, "  (none)")
			continue
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  WATCH\tON\tRUN MODE\tLAST\tEXIT\tWHEN\tEVENT")
		for _, ws := range a.Watches {
			last, exit, at, ev := "-", "-", "-", "-"
			if o := ws.LastOutcome; o != nil {
				last, at, ev = string(o.Status), when(doc.Now, ws.LastOutcomeAt), dash(o.EventID)
				if n := max(o.SupersededCount, len(o.Superseded)); n > 0 {
					ev += fmt.Sprintf(" (+%d superseded)", n)
				}
				exit = display.Exit(o.ExitCode, o.Signal)
			}
			if len(ws.Waiting) > 0 {
				// Waiting for its rollout turn: what it waits with says
				// more than the last outcome.
				last, exit, at, ev = "waiting", "-", "-", strings.Join(ws.Waiting, ", ")
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\n", quoteIfNeeded(ws.Name), dash(ws.On), dash(ws.RunMode), last, exit, at, ev)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// when is "TIME (AGE ago)".
func when(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return fmt.Sprintf("%s (%s ago)", stamp(t), display.Age(now.Sub(t)))
}

// readCallHooks reads every dispatcher's call hooks state from the
// call.StatusBucket bucket (none when no dispatcher has run the engine).
func readCallHooks(ctx context.Context, js jetstream.JetStream, warn io.Writer) ([]call.HooksStatus, error) {
	// The bucket's stream read with direct gets (a key's newest
	// revision), not a KV watch: status needs no consumer.
	var out []call.HooksStatus
	prefix := "$KV." + call.StatusBucket + "."
	err := bus.LastMsgs(ctx, js, "KV_"+call.StatusBucket, []string{prefix + ">"}, func(m *jetstream.RawStreamMsg) error {
		if op := m.Header.Get("KV-Operation"); op == "DEL" || op == "PURGE" {
			return nil // deleted
		}
		var st call.HooksStatus
		if err := json.Unmarshal(m.Data, &st); err != nil {
			fmt.Fprintf(warn, "herald status: skipping call hooks state %s: %v\n", strings.TrimPrefix(m.Subject, prefix), err)
			return nil
		}
		out = append(out, st)
		return nil
	})
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, nil // no dispatcher has run call hooks yet
	}
	if err != nil {
		return nil, streamHint(err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Dispatcher < out[j].Dispatcher })
	return out, nil
}

// writeCallHooks shows each dispatcher's call hooks: the hooks_disabled
// switch first, then the hooks by phase and the files that fail to load.
func writeCallHooks(w io.Writer, doc statusDoc) error {
	for _, st := range doc.CallHooks {
		state := "on"
		switch {
		case st.Stopping:
			state = "stopped"
		case st.HooksDisabled != "":
			state = fmt.Sprintf("DISABLED: %s (every call is allowed without hooks and audited)", st.HooksDisabled)
		}
		fmt.Fprintf(w, "\ncall hooks of dispatcher %s: %s (as of %s)\n", quoteIfNeeded(st.Dispatcher), state, when(doc.Now, st.Time))
		shown := false
		for _, phase := range []string{call.PhasePre, call.PhasePost, call.PhaseErr, call.PhaseGeneric} {
			if names := st.Hooks[phase]; len(names) > 0 {
				fmt.Fprintf(w, "  %-8s %s\n", phase, strings.Join(names, ", "))
				shown = true
			}
		}
		if !shown {
			fmt.Fprintln(w, "  (no hooks)")
		}
		if len(st.Jobs) > 0 {
			fmt.Fprintf(w, "  jobs     %s\n", strings.Join(st.Jobs, ", "))
		}
		files := make([]string, 0, len(st.Broken))
		for f := range st.Broken {
			files = append(files, f)
		}
		sort.Strings(files)
		for _, f := range files {
			fmt.Fprintf(w, "  BROKEN   %s (its previous version stays active):\n    %s\n", f, strings.ReplaceAll(st.Broken[f], "\n", "\n    "))
		}
	}
	return nil
}
