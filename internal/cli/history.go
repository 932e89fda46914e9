package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/heraldhq/herald/internal/dryrun"
	"github.com/heraldhq/herald/internal/watch"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// DefaultRunTime is how long herald validate --history assumes each run
// takes when --run-time does not say.
const DefaultRunTime = 5 * time.Second

// The direct gets of the history read: events per request, and the most
// bytes of one answer.
const (
	historyBatch = 256
	historyBytes = 8 << 20
)

// historyFlags are herald validate's dry run against the events stream:
// --history DURATION and what goes with it.
type historyFlags struct {
	conn       connFlags
	on         bool          // --history was given
	since      time.Duration // --history
	runTime    runTimeFlag
	json       bool
	unselected bool
}

func (h *historyFlags) add(fs *flag.FlagSet) {
	fs.Func("history", "dry run: read the events stored in the last `DURATION` (24h, 30m) and report, per watch, what it would have selected and run; runs nothing", func(v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("want a positive duration such as 24h or 30m, got %q", v)
		}
		h.on, h.since = true, d
		return nil
	})
	h.runTime.def = DefaultRunTime
	fs.Var(&h.runTime, "run-time", "with --history: how long each run is assumed to take, `DURATION` for every watch or NAME=DURATION for one (repeatable)")
	fs.BoolVar(&h.json, "json", false, "with --history: print the report as one JSON document")
	fs.BoolVar(&h.unselected, "unselected", false, "with --history: also list the events no watch selects, by type and key")
	h.conn.add(fs)
}

// check refuses the dry run's flags without --history.
func (h *historyFlags) check() error {
	if !h.on && (h.json || h.unselected || h.runTime.given) {
		return usageErrorf("--json, --unselected and --run-time go with --history")
	}
	return nil
}

// runTimeFlag is --run-time: a default and per-watch durations.
type runTimeFlag struct {
	def   time.Duration
	per   map[string]time.Duration
	given bool
}

func (f *runTimeFlag) String() string {
	if f == nil || f.def == 0 {
		return ""
	}
	return f.def.String()
}

func (f *runTimeFlag) Set(v string) error {
	name, dur, named := strings.Cut(v, "=")
	if !named {
		dur = v
	}
	d, err := time.ParseDuration(dur)
	if err != nil || d <= 0 {
		return fmt.Errorf("want DURATION or NAME=DURATION with a positive duration such as 2s, got %q", v)
	}
	f.given = true
	if !named {
		f.def = d
		return nil
	}
	if name == "" {
		return fmt.Errorf("want NAME=DURATION, got %q (no watch name)", v)
	}
	if f.per == nil {
		f.per = map[string]time.Duration{}
	}
	f.per[name] = d
	return nil
}

// run reads the history and prints what ws would have done with it.
func (h *historyFlags) run(ctx context.Context, m *Main, s stdio, ws []*watch.Watch) error {
	names := map[string]bool{}
	for _, w := range ws {
		names[w.Name] = true
	}
	for name, d := range h.runTime.per {
		if !names[name] {
			return usageErrorf("--run-time %s=%v: no watch named %q in the files given", name, d, name)
		}
	}
	sim, err := dryrun.New(dryrun.Config{Watches: ws, RunTime: h.runTime.def, RunTimes: h.runTime.per, ListUnselected: h.unselected})
	if err != nil {
		return err
	}
	nc, js, err := h.conn.connect()
	if err != nil {
		return err
	}
	defer nc.Close()
	until := m.now()
	since := until.Add(-h.since)
	rctx, stop := h.conn.deniedCause(ctx)
	defer stop()
	malformed := 0
	err = readHistory(rctx, js, since, h.conn.timeout, func(msg *jetstream.RawStreamMsg) error {
		e, err := events.FromMsg(&nats.Msg{Subject: msg.Subject, Header: msg.Header, Data: msg.Data})
		if err != nil {
			malformed++ // the agent skips it too
			return nil
		}
		_, err = sim.Add(dryrun.Event{Type: e.Type, Key: e.Key, Seq: msg.Sequence, Time: msg.Time})
		return err
	})
	if cause := context.Cause(rctx); errors.Is(cause, nats.ErrPermissionViolation) {
		return fmt.Errorf("%w (the credentials' identity may not read %s: run it as a viewer, see herald auth add-viewer)", cause, events.EventsStream)
	}
	if err != nil {
		return streamHint(err)
	}
	doc := historyDocOf(sim.Report(), h, since, until, malformed)
	if h.json {
		enc := json.NewEncoder(s.out)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		return enc.Encode(doc)
	}
	return writeHistory(s.out, doc)
}

