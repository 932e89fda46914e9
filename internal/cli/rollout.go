package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/heraldhq/herald/internal/natsconn"
	"github.com/heraldhq/herald/internal/rollout"
	"github.com/nats-io/nats.go/jetstream"
)

const rolloutArgs = "status EVENT_ID | status --key KEY | halt EVENT_ID --reason TEXT | resume EVENT_ID [--reason TEXT] [flags]"

const rolloutHelp = `Show, halt and resume the rollouts of an event: how it spreads across the
hosts of each watch with a rollout: key (the herald_rollouts bucket).

  status EVENT_ID    each watch's rollout of the event: the plan (hosts in
                     order, canaries, max_hosts), hosts by state (pending,
                     waiting, running, ok, failed, timeout, error, halted,
                     superseded), failures, the halt if any, the time from
                     the event to the last host; then one line per host.
  status --key KEY   the same for the newest event of KEY with a rollout.
  halt EVENT_ID --reason TEXT
                     hosts that have not started do not run it: their
                     outcome is halted. Audited as a rollout.halted event.
  resume EVENT_ID [--reason TEXT]
                     hosts that have not run it take their turns again,
                     the halted ones too (their agents wait for the resume
                     while no newer event of the key came), and failures
                     count afresh. Audited as a rollout.resumed event.

--watch NAME limits any of them to one watch. Exit status: 0; 1 when the
event has no rollout.`

// rolloutCmd is "herald rollout".
type rolloutCmd struct {
	conn   connFlags
	fs     *flag.FlagSet
	key    string
	watch  string
	reason string
	json   bool
}

func (c *rolloutCmd) flags(fs *flag.FlagSet) {
	c.fs = fs
	fs.StringVar(&c.key, "key", "", "status: the newest event of this `KEY` with a rollout")
	fs.StringVar(&c.watch, "watch", "", "only the rollout of this watch `NAME`")
	fs.StringVar(&c.reason, "reason", "", "why the rollout is halted or resumed (audited)")
	fs.BoolVar(&c.json, "json", false, "status: print the rollouts as JSON")
	c.conn.add(fs)
}

// ErrNoRollout: the event has no rollout (exit 1).
var ErrNoRollout = errors.New("no rollout")

func (c *rolloutCmd) run(ctx context.Context, _ *Main, s stdio, args []string) error {
	if len(args) == 0 {
		return usageErrorf("want status, halt or resume")
	}
	verb := args[0]
	pos, err := parseInterleaved(c.fs, args[1:])
	if err != nil {
		return reported(usageErrorf("%v", err))
	}
	switch {
	case verb != "status" && verb != "halt" && verb != "resume":
		return usageErrorf("unknown rollout verb %q: want status, halt or resume", verb)
	case verb == "status" && c.key != "" && len(pos) != 0:
		return usageErrorf("status wants EVENT_ID or --key KEY, not both")
	case verb == "status" && c.key == "" && len(pos) != 1:
		return usageErrorf("status wants EVENT_ID or --key KEY")
	case verb != "status" && len(pos) != 1:
		return usageErrorf("%s wants exactly EVENT_ID", verb)
	case verb != "status" && c.key != "":
		return usageErrorf("--key goes with status")
	case verb == "halt" && strings.TrimSpace(c.reason) == "":
		return usageErrorf("halt needs --reason: a halt is audited (who, what, why)")
	}
	if err := c.conn.resolve(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, c.conn.timeout)
	defer cancel()
	nc, js, err := c.conn.connect()
	if err != nil {
		return err
	}
	defer nc.Close()
	if verb != "status" {
		return c.setHalt(ctx, s, js, pos[0], verb == "halt")
	}
	var all []rollout.Status
	if c.key != "" {
		all, err = rollout.Newest(ctx, js, c.key)
	} else {
		all, err = rollout.Read(ctx, js, pos[0])
	}
	if err != nil {
		return fmt.Errorf("read the rollouts: %w", streamHint(err))
	}
	all = c.only(all)
	if len(all) == 0 {
		what := "event " + strings.Join(pos, "")
		if c.key != "" {
			what = "any event of key " + c.key
		}
		return &ExitStatus{Code: 1, Msg: fmt.Sprintf("%v for %s", ErrNoRollout, what)}
	}
	if c.json {
		enc := json.NewEncoder(s.out)
		enc.SetIndent("", "  ")
		return enc.Encode(rolloutJSON(all))
	}
	for i, st := range all {
		if i > 0 {
			fmt.Fprintln(s.out)
		}
		printRollout(s, st)
	}
	return nil
}

func (c *rolloutCmd) only(all []rollout.Status) []rollout.Status {
	if c.watch == "" {
		return all
	}
	var out []rollout.Status
	for _, st := range all {
		if st.ID.Watch == c.watch {
			out = append(out, st)
		}
	}
	return out
}

