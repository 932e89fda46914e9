package cli_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/events/call"
	"github.com/heraldhq/herald/internal/cli"
	"github.com/heraldhq/herald/internal/dispatcher"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
	"github.com/rs/zerolog"
)

// callFixture is a real dispatcher (embedded NATS, call hooks over dir)
// and a scratch directory for markers.
type callFixture struct {
	t    *testing.T
	url  string
	dir  string // hooks dir
	tmp  string // markers and scripts
	js   jetstream.JetStream
	disp *dispatcher.Dispatcher
}

func newCallFixture(t *testing.T, hooksYAML, disabled string) *callFixture {
	t.Helper()
	f := &callFixture{t: t, dir: t.TempDir(), tmp: t.TempDir()}
	hooksYAML = strings.ReplaceAll(hooksYAML, "%TMP%", f.tmp)
	if err := os.WriteFile(filepath.Join(f.dir, "hooks.yaml"), []byte(hooksYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := dispatcher.DefaultConfig()
	cfg.NATSListen, cfg.HTTP, cfg.Data = "127.0.0.1:0", "", t.TempDir()
	cfg.Hooks, cfg.HooksDisabled = f.dir, disabled
	d, err := dispatcher.New(cfg, dispatcher.WithLogger(zerolog.Nop()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_ = d.Close(ctx)
	})
	f.disp, f.url = d, d.ClientURL()
	nc, err := nats.Connect(f.url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	f.js, _ = jetstream.New(nc)
	return f
}

func (f *callFixture) path(name string) string { return filepath.Join(f.tmp, name) }

// call runs herald call in-process against the fixture.
func (f *callFixture) call(stdin string, args ...string) result {
	f.t.Helper()
	args = append([]string{"call", "--nats", f.url}, args...)
	return run(f.t, nil, strings.NewReader(stdin), args...)
}

// stored returns the calls of every stored event of typ.
func (f *callFixture) stored(typ string) []call.Call {
	f.t.Helper()
	var out []call.Call
	for _, e := range testutil.StoredEvents(f.t, f.js, 10*time.Second, events.EventPrefix+"."+typ+".>") {
		var c call.Call
		if err := json.Unmarshal(e.Data, &c); err != nil {
			f.t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

const gateHooks = `
hooks:
  - name: prod-needs-green-ci
    phase: pre
    methods: [create_job, update_job]
    jobs: ["*/*/prod/*"]
    exec: 'echo "build $HERALD_ARG_BUILD did not pass CI"; exit 1'
  - name: args-recorder
    phase: pre
    methods: ["*"]
    exec: 'env | grep ^HERALD_ARG_ | sort > %TMP%/args'
`

// TestMain_RunCall_Denied proves a vetoed call never runs COMMAND, exits 3
// and names the hook that denied with its reason.
func TestMain_RunCall_Denied(t *testing.T) {
	t.Parallel()
	f := newCallFixture(t, gateHooks, "")
	marker := f.path("ran")
	r := f.call("", "create_job", "--job", "west/www/prod/hello", "--arg", "build=41", "--", "touch", marker)
	if r.code() != cli.ExitCallDenied {
		t.Fatalf("exit %d, want %d; stderr %s", r.code(), cli.ExitCallDenied, r.errOut)
	}
	if exists(marker) {
		t.Fatal("COMMAND ran although a pre hook denied")
	}
	if !strings.Contains(r.errOut, "prod-needs-green-ci (failed): build 41 did not pass CI") {
		t.Fatalf("stderr does not name the hook and its reason:\n%s", r.errOut)
	}
	if got := f.stored(call.TypePost); len(got) != 0 {
		t.Fatalf("a denied call stored call.post: %+v", got)
	}
	// Flags after METHOD and before it both count; args reach the hooks as
	// HERALD_ARG_*.
	r = f.call("", "--job", "west/www/devel/hello", "create_job", "--arg", "build=41", "--arg", "note=$(reboot)", "--", "touch", marker)
	if r.code() != 0 || !exists(marker) {
		t.Fatalf("devel call: exit %d stderr %s", r.code(), r.errOut)
	}
	if got := readFileString(t, f.path("args")); got != "HERALD_ARG_BUILD=41\nHERALD_ARG_NOTE=$(reboot)\n" {
		t.Fatalf("hook saw args %q", got)
	}
}

func readFileString(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestMain_RunCall_Result proves COMMAND gets stdin and its output passes
// through, herald call exits with COMMAND's status, and exactly one of
// call.post (exit 0) or call.err (anything else) is stored with the tails.
func TestMain_RunCall_Result(t *testing.T) {
	t.Parallel()
	f := newCallFixture(t, "hooks: []\n", "")
	r := f.call("job config\n", "update_job", "--job", "c/r/e/web", "--", "/bin/sh", "-c", `cat; echo to-stderr >&2`)
	if r.code() != 0 || r.out != "job config\n" || !strings.Contains(r.errOut, "to-stderr") {
		t.Fatalf("exit %d stdout %q stderr %q", r.code(), r.out, r.errOut)
	}
	r = f.call("", "kill_job", "--job", "c/r/e/web", "--", "/bin/sh", "-c", `echo partial; exit 5`)
	if r.code() != 5 || r.out != "partial\n" {
		t.Fatalf("exit %d (want 5) stdout %q", r.code(), r.out)
	}
	r = f.call("", "restart", "--job", "c/r/e/web", "--", "/bin/sh", "-c", `kill -TERM $$`)
	if r.code() != 128+15 || !strings.Contains(r.errOut, "killed by SIGTERM") {
		t.Fatalf("signal: exit %d stderr %q", r.code(), r.errOut)
	}
	r = f.call("", "restart", "--job", "c/r/e/web", "--", "/nonexistent/aurora")
	if r.code() != cli.ExitCallNotStarted || !strings.Contains(r.errOut, "cannot start the command") {
		t.Fatalf("not started: exit %d stderr %q", r.code(), r.errOut)
	}

	posts, errs := f.stored(call.TypePost), f.stored(call.TypeErr)
	if len(posts) != 1 || len(errs) != 3 {
		t.Fatalf("%d call.post and %d call.err, want 1 and 3", len(posts), len(errs))
	}
	p := posts[0]
	if p.Method != "update_job" || p.Phase != call.PhasePost || p.Result == nil || p.Result.Stdout != "job config\n" ||
		p.Result.Stderr != "to-stderr\n" || p.Result.ExitCode == nil || *p.Result.ExitCode != 0 || p.ID == "" || p.User == "" {
		t.Fatalf("call.post %+v result %+v", p, p.Result)
	}
	byMethod := map[string][]call.Call{}
	for _, e := range errs {
		byMethod[e.Method] = append(byMethod[e.Method], e)
		if e.ID == p.ID {
			t.Fatal("one call stored both call.post and call.err")
		}
	}
	if k := byMethod["kill_job"]; len(k) != 1 || *k[0].Result.ExitCode != 5 || k[0].Result.Stdout != "partial\n" {
		t.Fatalf("kill_job call.err %+v", k)
	}
	var signaled, unstarted bool
	for _, e := range byMethod["restart"] {
		signaled = signaled || e.Result.Signal == "SIGTERM"
		unstarted = unstarted || (e.Result.Error != "" && e.Result.ExitCode == nil)
	}
	if !signaled || !unstarted {
		t.Fatalf("restart call.err events %+v", byMethod["restart"])
	}
}

// TestMain_RunCall_SkipHooks proves --skip-hooks needs --reason (a usage
// error: nothing runs) and that a skip runs COMMAND and stores the audit.
func TestMain_RunCall_SkipHooks(t *testing.T) {
	t.Parallel()
	f := newCallFixture(t, gateHooks, "")
	marker := f.path("ran")
	r := f.call("", "update_job", "--job", "c/r/prod/web", "--skip-hooks", "prod-needs-green-ci", "--", "touch", marker)
	if r.code() != cli.ExitUsage || !strings.Contains(r.errOut, "--skip-hooks needs --reason") || exists(marker) {
		t.Fatalf("skip without reason: exit %d stderr %q marker %v", r.code(), r.errOut, exists(marker))
	}
	r = f.call("", "update_job", "--job", "c/r/prod/web", "--skip-hooks", "prod-needs-green-ci", "--reason", "INC-42 hotfix", "--", "touch", marker)
	if r.code() != 0 || !exists(marker) || !strings.Contains(r.errOut, "skipped hooks prod-needs-green-ci (audited)") {
		t.Fatalf("skip: exit %d stderr %q", r.code(), r.errOut)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cons, err := f.js.OrderedConsumer(ctx, events.EventsStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{events.EventPrefix + "." + call.TypeHooksSkipped + ".>"},
	})
	if err != nil {
		t.Fatal(err)
	}
	m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
	if err != nil {
		t.Fatalf("no call.hooks_skipped stored: %v", err)
	}
	var rec call.HooksSkipped
	if err := json.Unmarshal(m.Data(), &rec); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	if rec.Reason != "INC-42 hotfix" || rec.Host != host || rec.User == "" || rec.Method != "update_job" ||
		rec.Job != "c/r/prod/web" || strings.Join(rec.Skipped, ",") != "prod-needs-green-ci" || rec.By != call.SkippedByCaller {
		t.Fatalf("audit %+v", rec)
	}
	posts := f.stored(call.TypePost)
	if len(posts) != 1 || posts[0].ID != rec.CallID || strings.Join(posts[0].SkipHooks, ",") != "prod-needs-green-ci" {
		t.Fatalf("call.post %+v does not carry the audited call", posts)
	}
}

// TestMain_RunCall_Unreachable proves a call is denied (exit 3, COMMAND not
// run) when NATS or the dispatcher cannot be reached, unless --fail-open.
func TestMain_RunCall_Unreachable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "nats://" + ln.Addr().String()
	ln.Close()
	marker := filepath.Join(t.TempDir(), "ran")
	r := run(t, nil, nil, "call", "--nats", deadURL, "create_job", "--job", "c/r/prod/web", "--", "touch", marker)
	if r.code() != cli.ExitCallDenied || exists(marker) || !strings.Contains(r.errOut, "cannot reach NATS") || !strings.Contains(r.errOut, "--fail-open") {
		t.Fatalf("unreachable: exit %d marker %v stderr %q", r.code(), exists(marker), r.errOut)
	}
	r = run(t, nil, nil, "call", "--nats", deadURL, "create_job", "--job", "c/r/prod/web", "--fail-open", "--", "/bin/sh", "-c", `touch "$0"; exit 4`, marker)
	if r.code() != 4 || !exists(marker) || !strings.Contains(r.errOut, "--fail-open: running the command without hooks") {
		t.Fatalf("--fail-open: exit %d marker %v stderr %q", r.code(), exists(marker), r.errOut)
	}

	// NATS answers, but no dispatcher does.
	os.Remove(marker)
	s, _ := natsWithStreams(t)
	r = run(t, nil, nil, "call", "--nats", s.ClientURL(), "create_job", "--job", "c/r/prod/web", "--", "touch", marker)
	if r.code() != cli.ExitCallDenied || exists(marker) || !strings.Contains(r.errOut, "no dispatcher answers call.pre") {
		t.Fatalf("no dispatcher: exit %d marker %v stderr %q", r.code(), exists(marker), r.errOut)
	}
}

// TestMain_RunCall_HooksDisabled proves the dispatcher-wide switch lets a
// call through that a hook would deny, and herald status reports it.
func TestMain_RunCall_HooksDisabled(t *testing.T) {
	t.Parallel()
	f := newCallFixture(t, gateHooks, "migrating schedulers, CHG-7")
	marker := f.path("ran")
	r := f.call("", "create_job", "--job", "c/r/prod/web", "--", "touch", marker)
	if r.code() != 0 || !exists(marker) || !strings.Contains(r.errOut, "hooks are disabled on the dispatcher (migrating schedulers, CHG-7)") {
		t.Fatalf("exit %d marker %v stderr %q", r.code(), exists(marker), r.errOut)
	}
	if exists(f.path("args")) {
		t.Fatal("a hook ran while hooks are disabled")
	}
	st := run(t, nil, nil, "status", "--nats", f.url)
	if st.err != nil || !strings.Contains(st.out, "DISABLED: migrating schedulers, CHG-7") || !strings.Contains(st.out, "pre      args-recorder, prod-needs-green-ci") {
		t.Fatalf("status: %v\n%s", st.err, st.out)
	}
	st = run(t, nil, nil, "status", "--json", "--nats", f.url)
	var doc struct {
		CallHooks []call.HooksStatus `json:"call_hooks"`
	}
	if err := json.Unmarshal([]byte(st.out), &doc); err != nil || len(doc.CallHooks) != 1 || doc.CallHooks[0].HooksDisabled != "migrating schedulers, CHG-7" {
		t.Fatalf("status --json: %v\n%s", err, st.out)
	}
}

// TestMain_RunStatus_BrokenHookFile proves herald status shows a hook file
// that fails to load.
func TestMain_RunStatus_BrokenHookFile(t *testing.T) {
	t.Parallel()
	f := newCallFixture(t, gateHooks, "")
	if err := os.WriteFile(filepath.Join(f.dir, "bad.yaml"), []byte("hooks:\n  - {name: x, phase: pre, methods: [\"*\"], exec: \"true\", bogus: 1}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		st := run(t, nil, nil, "status", "--nats", f.url)
		if !strings.Contains(st.out, "BROKEN   "+filepath.Join(f.dir, "bad.yaml")) || !strings.Contains(st.out, "bad.yaml:2: hooks[0].bogus: unknown field") {
			return fmt.Errorf("status:\n%s", st.out)
		}
		return nil
	})
}

func TestMain_RunCall_Usage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"call"}, "METHOD is required"},
		{[]string{"call", "create_job", "--", "true"}, "--job CLUSTER/ROLE/ENV/NAME is required"},
		{[]string{"call", "create_job", "--job", "a/b/c", "--", "true"}, "--job:"},
		{[]string{"call", "create job", "--job", "a/b/c/d", "--", "true"}, "method"},
		{[]string{"call", "create_job", "--job", "a/b/c/d"}, "COMMAND is required"},
		{[]string{"call", "create_job", "--job", "a/b/c/d", "--arg", "no-equals", "--", "true"}, "want KEY=VALUE"},
		{[]string{"call", "create_job", "--job", "a/b/c/d", "--arg", "bad-name=1", "--", "true"}, "arg"},
		{[]string{"call", "create_job", "--job", "a/b/c/d", "--reason", "x", "--", "true"}, "--reason goes with --skip-hooks"},
	} {
		r := run(t, nil, nil, tc.args...)
		if r.code() != cli.ExitUsage || !strings.Contains(r.errOut, tc.want) {
			t.Errorf("%v: exit %d stderr %q, want 2 and %q", tc.args, r.code(), r.errOut, tc.want)
		}
	}
	var es *cli.ExitStatus
	if r := run(t, nil, nil, "call", "create_job"); errors.As(r.err, &es) {
		t.Errorf("a usage error carries an exit status %d", es.Code)
	}
}

// writeCreds writes a NATS credentials file for a user named name (signed
// by a throwaway account; the fixture's server has no auth and takes it).
func writeCreds(t *testing.T, name string) string {
	t.Helper()
	acct, err := nkeys.CreateAccount()
	if err != nil {
		t.Fatal(err)
	}
	user, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := user.PublicKey()
	uc := jwt.NewUserClaims(pub)
	uc.Name = name
	tok, err := uc.Encode(acct)
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := user.Seed()
	creds, err := jwt.FormatUserConfig(tok, seed)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), name+".creds")
	if err := os.WriteFile(p, creds, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestMain_RunCall_CallerFromCreds: with --nats-creds, herald call sends
// its pre request on herald.call.pre.<method>.<identity> (on
// herald.call.skip.<method>.<identity> with --skip-hooks), so the
// dispatcher records the identity as the caller, beside the OS user.
func TestMain_RunCall_CallerFromCreds(t *testing.T) {
	t.Parallel()
	f := newCallFixture(t, `
hooks:
  - {name: who, phase: pre, methods: ["*"], exec: 'echo "$HERALD_CALLER_IDENTITY" > %TMP%/caller'}
`, "")
	nc, err := nats.Connect(f.url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	subjects := make(chan string, 8)
	for _, s := range []string{call.PrePrefix + ".>", call.SkipPrefix + ".>"} {
		if _, err := nc.Subscribe(s, func(m *nats.Msg) { subjects <- m.Subject }); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	creds := writeCreds(t, "ci-deployer")
	marker := f.path("ran")
	r := f.call("", "update_job", "--nats-creds", creds, "--job", "c/r/prod/web", "--", "touch", marker)
	if r.code() != 0 || !exists(marker) {
		t.Fatalf("call: exit %d stderr %q", r.code(), r.errOut)
	}
	if got := <-subjects; got != "herald.call.pre.update_job.ci-deployer" {
		t.Fatalf("pre request on %q", got)
	}
	if got, _ := os.ReadFile(f.path("caller")); strings.TrimSpace(string(got)) != "ci-deployer" {
		t.Fatalf("the hook saw HERALD_CALLER_IDENTITY %q", got)
	}
	r = f.call("", "update_job", "--nats-creds", creds, "--job", "c/r/prod/web", "--skip-hooks", "all", "--reason", "INC-9", "--", "true")
	if r.code() != 0 {
		t.Fatalf("skip: exit %d stderr %q", r.code(), r.errOut)
	}
	if got := <-subjects; got != "herald.call.skip.update_job.ci-deployer" {
		t.Fatalf("skip request on %q", got)
	}
	var rec call.HooksSkipped
	testutil.Eventually(t, 20*time.Second, func() error {
		stored := testutil.StoredEvents(t, f.js, 10*time.Second, events.EventPrefix+"."+call.TypeHooksSkipped+".>")
		if len(stored) != 1 {
			return fmt.Errorf("%d call.hooks_skipped events", len(stored))
		}
		return json.Unmarshal(stored[0].Data, &rec)
	})
	if rec.Caller != "ci-deployer" || rec.User == "" || rec.User == rec.Caller {
		t.Fatalf("audit record caller %q user %q: want the identity and the OS user apart", rec.Caller, rec.User)
	}
	// Without creds: the old subject, no caller.
	if r := f.call("", "update_job", "--job", "c/r/prod/web", "--", "true"); r.code() != 0 {
		t.Fatalf("call without creds: exit %d stderr %q", r.code(), r.errOut)
	}
	if got := <-subjects; got != "herald.call.pre.update_job" {
		t.Fatalf("pre request without creds on %q", got)
	}
}
