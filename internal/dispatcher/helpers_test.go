package dispatcher_test

import "github.com/heraldhq/herald/internal/testutil/dispatchertest"

// The helpers live in package dispatchertest, shared with the tests of the
// HTTP publish source (source/http).
var (
	testConfig      = dispatchertest.Config
	newDispatcher   = dispatchertest.New
	startDispatcher = dispatchertest.Start
	post            = dispatchertest.Post
	get             = dispatchertest.Get
	readEvents      = dispatchertest.ReadEvents
	streamMsgs      = dispatchertest.StreamMsgs
	metricValue     = dispatchertest.MetricValue
)