// readHistory calls fn for every event of the events stream stored at or
// after since, in stream order, up to the last one stored when it began.
// It pages with batched direct gets ($JS.API.DIRECT.GET.HERALD_EVENTS,
// the first from since, each next from the sequence after the last one
// read), as the agents' feeds read: no consumer, so a viewer (or an
// agent) may run it, and one page at a time is held.
func readHistory(ctx context.Context, js jetstream.JetStream, since time.Time, timeout time.Duration, fn func(*jetstream.RawStreamMsg) error) error {
	stream := events.EventsStream
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return fmt.Errorf("stream %s: %w", stream, err)
	}
	info := st.CachedInfo()
	if info.State.Msgs == 0 {
		return nil
	}
	_, err = bus.BatchRead{
		Stream: stream, Subject: events.EventPrefix + ".>", StartTime: since, UpTo: info.State.LastSeq,
		Batch: historyBatch, MaxBytes: historyBytes, Timeout: timeout,
	}.Each(ctx, js, fn)
	return err
}

// historyDoc is the report, as --json prints it and the table shows it.
type historyDoc struct {
	Stream   string    `json:"stream"`
	Since    time.Time `json:"since"`
	Until    time.Time `json:"until"`
	HistoryS float64   `json:"history_s"`
	RunTimeS float64   `json:"run_time_s"`
	// Events is every event read, Malformed the ones that could not be
	// decoded (skipped, as agents skip them).
	Events            int           `json:"events"`
	Malformed         int           `json:"malformed"`
	First             time.Time     `json:"first,omitzero"`
	Last              time.Time     `json:"last,omitzero"`
	Unselected        int           `json:"unselected"`
	UnselectedKeys    []keyCount    `json:"unselected_keys,omitempty"`
	UnselectedLeftOff int           `json:"unselected_left_off,omitempty"`
	Watches           []watchReport `json:"watches"`
	listUnselected    bool
}

type keyCount struct {
	Type   string `json:"type"`
	Key    string `json:"key"`
	Events int    `json:"events"`
}

type watchReport struct {
	Name     string       `json:"name"`
	File     string       `json:"file"`
	Line     int          `json:"line"`
	On       string       `json:"on"`
	Key      string       `json:"key,omitempty"`
	Types    []string     `json:"types"`
	RunMode  string       `json:"run_mode"`
	RunTimeS float64      `json:"run_time_s"`
	Events   int          `json:"events"`
	Keys     int          `json:"keys"`
	Modes    []modeReport `json:"modes"`
}

type modeReport struct {
	Mode string `json:"mode"`
	Own  bool   `json:"own"`
	// MaxParallel is parallel's cap (0: none); absent for the others.
	MaxParallel *int    `json:"max_parallel,omitempty"`
	Runs        int     `json:"runs"`
	Superseded  int     `json:"superseded"`
	Discarded   int     `json:"discarded"`
	MaxWaitS    float64 `json:"max_wait_s"`
}

