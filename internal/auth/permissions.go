package auth

import (
	"encoding/base64"
	"fmt"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/nats-io/jwt/v2"
)

// The names this file grants on, spelled out (package auth knows the
// subjects, not the code that uses them; permissions_test checks that they
// agree with the packages that own them).
const (
	eventsStream   = events.EventsStream
	outcomesStream = events.OutcomesStream
	agentsStream   = events.AgentsStream
	// jsAPI is the JetStream API of the account's default domain.
	jsAPI = "$JS.API."
	// leaderElected is the advisory the agents' feeds follow for the
	// events stream.
	leaderElected = "$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED." + eventsStream
	callPre       = "herald.call.pre"
	callSkip      = "herald.call.skip"
	callHook      = "herald.callhook"
	// The rollouts bucket (package rollout): its stream and its keys'
	// subjects, <event>.<watch>.{plan,gate,turn.N,host.<host>}, each name
	// one unpadded base64url token.
	rolloutStream = "KV_herald_rollouts"
	rolloutKeys   = "$KV.herald_rollouts."
	callHooksRep  = "herald.call.hooks"
)

// rolloutToken is rollout.Token: a name as one key token.
func rolloutToken(name string) string { return base64.RawURLEncoding.EncodeToString([]byte(name)) }

// WaitStreams are what herald publish --wait reads (a publisher granted
// MayWait may): the announcements, for the hosts expected to decide the
// event, the outcomes, for what each did, and the rollouts bucket, for the
// hosts waiting for their rollout turn.
var WaitStreams = []string{agentsStream, outcomesStream, rolloutStream}

// ViewerBuckets are the key-value buckets herald status reads.
var ViewerBuckets = []string{"herald_hooks", "herald_handlers", "herald_rollouts"}

// ProtectedDurables are the dispatchers' shared durable consumers: on the
// streams where agents and viewers may make consumers of their own, they
// may not create, pull from or delete one of these names.
var ProtectedDurables = map[string][]string{
	eventsStream:   {"herald-call-hooks"},
	outcomesStream: {"herald-handlers"},
}

// MaxControlLine is the largest protocol line a server must accept from a
// Herald client: a CONNECT carries the user's JWT with its permissions,
// more than the server's default 4 KiB for a viewer or a publisher with
// many grants. The embedded server uses it; server-config sets it.
const MaxControlLine = 64 * 1024

// hookReplyWindow is how long an agent may answer a call-hook request (the
// dispatcher's reply subject) after receiving it: a pre hook runs for at
// most its timeout.
const hookReplyWindow = time.Hour

func inbox(name string) string { return "_INBOX_" + name + ".>" }

// readStream is what reading stream s through direct gets, its info and
// one-off or ordered consumers takes, its dispatchers' durables excepted.
func readStream(s string, consumers bool) (allow, deny []string) {
	allow = []string{
		jsAPI + "STREAM.INFO." + s,
		jsAPI + "DIRECT.GET." + s,
		jsAPI + "DIRECT.GET." + s + ".>",
	}
	if !consumers {
		return allow, nil
	}
	// CONSUMER.<op>.S.NAME[.FILTER] for CREATE, DELETE, INFO (and PAUSE,
	// UNPIN of its own consumers); MSG.NEXT has one token more.
	allow = append(allow, jsAPI+"CONSUMER.*."+s+".>", jsAPI+"CONSUMER.MSG.NEXT."+s+".*")
	for _, d := range ProtectedDurables[s] {
		deny = append(deny, jsAPI+"CONSUMER.*."+s+"."+d, jsAPI+"CONSUMER.*."+s+"."+d+".>", jsAPI+"CONSUMER.MSG.NEXT."+s+"."+d)
	}
	return allow, deny
}

// AgentPermissions are agent NAME's: its outcomes and its announcement
// (JetStream publishes, acked on its inbox), reading the events stream
// (direct gets and its info, for the feed and run_on_load; no consumer
// API at all), the live republish and the leader advisory, its own
// call-hook requests and the replies to them; for rollouts, reading the
// announcements (the live hosts a rollout is planned over) and the
// rollouts bucket, writing the shared keys of a rollout (plan, gate,
// turns) and only its own host state, and hearing the bucket's changes.
func AgentPermissions(name string) jwt.Permissions {
	allow, deny := readStream(eventsStream, false)
	for _, s := range []string{agentsStream, rolloutStream} {
		a, _ := readStream(s, false)
		allow = append(allow, a...)
	}
	allow = append(allow, rolloutKeys+"*.*.plan", rolloutKeys+"*.*.gate", rolloutKeys+"*.*.turn.*",
		rolloutKeys+"*.*.host."+rolloutToken(name))
	var p jwt.Permissions
	p.Pub.Allow = append([]string{
		events.OutcomePrefix + "." + name + ".>",
		events.AgentPrefix + "." + name,
	}, allow...)
	p.Pub.Deny = deny
	p.Sub.Allow = []string{
		events.LivePrefix + ".>",
		leaderElected,
		callHook + "." + name,
		rolloutKeys + ">",
		inbox(name),
	}
	p.Resp = &jwt.ResponsePermission{MaxMsgs: 1, Expires: hookReplyWindow}
	return p
}

