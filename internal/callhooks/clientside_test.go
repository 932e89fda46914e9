package callhooks_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/events/call"
	"github.com/heraldhq/herald/internal/callhooks"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/prometheus/client_golang/prometheus"
)

// TestEngine_Pre_Confirm proves a confirm: hook runs nothing and hands
// its question, rendered from the call, back in the verdict: not allowed
// (a caller that cannot ask denies) but pending; a denying hook beside it
// makes the verdict not pending; a question the call cannot fill denies.
func TestEngine_Pre_Confirm(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, dir, "hooks.yaml", `
hooks:
  - {name: kill-confirmer, phase: pre, methods: [kill_job], confirm: 'Kill {{.job}} ({{.args.shards}}) as {{.user}}?'}
  - {name: prod-gate, phase: pre, methods: [kill_job], jobs: ["*/*/prod/*"], exec: 'echo frozen; exit 1'}
`)
	e := startEngine(t, callhooks.Config{Dir: dir}, nil)

	c := newCall("kill_job", "c/r/devel/web")
	c.Args = map[string]string{"shards": "0-3"}
	v := e.pre(c)
	if v.Allow || !v.Pending() || len(v.Confirm) != 1 {
		t.Fatalf("verdict %+v: want not allowed, pending one question", v)
	}
	if q := v.Confirm[0]; q.Hook != "kill-confirmer" || q.Question != "Kill c/r/devel/web (0-3) as alice?" || q.Confirmed {
		t.Fatalf("question %+v", q)
	}
	if len(v.Denied) != 1 || v.Denied[0].Status != call.StatusConfirm {
		t.Fatalf("denied %+v: want the confirm hook, status confirm", v.Denied)
	}

	c.Job = "c/r/prod/web"
	if v := e.pre(c); v.Allow || v.Pending() {
		t.Fatalf("with a denying hook: %+v, want denied, not pending", v)
	}

	c.Job, c.Args = "c/r/devel/web", nil
	v = e.pre(c)
	if v.Allow || v.Pending() || len(v.Denied) != 1 || !strings.Contains(v.Denied[0].Reason, `no entry for key "shards"`) {
		t.Fatalf("no shards arg: %+v, want denied naming shards", v)
	}
}

// TestEngine_HooksReport proves that a call.post or call.err event with a
// report_to gets one HooksReport there once its hooks' outcomes are
// stored (none when no hook matched), and that a report_to of another
// call's subject gets nothing.
func TestEngine_HooksReport(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, dir, "hooks.yaml", `
hooks:
  - {name: notify, phase: post, methods: [update_job], exec: 'echo "slack is down"; exit 1'}
  - {name: record, phase: post, methods: [update_job], exec: 'echo recorded'}
`)
	e := startEngine(t, callhooks.Config{Dir: dir}, nil)
	zero := 0
	report := func(id, method, reportTo string) (events.Event, *call.HooksReport) {
		t.Helper()
		sub, err := e.nc.SubscribeSync(call.HooksReportSubject(id, "dep"))
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Unsubscribe()
		c := newCall(method, "c/r/e/web")
		c.ID, c.Phase, c.ReportTo = id, call.PhasePost, reportTo
		c.Result = &call.Result{ExitCode: &zero}
		ev := e.report(c)
		m, err := sub.NextMsg(wait)
		if err != nil {
			return ev, nil
		}
		var rep call.HooksReport
		if err := json.Unmarshal(m.Data, &rep); err != nil {
			t.Fatal(err)
		}
		return ev, &rep
	}
	ev, rep := report("call-1", "update_job", call.HooksReportSubject("call-1", "dep"))
	if rep == nil {
		t.Fatal("no report")
	}
	if rep.CallID != "call-1" || rep.EventID != ev.ID || rep.Phase != call.PhasePost || rep.Dispatcher != "disp-1" || len(rep.Outcomes) != 2 {
		t.Fatalf("report %+v", rep)
	}
	byHook := map[string]events.Outcome{}
	for _, o := range rep.Outcomes {
		byHook[o.Watch] = o
	}
	if o := byHook["notify"]; o.Status != events.StatusFailed || o.Stdout != "slack is down\n" || o.EventID != ev.ID {
		t.Fatalf("notify %+v", o)
	}
	if o := byHook["record"]; o.Status != events.StatusOK {
		t.Fatalf("record %+v", o)
	}

	if _, rep := report("call-2", "restart", call.HooksReportSubject("call-2", "dep")); rep == nil || len(rep.Outcomes) != 0 {
		t.Fatalf("no hook matched: report %+v, want one with no outcomes", rep)
	}
	// A report_to naming another call's subject: nothing is sent there.
	all, err := e.nc.SubscribeSync(call.HooksReportPrefix + ".>")
	if err != nil {
		t.Fatal(err)
	}
	c := newCall("restart", "c/r/e/web")
	c.ID, c.Phase, c.ReportTo = "call-3", call.PhasePost, call.HooksReportSubject("call-1", "dep")
	c.Result = &call.Result{ExitCode: &zero}
	e.report(c)
	testutil.Eventually(t, wait, func() error {
		if !strings.Contains(e.log.String(), "hooks report not sent") {
			return fmt.Errorf("the engine has not refused the report_to yet")
		}
		return nil
	})
	if m, err := all.NextMsg(0); err == nil {
		t.Fatalf("a report was sent on %s: %s", m.Subject, m.Data)
	}
}

