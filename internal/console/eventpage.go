package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/heraldhq/herald/internal/eventreport"
	"github.com/nats-io/nats.go/jetstream"
)

type eventView struct {
	Event   storedEvent
	Sum     eventreport.Summary
	LiveURL string
}

// findEvent is the stored event of the request's {id} (and ?seq=).
func (c *Console) findEvent(ctx context.Context, r *http.Request) (jetstream.JetStream, storedEvent, int, error) {
	js, err := c.js()
	if err != nil {
		return nil, storedEvent{}, http.StatusServiceUnavailable, err
	}
	var seq uint64
	if s := r.URL.Query().Get("seq"); s != "" {
		if seq, err = strconv.ParseUint(s, 10, 64); err != nil || seq == 0 {
			return nil, storedEvent{}, http.StatusBadRequest, fmt.Errorf("seq: %q is not a stream sequence (a positive integer)", s)
		}
	}
	id := r.PathValue("id")
	ev, err := eventreport.Find(ctx, js, id, seq)
	if errors.Is(err, eventreport.ErrNotFound) {
		return nil, storedEvent{}, http.StatusNotFound, fmt.Errorf("event %s: not among the newest %d events (give ?seq= for an older one)", id, eventreport.ScanWindow)
	}
	if err != nil {
		return nil, storedEvent{}, http.StatusServiceUnavailable, err
	}
	var found storedEvent
	if err := readRange(ctx, js, "", ev.Seq, ev.Seq, func(e storedEvent) { found = e }); err != nil {
		return nil, storedEvent{}, http.StatusServiceUnavailable, err
	}
	if found.ID != ev.ID {
		return nil, storedEvent{}, http.StatusNotFound, fmt.Errorf("event %s: gone from the stream", id)
	}
	return js, found, http.StatusOK, nil
}

func reportConfig(e storedEvent) eventreport.Config {
	return eventreport.Config{Event: eventreport.Event{ID: e.ID, Type: e.Type, Key: e.Key, Seq: e.Seq, Stored: e.Stored}}
}

func (c *Console) serveEvent(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	js, e, code, err := c.findEvent(ctx, r)
	if err != nil {
		c.render(w, r, code, "event", "Event", eventView{}, err.Error())
		return
	}
	sum, err := eventreport.Read(ctx, js, reportConfig(e))
	if err != nil {
		c.render(w, r, http.StatusServiceUnavailable, "event", "Event "+e.ID, eventView{Event: e}, err.Error())
		return
	}
	v := eventView{Event: e, Sum: sum}
	if !sum.Done {
		v.LiveURL = "/ui/live/events/" + url.PathEscape(e.ID) + "?seq=" + strconv.FormatUint(e.Seq, 10)
	}
	c.render(w, r, http.StatusOK, "event", "Event "+e.ID, v, "")
}

// liveEvent sends the report's region at each change until every
// expected host decided, then a done event.
func (c *Console) liveEvent(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := c.streamCtx(r)
	defer cancel()
	fctx, fcancel := context.WithTimeout(ctx, readTimeout)
	js, e, code, err := c.findEvent(fctx, r)
	fcancel()
	if err != nil {
		http.Error(w, err.Error(), code)
		return
	}
	s := c.openSSE(w)
	cfg := reportConfig(e)
	cfg.Poll = c.cfg.Poll
	_, err = eventreport.Follow(ctx, js, cfg, func(sum eventreport.Summary) {
		if html, err := c.fragment("event", "live", eventView{Event: e, Sum: sum}); err == nil {
			_ = s.send("", "", html)
		}
	})
	if err == nil {
		_ = s.send("done", "", "done")
	}
}
