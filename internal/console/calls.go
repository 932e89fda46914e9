package console

import (
	"context"
	"encoding/json"
	"github.com/heraldhq/herald/internal/display"
	"net/http"
	"strings"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/events/call"
)

// Calls pages.
const (
	// CallsShown is how many verdicts and call events /ui/calls shows.
	CallsShown = 100
	callsScan  = 10_000
)

type callsView struct {
	Verdicts []VerdictRecord
	Events   []callEvent
	Status   []call.HooksStatus
	Error    string
}

// callEvent is one call.* event of the events stream.
type callEvent struct {
	Seq                 uint64
	Time                time.Time
	Type, Job, Method   string
	Caller, User        string
	Result              string
	Skipped, By, Reason string
	Confirmations       []call.Confirmation
	Link                string
}

func callEventOf(e storedEvent) callEvent {
	ce := callEvent{Seq: e.Seq, Time: e.Stored, Type: e.Type, Job: e.Key, Link: rowOf(e).Link}
	switch e.Type {
	case call.TypePost, call.TypeErr:
		var c call.Call
		if json.Unmarshal(e.Data, &c) == nil {
			ce.Method, ce.Caller, ce.User = c.Method, c.Caller, c.User
			if c.Result != nil {
				ce.Result = display.Exit(c.Result.ExitCode, c.Result.Signal)
				if c.Result.Error != "" {
					ce.Result = c.Result.Error
				}
			}
		}
	case call.TypeHooksSkipped:
		var s call.HooksSkipped
		if json.Unmarshal(e.Data, &s) == nil {
			ce.Method, ce.Caller, ce.User = s.Method, s.Caller, s.User
			ce.Skipped, ce.By, ce.Reason = strings.Join(s.Skipped, ", "), s.By, s.Reason
		}
	case call.TypeConfirm:
		var r call.ConfirmRecord
		if json.Unmarshal(e.Data, &r) == nil {
			ce.Method, ce.Caller, ce.User, ce.Confirmations = r.Method, r.Identity, r.User, r.Confirmations
			ce.Result = "denied"
			if r.Allowed {
				ce.Result = "allowed"
			}
		}
	}
	return ce
}

func (c *Console) calls(ctx context.Context) (callsView, error) {
	v := callsView{Verdicts: c.cfg.Verdicts.Recent(CallsShown)}
	js, err := c.js()
	if err != nil {
		return v, err
	}
	if v.Status, err = hooksStatus(ctx, js); err != nil {
		return v, err
	}
	res, err := scanBack(ctx, js, events.EventPrefix+".call.>", 0, CallsShown, callsScan, nil)
	if err != nil {
		return v, err
	}
	for _, e := range res.Events {
		v.Events = append(v.Events, callEventOf(e))
	}
	return v, nil
}

func (c *Console) serveCalls(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	v, err := c.calls(ctx)
	if err != nil {
		c.render(w, r, http.StatusServiceUnavailable, "calls", "Calls", v, err.Error())
		return
	}
	c.render(w, r, http.StatusOK, "calls", "Calls", v, "")
}

func (c *Console) liveCalls(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := c.streamCtx(r)
	defer cancel()
	c.pushChanges(ctx, c.openSSE(w), 2*c.cfg.Poll, func(ctx context.Context) (string, error) {
		v, err := c.calls(ctx)
		if err != nil {
			return "", err
		}
		return c.fragment("calls", "live", v)
	})
}
