package cli_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/cli"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

func TestMain_RunAuth_IssueListRevoke(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "auth")
	r := run(t, nil, nil, "auth", "init", "--dir", dir)
	if r.err != nil || !strings.Contains(r.out, filepath.Join(dir, "dispatcher.creds")) || !strings.Contains(r.out, "dispatcher --auth "+dir) {
		t.Fatalf("init: %v\n%s%s", r.err, r.out, r.errOut)
	}
	if r := run(t, nil, nil, "auth", "init", "--dir", dir); !errors.Is(r.err, auth.ErrExists) || cli.ExitCode(r.err) != cli.ExitFailure {
		t.Fatalf("second init: %v", r.err)
	}
	r = run(t, nil, nil, "auth", "add-publisher", "ci", "--types", "deploy.*", "--keys", "/app/**", "--http-token", "--dir", dir)
	if r.err != nil {
		t.Fatalf("add-publisher: %v %s", r.err, r.errOut)
	}
	tokFile := filepath.Join(dir, "publishers", "ci.token")
	tok, err := os.ReadFile(tokFile)
	if err != nil || !strings.Contains(r.out, strings.TrimSpace(string(tok))) {
		t.Fatalf("the token is not printed once: %v\n%s", err, r.out)
	}
	for _, args := range [][]string{{"add-agent", "web-1"}, {"add-deployer", "dep", "--may-skip-hooks"}, {"add-viewer", "ops"},
		{"add-publisher", "hotfix", "--types", "deploy.*", "--may-skip-hooks", "--may-wait"}} {
		if r := run(t, nil, nil, append(append([]string{"auth"}, args...), "--dir", dir)...); r.err != nil {
			t.Fatalf("%v: %v %s", args, r.err, r.errOut)
		}
	}
	if r := run(t, nil, nil, "auth", "revoke", "web-1", "--dir", dir); r.err != nil || !strings.Contains(r.out, "herald auth push --dir "+dir) {
		t.Fatalf("revoke: %v\n%s", r.err, r.out)
	}
	r = run(t, nil, nil, "auth", "ls", "--dir", dir)
	lines := strings.Split(strings.TrimSpace(r.out), "\n")
	if r.err != nil || len(lines) != 8 || strings.Join(strings.Fields(lines[0]), " ") != "NAME ROLE RIGHTS HTTP-TOKEN STATUS" {
		t.Fatalf("ls: %v\n%s", r.err, r.out)
	}
	want := map[string]string{
		"ci":     "ci publisher types=deploy.* keys=/app/** yes active",
		"web-1":  "web-1 agent outcomes,announce no revoked",
		"dep":    "dep deployer call,op skip-hooks no active",
		"ops":    "ops viewer read no active",
		"hotfix": "hotfix publisher types=deploy.* wait call skip-hooks no active",
	}
	for _, l := range lines[1:] {
		f := strings.Join(strings.Fields(l), " ")
		if w, ok := want[strings.Fields(l)[0]]; ok && f != w {
			t.Errorf("ls line %q, want %q", f, w)
		}
	}
	r = run(t, nil, nil, "auth", "ls", "--json", "--dir", dir)
	var reg auth.Registry
	if err := json.Unmarshal([]byte(r.out), &reg); err != nil || len(reg.Identities) != 7 || strings.Contains(r.out, strings.TrimSpace(string(tok))) {
		t.Fatalf("ls --json: %v\n%s", err, r.out)
	}
	r = run(t, nil, nil, "auth", "server-config", "--dir", dir, "--resolver-dir", "/srv/jwt")
	if r.err != nil || !strings.Contains(r.out, "operator: ") || !strings.Contains(r.out, `dir: "/srv/jwt"`) || !strings.Contains(r.out, "resolver_preload") {
		t.Fatalf("server-config: %v\n%s", r.err, r.out)
	}
}

