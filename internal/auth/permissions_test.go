package auth_test

import (
	"slices"
	"testing"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/events/call"
	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/callhooks"
	"github.com/heraldhq/herald/internal/handlers"
	"github.com/heraldhq/herald/internal/rollout"
	"github.com/nats-io/jwt/v2"
)

// allowed is how a server decides: an allow list (empty: everything)
// that matches, and no deny that does.
func allowed(p jwt.Permission, subj string) bool {
	ok := len(p.Allow) == 0
	for _, a := range p.Allow {
		ok = ok || subjectMatch(a, subj)
	}
	for _, d := range p.Deny {
		if subjectMatch(d, subj) {
			return false
		}
	}
	return ok
}

type check struct {
	sub  bool // a subscription, not a publish
	subj string
	want bool
}

func pub(subj string, want bool) check { return check{false, subj, want} }
func sub(subj string, want bool) check { return check{true, subj, want} }

// Attacks every role but the dispatcher's and the admin's must be refused.
var attacks = []check{
	pub("$JS.API.STREAM.PURGE.HERALD_EVENTS", false),
	pub("$JS.API.STREAM.DELETE.HERALD_OUTCOMES", false),
	pub("$JS.API.STREAM.UPDATE.HERALD_EVENTS", false),
	pub("$JS.API.STREAM.CREATE.HERALD_EVENTS", false),
	pub("$JS.API.STREAM.MSG.DELETE.HERALD_EVENTS", false),
	pub("$JS.API.CONSUMER.DELETE.HERALD_EVENTS.herald-call-hooks", false),
	pub("$JS.API.CONSUMER.DELETE.HERALD_OUTCOMES.herald-handlers", false),
	pub("$JS.API.CONSUMER.MSG.NEXT.HERALD_EVENTS.herald-call-hooks", false),
	pub("$JS.API.CONSUMER.CREATE.HERALD_EVENTS.herald-call-hooks", false),
	pub("$JS.API.CONSUMER.CREATE.HERALD_EVENTS.herald-call-hooks.herald.event.>", false),
	pub("$JS.API.CONSUMER.DURABLE.CREATE.HERALD_EVENTS.x", false),
	pub("$JS.API.CONSUMER.PAUSE.HERALD_EVENTS.herald-call-hooks", false),
	pub("herald.outcome.other.w", false),
	pub("herald.agent.other", false),
	pub("herald.callhook.web-1", false),
	pub("herald.live.deploy./x", false),
	pub("herald.event.zk.changed./x", false),
	pub("herald.event.call.hooks_skipped./j", false),
	pub("$KV.herald_hooks.x", false),
	sub("herald.call.pre.>", false),
	sub("herald.call.pre.deploy.dep", false),
	sub("herald.call.skip.>", false),
	sub("_INBOX_other.>", false),
	sub("_INBOX.>", false),
	sub(">", false),
}