// TestEngine_Metrics proves the engine's series: calls by method and
// verdict, pre-hook run time by hook, skips, post/err runs by status.
func TestEngine_Metrics(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, dir, "hooks.yaml", `
hooks:
  - {name: gate, phase: pre, methods: [update_job], jobs: ["*/*/prod/*"], exec: 'exit 1'}
  - {name: ask, phase: pre, methods: [kill_job], confirm: 'Kill {{.job}}?'}
  - {name: fine, phase: pre, methods: ["*"], exec: 'true'}
  - {name: notify, phase: post, methods: ["*"], exec: 'exit 1'}
`)
	e := startEngine(t, callhooks.Config{Dir: dir}, nil)
	e.pre(newCall("update_job", "c/r/prod/web"))
	e.pre(newCall("update_job", "c/r/devel/web"))
	e.pre(newCall("kill_job", "c/r/devel/web"))
	e.pre(newCall("kill-job", "c/r/devel/web"))
	skip := newCall("update_job", "c/r/prod/web")
	skip.SkipHooks, skip.Reason = []string{"gate"}, "hotfix"
	e.pre(skip)
	outs := e.watchOutcomes()
	zero := 0
	c := newCall("restart", "c/r/e/web")
	c.Phase, c.Result = call.PhasePost, &call.Result{ExitCode: &zero}
	e.report(c)
	outs.waitFor(t, 1)

	reg := prometheus.NewRegistry()
	reg.MustRegister(e.eng)
	want := map[string]float64{
		`herald_call_pre_total{method="update_job",verdict="denied"}`:  1,
		`herald_call_pre_total{method="update_job",verdict="allowed"}`: 2,
		`herald_call_pre_total{method="kill_job",verdict="confirm"}`:   1,
		`herald_call_pre_total{method="_unknown",verdict="refused"}`:   1,
		`herald_call_hooks_skipped_total{by="caller"}`:                 1,
		`herald_call_result_hooks_total{phase="post",status="failed"}`: 1,
		`herald_call_pre_hook_duration_seconds_count{hook="fine"}`:     4,
		`herald_call_pre_hook_duration_seconds_count{hook="gate"}`:     1,
	}
	gather := func() map[string]float64 {
		got := map[string]float64{}
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				var labels []string
				for _, l := range m.GetLabel() {
					labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
				}
				key := "{" + strings.Join(labels, ",") + "}"
				switch {
				case m.GetCounter() != nil:
					got[mf.GetName()+key] = m.GetCounter().GetValue()
				case m.GetHistogram() != nil:
					got[mf.GetName()+"_count"+key] = float64(m.GetHistogram().GetSampleCount())
				}
			}
		}
		return got
	}
	var got map[string]float64
	// The run is counted once its outcome is stored, just after it is seen.
	testutil.Eventually(t, wait, func() error {
		if got = gather(); got[`herald_call_result_hooks_total{phase="post",status="failed"}`] != 1 {
			return fmt.Errorf("post runs not counted yet: %v", got)
		}
		return nil
	})
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %v, want %v", k, got[k], w)
		}
	}
	if _, ok := got[`herald_call_pre_hook_duration_seconds_count{hook="ask"}`]; ok {
		t.Error("a confirm: hook, which runs nothing, has a run time")
	}
	n := 0
	for k := range got {
		if strings.HasPrefix(k, "herald_call_pre_total{") {
			n++
		}
	}
	if n != 4 {
		t.Errorf("%d herald_call_pre_total series, want 4: %v", n, got)
	}
}