func TestMain_RunAuth_UsageAndRefusals(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "auth")
	if r := run(t, nil, nil, "auth", "init", "--dir", dir); r.err != nil {
		t.Fatal(r.err)
	}
	cases := []struct {
		args  []string
		usage bool
		says  string
	}{
		{[]string{"auth"}, true, "want one of"},
		{[]string{"auth", "nuke", "--dir", dir}, true, `unknown auth verb "nuke"`},
		{[]string{"auth", "add-agent", "web-1"}, true, "--dir is required"},
		{[]string{"auth", "add-agent", "--dir", dir}, true, "exactly one NAME"},
		{[]string{"auth", "add-agent", "web-1", "--types", "x", "--dir", dir}, true, "--types does not apply to add-agent"},
		{[]string{"auth", "add-agent", "web-1", "--http-token", "--dir", dir}, true, "--http-token does not apply to add-agent"},
		{[]string{"auth", "ls", "--json", "x", "--dir", dir}, true, "takes no argument"},
		{[]string{"auth", "push", "--dir", dir}, true, "push wants --nats"},
		{[]string{"auth", "add-publisher", "ci", "--types", "zk.*", "--dir", dir}, false, "--types: \"zk.*\" is reserved"},
		{[]string{"auth", "add-publisher", "ci", "--types", "web-*", "--dir", dir}, false, "--types: \"web-*\": a wildcard inside a token"},
		{[]string{"auth", "add-publisher", "ci", "--types", "deploy", "--keys", "/a/**/b", "--dir", dir}, false, "--keys: \"/a/**/b\""},
		{[]string{"auth", "add-agent", "web.1", "--dir", dir}, false, `invalid identity name "web.1"`},
		{[]string{"auth", "add-agent", "admin", "--dir", dir}, false, "identity already exists"},
		{[]string{"auth", "revoke", "nobody", "--dir", dir}, false, "no such identity"},
	}
	for _, c := range cases {
		r := run(t, nil, nil, c.args...)
		if r.err == nil || errors.Is(r.err, cli.ErrUsage) != c.usage || !strings.Contains(r.errOut, c.says) {
			t.Errorf("%q: err %v (usage %v), stderr %q; want %q", c.args, r.err, errors.Is(r.err, cli.ErrUsage), r.errOut, c.says)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "publishers", "ci.creds")); !os.IsNotExist(err) {
		t.Errorf("a refused publisher has creds: %v", err)
	}
}

// herald auth revoke --nats pushes the account JWT to servers with the
// resolver of server-config, which then refuse the identity.
func TestMain_RunAuth_RevokePushes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "auth")
	for _, args := range [][]string{{"init"}, {"add-agent", "web-1"}} {
		if r := run(t, nil, nil, append(append([]string{"auth"}, args...), "--dir", dir)...); r.err != nil {
			t.Fatal(r.err, r.errOut)
		}
	}
	conf := run(t, nil, nil, "auth", "server-config", "--dir", dir, "--resolver-dir", filepath.Join(t.TempDir(), "jwt"))
	file := filepath.Join(t.TempDir(), "nats.conf")
	if err := os.WriteFile(file, []byte("listen: 127.0.0.1:-1\n"+conf.out), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(file)
	if err != nil {
		t.Fatal(err)
	}
	s := testutil.RunNATSWithOptions(t, opts)
	agentCreds := filepath.Join(dir, "agents", "web-1.creds")
	nc, err := nats.Connect(s.ClientURL(), nats.UserCredentials(agentCreds))
	if err != nil {
		t.Fatalf("the agent before the revocation: %v", err)
	}
	nc.Close()
	r := run(t, nil, nil, "auth", "revoke", "web-1", "--dir", dir, "--nats", s.ClientURL(), "--nats-creds", filepath.Join(dir, "sys.creds"))
	if r.err != nil || !strings.Contains(r.out, "pushed the account JWT") {
		t.Fatalf("revoke --nats: %v\n%s%s", r.err, r.out, r.errOut)
	}
	if _, err := nats.Connect(s.ClientURL(), nats.UserCredentials(agentCreds)); err == nil {
		t.Fatal("the revoked agent still connects")
	}
	if r := run(t, nil, nil, "auth", "push", "--dir", dir, "--nats", s.ClientURL(), "--nats-creds", filepath.Join(dir, "sys.creds")); r.err != nil {
		t.Fatalf("push: %v %s", r.err, r.errOut)
	}
}
