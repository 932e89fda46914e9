// Package console is the dispatcher's web console under /ui/: the fleet
// (every agent's announcement, its watches and each one's last outcome),
// the events as they arrive, what the fleet did with one event (package
// eventreport: one row per host, the rollouts) and the scheduler calls
// (this dispatcher's pre verdicts, kept in a bounded record it is handed
// by the call-hook engine, the call.* events of the events stream, every
// dispatcher's herald_hooks state). Pages are rendered on the server with
// html/template from assets embedded in the binary; each page's live
// region is re-rendered on the server and pushed over Server-Sent Events
// to a few lines of hand-written JavaScript. With a registry it needs a
// viewer token, given once in a login form and then held in an HttpOnly,
// SameSite=Strict cookie.
//
// It reads only the streams and buckets (by direct gets: no consumer, no
// subscription). It must not know the dispatcher, how the bus is
// connected, how hook files are parsed or how a verdict is decided, and it
// never writes to the bus.
package console
