package schemas_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/events/call"
	"github.com/heraldhq/herald/schemas"
)

// The call schema accepts the wire types as events/call marshals them
// (a pending verdict with its question, a call.post carrying the answers
// and its report_to, a call.confirm record, a hooks report with a stored
// outcome) and rejects what none of them may hold.
func TestCallSchema_RoundTrip(t *testing.T) {
	zero, one := 0, 1
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	q := call.Confirmation{Hook: "kill-confirmer", Question: "Kill c/r/prod/web (0-3)?"}
	answered := q
	answered.Answer, answered.Confirmed, answered.By = "yes", true, call.AnsweredOnTerminal
	post := call.Call{
		ID: "c1", Method: "kill_job", Job: "c/r/prod/web", Args: map[string]string{"shards": "0-3"}, Phase: call.PhasePost,
		User: "alice", Host: "laptop", Confirmations: []call.Confirmation{answered}, ReportTo: call.HooksReportSubject("c1", "dep"),
		Result: &call.Result{ExitCode: &zero, DurationMS: 12, Start: now}, Time: now,
	}
	valid := map[string]any{
		"pending verdict": call.Verdict{CallID: "c1", Hooks: []call.HookVerdict{{Hook: "kill-confirmer", Phase: "pre", Status: call.StatusConfirm, Reason: q.Question}},
			Denied: []call.HookVerdict{{Hook: "kill-confirmer", Phase: "pre", Status: call.StatusConfirm, Reason: q.Question}}, Confirm: []call.Confirmation{q}},
		"refused verdict": call.Verdict{CallID: "c1", Error: "unknown method"},
		"pre request":     call.Call{ID: "c1", Method: "kill_job", Job: "c/r/prod/web", Phase: call.PhasePre, Time: now},
		"call.post":       post,
		"call.confirm": call.ConfirmRecord{CallID: "c1", Method: "kill_job", Job: "c/r/prod/web", User: "alice", Identity: "dep",
			Confirmations: []call.Confirmation{{Hook: "kill-confirmer", Question: q.Question, By: call.AnsweredNoTerminal}}, Time: now},
		"hooks report": call.HooksReport{CallID: "c1", EventID: "e1", Phase: call.PhasePost, Dispatcher: "disp-1", Outcomes: []events.Outcome{{
			EventID: "e1", EventType: call.TypePost, Key: "c/r/prod/web", Watch: "notify", Host: "disp-1", Status: events.StatusFailed,
			ExitCode: &one, Attempts: 1, Start: now, Stdout: "slack is down\n",
		}}},
		"empty hooks report": call.HooksReport{CallID: "c1", EventID: "e1", Phase: call.PhaseErr, Dispatcher: "disp-1", Outcomes: []events.Outcome{}},
	}
	for name, v := range valid {
		data, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := schemas.Validate(schemas.Call, data); err != nil {
			t.Errorf("%s %s: %v", name, data, err)
		}
	}
	bad := post
	bad.ReportTo = "herald.outcome.>"
	invalid := map[string]any{
		"report_to elsewhere": bad,
		"confirm by whom":     map[string]any{"call_id": "c1", "allow": false, "hooks": nil, "confirm": []any{map[string]any{"hook": "h", "question": "q", "confirmed": true, "by": "shell"}}},
		"unknown status":      map[string]any{"call_id": "c1", "allow": false, "hooks": []any{map[string]any{"hook": "h", "phase": "pre", "allow": false, "status": "maybe", "duration_ms": 0}}},
		"report phase pre":    map[string]any{"call_id": "c1", "event_id": "e1", "phase": "pre", "dispatcher": "d", "outcomes": []any{}},
	}
	for name, v := range invalid {
		if err := schemas.Validate(schemas.Call, v); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