// setHalt halts or resumes the event's rollouts and publishes the audit
// event (under the rollout's key).
func (c *rolloutCmd) setHalt(ctx context.Context, s stdio, js jetstream.JetStream, eventID string, halt bool) error {
	all, err := rollout.Read(ctx, js, eventID)
	if err != nil {
		return fmt.Errorf("read the rollouts: %w", streamHint(err))
	}
	all = c.only(all)
	if len(all) == 0 {
		return &ExitStatus{Code: 1, Msg: fmt.Sprintf("%v for event %s", ErrNoRollout, eventID)}
	}
	by := currentUser()
	if c.conn.cfg.Creds != "" {
		if name, err := natsconn.CredsName(c.conn.cfg.Creds); err == nil && name != "" {
			by = name
		}
	}
	var ids []rollout.ID
	for _, st := range all {
		ids = append(ids, st.ID)
	}
	ids, err = rollout.SetHalt(ctx, js, ids, halt, by, c.reason)
	if err != nil {
		return fmt.Errorf("%s: %w", map[bool]string{true: "halt", false: "resume"}[halt], streamHint(err))
	}
	verb, typ := "resumed", rollout.TypeResumed
	if halt {
		verb, typ = "halted", rollout.TypeHalted
	}
	if len(ids) == 0 {
		fmt.Fprintf(s.out, "event %s: nothing to do (every rollout is %s already)\n", eventID, verb)
		return nil
	}
	host, _ := os.Hostname()
	a := rollout.Audit{EventID: eventID, By: by, User: currentUser(), Host: host, Reason: c.reason}
	for _, id := range ids {
		a.Watches = append(a.Watches, id.Watch)
	}
	key := eventID
	if p := all[0].Plan; p != nil && p.Key != "" {
		key = p.Key
	}
	data, _ := json.Marshal(a)
	e := events.New("herald:rollout", typ, key, data)
	e.DataContentType = events.ContentTypeJSON
	if _, err := bus.PublishEvent(ctx, js, e); err != nil {
		fmt.Fprintf(s.errOut, "herald rollout: %s, but the %s audit event was not stored: %v\n", verb, typ, err)
	}
	fmt.Fprintf(s.out, "event %s: rollout %s for %s by %s\n", eventID, verb, strings.Join(a.Watches, ", "), by)
	return nil
}

func printRollout(s stdio, st rollout.Status) {
	p := st.Plan
	fmt.Fprintf(s.out, "rollout of event %s for watch %s\n", st.ID.EventID, st.ID.Watch)
	if p != nil {
		fmt.Fprintf(s.out, "  key %s; planned by %s at %s: %d hosts, max_hosts %d, order %s, lease %gs\n",
			p.Key, p.By, p.Created.Format(time.RFC3339), len(p.Hosts), p.Max, p.Order, p.LeaseS)
		if len(p.Canary) > 0 {
			fmt.Fprintf(s.out, "  canaries: %s (ok: %s)\n", strings.Join(p.Canary, ", "), listOr(st.Gate.CanaryOK, "none yet"))
		}
	}
	counts := st.Counts()
	states := make([]string, 0, len(counts))
	for k := range counts {
		states = append(states, k)
	}
	sort.Strings(states)
	var parts []string
	for _, k := range states {
		parts = append(parts, fmt.Sprintf("%d %s", counts[k], k))
	}
	fmt.Fprintf(s.out, "  hosts: %s\n", strings.Join(parts, ", "))
	g := st.Gate
	failLine := fmt.Sprintf("  failures: %d", g.Failures)
	if p != nil && p.HaltAt > 0 {
		failLine += fmt.Sprintf(" (halt_after_failures %d", p.HaltAt)
		if g.FailBase > 0 {
			failLine += fmt.Sprintf(", counted from %d at the last resume", g.FailBase)
		}
		failLine += ")"
	}
	fmt.Fprintln(s.out, failLine)
	switch {
	case g.Halt != nil:
		how := "by hand"
		if g.Halt.Auto {
			how = "automatically"
		}
		fmt.Fprintf(s.out, "  halted %s by %s at %s: %s\n", how, g.Halt.By, g.Halt.At.Format(time.RFC3339), g.Halt.Reason)
	case g.Resumed != nil:
		fmt.Fprintf(s.out, "  resumed by %s at %s: %s\n", g.Resumed.By, g.Resumed.At.Format(time.RFC3339), g.Resumed.Reason)
	}
	if d, ok := st.ToLastHost(); ok {
		fmt.Fprintf(s.out, "  from the event to the last host: %s\n", d.Round(time.Millisecond))
	}
	tw := tabwriter.NewWriter(s.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  HOST\tSTATE\tEXIT\tCANARY\tAT\tREASON")
	for _, h := range st.Hosts {
		exit := "-"
		if h.ExitCode != nil {
			exit = fmt.Sprint(*h.ExitCode)
		}
		canary := ""
		if h.Canary {
			canary = "yes"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", h.Host, h.State, exit, canary, h.At.Format(time.RFC3339), h.Reason)
	}
	_ = tw.Flush()
}

func listOr(l []string, none string) string {
	if len(l) == 0 {
		return none
	}
	return strings.Join(l, ", ")
}

// rolloutView is the JSON of herald rollout status --json.
type rolloutView struct {
	EventID      string              `json:"event_id"`
	Watch        string              `json:"watch"`
	Plan         *rollout.Plan       `json:"plan,omitempty"`
	Gate         rollout.Gate        `json:"gate"`
	Counts       map[string]int      `json:"counts"`
	Hosts        []rollout.HostState `json:"hosts"`
	Turns        map[int]string      `json:"turns,omitempty"`
	ToLastHostMS *float64            `json:"to_last_host_ms,omitempty"`
}

func rolloutJSON(all []rollout.Status) []rolloutView {
	out := make([]rolloutView, 0, len(all))
	for _, st := range all {
		v := rolloutView{EventID: st.ID.EventID, Watch: st.ID.Watch, Plan: st.Plan, Gate: st.Gate,
			Counts: st.Counts(), Hosts: st.Hosts, Turns: st.Turns}
		if v.Hosts == nil {
			v.Hosts = []rollout.HostState{}
		}
		if d, ok := st.ToLastHost(); ok {
			ms := float64(d.Microseconds()) / 1000
			v.ToLastHostMS = &ms
		}
		out = append(out, v)
	}
	return out
}
