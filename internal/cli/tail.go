package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// tailCmd is "herald tail".
type tailCmd struct {
	conn     connFlags
	outcomes bool
	typ      string
	json     bool
	count    int
}

func (c *tailCmd) flags(fs *flag.FlagSet) {
	fs.BoolVar(&c.outcomes, "outcomes", false, "print run outcomes instead of events")
	fs.StringVar(&c.typ, "type", "", "only this event `TYPE`; a token may be * and the last may be > (zk.*, git.>)")
	fs.BoolVar(&c.json, "json", false, "print one JSON object per line")
	fs.IntVar(&c.count, "count", 0, "exit after printing `N` messages (0: run until interrupted)")
	c.conn.add(fs)
}

// snippetRunes bounds the data shown on a human-readable event line.
const snippetRunes = 80

func (c *tailCmd) run(ctx context.Context, _ *Main, s stdio, args []string) error {
	if len(args) > 0 {
		return usageErrorf("unexpected argument %q", args[0])
	}
	if c.count < 0 {
		return usageErrorf("--count must not be negative")
	}
	tf, err := parseTypeFilter(c.typ)
	if err != nil {
		return err
	}
	stream, filter, what := events.EventsStream, tf.eventSubject(), "events"
	if c.outcomes {
		stream, filter, what = events.OutcomesStream, events.OutcomePrefix+".>", "outcomes"
	}

	nc, js, err := c.conn.connect()
	if err != nil {
		return err
	}
	defer nc.Close()
	cctx, cancel := context.WithTimeout(ctx, c.conn.timeout)
	// The ordered consumer exists on the server once this returns, so
	// everything published afterwards is delivered.
	cons, err := js.OrderedConsumer(cctx, stream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{filter},
		DeliverPolicy:  jetstream.DeliverNewPolicy,
	})
	cancel()
	if err != nil {
		return streamHint(fmt.Errorf("stream %s: %w", stream, err))
	}
	// Deleted on the way out (after it.Stop) rather than left to expire.
	defer bus.DeleteOrdered(ctx, js, stream, cons)
	it, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("stream %s: %w", stream, err)
	}
	defer it.Stop()
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	if c.typ != "" {
		what += " of type " + c.typ
	}
	fmt.Fprintf(s.errOut, "herald tail: listening for %s on %s\n", what, filter)

	for printed := 0; c.count == 0 || printed < c.count; {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			return fmt.Errorf("stream %s: %w", stream, err)
		}
		var shown bool
		if c.outcomes {
			shown, err = c.printOutcome(s.out, msg, tf)
		} else {
			shown, err = c.printEvent(s.out, msg, tf)
		}
		var skip *skipError
		if errors.As(err, &skip) {
			fmt.Fprintf(s.errOut, "herald tail: skipping %s: %v\n", msg.Subject(), skip.err)
			continue
		}
		if err != nil {
			return fmt.Errorf("write: %w", err)
		}
		if shown {
			printed++
		}
	}
	return nil
}

// skipError is a message that cannot be decoded; tail warns and goes on.
type skipError struct{ err error }

func (e *skipError) Error() string { return e.err.Error() }

func (c *tailCmd) printEvent(w io.Writer, msg jetstream.Msg, tf typeFilter) (bool, error) {
	e, err := events.FromMsg(&nats.Msg{Subject: msg.Subject(), Header: msg.Headers(), Data: msg.Data()})
	if err != nil {
		return false, &skipError{err}
	}
	if !tf.match(e.Type) {
		return false, nil
	}
	if c.json {
		return true, writeJSONLine(w, eventJSONOf(e))
	}
	_, err = fmt.Fprintln(w, formatEvent(e))
	return true, err
}

func (c *tailCmd) printOutcome(w io.Writer, msg jetstream.Msg, tf typeFilter) (bool, error) {
	var o events.Outcome
	if err := json.Unmarshal(msg.Data(), &o); err != nil {
		return false, &skipError{fmt.Errorf("bad outcome: %w", err)}
	}
	if !tf.match(o.EventType) {
		return false, nil
	}
	if c.json {
		// Compact the payload rather than re-encode it, so fields a newer
		// agent adds are not lost.
		var b bytes.Buffer
		if err := json.Compact(&b, msg.Data()); err != nil {
			return false, &skipError{fmt.Errorf("bad outcome: %w", err)}
		}
		b.WriteByte('\n')
		_, err := w.Write(b.Bytes())
		return true, err
	}
	at := o.Start
	if md, err := msg.Metadata(); err == nil {
		at = md.Timestamp
	}
	_, err := fmt.Fprintln(w, formatOutcome(at, o))
	return true, err
}

// typeFilter selects event types by tokens: "*" matches one token and a
// last ">" one or more. The zero value selects every type.
type typeFilter struct{ toks []string }

func parseTypeFilter(s string) (typeFilter, error) {
	if s == "" {
		return typeFilter{}, nil
	}
	toks := strings.Split(s, ".")
	for i, t := range toks {
		switch {
		case t == "*":
		case t == ">" && i == len(toks)-1:
		case t == ">":
			return typeFilter{}, usageErrorf("--type %q: > must be the last token", s)
		default:
			if err := events.ValidateType(t); err != nil {
				return typeFilter{}, usageErrorf("--type %q: token %q: want [a-z0-9_-] starting with a letter or digit, * or a last >", s, t)
			}
		}
	}
	return typeFilter{toks: toks}, nil
}

// eventSubject is the server-side filter. It may be wider than the filter
// (herald.event.zk.changed.> also holds type zk.changed.sub), so match
// decides.
func (f typeFilter) eventSubject() string {
	if len(f.toks) == 0 {
		return events.EventPrefix + ".>"
	}
	subj := events.EventPrefix + "." + strings.Join(f.toks, ".")
	if f.toks[len(f.toks)-1] != ">" {
		subj += ".>"
	}
	return subj
}