// PublisherPermissions are publisher id's: events of its granted types
// and keys (PublisherSubjects) and never a reserved type; the JetStream
// ack comes on its inbox. It reads nothing, unless granted MayWait: then,
// for herald publish --wait, the agents' announcements, the outcomes and
// the rollouts bucket (WaitStreams: stream info and direct gets, no
// consumer, no subscription); never the events stream. With MaySkipHooks it is also a caller that may skip hooks
// (callerPermissions): the reserved call.* types are then denied but for
// the call.post, call.err and call.confirm it is allowed.
func PublisherPermissions(id Identity) (jwt.Permissions, error) {
	subs, err := PublisherSubjects(id.Types, id.Keys)
	if err != nil {
		return jwt.Permissions{}, err
	}
	var p jwt.Permissions
	p.Pub.Allow = subs
	if id.MayWait {
		for _, s := range WaitStreams {
			allow, _ := readStream(s, false)
			p.Pub.Allow = append(p.Pub.Allow, allow...)
		}
	}
	for _, r := range ReservedTypePrefixes {
		if r == "call" && id.MaySkipHooks {
			// A deny would override the caller's allows; no granted type
			// can be a call.* (typeFilter), so only those allows remain.
			continue
		}
		p.Pub.Deny = append(p.Pub.Deny, events.EventPrefix+"."+r+".>")
	}
	p.Sub.Allow = []string{inbox(id.Name)}
	if id.MaySkipHooks {
		pub, sub := callerPermissions(id.Name, true)
		p.Pub.Allow, p.Sub.Allow = append(p.Pub.Allow, pub...), append(p.Sub.Allow, sub...)
	}
	return p, nil
}

// callerPermissions are what herald call takes for identity NAME: pre
// requests under its own name (skip requests only with maySkip), the
// call.post, call.err and call.confirm events, and the reports of its own
// calls' post and err hooks (herald.call.hooks.<call id>.NAME, for
// --wait-hooks).
func callerPermissions(name string, maySkip bool) (pub, sub []string) {
	pub = []string{
		callPre + ".*." + name,
		events.EventPrefix + ".call.post.>",
		events.EventPrefix + ".call.err.>",
		events.EventPrefix + ".call.confirm.>",
	}
	if maySkip {
		pub = append(pub, callSkip+".*."+name)
	}
	return pub, []string{callHooksRep + ".*." + name}
}

// DeployerPermissions are deployer NAME's (herald call, herald op, herald
// rollout halt and resume): pre requests under its own name (skip requests
// only with maySkip), the call.post, call.err, call.confirm, op.* and
// rollout.* events, reading the rollouts bucket and writing its gates, its
// inbox, and the reports of its own calls' post and err hooks
// (herald.call.hooks.<call id>.NAME, for --wait-hooks): no other
// outcome.
func DeployerPermissions(name string, maySkip bool) jwt.Permissions {
	var p jwt.Permissions
	pub, sub := callerPermissions(name, maySkip)
	p.Pub.Allow = append(pub,
		events.EventPrefix+".op.>",
		events.EventPrefix+".rollout.>",
		rolloutKeys+"*.*.gate",
	)
	a, _ := readStream(rolloutStream, false)
	p.Pub.Allow = append(p.Pub.Allow, a...)
	p.Sub.Allow = append([]string{inbox(name)}, sub...)
	return p
}

// ViewerPermissions are viewer NAME's: read the streams (direct gets,
// info, one-off and ordered consumers, never the dispatchers' durables)
// and the status buckets; publish nothing else.
func ViewerPermissions(name string) jwt.Permissions {
	var p jwt.Permissions
	for _, s := range []string{eventsStream, outcomesStream, agentsStream} {
		a, d := readStream(s, true)
		p.Pub.Allow, p.Pub.Deny = append(p.Pub.Allow, a...), append(p.Pub.Deny, d...)
	}
	for _, b := range ViewerBuckets {
		s := "KV_" + b
		a, d := readStream(s, true)
		// A key listing is a push consumer: its create names no consumer,
		// and the server's flow control asks for a reply.
		a = append(a, jsAPI+"CONSUMER.CREATE."+s, "$JS.FC."+s+".>")
		p.Pub.Allow, p.Pub.Deny = append(p.Pub.Allow, a...), append(p.Pub.Deny, d...)
	}
	p.Sub.Allow = []string{inbox(name)}
	return p
}

// DispatcherPermissions are a dispatcher's: the bus (events, outcomes,
// announcements, pre requests, call-hook requests, status buckets) and the
// JetStream API with stream admin; never the live republish, which only
// the server publishes. Replies to pre requests go to the callers' inboxes.
func DispatcherPermissions(name string) jwt.Permissions {
	var p jwt.Permissions
	p.Pub.Allow = []string{"herald.>", "$JS.>", "$KV.>", inbox(name)}
	p.Pub.Deny = []string{events.LivePrefix + ".>"}
	p.Sub.Allow = []string{"herald.>", "$JS.>", "$KV.>", inbox(name)}
	p.Resp = &jwt.ResponsePermission{MaxMsgs: 1, Expires: hookReplyWindow}
	return p
}

// AdminPermissions are the admin's: everything (no restriction).
func AdminPermissions() jwt.Permissions { return jwt.Permissions{} }

// PermissionsFor returns the permissions of id's role.
func PermissionsFor(id Identity) (jwt.Permissions, error) {
	switch id.Role {
	case RoleAgent:
		return AgentPermissions(id.Name), nil
	case RolePublisher:
		return PublisherPermissions(id)
	case RoleDeployer:
		return DeployerPermissions(id.Name, id.MaySkipHooks), nil
	case RoleViewer:
		return ViewerPermissions(id.Name), nil
	case RoleDispatcher:
		return DispatcherPermissions(id.Name), nil
	case RoleAdmin:
		return AdminPermissions(), nil
	}
	return jwt.Permissions{}, fmt.Errorf("unknown role %q", id.Role)
}