func TestPermissions_PerRole(t *testing.T) {
	pubP, err := auth.PublisherPermissions(auth.Identity{Name: "ci", Role: auth.RolePublisher, Types: []string{"deploy.*"}, Keys: []string{"/app/**"}})
	if err != nil {
		t.Fatal(err)
	}
	waitP, err := auth.PublisherPermissions(auth.Identity{Name: "ci", Role: auth.RolePublisher, Types: []string{"deploy.*"}, Keys: []string{"/app/**"}, MayWait: true})
	if err != nil {
		t.Fatal(err)
	}
	skipP, err := auth.PublisherPermissions(auth.Identity{Name: "hotfix", Role: auth.RolePublisher, Types: []string{"deploy.*"}, MaySkipHooks: true})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		p      jwt.Permissions
		checks []check
	}{
		{"agent", auth.AgentPermissions("web-1"), append([]check{
			pub("herald.outcome.web-1.w1", true),
			pub("herald.agent.web-1", true),
			pub("$JS.API.DIRECT.GET.HERALD_EVENTS", true),
			pub("$JS.API.STREAM.INFO.HERALD_EVENTS", true),
			// No consumer API: the feed and run_on_load read by direct gets.
			pub("$JS.API.CONSUMER.CREATE.HERALD_EVENTS.abc", false),
			pub("$JS.API.CONSUMER.MSG.NEXT.HERALD_EVENTS.abc", false),
			pub("$JS.API.CONSUMER.DELETE.HERALD_EVENTS.abc", false),
			pub("$JS.API.CONSUMER.CREATE.HERALD_OUTCOMES.abc", false),
			pub("$JS.API.DIRECT.GET.HERALD_OUTCOMES", false),
			pub("herald.event.deploy./app", false),
			sub("herald.live.deploy./app", true),
			sub("herald.callhook.web-1", true),
			sub("herald.callhook.web-2", false),
			sub("$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED.HERALD_EVENTS", true),
			sub("_INBOX_web-1.abc", true),
			// Rollouts: the announcements and the bucket read, the shared
			// keys and its own host state written, never another host's.
			pub("$JS.API.DIRECT.GET.HERALD_AGENTS", true),
			pub("$JS.API.DIRECT.GET.KV_herald_rollouts.$KV.herald_rollouts.ZTE.dw.gate", true),
			pub("$JS.API.STREAM.INFO.KV_herald_rollouts", true),
			pub("$KV.herald_rollouts.ZTE.dw.plan", true),
			pub("$KV.herald_rollouts.ZTE.dw.gate", true),
			pub("$KV.herald_rollouts.ZTE.dw.turn.0", true),
			pub(rollout.HostKeySubjects("web-1"), true),
			pub("$KV.herald_rollouts.ZTE.dw.host."+rollout.Token("web-1"), true),
			pub("$KV.herald_rollouts.ZTE.dw.host."+rollout.Token("web-2"), false),
			pub("$KV.herald_hooks.x", false),
			pub("$JS.API.STREAM.PURGE.KV_herald_rollouts", false),
			pub("$JS.API.CONSUMER.CREATE.KV_herald_rollouts.x", false),
			sub("$KV.herald_rollouts.ZTE.dw.gate", true),
		}, attacks...)},
		{"publisher", pubP, append([]check{
			pub("herald.event.deploy.app./app./x", true),
			pub("herald.event.deploy.app./other", false),
			pub("herald.event.git.push./app./x", false),
			pub("herald.event.rollout.halted./app", false),
			pub("$JS.API.DIRECT.GET.HERALD_EVENTS", false),
			pub("$JS.API.DIRECT.GET.HERALD_EVENTS.herald.event.deploy.app./app", false),
			pub("$JS.API.STREAM.INFO.HERALD_EVENTS", false),
			pub("$JS.API.CONSUMER.CREATE.HERALD_EVENTS.abc", false),
			// Reads nothing without --may-wait.
			pub("$JS.API.STREAM.INFO.HERALD_AGENTS", false),
			pub("$JS.API.DIRECT.GET.HERALD_AGENTS", false),
			pub("$JS.API.STREAM.INFO.HERALD_OUTCOMES", false),
			pub("$JS.API.DIRECT.GET.HERALD_OUTCOMES", false),
			pub("$JS.API.DIRECT.GET.HERALD_OUTCOMES.herald.outcome.web-1.w", false),
			pub("$JS.API.STREAM.INFO.KV_herald_rollouts", false),
			pub("$JS.API.DIRECT.GET.KV_herald_rollouts", false),
			pub("$JS.API.CONSUMER.CREATE.HERALD_OUTCOMES.abc", false),
			pub("$JS.API.CONSUMER.CREATE.HERALD_AGENTS.abc", false),
			pub("$JS.API.CONSUMER.MSG.NEXT.HERALD_OUTCOMES.abc", false),
			pub("$JS.API.STREAM.INFO.KV_herald_hooks", false),
			pub("$JS.API.DIRECT.GET.KV_herald_handlers", false),
			sub("herald.outcome.>", false),
			sub("herald.agent.>", false),
			sub("_INBOX_ci.x", true),
			sub("herald.live.>", false),
			// Not a caller without --may-skip-hooks.
			pub("herald.call.pre.deploy.ci", false),
			pub("herald.call.skip.deploy.ci", false),
			pub("herald.event.call.post./j", false),
			sub("herald.call.hooks.c1.ci", false),
		}, attacks...)},
		// herald publish --wait (--may-wait): announcements, outcomes and
		// the rollouts bucket by direct gets and stream info, no consumer,
		// no subscription, never the events stream.
		{"publisher may wait", waitP, append([]check{
			pub("herald.event.deploy.app./app./x", true),
			pub("$JS.API.STREAM.INFO.HERALD_AGENTS", true),
			pub("$JS.API.DIRECT.GET.HERALD_AGENTS", true),
			pub("$JS.API.STREAM.INFO.HERALD_OUTCOMES", true),
			pub("$JS.API.DIRECT.GET.HERALD_OUTCOMES", true),
			pub("$JS.API.DIRECT.GET.HERALD_OUTCOMES.herald.outcome.web-1.w", true),
			pub("$JS.API.STREAM.INFO.KV_herald_rollouts", true),
			pub("$JS.API.DIRECT.GET.KV_herald_rollouts.$KV.herald_rollouts.ZTE.dw.gate", true),
			pub("$JS.API.DIRECT.GET.HERALD_EVENTS", false),
			pub("$JS.API.STREAM.INFO.HERALD_EVENTS", false),
			pub("$JS.API.CONSUMER.CREATE.HERALD_OUTCOMES.abc", false),
			pub("$JS.API.CONSUMER.CREATE.HERALD_AGENTS.abc", false),
			pub("$JS.API.CONSUMER.MSG.NEXT.HERALD_OUTCOMES.abc", false),
			pub("$JS.API.STREAM.INFO.KV_herald_hooks", false),
			pub("$KV.herald_rollouts.ZTE.dw.gate", false),
			sub("herald.outcome.>", false),
			sub("$KV.herald_rollouts.>", false),
		}, attacks...)},
		// --may-skip-hooks makes a publisher a caller that may skip, as a
		// deployer with the right is for calls, and nothing more.
		{"publisher may skip", skipP, append([]check{
			pub("herald.event.deploy.app./x", true),
			pub("herald.call.pre.deploy.hotfix", true),
			pub("herald.call.skip.deploy.hotfix", true),
			pub("herald.call.skip.deploy.other", false),
			pub("herald.call.pre.deploy.other", false),
			pub("herald.event.call.post./j", true),
			pub("herald.event.call.err./j", true),
			pub("herald.event.call.confirm./j", true),
			pub("herald.event.call.pre./j", false),
			pub("herald.event.op.pre./backup", false),
			pub("herald.event.rollout.halted./git/head", false),
			pub("$KV.herald_rollouts.ZTE.dw.gate", false),
			sub("herald.call.hooks.c1.hotfix", true),
			sub("herald.call.hooks.c1.other", false),
		}, attacks...)},
		{"deployer", auth.DeployerPermissions("dep", false), append([]check{
			pub("herald.call.pre.deploy.dep", true),
			pub("herald.call.pre.deploy.other", false),
			pub("herald.call.pre.deploy", false),
			pub("herald.call.skip.deploy.dep", false),
			pub("herald.event.call.post./j", true),
			pub("herald.event.call.err./j", true),
			pub("herald.event.op.pre./backup", true),
			pub("herald.event.rollout.halted./git/head", true),
			pub("$KV.herald_rollouts.ZTE.dw.gate", true),
			pub("$KV.herald_rollouts.ZTE.dw.turn.0", false),
			pub("$KV.herald_rollouts.ZTE.dw.host.d2ViLTE", false),
			pub("$JS.API.DIRECT.GET.KV_herald_rollouts.$KV.herald_rollouts.ZTE.dw.gate", true),
			pub("herald.event.call.confirm./j", true),
			sub("_INBOX_dep.x", true),
			// --wait-hooks: the report of its own call's post and err
			// hooks, not another's, nor any outcome.
			sub("herald.call.hooks.c1.dep", true),
			sub("herald.call.hooks.c1.other", false),
			sub("herald.call.hooks.c1", false),
			sub("herald.call.hooks.*.*", false),
			sub("herald.call.hooks.>", false),
			sub("herald.outcome.dispatcher.notify", false),
			pub("$JS.API.DIRECT.GET.HERALD_OUTCOMES", false),
		}, attacks...)},
		{"deployer may skip", auth.DeployerPermissions("dep", true), []check{
			pub("herald.call.skip.deploy.dep", true),
			pub("herald.call.skip.deploy.other", false),
		}},
		{"viewer", auth.ViewerPermissions("ops"), append([]check{
			pub("$JS.API.STREAM.INFO.HERALD_OUTCOMES", true),
			pub("$JS.API.DIRECT.GET.HERALD_AGENTS", true),
			pub("$JS.API.CONSUMER.CREATE.HERALD_EVENTS.abc.herald.event.>", true),
			pub("$JS.API.CONSUMER.MSG.NEXT.HERALD_OUTCOMES.abc", true),
			pub("$JS.API.CONSUMER.DELETE.HERALD_OUTCOMES.abc", true),
			pub("$JS.API.STREAM.INFO.KV_herald_hooks", true),
			pub("$JS.API.CONSUMER.CREATE.KV_herald_hooks", true),
			pub("$JS.API.DIRECT.GET.KV_herald_hooks.$KV.herald_hooks.x", true),
			pub("herald.event.deploy./x", false),
			pub("herald.call.pre.deploy.ops", false),
			sub("_INBOX_ops.x", true),
			sub("herald.call.hooks.c1.ops", false),
		}, attacks...)},
		{"dispatcher", auth.DispatcherPermissions("dispatcher"), []check{
			pub("$JS.API.STREAM.CREATE.HERALD_EVENTS", true),
			pub("herald.callhook.web-1", true),
			pub("herald.event.zk.changed./x", true),
			pub("$KV.herald_hooks.x", true),
			pub("herald.live.deploy./x", false),
			sub("herald.call.pre.>", true),
			sub("herald.call.skip.>", true),
		}},
		{"admin", auth.AdminPermissions(), []check{
			pub("$JS.API.STREAM.PURGE.HERALD_EVENTS", true),
			sub(">", true),
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, ch := range c.checks {
				p, what := c.p.Pub, "publish"
				if ch.sub {
					p, what = c.p.Sub, "subscribe"
				}
				if got := allowed(p, ch.subj); got != ch.want {
					t.Errorf("%s %s: allowed %v, want %v", what, ch.subj, got, ch.want)
				}
			}
		})
	}
}

