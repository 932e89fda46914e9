package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/heraldhq/herald/events/call"
	"github.com/heraldhq/herald/internal/natsconn"
	"github.com/nats-io/nats.go"
)

// hooksWait is --wait-hooks for one call: subscribed before call.post or
// call.err is stored, so that the dispatcher's report cannot come first.
type hooksWait struct {
	sub *nats.Subscription
}

// startWait subscribes to the call's HooksReportSubject and sets
// cl.ReportTo; nil without --wait-hooks or a connection.
func (c *callCmd) startWait(s stdio, cl *call.Call, conn *callConn) *hooksWait {
	if !c.client.waitHooks || conn == nil {
		return nil
	}
	id, err := c.identity()
	if err != nil {
		fmt.Fprintf(s.errOut, "herald call: --wait-hooks: %v\n", err)
		return nil
	}
	subject := call.HooksReportSubject(cl.ID, id)
	sub, err := conn.nc.SubscribeSync(subject)
	if err == nil {
		err = conn.nc.FlushTimeout(c.conn.timeout)
	}
	if err != nil {
		fmt.Fprintf(s.errOut, "herald call: --wait-hooks: cannot subscribe to %s: %v\n", subject, err)
		return nil
	}
	cl.ReportTo = subject
	return &hooksWait{sub: sub}
}

// print waits up to --hooks-timeout for the report and prints one line per
// hook run: hook, status, reason. It never changes the exit status.
func (w *hooksWait) print(ctx context.Context, s stdio, phase string, timeout time.Duration) {
	if w == nil {
		return
	}
	defer func() { _ = w.sub.Unsubscribe() }()
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	m, err := w.sub.NextMsgWithContext(wctx)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("no report within --hooks-timeout %v", timeout)
		}
		fmt.Fprintf(s.errOut, "herald call: %s hooks: %v (their outcomes are in HERALD_OUTCOMES: herald tail --outcomes)\n", phase, err)
		return
	}
	var rep call.HooksReport
	if err := json.Unmarshal(m.Data, &rep); err != nil {
		fmt.Fprintf(s.errOut, "herald call: %s hooks: bad report: %v\n", phase, err)
		return
	}
	switch {
	case rep.HooksDisabled != "":
		fmt.Fprintf(s.errOut, "herald call: %s hooks: none ran, hooks are disabled on the dispatcher (%s)\n", rep.Phase, rep.HooksDisabled)
	case len(rep.Outcomes) == 0:
		fmt.Fprintf(s.errOut, "herald call: %s hooks: none ran\n", rep.Phase)
	}
	for _, o := range rep.Outcomes {
		who := o.Watch
		if o.Host != rep.Dispatcher {
			who += " on " + o.Host
		}
		reason := strings.TrimSpace(o.Stdout)
		if o.Error != "" {
			reason = strings.TrimSpace(o.Error + ": " + reason)
		}
		reason = strings.TrimSuffix(reason, ":")
		if reason == "" {
			reason = "-"
		}
		fmt.Fprintf(s.errOut, "herald call: %s hook %s: %s: %s\n", rep.Phase, who, o.Status, oneLine(reason, 200))
	}
	if len(rep.Skipped) > 0 && rep.HooksDisabled == "" {
		fmt.Fprintf(s.errOut, "herald call: %s hooks skipped: %s\n", rep.Phase, strings.Join(rep.Skipped, ", "))
	}
}

// identity is the name of the caller's identity (its --nats-creds); ""
// without.
func (c *callCmd) identity() (string, error) {
	if c.conn.cfg.Creds == "" {
		return "", nil
	}
	name, err := natsconn.CredsName(c.conn.cfg.Creds)
	if err != nil {
		return "", err
	}
	if name == "" || strings.ContainsAny(name, ".*> \t\r\n") {
		return "", fmt.Errorf("nats-creds: %s: the identity name %q is not one subject token", c.conn.cfg.Creds, name)
	}
	return name, nil
}

// oneLine folds s onto one line of at most n bytes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n] + "..."
	}
	return s
}