func historyDocOf(r dryrun.Report, h *historyFlags, since, until time.Time, malformed int) historyDoc {
	doc := historyDoc{
		Stream: events.EventsStream, Since: since.UTC(), Until: until.UTC(), HistoryS: h.since.Seconds(), RunTimeS: h.runTime.def.Seconds(),
		Events: r.Events + malformed, Malformed: malformed, First: r.First.UTC(), Last: r.Last.UTC(),
		Unselected: r.Unselected, UnselectedLeftOff: r.UnselectedLeftOff, Watches: []watchReport{}, listUnselected: h.unselected,
	}
	for _, k := range r.UnselectedKeys {
		doc.UnselectedKeys = append(doc.UnselectedKeys, keyCount{Type: k.Type, Key: k.Key, Events: k.Events})
	}
	for _, w := range r.Watches {
		wr := watchReport{Name: w.Watch.Name, File: w.Watch.File, Line: w.Watch.Line, On: w.Watch.On, Key: w.Watch.Key,
			Types: w.Watch.Source.Types(), RunMode: w.Watch.RunMode, RunTimeS: w.RunTime.Seconds(), Events: w.Events, Keys: w.Keys}
		for _, m := range w.Modes {
			mr := modeReport{Mode: m.Mode, Own: m.Own, Runs: m.Runs, Superseded: m.Superseded, Discarded: m.Discarded, MaxWaitS: m.MaxWait.Seconds()}
			if m.Mode == watch.ModeParallel {
				mr.MaxParallel = &m.MaxParallel
			}
			wr.Modes = append(wr.Modes, mr)
		}
		doc.Watches = append(doc.Watches, wr)
	}
	return doc
}

// writeHistory prints the report: the history read, then a table per
// watch, then (--unselected) the events no watch selects.
func writeHistory(w io.Writer, doc historyDoc) error {
	hist := time.Duration(doc.HistoryS * float64(time.Second))
	if doc.Events == 0 {
		fmt.Fprintf(w, "history: no events in %s stored since %s (the last %v)\n", doc.Stream, stamp(doc.Since), hist)
	} else {
		fmt.Fprintf(w, "history: %d %s in %s stored from %s to %s (the last %v); %d selected by no watch",
			doc.Events, plural(doc.Events, "event"), doc.Stream, stamp(doc.First), stamp(doc.Last), hist, doc.Unselected)
		if doc.Malformed > 0 {
			fmt.Fprintf(w, ", %d malformed (skipped, as agents skip them)", doc.Malformed)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "dry run: nothing was run; each run is assumed to take its run time and to succeed; * marks the watch's own run_mode")
	for _, wr := range doc.Watches {
		fmt.Fprintf(w, "\n%s (%s:%d): on %s", wr.Name, wr.File, wr.Line, wr.On)
		if wr.Key != "" {
			fmt.Fprintf(w, ", key %s", quoteIfNeeded(wr.Key))
		}
		fmt.Fprintf(w, "; %d %s of %d %s; run time %v\n", wr.Events, plural(wr.Events, "event"), wr.Keys, plural(wr.Keys, "key"),
			time.Duration(wr.RunTimeS*float64(time.Second)))
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  MODE\tRUNS\tSUPERSEDED\tDISCARDED\tMAX WAIT")
		for _, m := range wr.Modes {
			fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%v\n", modeLabel(m), m.Runs, m.Superseded, m.Discarded,
				time.Duration(m.MaxWaitS*float64(time.Second)).Round(time.Millisecond))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if !doc.listUnselected {
		return nil
	}
	fmt.Fprintf(w, "\nselected by no watch: %d %s\n", doc.Unselected, plural(doc.Unselected, "event"))
	if len(doc.UnselectedKeys) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  TYPE\tKEY\tEVENTS")
	for _, k := range doc.UnselectedKeys {
		fmt.Fprintf(tw, "  %s\t%s\t%d\n", k.Type, quoteIfNeeded(k.Key), k.Events)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if doc.UnselectedLeftOff > 0 {
		fmt.Fprintf(w, "  ... and %d more %s of other keys (only the first %d types and keys are listed)\n",
			doc.UnselectedLeftOff, plural(doc.UnselectedLeftOff, "event"), dryrun.MaxUnselectedKeys)
	}
	return nil
}

// modeLabel is a mode's first column: its name, parallel's cap, and *
// for the watch's own.
func modeLabel(m modeReport) string {
	l := m.Mode
	if m.MaxParallel != nil {
		if *m.MaxParallel == 0 {
			l += " (no cap)"
		} else {
			l += fmt.Sprintf(" (%d)", *m.MaxParallel)
		}
	}
	if m.Own {
		l += " *"
	}
	return l
}
