package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/eventreport"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Exit statuses of herald publish --wait (0: every expected host ran ok,
// or none was expected).
const (
	// ExitHostsFailed: an expected host failed, timed out, could not start
	// or was halted.
	ExitHostsFailed = 1
	// ExitHostsMissing: not every expected host decided the event before
	// --wait-timeout (and none failed).
	ExitHostsMissing = 4
)

// DefaultWaitTimeout is herald publish --wait's default --wait-timeout.
const DefaultWaitTimeout = 10 * time.Minute

// waitFlags are herald publish's --wait, --wait-timeout, --watch and
// --json.
type waitFlags struct {
	wait    bool
	timeout time.Duration
	watch   string
	json    bool
	set     map[string]bool
}

func (w *waitFlags) add(fs *flag.FlagSet) {
	fs.BoolVar(&w.wait, "wait", false, "after the event is stored, wait until every live agent holding a watch that selects it has decided it; print a summary (exit 1: a host failed, 4: a host did not decide in time)")
	fs.DurationVar(&w.timeout, "wait-timeout", DefaultWaitTimeout, "with --wait: give up waiting after this `duration` (exit 4, the missing hosts listed)")
	fs.StringVar(&w.watch, "watch", "", "with --wait: wait only for the watch `NAME`")
	fs.BoolVar(&w.json, "json", false, "with --wait: print the summary as one JSON document (nothing else on stdout)")
}

// check refuses the --wait flags without --wait.
func (w *waitFlags) check(fs *flag.FlagSet) error {
	if w.wait {
		if w.timeout <= 0 {
			return usageErrorf("--wait-timeout: must be positive")
		}
		return nil
	}
	var bad string
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "wait-timeout", "watch", "json":
			if bad == "" {
				bad = f.Name
			}
		}
	})
	if bad != "" {
		return usageErrorf("--%s needs --wait", bad)
	}
	return nil
}

// errWaitDenied explains a refused read of --wait.
const errWaitDenied = "the credentials' identity may not read what --wait reads (HERALD_AGENTS, HERALD_OUTCOMES and KV_herald_rollouts by direct gets): a publisher needs the wait right (herald auth add-publisher NAME ... --may-wait; see herald auth ls)"

// outcomesFrom is the first outcome sequence that may belong to an event
// published after it is read.
func (c *publishCmd) outcomesFrom(ctx context.Context, js jetstream.JetStream) (uint64, error) {
	dctx, stop := c.conn.deniedCause(ctx)
	defer stop()
	st, err := js.Stream(dctx, events.OutcomesStream)
	if cause := context.Cause(dctx); errors.Is(cause, nats.ErrPermissionViolation) {
		return 0, fmt.Errorf("--wait: %w (%s)", cause, errWaitDenied)
	}
	if err != nil {
		return 0, fmt.Errorf("--wait: stream %s: %w", events.OutcomesStream, err)
	}
	return st.CachedInfo().State.LastSeq + 1, nil
}

