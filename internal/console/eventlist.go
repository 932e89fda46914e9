package console

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/events"
)

// Events pages.
const (
	// EventsPage is how many events one page of /ui/events shows.
	EventsPage = 100
	// EventsScan is how many stored events one page reads back at most
	// looking for matches of its filters.
	EventsScan = 10_000
	// liveBurst is how many new events one live poll sends at most.
	liveBurst = 500
)

// eventFilter is /ui/events's type and key filters: the type as a glob
// of path.Match (deploy.*), the key as a glob of package events
// (/app/**).
type eventFilter struct {
	Type, Key string
	key       events.KeyGlob
}

func parseFilter(r *http.Request) (eventFilter, error) {
	q := r.URL.Query()
	f := eventFilter{Type: strings.TrimSpace(q.Get("type")), Key: strings.TrimSpace(q.Get("key"))}
	if f.Type != "" {
		if _, err := path.Match(f.Type, ""); err != nil {
			return f, fmt.Errorf("type: %q is not a glob: %w", f.Type, err)
		}
	}
	if f.Key != "" {
		g, err := events.ParseKeyGlob(f.Key)
		if err != nil {
			return f, fmt.Errorf("key: %w", err)
		}
		f.key = g
	}
	return f, nil
}

func (f eventFilter) match(e storedEvent) bool {
	if f.Type != "" {
		if ok, _ := path.Match(f.Type, e.Type); !ok {
			return false
		}
	}
	return f.Key == "" || f.key.Match(e.Key)
}

// query is the filters as URL values.
func (f eventFilter) query() url.Values {
	u := url.Values{}
	if f.Type != "" {
		u.Set("type", f.Type)
	}
	if f.Key != "" {
		u.Set("key", f.Key)
	}
	return u
}

type eventsView struct {
	Type, Key string
	Rows      []eventRow
	// Older is the next page's URL; LiveURL the live rows' (first page).
	Older   string
	Newest  string
	LiveURL string
	Scanned bool
}

type eventRow struct {
	Seq                   uint64
	ID, Type, Key, Source string
	Time                  time.Time
	Link                  string
}

func rowOf(e storedEvent) eventRow {
	return eventRow{
		Seq: e.Seq, ID: e.ID, Type: e.Type, Key: e.Key, Source: e.Source, Time: e.Stored,
		Link: "/ui/events/" + url.PathEscape(e.ID) + "?seq=" + strconv.FormatUint(e.Seq, 10),
	}
}

func (c *Console) serveEvents(w http.ResponseWriter, r *http.Request) {
	f, err := parseFilter(r)
	v := eventsView{Type: f.Type, Key: f.Key}
	if err != nil {
		c.render(w, r, http.StatusBadRequest, "events", "Events", v, err.Error())
		return
	}
	before, _ := strconv.ParseUint(r.URL.Query().Get("before"), 10, 64)
	js, err := c.js()
	if err != nil {
		c.render(w, r, http.StatusServiceUnavailable, "events", "Events", v, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	res, err := scanBack(ctx, js, "", before, EventsPage, EventsScan, f.match)
	if err != nil {
		c.render(w, r, http.StatusServiceUnavailable, "events", "Events", v, err.Error())
		return
	}
	for _, e := range res.Events {
		v.Rows = append(v.Rows, rowOf(e))
	}
	if res.Next > 0 {
		u := f.query()
		u.Set("before", strconv.FormatUint(res.Next, 10))
		v.Older = "/ui/events?" + u.Encode()
		v.Scanned = len(res.Events) < EventsPage
	}
	if before > 0 {
		v.Newest = "/ui/events?" + f.query().Encode()
	} else {
		u := f.query()
		u.Set("after", strconv.FormatUint(res.Last, 10))
		v.LiveURL = "/ui/live/events?" + u.Encode()
	}
	c.render(w, r, http.StatusOK, "events", "Events", v, "")
}

// liveEvents sends each new matching event as a table row, its sequence
// as the event id (a reconnecting browser's Last-Event-ID resumes there).
func (c *Console) liveEvents(w http.ResponseWriter, r *http.Request) {
	f, err := parseFilter(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	after, _ := strconv.ParseUint(r.URL.Query().Get("after"), 10, 64)
	if id, err := strconv.ParseUint(r.Header.Get("Last-Event-ID"), 10, 64); err == nil {
		after = id
	}
	js, err := c.js()
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	ctx, cancel := c.streamCtx(r)
	defer cancel()
	s := c.openSSE(w)
	t := time.NewTicker(c.cfg.Poll)
	defer t.Stop()
	for {
		rctx, rcancel := context.WithTimeout(ctx, readTimeout)
		_, last, err := streamState(rctx, js)
		if err == nil && last > after {
			from := max(after+1, last-min(last, liveBurst)+1)
			var rows []eventRow
			err = readRange(rctx, js, "", from, last, func(e storedEvent) {
				if f.match(e) {
					rows = append(rows, rowOf(e))
				}
			})
			if err == nil {
				for _, row := range rows {
					html, ferr := c.fragment("events", "row", row)
					if ferr != nil || s.send("", strconv.FormatUint(row.Seq, 10), html) != nil {
						rcancel()
						return
					}
				}
				after = last
				// Move the resume point past events the filters hid.
				_ = s.send("seen", strconv.FormatUint(last, 10), strconv.FormatUint(last, 10))
			}
		}
		rcancel()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
