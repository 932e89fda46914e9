package callhooks

import "github.com/heraldhq/herald/events/call"

// SetVerdictRecorder makes the engine tell record every pre verdict it
// gives (the web console's bounded record: a verdict is a reply, stored
// nowhere else); method is the request subject's, for a request that
// could not be read. Call it before Run.
func (e *Engine) SetVerdictRecorder(record func(c call.Call, method string, v call.Verdict)) {
	e.recorder = record
}

func (e *Engine) record(c call.Call, method string, v call.Verdict) {
	if e.recorder != nil {
		e.recorder(c, method, v)
	}
}