// The names permissions.go spells out agree with the packages that own
// them.
func TestPermissions_NamesAgree(t *testing.T) {
	if d := auth.ProtectedDurables[events.EventsStream]; !slices.Contains(d, callhooks.DefaultDurable) {
		t.Errorf("ProtectedDurables[%s] = %q, want %q in it", events.EventsStream, d, callhooks.DefaultDurable)
	}
	if d := auth.ProtectedDurables[events.OutcomesStream]; !slices.Contains(d, handlers.DefaultDurable) {
		t.Errorf("ProtectedDurables[%s] = %q, want %q in it", events.OutcomesStream, d, handlers.DefaultDurable)
	}
	for _, s := range append(rollout.SharedKeySubjects(), rollout.HostKeySubjects("web-1")) {
		if !allowed(auth.AgentPermissions("web-1").Pub, s) {
			t.Errorf("the agent may not publish %s", s)
		}
	}
	if !allowed(auth.AgentPermissions("web-1").Sub, rollout.SubjectPrefix+">") {
		t.Errorf("the agent may not hear the rollouts bucket's changes")
	}
	for _, b := range []string{call.StatusBucket, handlers.DefaultBucket, rollout.Bucket} {
		if !slices.Contains(auth.ViewerBuckets, b) {
			t.Errorf("ViewerBuckets = %q, want %q in it", auth.ViewerBuckets, b)
		}
	}
	p := auth.AgentPermissions("web-1")
	for _, s := range []string{call.AgentHookSubject("web-1"), events.AgentSubject("web-1")} {
		if !allowed(p.Sub, s) && !allowed(p.Pub, s) {
			t.Errorf("the agent may neither publish nor subscribe %s", s)
		}
	}
	if !allowed(p.Pub, events.OutcomeSubject("web-1", "w")) {
		t.Errorf("the agent may not publish %s", events.OutcomeSubject("web-1", "w"))
	}
	if !allowed(p.Sub, events.LiveSubject(events.EventSubject("deploy", "/x"))) {
		t.Errorf("the agent may not subscribe to the live republish")
	}
}