// run waits for the fleet's answer to ev and prints it; the error carries
// the exit status.
func (w *waitFlags) run(ctx context.Context, js jetstream.JetStream, s stdio, ev eventreport.Event, from uint64) error {
	wctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	progress := progressLine(s.errOut)
	sum, err := eventreport.Follow(wctx, js, eventreport.Config{Event: ev, Watch: w.watch, OutcomesFrom: from}, progress.show)
	progress.clear()
	if err != nil && !(errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil) {
		return fmt.Errorf("--wait: %w", err)
	}
	if err != nil && err != context.DeadlineExceeded { //nolint:errorlint // wrapped: the last read failed too
		fmt.Fprintf(s.errOut, "herald publish: note: %v\n", err)
	}
	if w.json {
		enc := json.NewEncoder(s.out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(sum); err != nil {
			return err
		}
	} else {
		printSummary(s.out, sum)
	}
	switch {
	case len(sum.Failures()) > 0:
		return &ExitStatus{Code: ExitHostsFailed, Msg: fmt.Sprintf("%d of %d hosts failed", len(sum.Failures()), sum.Expected)}
	case !sum.Done:
		return &ExitStatus{Code: ExitHostsMissing, Msg: fmt.Sprintf("%d of %d hosts did not decide within %v", sum.Expected-sum.Decided, sum.Expected, w.timeout)}
	}
	return nil
}

// printSummary writes the human form of sum: one line of counts, then a
// line for each failed host (with its stderr's last lines indented) and
// each missing one.
func printSummary(out io.Writer, sum eventreport.Summary) {
	if sum.Expected == 0 {
		fmt.Fprintln(out, "no live agent holds a watch that selects this event: nothing to wait for")
		return
	}
	var counts []string
	for _, st := range append(statusNames(), eventreport.StatusPending) {
		if n := sum.Counts[st]; n > 0 {
			counts = append(counts, fmt.Sprintf("%d %s", n, st))
		}
	}
	fmt.Fprintf(out, "%d expected, %d decided: %s\n", sum.Expected, sum.Decided, strings.Join(counts, ", "))
	for _, h := range sum.Failures() {
		line := fmt.Sprintf("%s: %s (watch %s)", h.Status, h.Host, h.Watch)
		if h.ExitCode != nil {
			line += fmt.Sprintf(" exit %d", *h.ExitCode)
		}
		if h.Signal != "" {
			line += " signal " + h.Signal
		}
		if h.DurationMS > 0 {
			line += " after " + (time.Duration(h.DurationMS * float64(time.Millisecond))).Round(time.Millisecond).String()
		}
		if h.Error != "" {
			line += ": " + h.Error
		}
		fmt.Fprintln(out, line)
		if h.Stderr != "" {
			for _, l := range strings.Split(h.Stderr, "\n") {
				fmt.Fprintln(out, "    "+l)
			}
		}
	}
	for _, h := range sum.Hosts {
		if h.Status == eventreport.StatusPending {
			fmt.Fprintf(out, "missing: %s (watch %s)\n", h.Host, h.Watch)
		}
	}
}

func statusNames() []string {
	out := make([]string, len(events.Statuses))
	for i, s := range events.Statuses {
		out[i] = string(s)
	}
	return out
}

// progress is the one updating line of --wait on a terminal.
type progress struct {
	w     io.Writer // nil: not a terminal
	shown bool
}

// progressLine returns the progress of w: nothing unless w is a terminal.
func progressLine(w io.Writer) *progress {
	f, ok := w.(*os.File)
	if !ok {
		return &progress{}
	}
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return &progress{}
	}
	return &progress{w: w}
}

func (p *progress) show(s eventreport.Summary) {
	if p.w == nil {
		return
	}
	p.shown = true
	line := fmt.Sprintf("waiting: %d/%d hosts decided, %d failed", s.Decided, s.Expected, len(s.Failures()))
	if n := s.Counts[eventreport.StatusWaiting]; n > 0 || s.Counts[eventreport.StatusRunning] > 0 {
		line += fmt.Sprintf("; rollout: %d running, %d waiting for their turn", s.Counts[eventreport.StatusRunning], n)
	}
	for _, r := range s.Rollouts {
		if r.Halted != nil {
			line += fmt.Sprintf("; %s halted: %s", r.Watch, r.Halted.Reason)
		}
	}
	fmt.Fprint(p.w, "\r\033[K"+line)
}

func (p *progress) clear() {
	if p.shown {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

// waitFor is publish --wait once e is stored (or found a duplicate of the
// event at ack's sequence, which it then waits for, when it may read it).
func (c *publishCmd) waitFor(ctx context.Context, js jetstream.JetStream, s stdio, e events.Event, ack *jetstream.PubAck, from uint64) error {
	ctx, stop := c.conn.deniedCause(ctx)
	defer stop()
	err := c.waitStored(ctx, js, s, e, ack, from)
	if cause := context.Cause(ctx); errors.Is(cause, nats.ErrPermissionViolation) {
		return fmt.Errorf("--wait: %w (%s)", cause, errWaitDenied)
	}
	return err
}

func (c *publishCmd) waitStored(ctx context.Context, js jetstream.JetStream, s stdio, e events.Event, ack *jetstream.PubAck, from uint64) error {
	ev := eventreport.Event{ID: e.ID, Type: e.Type, Key: e.Key, Seq: ack.Sequence, Stored: time.Now().UTC()}
	if ack.Duplicate {
		rctx, cancel := context.WithTimeout(ctx, c.conn.timeout)
		stored, err := eventreport.At(rctx, js, ack.Sequence)
		cancel()
		if err != nil {
			return fmt.Errorf("--wait: duplicate, not stored again (same --source, --key and --version), and the earlier event (stream %s sequence %d) cannot be read: %w", ack.Stream, ack.Sequence, err)
		}
		fmt.Fprintf(s.errOut, "herald publish: note: duplicate, not stored again: waiting for the earlier event %s (stream %s sequence %d)\n", stored.ID, ack.Stream, ack.Sequence)
		ev, from = stored, 0
	}
	if !c.wait.json {
		fmt.Fprintln(s.out, ev.ID)
	}
	return c.wait.run(ctx, js, s, ev, from)
}
