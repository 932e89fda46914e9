package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/events/call"
	"github.com/heraldhq/herald/internal/bus"
)

// terminal opens the caller's terminal, where confirm: questions are
// asked: not stdin and stdout, which belong to COMMAND.
func (s stdio) terminal() (io.ReadWriteCloser, error) {
	if s.tty != nil {
		return s.tty()
	}
	return os.OpenFile("/dev/tty", os.O_RDWR, 0)
}

// confirm asks the questions of a pending verdict (every hook allowed but
// its confirm: hooks) on the caller's terminal, or answers them with --yes,
// stores the call.confirm audit event and, when every answer is yes,
// allows the call (v.Allow) and puts the answers on it. Anything else
// denies (exit 3): another answer, no terminal, an audit event not stored.
func (c *callCmd) confirm(ctx context.Context, s stdio, cl *call.Call, v *call.Verdict, conn *callConn) error {
	answers := make([]call.Confirmation, 0, len(v.Confirm))
	allowed := true
	for _, q := range v.Confirm {
		a := q
		if allowed { // after a no, nothing more is asked
			a = c.ask1(ctx, s, q)
		}
		allowed = allowed && a.Confirmed
		answers = append(answers, a)
	}
	rec := call.ConfirmRecord{
		CallID: v.CallID, Method: cl.Method, Job: cl.Job, User: cl.User, Host: cl.Host,
		Confirmations: answers, Allowed: allowed, Time: time.Now().UTC(),
	}
	if rec.CallID == "" {
		rec.CallID = cl.ID
	}
	rec.Identity, _ = c.identity()
	auditErr := c.storeConfirm(rec, conn)
	if !allowed {
		if auditErr != nil {
			fmt.Fprintf(s.errOut, "herald call: the answers could not be audited: %v\n", auditErr)
		}
		var b strings.Builder
		for _, a := range answers {
			if a.By == "" {
				continue // not asked
			}
			fmt.Fprintf(&b, "  %s (confirm): %q answered %q (%s)\n", a.Hook, a.Question, a.Answer, a.By)
		}
		fmt.Fprintf(s.errOut, "herald call: %s %s not confirmed; the command did not run:\n%s", cl.Method, cl.Job, b.String())
		return reported(&ExitStatus{Code: ExitCallDenied, Msg: "not confirmed"})
	}
	if auditErr != nil {
		fmt.Fprintf(s.errOut, "herald call: %s %s denied: the call.confirm audit event could not be stored: %v\n", cl.Method, cl.Job, auditErr)
		return reported(&ExitStatus{Code: ExitCallDenied, Msg: "confirmation not audited"})
	}
	v.Allow, cl.Confirmations = true, answers
	return nil
}

// ask1 asks one question; only "yes" confirms.
func (c *callCmd) ask1(ctx context.Context, s stdio, q call.Confirmation) call.Confirmation {
	if c.yes {
		q.Answer, q.Confirmed, q.By = "yes", true, call.AnsweredByYes
		fmt.Fprintf(s.errOut, "herald call: %s: %s yes (--yes)\n", q.Hook, q.Question)
		return q
	}
	tty, err := s.terminal()
	if err != nil {
		q.By = call.AnsweredNoTerminal
		fmt.Fprintf(s.errOut, "herald call: %s asks %q and there is no terminal to answer on (%v); use --yes to confirm\n", q.Hook, q.Question, err)
		return q
	}
	fmt.Fprintf(tty, "%s (yes/no): ", q.Question)
	line, err := readLine(ctx, tty)
	q.By = call.AnsweredOnTerminal
	if err != nil {
		fmt.Fprintf(s.errOut, "herald call: no answer: %v\n", err)
		return q
	}
	q.Answer = strings.TrimSpace(line)
	q.Confirmed = strings.EqualFold(q.Answer, "yes")
	return q
}

// readLine reads one line from the terminal until ctx ends (closing it
// then ends the read).
func readLine(ctx context.Context, tty io.ReadWriteCloser) (string, error) {
	var (
		line string
		err  error
		wg   sync.WaitGroup
	)
	done := make(chan struct{})
	wg.Go(func() {
		defer close(done)
		line, err = bufio.NewReader(tty).ReadString('\n')
	})
	select {
	case <-done:
	case <-ctx.Done():
	}
	_ = tty.Close()
	wg.Wait()
	if ctx.Err() != nil {
		return "", context.Cause(ctx)
	}
	if err == io.EOF && line != "" {
		err = nil
	}
	return line, err
}

// storeConfirm stores the call.confirm event and waits for JetStream.
func (c *callCmd) storeConfirm(rec call.ConfirmRecord, conn *callConn) error {
	if conn == nil {
		return fmt.Errorf("not connected to NATS")
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	ev := events.New("herald://cli/"+host, call.TypeConfirm, rec.Job, data)
	ev.DataContentType = "application/json"
	ctx, cancel := context.WithTimeout(context.Background(), c.conn.timeout)
	defer cancel()
	if _, err := bus.PublishEvent(ctx, conn.js, ev); err != nil {
		return streamHint(err)
	}
	return nil
}
