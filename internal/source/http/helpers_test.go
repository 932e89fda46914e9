package httpsource_test

import "github.com/heraldhq/herald/internal/testutil/dispatchertest"

// The endpoint is tested where it runs: on a real embedded dispatcher's
// HTTP server, publishing through the dispatcher's own publisher (its
// duplicate answers and metrics are part of what POST /v1/events returns).
var (
	testConfig      = dispatchertest.Config
	startDispatcher = dispatchertest.Start
	post            = dispatchertest.Post
	get             = dispatchertest.Get
	readEvents      = dispatchertest.ReadEvents
	streamMsgs      = dispatchertest.StreamMsgs
	metricValue     = dispatchertest.MetricValue
)

type publishReply = dispatchertest.PublishReply
