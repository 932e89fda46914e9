package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/heraldhq/herald/events"
)

const (
	consoleAgents  = 1000
	consoleEvents  = 10_000
	consoleLoads   = 10
	consoleWarmups = 2
)

// targetConsole is issue 13's: each page renders within 1 s.
var targetConsole = &target{op: "<=", value: 1000, unit: "ms"}

// consoleRender measures the web console in a real browser at fleet size:
// the dispatcher binary holds 1,000 announced agents (each with a stored
// outcome) and 10,000 stored events; headless Chromium (Debian's
// chromium, driven with chromedp) loads /ui/ and /ui/events, and a sample
// is the time from the navigation's start to the page's load event with
// its first table row in the DOM.
func consoleRender(ctx context.Context, r *benchRun, _ Config) ([]result, error) {
	if err := r.startDispatcher(ctx, 0, ""); err != nil {
		return nil, err
	}
	if err := r.fillConsole(ctx); err != nil {
		return nil, err
	}
	exe, err := chromiumPath()
	if err != nil {
		return nil, err
	}
	udd, err := os.MkdirTemp(r.dir, "chromium-")
	if err != nil {
		return nil, err
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.UserDataDir(udd),
		chromedp.NoSandbox, // as root in a container: no user namespaces for its sandbox
		chromedp.WindowSize(1200, 900))
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	if err := chromedp.Do(bctx); err != nil {
		return nil, fmt.Errorf("start chromium: %w", err)
	}
	base := "http://" + r.httpAddr
	var out []result
	for _, page := range []struct{ path, row, label string }{
		{"/ui/", "tbody.agent td.name", "/ui/ with 1,000 agents: navigation → loaded, rows in the DOM p50"},
		{"/ui/events", "tr.event td", "/ui/events with 10,000 events: navigation → loaded, rows in the DOM p50"},
	} {
		var samples []float64
		for i := range consoleWarmups + consoleLoads {
			lctx, cancel := context.WithTimeout(bctx, 30*time.Second)
			start := time.Now()
			err := chromedp.Do(lctx, chromedp.Navigate(base+page.path), chromedp.WaitReady(chromedp.CSS(page.row)))
			took := time.Since(start)
			cancel()
			if err != nil {
				return nil, fmt.Errorf("load %s: %w", page.path, err)
			}
			if i >= consoleWarmups {
				samples = append(samples, ms(took))
			}
		}
		m := median(samples)
		r.printf("console page=%s p50_ms=%.1f samples=%d\n", page.path, m, len(samples))
		out = append(out, num(scConsole, page.label, m, "ms", targetConsole))
	}
	return out, nil
}

// fillConsole announces consoleAgents agents (two watches, one outcome
// each) and stores consoleEvents events, as the console's own benchmark
// does.
func (r *benchRun) fillConsole(ctx context.Context) error {
	now := time.Now().UTC()
	for i := range consoleAgents {
		name := fmt.Sprintf("bench-agent-%04d", i)
		a := events.Announcement{Name: name, Version: "bench", Started: now, Heartbeat: now, Interval: 3600, Watches: []events.WatchSummary{
			{Name: "w1", On: "event:deploy.app", RunMode: "queue"}, {Name: "w2", On: "kv:config", RunMode: "discard"},
		}}
		b, _ := json.Marshal(a)
		if _, err := r.js.PublishAsync(events.AgentSubject(name), b); err != nil {
			return err
		}
		code := 0
		o, _ := json.Marshal(events.Outcome{EventID: "e1", EventType: "deploy.app", Key: "/app", Watch: "w1", Host: name, Status: events.StatusOK, ExitCode: &code})
		if _, err := r.js.PublishAsync(events.OutcomeSubject(name, "w1"), o); err != nil {
			return err
		}
	}
	for i := range consoleEvents {
		e := events.New("bench", "deploy.app", fmt.Sprintf("/app/web/%d", i), []byte("v"))
		if _, err := r.js.PublishMsgAsync(e.ToMsg()); err != nil {
			return err
		}
		if i%1000 == 999 {
			if err := waitAcks(ctx, r); err != nil {
				return err
			}
		}
	}
	return waitAcks(ctx, r)
}

func waitAcks(ctx context.Context, r *benchRun) error {
	select {
	case <-r.js.PublishAsyncComplete():
		return nil
	case <-time.After(60 * time.Second):
		return errors.New("publishes not acknowledged within 60s")
	case <-ctx.Done():
		return ctx.Err()
	}
}

func chromiumPath() (string, error) {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("chromium not found: the console scenario needs it (apt-get install chromium)")
}