func (f typeFilter) match(typ string) bool {
	if len(f.toks) == 0 {
		return true
	}
	got := strings.Split(typ, ".")
	for i, t := range f.toks {
		if t == ">" {
			return len(got) > i
		}
		if i >= len(got) || (t != "*" && t != got[i]) {
			return false
		}
	}
	return len(got) == len(f.toks)
}

// eventJSON is an event as a JSON line: the CloudEvents attributes, and the
// data as a string when it is valid UTF-8, base64 otherwise.
type eventJSON struct {
	SpecVersion     string    `json:"specversion"`
	ID              string    `json:"id"`
	Source          string    `json:"source"`
	Type            string    `json:"type"`
	Subject         string    `json:"subject"`
	Time            time.Time `json:"time,omitzero"`
	DataContentType string    `json:"datacontenttype,omitempty"`
	Version         string    `json:"heraldversion,omitempty"`
	Data            *string   `json:"data,omitempty"`
	DataBase64      []byte    `json:"data_base64,omitempty"`
}

func eventJSONOf(e events.Event) eventJSON {
	j := eventJSON{
		SpecVersion:     events.SpecVersion,
		ID:              e.ID,
		Source:          e.Source,
		Type:            e.Type,
		Subject:         e.Key,
		Time:            e.Time,
		DataContentType: e.DataContentType,
		Version:         e.Version,
	}
	if utf8.Valid(e.Data) {
		d := string(e.Data)
		j.Data = &d
	} else {
		j.DataBase64 = e.Data
	}
	return j
}

func writeJSONLine(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// formatEvent is one human-readable line:
// TIME event TYPE KEY id=ID [version=V] data="..." [bytes=N].
func formatEvent(e events.Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s event %s %s id=%s", stamp(e.Time), e.Type, quoteIfNeeded(e.Key), e.ID)
	if e.Version != "" {
		fmt.Fprintf(&b, " version=%s", quoteIfNeeded(e.Version))
	}
	snippet, cut := dataSnippet(e.Data)
	fmt.Fprintf(&b, " data=%s", snippet)
	if cut {
		fmt.Fprintf(&b, " bytes=%d", len(e.Data))
	}
	return b.String()
}

// formatOutcome is one human-readable line:
// TIME outcome host=H watch=W status=S [exit=N] [signal=S] dur=D event=ID type=T key=K ...
// [superseded_count=N superseded=[...,]ID,ID,ID] [error=...]
func formatOutcome(at time.Time, o events.Outcome) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s outcome host=%s watch=%s status=%s", stamp(at), quoteIfNeeded(o.Host), quoteIfNeeded(o.Watch), o.Status)
	if o.ExitCode != nil {
		fmt.Fprintf(&b, " exit=%d", *o.ExitCode)
	}
	if o.Signal != "" {
		fmt.Fprintf(&b, " signal=%s", o.Signal)
	}
	fmt.Fprintf(&b, " dur=%s", durationMS(o.DurationMS))
	if o.Attempts > 1 {
		fmt.Fprintf(&b, " attempts=%d", o.Attempts)
	}
	fmt.Fprintf(&b, " event=%s type=%s key=%s", o.EventID, o.EventType, quoteIfNeeded(o.Key))
	if o.Version != "" {
		fmt.Fprintf(&b, " version=%s", quoteIfNeeded(o.Version))
	}
	if o.SupersededBy != "" {
		fmt.Fprintf(&b, " superseded_by=%s", o.SupersededBy)
	}
	if o.SupersededCount > 0 || len(o.Superseded) > 0 {
		fmt.Fprintf(&b, " superseded_count=%d superseded=%s", max(o.SupersededCount, len(o.Superseded)), supersededIDs(o))
	}
	if o.Error != "" {
		fmt.Fprintf(&b, " error=%s", strconv.Quote(o.Error))
	}
	return b.String()
}

// tailSupersededIDs is how many of an outcome's superseded ids a line
// shows: the newest; --json shows them all.
const tailSupersededIDs = 3

// supersededIDs is the newest superseded ids of o, comma-separated, with
// "...," in front when there are more.
func supersededIDs(o events.Outcome) string {
	ids := o.Superseded
	more := max(o.SupersededCount, len(ids)) > tailSupersededIDs
	if len(ids) > tailSupersededIDs {
		ids = ids[len(ids)-tailSupersededIDs:]
	}
	s := strings.Join(ids, ",")
	if more {
		s = "...," + s
	}
	return s
}

// stamp formats a time for a human line, in UTC to the second.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// durationMS formats a duration given in milliseconds: 12ms, 1.5s.
func durationMS(ms float64) string {
	return time.Duration(ms * float64(time.Millisecond)).Round(time.Millisecond).String()
}

// quoteIfNeeded leaves plain words alone and quotes anything with spaces,
// quotes, control or non-ASCII characters, or nothing at all.
func quoteIfNeeded(s string) string {
	if s == "" {
		return `""`
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '"' || c == '\\' || c == '=' {
			return strconv.Quote(s)
		}
	}
	return s
}

// dataSnippet quotes at most snippetRunes characters of data (bytes when it
// is not UTF-8) and reports whether it cut any.
func dataSnippet(data []byte) (string, bool) {
	cut := data
	if utf8.Valid(data) {
		n := 0
		for i := range string(data) {
			if n == snippetRunes {
				cut = data[:i]
				break
			}
			n++
		}
	} else if len(data) > snippetRunes {
		cut = data[:snippetRunes]
	}
	return strconv.Quote(string(cut)), len(cut) < len(data)
}
