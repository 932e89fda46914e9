package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/heraldhq/herald/internal/tracing"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// publishCmd is "herald publish".
type publishCmd struct {
	conn        connFlags
	typ, key    string
	data        string
	dataSet     bool
	dataFile    string
	contentType string
	version     string
	source      string
	wait        waitFlags
	trace       traceFlags
	fs          *flag.FlagSet
}

func (c *publishCmd) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.typ, "type", "", "event `TYPE` (dot-separated tokens of [a-z0-9_-], e.g. git.push) (required)")
	fs.StringVar(&c.key, "key", "", "the `KEY` that changed (e.g. /repos/app) (required)")
	fs.Func("data", "event data as a literal `STRING`", func(s string) error {
		c.data, c.dataSet = s, true
		return nil
	})
	fs.StringVar(&c.dataFile, "data-file", "", "read event data from `FILE` (- for stdin)")
	fs.StringVar(&c.contentType, "content-type", events.DefaultContentType, "data content `TYPE`")
	fs.StringVar(&c.version, "version", "", "the source's version of the key `V`; with it a repeat publish of the same change is dropped")
	fs.StringVar(&c.source, "source", "", "event `SOURCE` URI (default herald://cli/<hostname>)")
	c.wait.add(fs)
	c.trace.add(fs)
	c.fs = fs
	c.conn.add(fs)
}

func (c *publishCmd) run(ctx context.Context, _ *Main, s stdio, args []string) error {
	if len(args) > 0 {
		return usageErrorf("unexpected argument %q", args[0])
	}
	switch {
	case c.typ == "":
		return usageErrorf("--type is required")
	case c.key == "":
		return usageErrorf("--key is required")
	case c.dataSet && c.dataFile != "":
		return usageErrorf("--data and --data-file are exclusive")
	}
	if err := events.ValidateType(c.typ); err != nil {
		return &usageError{msg: "--type: " + err.Error()}
	}
	if err := c.wait.check(c.fs); err != nil {
		return err
	}
	if c.source == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			host = "unknown"
		}
		c.source = "herald://cli/" + host
	}
	if err := c.conn.resolve(); err != nil {
		return err
	}
	data, err := c.readData(s.in)
	if err != nil {
		return err
	}

	e := events.New(c.source, c.typ, c.key, data)
	e.Version = c.version
	if c.contentType != "" {
		e.DataContentType = c.contentType
	}
	if err := e.Validate(); err != nil {
		return &usageError{msg: err.Error()}
	}
	tp, traceParent, err := c.trace.start()
	if err != nil {
		return err
	}
	defer flushSpans(s, "publish", tp)
	e.TraceParent, e.TraceState = tracing.Format(traceParent), traceParent.TraceState().String()

	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, c.conn.timeout)
	defer cancel()
	nc, js, err := c.conn.connect()
	if err != nil {
		return err
	}
	defer nc.Close()
	var from uint64
	if c.wait.wait {
		if from, err = c.outcomesFrom(ctx, js); err != nil {
			return err
		}
	}
	pctx, stop := c.conn.deniedCause(ctx)
	defer stop()
	// The event continues TRACEPARENT (or starts a trace) in its stored
	// span, which ends with the stream's ack.
	ack, err := bus.PublishStored(pctx, js, tp, &e)
	if cause := context.Cause(pctx); errors.Is(cause, nats.ErrPermissionViolation) {
		return fmt.Errorf("%w (the credentials' identity may not publish this type or key: see herald auth ls)", cause)
	}
	if err != nil {
		return streamHint(err)
	}
	if c.wait.wait {
		stop() // the wait watches for refusals itself
		return c.waitFor(parent, js, s, e, ack, from)
	}
	fmt.Fprintln(s.out, e.ID)
	if ack.Duplicate {
		// A publisher identity (--nats-creds) may not read the stream.
		where := fmt.Sprintf("of stream %s sequence %d", ack.Stream, ack.Sequence)
		if c.conn.cfg.Creds == "" {
			where = storedAs(ctx, js, ack)
		}
		fmt.Fprintf(s.errOut, "herald publish: note: duplicate, not stored again: the dedup window dropped it as a repeat (same --source, --key and --version) %s\n", where)
	}
	return nil
}

// readData returns the event data from --data, --data-file or stdin.
func (c *publishCmd) readData(stdin io.Reader) ([]byte, error) {
	switch {
	case c.dataSet:
		return []byte(c.data), nil
	case c.dataFile == "-":
		if stdin == nil {
			return nil, nil
		}
		return readAll(stdin, "stdin")
	case c.dataFile != "":
		b, err := os.ReadFile(c.dataFile)
		if err != nil {
			return nil, fmt.Errorf("--data-file: %w", err)
		}
		return b, nil
	case stdinHasData(stdin):
		return readAll(stdin, "stdin")
	}
	return nil, nil
}

func readAll(r io.Reader, what string) ([]byte, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	return b, nil
}

// stdinHasData reports whether stdin should be read as data: any reader
// given by a caller, or a real stdin that is not a terminal (or /dev/null).
func stdinHasData(r io.Reader) bool {
	if r == nil {
		return false
	}
	f, ok := r.(*os.File)
	if !ok {
		return true
	}
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	return fi.Mode()&os.ModeCharDevice == 0
}

// storedAs names the earlier event a duplicate ack points at, if it can be
// read back.
func storedAs(ctx context.Context, js jetstream.JetStream, ack *jetstream.PubAck) string {
	where := fmt.Sprintf("stream %s sequence %d", ack.Stream, ack.Sequence)
	st, err := js.Stream(ctx, ack.Stream)
	if err != nil {
		return "of " + where
	}
	m, err := st.GetMsg(ctx, ack.Sequence)
	if err != nil || m.Header.Get(events.HeaderID) == "" {
		return "of " + where
	}
	return fmt.Sprintf("of event %s (%s)", m.Header.Get(events.HeaderID), where)
}
