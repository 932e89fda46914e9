package callhooks

import "github.com/heraldhq/herald/events/call"

// VerdictRecord is told every pre verdict the engine gives; method is the
// request subject's, for a request that could not be read.
type VerdictRecord func(c call.Call, method string, v call.Verdict)

// SetVerdictRecorder makes the engine tell record every pre verdict it
// gives (the web console's bounded record: a verdict is a reply, stored
// nowhere else). It may be called at any time.
func (e *Engine) SetVerdictRecorder(record func(c call.Call, method string, v call.Verdict)) {
	r := VerdictRecord(record)
	e.recorder.Store(&r)
}

func (e *Engine) record(c call.Call, method string, v call.Verdict) {
	if r := e.recorder.Load(); r != nil {
		(*r)(c, method, v)
	}
}
