package console

import (
	"context"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/heraldhq/herald/internal/display"
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/events"
)

// FleetPage is how many agents one page of /ui/ shows.
const FleetPage = 100

// Agent states, as herald status says them.
const (
	stateLive    = "live"
	stateStale   = "stale"
	stateStopped = "stopped"
)

type fleetView struct {
	Q       string
	Page    int
	Pages   int
	Agents  int // matching the filter
	Live    int
	Stale   int
	Stopped int
	Totals  []statusCount
	Rows    []agentRow
	Prev    string
	Next    string
	LiveURL string
}

type statusCount struct {
	Status string
	N      int
}

type agentRow struct {
	Name, Version, State, Age string
	NATS                      string
	Watches                   []watchRow
}

type watchRow struct {
	Name, On, RunMode string
	Status, Exit      string
	EventID, When     string
	Waiting           []string
}

func (c *Console) fleet(ctx context.Context, q string, page int) (fleetView, error) {
	js, err := c.js()
	if err != nil {
		return fleetView{}, err
	}
	anns, err := bus.Announcements(ctx, js, nil)
	if err != nil {
		return fleetView{}, err
	}
	outs, err := bus.LastOutcomes(ctx, js, nil)
	if err != nil {
		return fleetView{}, err
	}
	now := time.Now()
	v := fleetView{Q: q, Page: max(page, 1)}
	totals := map[string]int{}
	var match []events.Announcement
	for _, a := range anns {
		switch agentState(a, now) {
		case stateLive:
			v.Live++
		case stateStale:
			v.Stale++
		default:
			v.Stopped++
		}
		for _, w := range a.Watches {
			if o, ok := outs[bus.HostWatch{Host: a.Name, Watch: w.Name}]; ok {
				totals[string(o.Status)]++
			}
		}
		if q == "" || fleetMatch(a, q) {
			match = append(match, a)
		}
	}
	for st, n := range totals {
		v.Totals = append(v.Totals, statusCount{st, n})
	}
	sort.Slice(v.Totals, func(i, j int) bool { return v.Totals[i].Status < v.Totals[j].Status })
	v.Agents = len(match)
	v.Pages = max((len(match)+FleetPage-1)/FleetPage, 1)
	v.Page = min(v.Page, v.Pages)
	lo := (v.Page - 1) * FleetPage
	for _, a := range match[lo:min(lo+FleetPage, len(match))] {
		row := agentRow{Name: a.Name, Version: a.Version, State: agentState(a, now), Age: display.Age(now.Sub(a.Heartbeat)), NATS: a.NATSServer}
		for _, w := range a.Watches {
			wr := watchRow{Name: w.Name, On: w.On, RunMode: w.RunMode, Waiting: w.Waiting, Status: "none", Exit: "-", When: "-"}
			if o, ok := outs[bus.HostWatch{Host: a.Name, Watch: w.Name}]; ok {
				wr.Status, wr.Exit, wr.EventID, wr.When = string(o.Status), display.Exit(o.ExitCode, o.Signal), o.EventID, display.Age(now.Sub(o.Stored))+" ago"
			}
			if len(w.Waiting) > 0 {
				wr.Status = "waiting"
			}
			row.Watches = append(row.Watches, wr)
		}
		v.Rows = append(v.Rows, row)
	}
	link := func(p int) string {
		u := url.Values{"page": {strconv.Itoa(p)}}
		if q != "" {
			u.Set("q", q)
		}
		return "/ui/?" + u.Encode()
	}
	if v.Page > 1 {
		v.Prev = link(v.Page - 1)
	}
	if v.Page < v.Pages {
		v.Next = link(v.Page + 1)
	}
	lu := url.Values{"page": {strconv.Itoa(v.Page)}}
	if q != "" {
		lu.Set("q", q)
	}
	v.LiveURL = "/ui/live/fleet?" + lu.Encode()
	return v, nil
}

// fleetMatch: the filter box matches an agent's name, version, state or
// any of its watches' names.
func fleetMatch(a events.Announcement, q string) bool {
	q = strings.ToLower(q)
	if strings.Contains(strings.ToLower(a.Name), q) || strings.Contains(strings.ToLower(a.Version), q) {
		return true
	}
	for _, w := range a.Watches {
		if strings.Contains(strings.ToLower(w.Name), q) {
			return true
		}
	}
	return false
}

func agentState(a events.Announcement, now time.Time) string {
	switch {
	case a.Stopping:
		return stateStopped
	case !a.Live(now):
		return stateStale
	}
	return stateLive
}

func pageArg(r *http.Request) int {
	p, _ := strconv.Atoi(r.URL.Query().Get("page"))
	return max(p, 1)
}

func (c *Console) serveFleet(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	v, err := c.fleet(ctx, strings.TrimSpace(r.URL.Query().Get("q")), pageArg(r))
	if err != nil {
		c.render(w, r, http.StatusServiceUnavailable, "fleet", "Fleet", fleetView{}, err.Error())
		return
	}
	c.render(w, r, http.StatusOK, "fleet", "Fleet", v, "")
}

func (c *Console) liveFleet(w http.ResponseWriter, r *http.Request) {
	q, page := strings.TrimSpace(r.URL.Query().Get("q")), pageArg(r)
	ctx, cancel := c.streamCtx(r)
	defer cancel()
	// Every second: the whole fleet is read for each render.
	c.pushChanges(ctx, c.openSSE(w), 2*c.cfg.Poll, func(ctx context.Context) (string, error) {
		v, err := c.fleet(ctx, q, page)
		if err != nil {
			return "", err
		}
		return c.fragment("fleet", "live", v)
	})
}

// funcs are the templates' helpers.
var funcs = template.FuncMap{
	"stclass": func(s string) string { return "st st-" + strings.ReplaceAll(s, "_", "-") },
	"ms": func(ms float64) string {
		return (time.Duration(ms * float64(time.Millisecond))).Round(time.Millisecond).String()
	},
	"stamp": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000Z") },
	"join":  strings.Join,
	// short is an event id's first 8 characters (the full one in a title).
	"short": func(id string) string { return id[:min(len(id), 8)] },
}
