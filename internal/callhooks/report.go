package callhooks

import (
	"encoding/json"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/events/call"
	"github.com/rs/zerolog"
)

// reportHooks tells a caller waiting for a call's post or err hooks
// (Call.ReportTo, herald call --wait-hooks) how they went: once their
// outcomes are stored, or at once when none ran. It is a core publish on
// the caller's subject, which only its identity may subscribe to; a caller
// that stopped waiting misses nothing the outcomes stream does not keep.
func (e *Engine) reportHooks(rt *runtime, log zerolog.Logger, c call.Call, ev events.Event, outs []events.Outcome, skipped []string, disabled string) {
	if c.ReportTo == "" {
		return
	}
	if err := c.CheckReportTo(); err != nil {
		log.Warn().Err(err).Msg("hooks report not sent")
		return
	}
	rep := call.HooksReport{
		CallID: c.ID, EventID: ev.ID, Phase: c.Phase, Dispatcher: e.cfg.Host,
		Outcomes: outs, Skipped: skipped, HooksDisabled: disabled,
	}
	if rep.Outcomes == nil {
		rep.Outcomes = []events.Outcome{}
	}
	data, err := json.Marshal(rep)
	if err == nil && int64(len(data)) > rt.nc.MaxPayload() {
		// Too big with every output tail: the stored outcomes keep them.
		for i := range rep.Outcomes {
			rep.Outcomes[i].Stdout, rep.Outcomes[i].Stderr = "", ""
		}
		data, err = json.Marshal(rep)
	}
	if err == nil {
		err = rt.nc.Publish(c.ReportTo, data)
	}
	if err != nil {
		log.Warn().Err(err).Msg("hooks report not sent")
	}
}
